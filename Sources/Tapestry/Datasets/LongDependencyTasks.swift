import Foundation

// The synthetic tasks on which plain RNNs fail and gated cells succeed: the answer depends on
// inputs many steps back, so a model only learns it if gradients survive that far. Batches are
// drawn fresh from a seeded generator (the tasks are infinite), time-major like `unroll`.

/// The adding problem (Hochreiter & Schmidhuber 1997), in the form of Le, Jaitly & Hinton
/// (2015): every sequence has `length` steps of two channels,
///
/// - channel 0: a value drawn from U(0, 1) at every step;
/// - channel 1: a marker, 1 at exactly two steps and 0 elsewhere, one marker in each half of
///   the sequence (first half `0..<length/2`, second half `length/2..<length`);
///
/// and the target is the sum of the two marked values. Predicting the constant 1 (the mean of
/// the target) scores a mean squared error of Var(u₁ + u₂) = 2/12 ≈ 0.167,
/// ``constantBaselineMSE``: a model below it has learned to remember a marked value across up
/// to `length` steps. Le et al. count an MSE under 0.01 as solved.
public struct AddingProblem: Sendable {
  /// The number of time steps T of every sequence.
  public let length: Int

  /// The MSE of always predicting 1, the target's mean: 1/6, the variance of a sum of two
  /// independent U(0, 1) values. What a model that remembers nothing scores.
  public static let constantBaselineMSE = 1.0 / 6.0

  /// A task with sequences of `length` steps; traps unless `length` ≥ 2 (one marker per half).
  public init(length: Int) {
    precondition(length >= 2, "AddingProblem: length \(length) must be at least 2")
    self.length = length
  }

  /// A batch of `size` fresh sequences drawn from `generator`.
  ///
  /// - Returns: `inputs` `[T, size, 2]`, time-major as
  ///   ``unroll(_:inputs:initialState:batchFirst:)`` takes them (channel 0 values, channel 1
  ///   markers), and `targets` `[size, 1]`, the sums.
  public func batch<Scalar: TensorScalar>(
    size: Int, using generator: inout SeededGenerator, as _: Scalar.Type = Scalar.self
  ) -> (inputs: Tensor<Scalar>, targets: Tensor<Scalar>) {
    precondition(size >= 1, "AddingProblem.batch: size \(size) must be at least 1")
    let half = length / 2
    var inputs = [Scalar](repeating: 0, count: length * size * 2)
    var targets: [Scalar] = []
    for sample in 0..<size {
      let first = generator.nextInt(below: half)
      let second = half + generator.nextInt(below: length - half)
      var sum: Scalar = 0
      for step in 0..<length {
        let offset = (step * size + sample) * 2
        let value = Scalar(generator.nextUnitDouble())
        inputs[offset] = value
        if step == first || step == second {
          inputs[offset + 1] = 1
          sum += value
        }
      }
      targets.append(sum)
    }
    return (
      Tensor(shape: [length, size, 2], scalars: inputs), Tensor(shape: [size, 1], scalars: targets)
    )
  }

  /// ``batch(size:using:as:)`` with a generator seeded with `seed`: a fixed test set.
  public func batch<Scalar: TensorScalar>(
    size: Int, seed: UInt64, as scalar: Scalar.Type = Scalar.self
  ) -> (inputs: Tensor<Scalar>, targets: Tensor<Scalar>) {
    var generator = SeededGenerator(seed: seed)
    return batch(size: size, using: &generator, as: scalar)
  }
}

