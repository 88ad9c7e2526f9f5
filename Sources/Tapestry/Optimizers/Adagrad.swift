/// Adagrad, with optional learning-rate decay, weight decay and a non-zero initial accumulator:
/// PyTorch's `torch.optim.Adagrad`, rule for rule and default for default.
///
/// With g the gradient, t the parameter's step count (from 1), η the learning-rate decay, λ the
/// weight decay and γ the learning rate, one step is
///
///     g ← g + λθ                  (if λ ≠ 0)
///     γₜ = γ / (1 + (t − 1)η)
///     s ← s + g²
///     θ ← θ − γₜ g / (√s + ε)
///
/// The accumulator s only grows, so each coordinate's step shrinks with the gradient it has seen:
/// rarely-updated coordinates keep larger steps.
public final class Adagrad<Scalar: TensorScalar>: Optimizer {
  /// What Adagrad remembers about one parameter.
  public struct State {
    /// The number of steps this parameter has taken: t in the learning-rate decay.
    public var step: Int
    /// s, the sum of squared gradients (plus the initial value).
    public var sumOfSquares: Tensor<Scalar>
  }

  /// γ, the step size (PyTorch's default 1e-2). Traps when set negative.
  public var learningRate: Double {
    didSet { checkNonNegative(learningRate, "learning rate", in: "Adagrad") }
  }
  /// η, the learning-rate decay per step (default 0).
  public let learningRateDecay: Double
  /// λ, the L2 penalty added to the gradient as λθ (default 0).
  public let weightDecay: Double
  /// The starting value of every element of s (default 0).
  public let initialAccumulatorValue: Double
  /// ε, added to the denominator so it never vanishes (default 1e-10).
  public let epsilon: Double
  /// The number of completed updates.
  public var step = 0
  /// Each parameter's accumulator and step count.
  public var states = OptimizerStates<Scalar, State>()

  /// Adagrad with PyTorch's defaults. Traps on a negative learning rate, learning-rate decay,
  /// weight decay, initial accumulator value or ε.
  public init(
    learningRate: Double = 1e-2, learningRateDecay: Double = 0, weightDecay: Double = 0,
    initialAccumulatorValue: Double = 0, epsilon: Double = 1e-10
  ) {
    checkNonNegative(learningRate, "learning rate", in: "Adagrad")
    checkNonNegative(learningRateDecay, "learning rate decay", in: "Adagrad")
    checkNonNegative(weightDecay, "weight decay", in: "Adagrad")
    checkNonNegative(initialAccumulatorValue, "initial accumulator value", in: "Adagrad")
    checkNonNegative(epsilon, "epsilon", in: "Adagrad")
    self.learningRate = learningRate
    self.learningRateDecay = learningRateDecay
    self.weightDecay = weightDecay
    self.initialAccumulatorValue = initialAccumulatorValue
    self.epsilon = epsilon
  }

  /// An accumulator filled with the initial value, at step 0.
  public func newState(for parameter: Tensor<Scalar>) -> State {
    State(
      step: 0,
      sumOfSquares: .filled(parameter.shape, with: Scalar(initialAccumulatorValue)))
  }

  /// One Adagrad step for one parameter (see the type's formula).
  public func applySingle(gradient: Tensor<Scalar>, parameter: Tensor<Scalar>, state: State)
    -> (parameter: Tensor<Scalar>, state: State)
  {
    var state = state
    state.step += 1
    var gradient = gradient
    if weightDecay != 0 { gradient = gradient + parameter * Scalar(weightDecay) }
    let decayedRate = learningRate / (1 + Double(state.step - 1) * learningRateDecay)
    state.sumOfSquares = state.sumOfSquares + gradient * gradient
    let scaledGradient = gradient / (sqrt(state.sumOfSquares) + Scalar(epsilon))
    return (parameter - scaledGradient * Scalar(decayedRate), state)
  }
}
