// Anomaly mode (PyTorch's `torch.autograd.detect_anomaly`): find the first op that turned finite
// values into NaN or infinity, in the forward or the backward pass. Ops do not throw, so the tape
// notes the first anomaly and `withAnomalyDetection` throws it when its body returns.

/// The first NaN or infinity that ``withAnomalyDetection(_:)`` caught: the op that produced it
/// from finite values, its entry on the tape, the shapes of its inputs, and the pass it was in.
public struct AnomalyError: Error, Sendable, Hashable, CustomStringConvertible {
  /// Which pass produced the non-finite value.
  public enum Phase: String, Sendable, Hashable {
    /// The op's result was not finite although its inputs were.
    case forward
    /// The op's pullback returned a non-finite gradient although the gradient it was given was
    /// finite (for example √x at 0, whose derivative is infinite).
    case backward
  }

  /// The op's name as recorded (`"log"`, `"matmul"`, a custom primitive's name).
  public let op: String
  /// The op's entry on its tape (as printed by ``Tape/description``).
  public let tapeIndex: Int
  /// The shape of each of the op's inputs, in order.
  public let inputShapes: [TensorShape]
  /// The pass the value appeared in.
  public let phase: Phase

  /// An anomaly of `op` at `tapeIndex` with inputs of `inputShapes`, in `phase`.
  public init(op: String, tapeIndex: Int, inputShapes: [TensorShape], phase: Phase) {
    self.op = op
    self.tapeIndex = tapeIndex
    self.inputShapes = inputShapes
    self.phase = phase
  }

  /// One sentence naming the op, its tape entry, its input shapes and the pass.
  public var description: String {
    let shapes = inputShapes.map { "\($0)" }.joined(separator: ", ")
    switch phase {
    case .forward:
      return "anomaly: \(op) (tape entry %\(tapeIndex), inputs \(shapes)) produced NaN or "
        + "infinity from finite inputs in the forward pass"
    case .backward:
      return "anomaly: the pullback of \(op) (tape entry %\(tapeIndex), inputs \(shapes)) "
        + "produced a NaN or infinite gradient from a finite one in the backward pass"
    }
  }
}

/// Runs `body` checking every recorded op for NaN and infinity; throws an ``AnomalyError``
/// naming the first op that produced one from finite values, after `body` has returned.
///
/// In the forward pass each recorded op's result is checked when its inputs were all finite; in
/// the backward pass each pullback's gradients are checked when the gradient it was given was
/// finite. Only the first anomaly is kept: later NaNs are usually its consequences. Because ops
/// do not throw, `body` runs to its end (its result is discarded when an anomaly is thrown), so
/// wrap one training step, not a whole run:
/// ```swift
/// do {
///   let (loss, grads) = try withAnomalyDetection {
///     valueWithGradient(at: model) { model in lossFunction(model, batch) }
///   }
///   optimizer.update(grads)
/// } catch let anomaly as AnomalyError {
///   print(anomaly)   // anomaly: log (tape entry %12, inputs [32, 1]) produced NaN or ...
/// }
/// ```
/// It covers tapes whose recording (``Tape/record(_:)``, and so ``gradient(at:of:)`` and its
/// relatives) or backward pass runs inside `body`. Checking reads every value once more; with
/// detection off the cost is one test per recorded op.
public func withAnomalyDetection<Result>(_ body: () throws -> Result) throws -> Result {
  let recorder = AnomalyRecorder()
  let result = try AnomalyRecorder.$current.withValue(recorder) { try body() }
  if let anomaly = recorder.first { throw anomaly }
  return result
}

/// Keeps the first anomaly seen inside one ``withAnomalyDetection(_:)`` call.
@usableFromInline
internal final class AnomalyRecorder: @unchecked Sendable {
  /// The recorder of the innermost `withAnomalyDetection` of the current task.
  @TaskLocal static var current: AnomalyRecorder?

  /// The first anomaly, if any; later ones are ignored.
  private(set) var first: AnomalyError?

  /// Whether no anomaly has been recorded yet, so checking is still worth it.
  @usableFromInline var isWatching: Bool { first == nil }

  /// Keeps `anomaly` unless an earlier one was recorded.
  func record(_ anomaly: AnomalyError) {
    if first == nil { first = anomaly }
  }
}