/// The copy-memory task (Hochreiter & Schmidhuber 1997, in the form of Arjovsky, Shah & Bengio
/// 2016): read 10 symbols, wait `delay` steps, then write the 10 symbols back in order.
///
/// Categories: 0 is the blank, 1...8 are the symbols, 9 is the delimiter (``categoryCount`` 10).
/// Each sequence has `delay + 20` steps:
///
///     input:   s₁ … s₁₀   0 … 0 (delay − 1)   9   0 … 0 (10)
///     target:  0 … 0 (delay + 10)                  s₁ … s₁₀
///
/// with each sᵢ uniform over 1...8. A model without memory can output blanks until the
/// delimiter has passed and then guess uniformly among the 8 symbols, which scores a
/// cross-entropy per step of 10·log 8 / (delay + 20), ``memorylessBaselineCrossEntropy``; to beat
/// it, a model must carry the symbols across `delay + 10` steps.
public struct CopyMemoryTask: Sendable {
  /// The number of blank steps T between the last symbol and the end of the delimiter step.
  public let delay: Int
  /// How many symbols to remember (Arjovsky et al.: 10).
  public static let symbolCount = 10
  /// The alphabet the symbols come from, categories 1...8.
  public static let alphabetSize = 8
  /// The number of input and output categories: blank, 8 symbols, delimiter.
  public static let categoryCount = alphabetSize + 2
  /// The category of the blank.
  public static let blank = 0
  /// The category of the delimiter, which tells the model to start writing.
  public static let delimiter = alphabetSize + 1

  /// A task with `delay` blank steps; traps unless `delay` ≥ 1 (the delimiter is one of them).
  public init(delay: Int) {
    precondition(delay >= 1, "CopyMemoryTask: delay \(delay) must be at least 1")
    self.delay = delay
  }

  /// The number of steps of every sequence, `delay + 20`.
  public var length: Int { delay + 2 * Self.symbolCount }

  /// The cross-entropy per step (natural log) of the best model without memory: blanks, then
  /// a uniform guess over the alphabet for the last 10 steps, 10·log 8 / (delay + 20).
  public var memorylessBaselineCrossEntropy: Double {
    Double(Self.symbolCount) * log(Double(Self.alphabetSize)) / Double(length)
  }

  /// A batch of `size` fresh sequences drawn from `generator`.
  ///
  /// - Returns: `inputs` `[T + 20, size, 10]`, one-hot and time-major as
  ///   ``unroll(_:inputs:initialState:batchFirst:)`` takes them, and `labels`, the target
  ///   category of every step and sequence in time-major order (`labels[t · size + b]`), so
  ///   that `crossEntropy(logits: logits.reshaped(to: [-1, 10]), labels: labels)` scores logits
  ///   `[T + 20, size, 10]`.
  public func batch<Scalar: TensorScalar>(
    size: Int, using generator: inout SeededGenerator, as _: Scalar.Type = Scalar.self
  ) -> (inputs: Tensor<Scalar>, labels: [Int]) {
    precondition(size >= 1, "CopyMemoryTask.batch: size \(size) must be at least 1")
    let (count, steps) = (Self.symbolCount, length)
    var inputCategories = [Int](repeating: Self.blank, count: steps * size)
    var labels = [Int](repeating: Self.blank, count: steps * size)
    for sample in 0..<size {
      for position in 0..<count {
        let symbol = 1 + generator.nextInt(below: Self.alphabetSize)
        inputCategories[position * size + sample] = symbol
        labels[(steps - count + position) * size + sample] = symbol
      }
      inputCategories[(steps - count - 1) * size + sample] = Self.delimiter
    }
    var inputs = [Scalar](repeating: 0, count: steps * size * Self.categoryCount)
    for (row, category) in inputCategories.enumerated() {
      inputs[row * Self.categoryCount + category] = 1
    }
    return (Tensor(shape: [steps, size, Self.categoryCount], scalars: inputs), labels)
  }

  /// ``batch(size:using:as:)`` with a generator seeded with `seed`: a fixed test set.
  public func batch<Scalar: TensorScalar>(
    size: Int, seed: UInt64, as scalar: Scalar.Type = Scalar.self
  ) -> (inputs: Tensor<Scalar>, labels: [Int]) {
    var generator = SeededGenerator(seed: seed)
    return batch(size: size, using: &generator, as: scalar)
  }
}
