extension Tensor {
  /// Elements drawn uniformly from `range` (half-open: `lowerBound ≤ x < upperBound`).
  public static func uniform(
    _ shape: TensorShape, in range: Range<Scalar> = 0..<1, using generator: inout SeededGenerator
  ) -> Tensor {
    let width = Double(range.upperBound - range.lowerBound)
    let low = Double(range.lowerBound)
    return Tensor(
      shape: shape,
      scalars: (0..<shape.elementCount).map { _ in
        Scalar(low + width * generator.nextUnitDouble())
      })
  }

  /// Elements drawn uniformly from `range`, from a generator seeded with `seed`.
  public static func uniform(_ shape: TensorShape, in range: Range<Scalar> = 0..<1, seed: UInt64)
    -> Tensor
  {
    var generator = SeededGenerator(seed: seed)
    return uniform(shape, in: range, using: &generator)
  }

  /// Elements drawn from a normal distribution N(mean, standardDeviation²).
  public static func normal(
    _ shape: TensorShape, mean: Scalar = 0, standardDeviation: Scalar = 1,
    using generator: inout SeededGenerator
  ) -> Tensor {
    Tensor(
      shape: shape,
      scalars: (0..<shape.elementCount).map { _ in
        mean + standardDeviation * Scalar(generator.nextStandardNormal())
      })
  }

  /// Elements drawn from N(mean, standardDeviation²), from a generator seeded with `seed`.
  public static func normal(
    _ shape: TensorShape, mean: Scalar = 0, standardDeviation: Scalar = 1, seed: UInt64
  ) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return normal(shape, mean: mean, standardDeviation: standardDeviation, using: &generator)
  }

  /// Elements that are 1 with the given probability and 0 otherwise (a dropout mask, say).
  public static func bernoulli(
    _ shape: TensorShape, probability: Scalar, using generator: inout SeededGenerator
  ) -> Tensor {
    precondition(
      probability >= 0 && probability <= 1,
      "Tensor.bernoulli: probability \(probability) is outside [0, 1]")
    let p = Double(probability)
    return Tensor(
      shape: shape,
      scalars: (0..<shape.elementCount).map { _ in generator.nextUnitDouble() < p ? 1 : 0 })
  }

  /// Bernoulli elements from a generator seeded with `seed`.
  public static func bernoulli(_ shape: TensorShape, probability: Scalar, seed: UInt64) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return bernoulli(shape, probability: probability, using: &generator)
  }
}
