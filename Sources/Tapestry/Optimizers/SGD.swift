/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and weight
/// decay: PyTorch's `torch.optim.SGD`, rule for rule and default for default.
///
/// With g the gradient, λ the weight decay, μ the momentum, τ the dampening and γ the learning
/// rate, one step is
///
///     g ← g + λθ                          (if λ ≠ 0)
///     b ← g on the first step, else μb + (1 − τ)g   (if μ ≠ 0)
///     g ← g + μb if Nesterov, else b      (if μ ≠ 0)
///     θ ← θ − γg
///
/// Note PyTorch's momentum form: the learning rate multiplies the buffer, not the gradient inside
/// it (Sutskever et al. put it inside), so changing the learning rate mid-training takes effect at
/// once instead of fading in through the buffer.
public final class SGD<Scalar: TensorScalar>: Optimizer {
  /// A parameter's momentum buffer `b` (`nil` until the first step, or always without momentum).
  public struct State {
    /// The running, dampened sum of gradients.
    public var momentumBuffer: Tensor<Scalar>?
  }

  /// γ, the step size (PyTorch's default 1e-3). Traps when set negative.
  public var learningRate: Double {
    didSet { checkNonNegative(learningRate, "learning rate", in: "SGD") }
  }
  /// μ, the momentum factor (default 0: plain gradient descent).
  public let momentum: Double
  /// τ, the fraction of each gradient left out of the momentum buffer (default 0).
  public let dampening: Double
  /// λ, the L2 penalty added to the gradient as λθ (default 0).
  public let weightDecay: Double
  /// Whether to use Nesterov momentum: step along g + μb, a look-ahead (default false).
  public let nesterov: Bool
  /// The number of completed updates.
  public var step = 0
  /// Each parameter's momentum buffer.
  public var states = OptimizerStates<Scalar, State>()

  /// SGD with PyTorch's defaults. Traps on a negative learning rate, momentum or weight decay,
  /// and on Nesterov momentum without momentum or with dampening (PyTorch refuses both: the
  /// look-ahead needs a buffer that is a plain sum of gradients).
  public init(
    learningRate: Double = 1e-3, momentum: Double = 0, dampening: Double = 0,
    weightDecay: Double = 0, nesterov: Bool = false
  ) {
    checkNonNegative(learningRate, "learning rate", in: "SGD")
    checkNonNegative(momentum, "momentum", in: "SGD")
    checkNonNegative(weightDecay, "weight decay", in: "SGD")
    precondition(
      !nesterov || (momentum > 0 && dampening == 0),
      "SGD: Nesterov momentum needs momentum > 0 and dampening 0 (momentum \(momentum), "
        + "dampening \(dampening))")
    self.learningRate = learningRate
    self.momentum = momentum
    self.dampening = dampening
    self.weightDecay = weightDecay
    self.nesterov = nesterov
  }

  /// No momentum buffer yet: PyTorch starts it at the first gradient, not at zero.
  public func newState(for parameter: Tensor<Scalar>) -> State { State(momentumBuffer: nil) }

  /// One SGD step for one parameter (see the type's formula).
  public func applySingle(gradient: Tensor<Scalar>, parameter: Tensor<Scalar>, state: State)
    -> (parameter: Tensor<Scalar>, state: State)
  {
    var direction = gradient
    if weightDecay != 0 { direction = direction + parameter * Scalar(weightDecay) }
    var state = state
    if momentum != 0 {
      let buffer =
        state.momentumBuffer.map { $0 * Scalar(momentum) + direction * Scalar(1 - dampening) }
        ?? direction
      state.momentumBuffer = buffer
      direction = nesterov ? direction + buffer * Scalar(momentum) : buffer
    }
    return (parameter - direction * Scalar(learningRate), state)
  }
}
