/// Adam, with the optional AMSGrad variant and L2 or decoupled weight decay: PyTorch's
/// `torch.optim.Adam`, rule for rule and default for default. ``AdamW`` is the same rule with
/// decoupled weight decay on by default.
///
/// With g the gradient, t the parameter's step count (from 1), γ the learning rate and λ the
/// weight decay, one step is
///
///     g ← g + λθ                  (L2 weight decay, if λ ≠ 0)
///     θ ← θ(1 − γλ)               (decoupled weight decay instead, AdamW)
///     m ← β₁m + (1 − β₁)g
///     v ← β₂v + (1 − β₂)g²
///     v̂ ← max(v̂, v) with AMSGrad, else v
///     θ ← θ − γ/(1 − β₁ᵗ) · m / (√v̂ / √(1 − β₂ᵗ) + ε)
///
/// The bias corrections undo the zero start of m and v; ε sits outside the corrected square
/// root, as in PyTorch (not inside, as in some other libraries), which matters while v is tiny.
public class Adam<Scalar: TensorScalar>: Optimizer {
  /// What Adam remembers about one parameter.
  public struct State {
    /// The number of steps this parameter has taken: t in the bias corrections. Per parameter,
    /// as in PyTorch, so a parameter first updated late gets full bias correction.
    public var step: Int
    /// m, the running average of gradients.
    public var firstMoment: Tensor<Scalar>
    /// v, the running average of squared gradients.
    public var secondMoment: Tensor<Scalar>
    /// The largest v seen so far, elementwise (AMSGrad only).
    public var maxSecondMoment: Tensor<Scalar>?
  }

  /// γ, the step size (PyTorch's default 1e-3). Traps when set negative.
  public var learningRate: Double {
    didSet { checkNonNegative(learningRate, "learning rate", in: "\(Self.self)") }
  }
  /// β₁, the decay of the gradient average (default 0.9).
  public let beta1: Double
  /// β₂, the decay of the squared-gradient average (default 0.999).
  public let beta2: Double
  /// ε, added to the denominator so it never vanishes (default 1e-8).
  public let epsilon: Double
  /// λ, the weight decay (default 0 for Adam, 1e-2 for AdamW).
  public let weightDecay: Double
  /// Whether to divide by the largest second moment so far (AMSGrad; default false).
  public let amsgrad: Bool
  /// Whether weight decay shrinks θ directly (AdamW) rather than being added to the gradient,
  /// where Adam's scaling would weaken it for parameters with large gradients.
  public let decoupledWeightDecay: Bool
  /// The number of completed updates.
  public var step = 0
  /// Each parameter's moments and step count.
  public var states = OptimizerStates<Scalar, State>()

  /// Adam with PyTorch's defaults. Traps on a negative learning rate, ε or weight decay, or a
  /// beta outside [0, 1).
  public init(
    learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
    epsilon: Double = 1e-8, weightDecay: Double = 0, amsgrad: Bool = false,
    decoupledWeightDecay: Bool = false
  ) {
    let name = "\(Self.self)"
    checkNonNegative(learningRate, "learning rate", in: name)
    checkDecayRate(beta1, "beta1", in: name)
    checkDecayRate(beta2, "beta2", in: name)
    checkNonNegative(epsilon, "epsilon", in: name)
    checkNonNegative(weightDecay, "weight decay", in: name)
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.weightDecay = weightDecay
    self.amsgrad = amsgrad
    self.decoupledWeightDecay = decoupledWeightDecay
  }

  /// Zero moments at step 0.
  public final func newState(for parameter: Tensor<Scalar>) -> State {
    State(
      step: 0, firstMoment: .zeros(like: parameter), secondMoment: .zeros(like: parameter),
      maxSecondMoment: amsgrad ? .zeros(like: parameter) : nil)
  }

  /// One Adam step for one parameter (see the type's formula).
  public final func applySingle(gradient: Tensor<Scalar>, parameter: Tensor<Scalar>, state: State)
    -> (parameter: Tensor<Scalar>, state: State)
  {
    var state = state
    state.step += 1
    var parameter = parameter
    var gradient = gradient
    if weightDecay != 0 {
      if decoupledWeightDecay {
        parameter = parameter * Scalar(1 - learningRate * weightDecay)
      } else {
        gradient = gradient + parameter * Scalar(weightDecay)
      }
    }
    // PyTorch moves m by lerp, m + (1 − β₁)(g − m); the same value, rounded as PyTorch rounds it.
    state.firstMoment = state.firstMoment + (gradient - state.firstMoment) * Scalar(1 - beta1)
    state.secondMoment =
      state.secondMoment * Scalar(beta2) + gradient * gradient * Scalar(1 - beta2)
    var normaliser = state.secondMoment
    if let previousMax = state.maxSecondMoment {
      normaliser = Kernels.zip(
        previousMax, state.secondMoment, op: "Adam (AMSGrad maximum)",
        scalar: { Swift.max($0, $1) }, vector: { pointwiseMax($0, $1) })
      state.maxSecondMoment = normaliser
    }
    let step = Double(state.step)
    let stepSize = learningRate / (1 - Double.pow(beta1, step))
    let correction2Root = (1 - Double.pow(beta2, step)).squareRoot()
    let denominator = sqrt(normaliser) / Scalar(correction2Root) + Scalar(epsilon)
    return (parameter - state.firstMoment / denominator * Scalar(stepSize), state)
  }
}

/// AdamW: Adam with decoupled weight decay, θ ← θ(1 − γλ) before the Adam step, and PyTorch's
/// default λ = 1e-2 (Loshchilov & Hutter). See ``Adam`` for the rule.
///
/// Decoupling keeps the decay a plain shrinkage: added to the gradient (L2, plain ``Adam``), it
/// would be divided by √v like the gradient and so barely act on parameters with large gradients.
public final class AdamW<Scalar: TensorScalar>: Adam<Scalar> {
  /// AdamW with PyTorch's defaults. Traps on a negative learning rate, ε or weight decay, or a
  /// beta outside [0, 1).
  public init(
    learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
    epsilon: Double = 1e-8, weightDecay: Double = 1e-2, amsgrad: Bool = false
  ) {
    super.init(
      learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
      weightDecay: weightDecay, amsgrad: amsgrad, decoupledWeightDecay: true)
  }
}
