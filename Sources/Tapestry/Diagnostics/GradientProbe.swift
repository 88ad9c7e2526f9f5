// Gradient probes: a marker in the forward pass that, while a recorder listens, asks the tape for
// the gradient of the marked tensor during the backward pass. Cells call `probe` on every step
// whether or not anyone listens; while no recorder listens anywhere it costs one atomic load.

import Synchronization

/// Collects the gradient norms of the tensors marked by ``probe(_:as:)`` while ``record(_:)``
/// runs a forward and backward pass: one series per label, one value per probe call, in the
/// order of the forward pass (so, for a probe inside a cell, one value per time step).
///
/// ```swift
/// let recorder = GradientFlowRecorder()
/// let (_, gradients) = recorder.record {
///   valueWithGradient(at: cell) { cell in
///     let sequence = unroll(cell, inputs: inputs)
///     probeStates(of: sequence)              // labels "h" (and "c" for an LSTM)
///     return sequence.outputs.sum()
///   }
/// }
/// recorder.norms("h")            // ‖∂L/∂h_t‖ for t = 1…T
/// recorder.norms("gate.forget")  // ‖∂L/∂f_t‖, probed inside LSTMCell
/// ```
///
/// The norms are read by tape gradient hooks during the ordinary backward pass, so they are the
/// gradients the optimiser gets, not a separate computation. A probe whose tensor does not reach
/// the loss reads 0. A recorder is used by one task at a time; it is `Sendable` only so that a
/// task-local variable can hold it.
public final class GradientFlowRecorder: @unchecked Sendable {
  private var series: [String: [Double]] = [:]
  private var order: [String] = []

  /// A recorder with no series.
  public init() {}

  /// Runs `body` with this recorder listening to every ``probe(_:as:)`` call in the current
  /// task, after clearing the series of an earlier run. Backward passes run inside `body` fill
  /// the series; a backward pass run later, on a tape recorded inside `body`, fills them too.
  public func record<Result>(_ body: () throws -> Result) rethrows -> Result {
    series = [:]
    order = []
    GradientProbeContext.listening.add(1, ordering: .relaxed)
    defer { GradientProbeContext.listening.subtract(1, ordering: .relaxed) }
    return try GradientProbeContext.$recorder.withValue(self) { try body() }
  }

  /// The probe labels seen, in the order of their first probe.
  public var labels: [String] { order }

  /// The gradient norm of each tensor probed as `label`, in the order the probes ran; empty for
  /// a label never probed.
  public func norms(_ label: String) -> [Double] { series[label] ?? [] }

  /// Every series, by label.
  public var allNorms: [String: [Double]] { series }

  /// Adds a slot to `label`'s series and a hook that fills it, when `tensor` is recorded on the
  /// tape that is recording now; otherwise there is no gradient to read and nothing happens.
  func register<Scalar>(_ tensor: Tensor<Scalar>, as label: String) {
    guard let tape = Tape<Scalar>.active, tape.isRecording, tape.recordedPosition(of: tensor) != nil
    else {
      return
    }
    if series[label] == nil { order.append(label) }
    let slot = series[label, default: []].count
    series[label, default: []].append(0)
    tape.addGradientHook(to: tensor) { [self] gradient in
      series[label]?[slot] = gradient.euclideanNorm
      return gradient
    }
  }
}

/// Returns `tensor` unchanged; while a ``GradientFlowRecorder`` records, it also arranges for the
/// norm of the gradient of the loss with respect to `tensor` to be added to the series `label`.
///
/// `LSTMCell` probes its gates as `gate.input`, `gate.forget`, `gate.cell` (the candidate) and
/// `gate.output`; `GRUCell` as `gate.reset`, `gate.update` and `gate.candidate`. A custom cell
/// can probe whatever it likes the same way.
public func probe<Scalar>(_ tensor: Tensor<Scalar>, as label: String) -> Tensor<Scalar> {
  if GradientProbeContext.listening.load(ordering: .relaxed) > 0 {
    GradientProbeContext.recorder?.register(tensor, as: label)
  }
  return tensor
}

/// The recorder listening in the current task, if any.
enum GradientProbeContext {
  @TaskLocal static var recorder: GradientFlowRecorder?
  /// How many ``GradientFlowRecorder/record(_:)`` calls are running, in any task. While none
  /// is, a probe skips the task-local read (~150 instructions, four per LSTM step). A recorder
  /// counts itself before it binds the task-local and after it unbinds it, and tasks started
  /// inside the binding see the count that was set before they were, so no listener is missed.
  static let listening = Atomic<Int>(0)
}

extension Tensor {
  /// The Euclidean (Frobenius) norm of all elements, accumulated in Double: the size of a
  /// gradient, whatever its shape.
  public var euclideanNorm: Double {
    scalars.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
  }
}
