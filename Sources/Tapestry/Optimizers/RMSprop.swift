/// RMSprop, with optional momentum, centring and weight decay: PyTorch's `torch.optim.RMSprop`,
/// rule for rule and default for default.
///
/// With g the gradient, α the smoothing constant, μ the momentum, λ the weight decay and γ the
/// learning rate, one step is
///
///     g ← g + λθ                        (if λ ≠ 0)
///     v ← αv + (1 − α)g²
///     ḡ ← αḡ + (1 − α)g,  d ← √(v − ḡ²) + ε   (centred)
///     d ← √v + ε                        (not centred)
///     b ← μb + g/d,  θ ← θ − γb         (if μ > 0)
///     θ ← θ − γ g/d                     (otherwise)
///
/// Centring divides by an estimate of the gradient's variance rather than its raw second moment,
/// so a gradient with a large steady mean still takes full-size steps.
public final class RMSprop<Scalar: TensorScalar>: Optimizer {
  /// What RMSprop remembers about one parameter.
  public struct State {
    /// v, the running average of squared gradients.
    public var squareAverage: Tensor<Scalar>
    /// ḡ, the running average of gradients (centred only).
    public var gradientAverage: Tensor<Scalar>?
    /// b, the momentum buffer (with momentum only).
    public var momentumBuffer: Tensor<Scalar>?
  }

  /// γ, the step size (PyTorch's default 1e-2). Traps when set negative.
  public var learningRate: Double {
    didSet { checkNonNegative(learningRate, "learning rate", in: "RMSprop") }
  }
  /// α, the decay of the running averages (default 0.99).
  public let alpha: Double
  /// ε, added to the denominator so it never vanishes (default 1e-8).
  public let epsilon: Double
  /// λ, the L2 penalty added to the gradient as λθ (default 0).
  public let weightDecay: Double
  /// μ, the momentum factor (default 0).
  public let momentum: Double
  /// Whether to normalise by the centred second moment, v − ḡ² (default false).
  public let centered: Bool
  /// The number of completed updates.
  public var step = 0
  /// Each parameter's running averages and momentum buffer.
  public var states = OptimizerStates<Scalar, State>()

  /// RMSprop with PyTorch's defaults. Traps on a negative learning rate, α, ε, weight decay or
  /// momentum.
  public init(
    learningRate: Double = 1e-2, alpha: Double = 0.99, epsilon: Double = 1e-8,
    weightDecay: Double = 0, momentum: Double = 0, centered: Bool = false
  ) {
    checkNonNegative(learningRate, "learning rate", in: "RMSprop")
    checkNonNegative(alpha, "alpha", in: "RMSprop")
    checkNonNegative(epsilon, "epsilon", in: "RMSprop")
    checkNonNegative(weightDecay, "weight decay", in: "RMSprop")
    checkNonNegative(momentum, "momentum", in: "RMSprop")
    self.learningRate = learningRate
    self.alpha = alpha
    self.epsilon = epsilon
    self.weightDecay = weightDecay
    self.momentum = momentum
    self.centered = centered
  }

  /// Zero averages and, where used, a zero momentum buffer.
  public func newState(for parameter: Tensor<Scalar>) -> State {
    State(
      squareAverage: .zeros(like: parameter),
      gradientAverage: centered ? .zeros(like: parameter) : nil,
      momentumBuffer: momentum > 0 ? .zeros(like: parameter) : nil)
  }

  /// One RMSprop step for one parameter (see the type's formula).
  public func applySingle(gradient: Tensor<Scalar>, parameter: Tensor<Scalar>, state: State)
    -> (parameter: Tensor<Scalar>, state: State)
  {
    var state = state
    var gradient = gradient
    if weightDecay != 0 { gradient = gradient + parameter * Scalar(weightDecay) }
    state.squareAverage =
      state.squareAverage * Scalar(alpha) + gradient * gradient * Scalar(1 - alpha)
    var variance = state.squareAverage
    if let average = state.gradientAverage {
      let updated = average + (gradient - average) * Scalar(1 - alpha)
      state.gradientAverage = updated
      variance = variance - updated * updated
    }
    let scaledGradient = gradient / (sqrt(variance) + Scalar(epsilon))
    if let buffer = state.momentumBuffer {
      let updated = buffer * Scalar(momentum) + scaledGradient
      state.momentumBuffer = updated
      return (parameter - updated * Scalar(learningRate), state)
    }
    return (parameter - scaledGradient * Scalar(learningRate), state)
  }
}
