/// A lookup table from token ids to learned vectors (PyTorch's `nn.Embedding`).
///
/// `weight` is `[vocabularySize, dimension]`; row `i` is the vector of token `i`. A lookup is the
/// differentiable gather ``Tensor/gathering(indices:indexShape:alongAxis:)``, whose pullback adds
/// up the gradients of a token that occurs several times.
public struct Embedding<Scalar: TensorScalar>: Layer {
  /// The table, `[vocabularySize, dimension]`.
  public let weight: Parameter<Scalar>
  /// The number of token ids, `0..<vocabularySize`.
  public let vocabularySize: Int
  /// The length of each vector.
  public let dimension: Int

  /// A table with PyTorch's default initialisation: every element drawn from N(0, 1).
  ///
  /// Unit variance rather than a fan-in scale because an embedding has no fan-in: each output
  /// is one row, not a sum over inputs.
  public init(vocabularySize: Int, dimension: Int, using generator: inout SeededGenerator) {
    precondition(
      vocabularySize > 0 && dimension > 0,
      "Embedding: sizes must be positive: vocabularySize \(vocabularySize), dimension \(dimension)"
    )
    self.init(
      weight: Initializer.normal().makeTensor([vocabularySize, dimension], using: &generator))
  }

  /// ``init(vocabularySize:dimension:using:)`` with a generator seeded with `seed`.
  public init(vocabularySize: Int, dimension: Int, seed: UInt64) {
    var generator = SeededGenerator(seed: seed)
    self.init(vocabularySize: vocabularySize, dimension: dimension, using: &generator)
  }

  /// A layer with the given table `[vocabularySize, dimension]`: for loaded weights and fixtures.
  public init(weight: Tensor<Scalar>) {
    precondition(
      weight.rank == 2, "Embedding: weight shape \(weight.shape) is not [vocabularySize, dimension]"
    )
    self.weight = Parameter(weight)
    self.vocabularySize = weight.shape[0]
    self.dimension = weight.shape[1]
  }

  /// The vectors of `indices`, in order: `[indices.count, dimension]`.
  ///
  /// Traps, naming the layer, when an index is outside `0..<vocabularySize`.
  public func callAsFunction(_ indices: [Int]) -> Tensor<Scalar> {
    callAsFunction(indices, shape: [indices.count])
  }

  /// The vectors of `indices` arranged in `shape` (row-major): `shape + [dimension]`. Token ids
  /// of shape `[T, B]` give `[T, B, dimension]`, the input of a recurrent layer.
  ///
  /// Traps, naming the layer, when an index is outside `0..<vocabularySize` or `shape` does not
  /// hold `indices.count` elements.
  public func callAsFunction(_ indices: [Int], shape: [Int]) -> Tensor<Scalar> {
    if let bad = indices.first(where: { !(0..<vocabularySize).contains($0) }) {
      preconditionFailure(
        "Embedding: index \(bad) is out of range for vocabulary size \(vocabularySize)")
    }
    return weight.value.gathering(indices: indices, indexShape: shape)
  }
}
