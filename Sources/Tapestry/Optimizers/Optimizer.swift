/// A gradient-based optimiser: turns each parameter's gradient into a new value, keeping whatever
/// per-parameter state its rule needs (momentum buffers, moment estimates, accumulators).
///
/// A new optimiser implements two methods, as in mlx-swift: ``newState(for:)`` makes a
/// parameter's state the first time it is updated, and ``applySingle(gradient:parameter:state:)``
/// is the update rule for one tensor. The shared ``update(_:)`` does the rest: it finds each
/// parameter's state by the identity of its ``Parameter`` box, skips frozen parameters, runs the
/// rule outside any tape and writes the new value through the box.
///
/// Optimisers are classes. Their state belongs to particular parameter boxes, which have
/// identity; a copyable optimiser value would fork that state while still writing to the same
/// boxes, so two "copies" stepping one model would silently disagree about its momentum.
///
/// Hyper-parameters are `Double`, as they are Python floats in PyTorch: schedules set
/// ``learningRate`` without caring about the tensors' scalar type, and scalar arithmetic such
/// as Adam's bias correction happens in double precision before it touches a tensor.
public protocol Optimizer: AnyObject {
  /// The element type of the parameters this optimiser updates.
  associatedtype Scalar: TensorScalar
  /// What the update rule remembers about one parameter between steps.
  associatedtype State

  /// The step size, read on every update, so a ``LearningRateSchedule`` can change it between
  /// steps. Traps when set negative.
  var learningRate: Double { get set }
  /// The number of completed ``update(_:)`` calls.
  var step: Int { get set }
  /// Each parameter's state, by parameter identity.
  var states: OptimizerStates<Scalar, State> { get set }

  /// The state of a parameter that has not been updated yet, given its current value.
  func newState(for parameter: Tensor<Scalar>) -> State

  /// The update rule for one parameter: its new value and state, from its gradient, its current
  /// value and its state. Runs with recording off.
  func applySingle(gradient: Tensor<Scalar>, parameter: Tensor<Scalar>, state: State)
    -> (parameter: Tensor<Scalar>, state: State)
}

extension Optimizer {
  /// Updates every parameter in `gradients` by one step of the rule and counts the step.
  ///
  /// Frozen parameters are skipped (they may have been frozen after the gradient was taken).
  /// Nothing is recorded, and the new values are plain leaves even if this runs inside a
  /// recording. Traps if a gradient's shape differs from its parameter's.
  public func update(_ gradients: ParameterGradients<Scalar>) {
    withoutRecording {
      for (name, parameter, gradient) in gradients.entries where !parameter.isFrozen {
        let value = withoutDerivative(at: parameter.value)
        precondition(
          gradient.shape == value.shape,
          "\(Self.self).update: gradient of shape \(gradient.shape) for parameter '\(name)' of "
            + "shape \(value.shape)")
        let state = states[parameter] ?? newState(for: value)
        let (newValue, newState) = applySingle(
          gradient: withoutDerivative(at: gradient), parameter: value, state: state)
        parameter.value = newValue
        states[parameter] = newState
      }
    }
    step += 1
  }
}

/// Per-parameter optimiser state, keyed by the identity of each ``Parameter`` box.
///
/// Each entry keeps its parameter alive: an `ObjectIdentifier` is only unique while its object
/// exists, so without the reference a freed parameter's address could be reused by a new one,
/// which would then inherit a stranger's momentum.
public struct OptimizerStates<Scalar: TensorScalar, State> {
  private var entries: [ObjectIdentifier: (parameter: Parameter<Scalar>, state: State)] = [:]

  /// No states: every parameter starts fresh.
  public init() {}

  /// The state of `parameter`, or `nil` before its first update; assigning `nil` forgets it.
  public subscript(parameter: Parameter<Scalar>) -> State? {
    get { entries[ObjectIdentifier(parameter)]?.state }
    set {
      entries[ObjectIdentifier(parameter)] = newValue.map { (parameter, $0) }
    }
  }

  /// The number of parameters with a state.
  public var count: Int { entries.count }

  /// Forgets every state, as if the optimiser had just been made.
  public mutating func removeAll() { entries.removeAll() }
}

/// Traps with a message naming `function` unless `value` is finite and at least zero: PyTorch's
/// checks on learning rates, weight decays, momenta and epsilons.
func checkNonNegative(_ value: Double, _ name: String, in function: String) {
  precondition(value.isFinite && value >= 0, "\(function): invalid \(name) \(value), must be ≥ 0")
}

/// Traps unless `value` is in [0, 1): a decay rate for a running average (Adam's betas).
func checkDecayRate(_ value: Double, _ name: String, in function: String) {
  precondition(value >= 0 && value < 1, "\(function): invalid \(name) \(value), must be in [0, 1)")
}
