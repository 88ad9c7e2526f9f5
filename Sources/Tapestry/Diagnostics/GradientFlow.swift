// The gradient arriving at each time step's state, read from tape hooks during an ordinary
// backward pass: the measurement behind every "vanishing or exploding?" question.

/// A recurrent state whose tensors the diagnostics can watch: each tensor with its probe label.
///
/// `Tensor` (the state of `RNNCell` and `GRUCell`) is `h`; ``LSTMState`` is `h` and `c`. A custom
/// cell's state conforms by listing its tensors.
public protocol ProbedState {
  /// The element type of the state's tensors.
  associatedtype Scalar: TensorScalar
  /// Each tensor of the state, `[B, hiddenSize]`, with the label its gradient norms go under.
  var probedTensors: [(label: String, tensor: Tensor<Scalar>)] { get }
}

extension Tensor: ProbedState {
  /// The tensor itself, labelled `h`.
  public var probedTensors: [(label: String, tensor: Tensor<Scalar>)] { [("h", self)] }
}

extension LSTMState: ProbedState {
  /// The hidden state as `h` and the cell state as `c`.
  public var probedTensors: [(label: String, tensor: Tensor<Scalar>)] {
    [("h", hidden), ("c", cell)]
  }
}

/// Probes (see ``probe(_:as:)``) the state after every step of `sequence`, so that a listening
/// ``GradientFlowRecorder`` gets ‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖ for an LSTM) for t = 1…T.
///
/// Call it inside the recorded loss, after ``unroll(_:inputs:initialState:batchFirst:)``: the
/// hooks only need to be in place before the backward pass.
public func probeStates<Cell: RecurrentCell>(of sequence: UnrolledSequence<Cell>)
where Cell.State: ProbedState, Cell.State.Scalar == Cell.Scalar {
  for state in sequence.states {
    for (label, tensor) in state.probedTensors { _ = probe(tensor, as: label) }
  }
}

/// Whether gradients shrink, grow or keep their size as they flow back through time.
public enum GradientVerdict: String, Sendable, Hashable, CaseIterable {
  /// Each step back multiplies the gradient by noticeably less than 1.
  case vanishing
  /// Each step back keeps the gradient's size, within the tolerance.
  case stable
  /// Each step back multiplies the gradient by noticeably more than 1 (or it is not finite).
  case exploding

  /// The verdict for a gradient multiplied by `factor` per step back: vanishing below
  /// 1 − `tolerance`, exploding above 1 + `tolerance` or when not finite, stable between.
  public init(perStepFactor factor: Double, tolerance: Double = 0.05) {
    if !factor.isFinite || factor > 1 + tolerance {
      self = .exploding
    } else if factor < 1 - tolerance {
      self = .vanishing
    } else {
      self = .stable
    }
  }
}

/// The geometric mean growth per step back of a series of gradient norms indexed by time step
/// (`norms[0]` at t = 1, the last at t = T): (‖g₁‖ / ‖g_T‖)^(1/(T−1)). 1 for fewer than two
/// steps, 0 when the first norm is 0, infinity or NaN when a norm is not finite.
public func perStepGrowth(of norms: [Double]) -> Double {
  guard let first = norms.first, let last = norms.last, norms.count >= 2 else { return 1 }
  guard first.isFinite, last.isFinite else { return .infinity }
  if first == 0 { return 0 }
  if last == 0 { return .infinity }
  return Double.pow(first / last, 1 / Double(norms.count - 1))
}

/// The gradient norm of one parameter.
public struct ParameterGradientNorm: Sendable, Hashable {
  /// The parameter's dotted name (see ``namedParameters(of:as:)``).
  public let name: String
  /// ‖∂L/∂θ‖, the Euclidean norm of its gradient.
  public let norm: Double
}

extension ParameterGradients {
  /// The norm of each parameter's gradient, in the model's declaration order.
  public var norms: [ParameterGradientNorm] {
    entries.map { ParameterGradientNorm(name: $0.name, norm: $0.gradient.euclideanNorm) }
  }
}

/// What one forward and backward pass of a recurrent model showed about its gradients.
public struct GradientFlow: Sendable {
  /// The loss.
  public let loss: Double
  /// Every probe series by label (see ``GradientFlowRecorder``): `h`, `c`, the gates, and any
  /// custom probe.
  public let probes: [String: [Double]]
  /// The norm of the gradient of every trainable parameter, in declaration order.
  public let parameterNorms: [ParameterGradientNorm]

  /// ‖∂L/∂h_t‖ for t = 1…T (the probe series `h`).
  public var hidden: [Double] { probes["h"] ?? [] }
  /// ‖∂L/∂c_t‖ for t = 1…T for an LSTM (the probe series `c`); `nil` for a cell without one.
  public var cell: [Double]? { probes["c"] }
  /// The series of each gate probed (labels starting with `gate.`), by label.
  public var gates: [String: [Double]] { probes.filter { $0.key.hasPrefix("gate.") } }
  /// The mean factor by which ‖∂L/∂h_t‖ grows per step back (see ``perStepGrowth(of:)``).
  public var perStepGrowth: Double { Tapestry.perStepGrowth(of: hidden) }
  /// Whether ‖∂L/∂h_t‖ vanishes, explodes or holds, with the default tolerance.
  public var verdict: GradientVerdict { GradientVerdict(perStepFactor: perStepGrowth) }
}

/// The value of `loss(model)`, its gradient with respect to every trainable parameter (as
/// ``valueWithGradient(at:of:)`` gives it, ready for an optimiser) and the gradient flow that
/// the probes inside `loss` saw: the diagnostics ride along with an ordinary training step.
///
/// `loss` should call ``probeStates(of:)`` on its unrolled sequence to get ‖∂L/∂h_t‖; probes
/// inside the cells (gates) are collected too.
public func valueWithGradientFlow<Model, Scalar>(
  at model: Model, of loss: (Model) -> Tensor<Scalar>
) -> (value: Tensor<Scalar>, gradient: ParameterGradients<Scalar>, flow: GradientFlow) {
  let recorder = GradientFlowRecorder()
  let (value, gradient) = recorder.record { valueWithGradient(at: model, of: loss) }
  let flow = GradientFlow(
    loss: Double(value.scalars.first ?? .nan), probes: recorder.allNorms,
    parameterNorms: gradient.norms)
  return (value, gradient, flow)
}

/// Runs `cell` over `inputs` (`[T, B, inputSize]`), backpropagates `loss` and returns the
/// gradient flow: ‖∂L/∂h_t‖ for t = 1…T (and ‖∂L/∂c_t‖ for an LSTM), the gate norms, and every
/// parameter's gradient norm.
///
/// ```swift
/// let flow = measureGradientFlow(through: cell, inputs: x) { $0.outputs.sum() }
/// print(flow.hidden, flow.verdict)
/// ```
public func measureGradientFlow<Cell: RecurrentCell>(
  through cell: Cell, inputs: Tensor<Cell.Scalar>, initialState: Cell.State? = nil,
  loss: (UnrolledSequence<Cell>) -> Tensor<Cell.Scalar>
) -> GradientFlow where Cell.State: ProbedState, Cell.State.Scalar == Cell.Scalar {
  valueWithGradientFlow(at: cell) { cell in
    let sequence = unroll(cell, inputs: inputs, initialState: initialState)
    probeStates(of: sequence)
    return loss(sequence)
  }.flow
}
