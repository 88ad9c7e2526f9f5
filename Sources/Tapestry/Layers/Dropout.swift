/// Inverted dropout (Srivastava et al. 2014; PyTorch's `nn.Dropout`): while training, each element
/// is zeroed with probability `probability` and the survivors are scaled by 1/(1 − p), so the
/// expected output equals the input; in inference it is the identity.
///
/// Any input shape; the output has the same shape. The phase is ``LearningPhase/current``, so a
/// model switches to training only inside `withLearningPhase(.training) { ... }`.
///
/// Randomness is deterministic: the layer owns a ``SeededGenerator`` (in a reference box) and
/// draws each mask from it, one uniform per element, in call order. The same seed and the same
/// sequence of calls give the same masks on every platform. Copies of a layer share the generator,
/// as they share parameters; build a new layer for an independent stream.
public struct Dropout<Scalar: TensorScalar>: Layer, Sendable {
  /// The probability p of zeroing an element while training, in [0, 1].
  public let probability: Scalar
  private let randomness: GeneratorBox

  /// A dropout layer drawing its masks from a generator seeded with `seed`.
  ///
  /// - Parameters:
  ///   - probability: the probability of zeroing each element, in [0, 1] (default 0.5, as in
  ///     PyTorch).
  ///   - seed: the seed of the masks.
  public init(probability: Scalar = 0.5, seed: UInt64) {
    precondition(
      probability >= 0 && probability <= 1,
      "Dropout: probability \(probability) is outside [0, 1]")
    self.probability = probability
    self.randomness = GeneratorBox(seed: seed)
  }

  /// A dropout layer whose mask seed is the next draw of `generator`, so a model built with one
  /// generator is reproducible as a whole.
  public init(probability: Scalar = 0.5, using generator: inout SeededGenerator) {
    self.init(probability: probability, seed: generator.next())
  }

  /// `input` with dropout applied in training, unchanged in inference.
  ///
  /// The mask is a constant of the tape, so the gradient is the incoming gradient times the same
  /// mask times 1/(1 − p). With p = 1 every element is dropped and the output is zero.
  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    guard LearningPhase.current == .training, probability > 0 else { return input }
    guard probability < 1 else { return input * 0 }
    let keep = 1 - probability
    let mask = randomness.draw {
      Tensor<Scalar>.bernoulli(input.shape, probability: keep, using: &$0)
    }
    return input * (mask * (1 / keep))
  }
}
