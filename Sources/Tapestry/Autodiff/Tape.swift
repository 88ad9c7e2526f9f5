import Foundation

/// The identity of a recorded tensor: which tape, and which entry on it.
@usableFromInline
internal struct TapeNode: Sendable, Hashable {
  @usableFromInline let tapeID: UInt64
  @usableFromInline let index: Int

  @inlinable init(tapeID: UInt64, index: Int) {
    self.tapeID = tapeID
    self.index = index
  }
}

/// The vector-Jacobian product of a primitive: given the gradient arriving at the output and the
/// output itself, returns one gradient per input, in input order (`nil` where an input gets none).
///
/// A returned gradient may have the shape of the output where the op broadcast that input: the
/// tape sums it back to the input's shape, so no pullback deals with broadcasting itself. Write
/// pullbacks with differentiable ops: that is what makes gradients of gradients work.
public typealias Pullback<Scalar: TensorScalar> = (
  _ gradient: Tensor<Scalar>, _ output: Tensor<Scalar>
) -> [Tensor<Scalar>?]

/// A record of differentiable operations in the order they ran, for reverse-mode differentiation.
///
/// Each entry holds the op's name, the tape indices and shapes of its inputs, its output, and its
/// pullback. Because entries are appended in execution order the tape is already topologically
/// sorted: the backward pass is a plain reverse loop, with no recursion however long the tape.
///
/// Most code never touches a tape: ``gradient(at:of:)`` and its relatives make one, run the
/// function, and drop it. Hold one yourself to print it, draw it, or hook gradients:
/// ```swift
/// let tape = Tape<Double>()
/// let (x, y) = tape.record { () -> (Tensor<Double>, Tensor<Double>) in
///   let x = tape.watch(Tensor([1, 2, 3]))
///   return (x, (x * x).sum())
/// }
/// print(tape)                                  // one line per entry
/// let dx = tape.gradients(of: y, at: [x])[0]   // [2, 4, 6]
/// ```
///
/// A tape is used by one task at a time, the one recording on it; it is `Sendable` only so that a
/// task-local variable can hold it.
public final class Tape<Scalar: TensorScalar>: @unchecked Sendable, CustomStringConvertible {
  /// One recorded operation.
  public struct Entry {
    /// The op's name (`"mul"`, `"matmul"`, `"variable"` for a watched input, ...).
    public let op: String
    /// The tape index of each input, `nil` for an input that was a constant.
    public let inputs: [Int?]
    /// The shape of each input.
    public let inputShapes: [[Int]]
    /// The value the op produced (recorded: its ``Tensor/isRecorded`` is true).
    public let output: Tensor<Scalar>
    /// The vector-Jacobian product; `nil` for a leaf (a watched variable).
    @usableFromInline var pullback: Pullback<Scalar>?
  }

  /// Hooks are called with the total gradient of a tensor once it is complete, and may replace it.
  public typealias GradientHook = (Tensor<Scalar>) -> Tensor<Scalar>

  /// Renewed when the entries are released, so tensors recorded before become constants.
  @usableFromInline private(set) var id: UInt64
  /// The entries in the order they were recorded.
  public private(set) var entries: [Entry] = []
  @usableFromInline var isRecording = true
  private var hooks: [Int: [GradientHook]] = [:]
  /// Where anomalies go while this tape records or runs a backward pass inside
  /// ``withAnomalyDetection(_:)``; `nil` otherwise, so that checking costs one test per op.
  @usableFromInline var anomalyRecorder: AnomalyRecorder?

  /// Creates an empty tape.
  public init() {
    self.id = TapeIdentifiers.next()
  }

  /// The tape recording in the current task, if any.
  @inlinable
  public static var active: Tape? {
    RecordingContext.tape as? Tape
  }

  /// Runs `body` with this tape recording: differentiable ops whose inputs were recorded on this
  /// tape (by ``watch(_:)`` or by earlier ops) append entries to it.
  public func record<Result>(_ body: () throws -> Result) rethrows -> Result {
    let outerRecorder = anomalyRecorder
    anomalyRecorder = AnomalyRecorder.current ?? outerRecorder
    defer { anomalyRecorder = outerRecorder }
    return try RecordingContext.$tape.withValue(self) { try body() }
  }

  /// Starts tracking `tensor` as a variable to differentiate with respect to.
  ///
  /// The result is a new leaf entry. If `tensor` was already recorded on this tape (a nested
  /// derivative), the entry is an identity op, so that outer derivatives flow through it.
  public func watch(_ tensor: Tensor<Scalar>) -> Tensor<Scalar> {
    if let node = tensor.node, node.tapeID == id {
      return append(
        op: "variable", inputs: [node.index], inputShapes: [tensor.shape], output: tensor
      ) { gradient, _ in [gradient] }
    }
    return append(op: "variable", inputs: [], inputShapes: [], output: tensor, pullback: nil)
  }

  /// Calls `hook` during the backward pass with the complete gradient of `tensor` (a tensor
  /// recorded on this tape); the hook's result replaces that gradient for everything upstream.
  ///
  /// This is how the recurrent diagnostics read ‖∂L/∂h_t‖ at every time step.
  public func addGradientHook(to tensor: Tensor<Scalar>, _ hook: @escaping GradientHook) {
    guard let node = tensor.node, node.tapeID == id else {
      preconditionFailure(
        "Tape.addGradientHook: the tensor of shape \(tensor.shape) is not recorded on this tape")
    }
    hooks[node.index, default: []].append(hook)
  }

  /// Appends an entry and returns `output` linked to it.
  @usableFromInline
  func append(
    op: String, inputs: [Int?], inputShapes: [[Int]], output: Tensor<Scalar>,
    pullback: Pullback<Scalar>?
  ) -> Tensor<Scalar> {
    var linked = output
    linked.node = TapeNode(tapeID: id, index: entries.count)
    entries.append(
      Entry(op: op, inputs: inputs, inputShapes: inputShapes, output: linked, pullback: pullback))
    return linked
  }

  /// Notes an anomaly if the entry at `position` produced a non-finite `output` from finite
  /// `inputs`.
  @usableFromInline
  func checkForward(_ inputs: [Tensor<Scalar>], output: Tensor<Scalar>, at position: Int) {
    guard let recorder = anomalyRecorder, recorder.isWatching, !output.isFinite,
      inputs.allSatisfy(\.isFinite)
    else { return }
    recorder.record(
      AnomalyError(
        op: entries[position].op, tapeIndex: position, inputShapes: inputs.map(\.shape),
        phase: .forward))
  }

  /// The tape index of `tensor` if it was recorded here, else `nil`.
  @inlinable
  func index(of tensor: Tensor<Scalar>) -> Int? {
    guard let node = tensor.node, node.tapeID == id else { return nil }
    return node.index
  }

  /// Reverse accumulation: the gradients of the scalar `output` (or of `output` weighted by
  /// `seed`) with respect to each tensor in `inputs`, all recorded on this tape.
  ///
  /// - Parameters:
  ///   - seed: the gradient to start from, with the shape of `output`; ones when `nil`, which
  ///     requires a one-element `output`.
  ///   - createGraph: record the backward pass itself, so the gradients can be differentiated
  ///     again (PyTorch's `create_graph=True`). Off by default: then pullbacks run unrecorded.
  ///   - retainTape: keep the entries after the pass (to print or draw the tape, or to run another
  ///     backward pass). Off by default: each visited entry's output and pullback are released
  ///     as soon as the pass has used them.
  /// - Returns: one gradient per input, zeros where the output does not depend on it.
  public func gradients(
    of output: Tensor<Scalar>, at inputs: [Tensor<Scalar>], seed: Tensor<Scalar>? = nil,
    createGraph: Bool = false, retainTape: Bool = false
  ) -> [Tensor<Scalar>] {
    let positions = inputs.map { index(of: $0) }
    let lowest = positions.compactMap { $0 }.min() ?? 0
    let accumulated = backward(
      from: output, seed: seed, downTo: lowest, createGraph: createGraph, retainTape: retainTape)
    return zip(inputs, positions).map { input, position in
      position.flatMap { $0 < accumulated.count ? accumulated[$0] : nil }
        ?? Tensor.zeros(input.shape)
    }
  }

  /// Walks entries `output ... lowest` backwards and returns the accumulated gradient of every
  /// visited entry (indexed by tape position, `nil` where none arrived).
  func backward(
    from output: Tensor<Scalar>, seed: Tensor<Scalar>?, downTo lowest: Int, createGraph: Bool,
    retainTape: Bool
  ) -> [Tensor<Scalar>?] {
    let start: Tensor<Scalar>
    if let seed {
      precondition(
        seed.shape == output.shape,
        "Tape.gradients: seed shape \(seed.shape) differs from output shape \(output.shape)")
      start = seed
    } else {
      precondition(
        output.count == 1,
        "Tape.gradients: the output has shape \(output.shape); give a seed for a non-scalar output")
      start = Tensor.ones(output.shape)
    }
    guard let top = index(of: output) else { return [] }
    var grads = [Tensor<Scalar>?](repeating: nil, count: top + 1)
    grads[top] = start

    let wasRecording = isRecording
    let outerRecorder = anomalyRecorder
    isRecording = createGraph
    // Ops that pullbacks record (with `createGraph`) are checked as part of their pullback.
    anomalyRecorder = nil
    let recorder = outerRecorder ?? AnomalyRecorder.current
    defer {
      isRecording = wasRecording
      anomalyRecorder = outerRecorder
    }

    for position in stride(from: top, through: lowest, by: -1) {
      guard var gradient = grads[position] else { continue }
      for hook in hooks[position] ?? [] { gradient = hook(gradient) }
      grads[position] = gradient
      let entry = entries[position]
      guard let pullback = entry.pullback else { continue }
      let inputGradients = pullback(gradient, entry.output)
      precondition(
        inputGradients.count == entry.inputs.count,
        "\(entry.op): pullback returned \(inputGradients.count) gradients for \(entry.inputs.count) inputs"
      )
      if let recorder, recorder.isWatching, gradient.isFinite,
        inputGradients.contains(where: { $0.map { !$0.isFinite } ?? false })
      {
        recorder.record(
          AnomalyError(
            op: entry.op, tapeIndex: position, inputShapes: entry.inputShapes, phase: .backward))
      }
      for (slot, inputGradient) in inputGradients.enumerated() {
        guard let inputIndex = entry.inputs[slot], let inputGradient else { continue }
        let reduced = inputGradient.summed(toShape: entry.inputShapes[slot], op: entry.op)
        grads[inputIndex] = grads[inputIndex].map { $0 + reduced } ?? reduced
      }
      if !retainTape { entries[position].pullback = nil }
    }
    if !retainTape { release() }
    return grads
  }

  /// Frees every entry, as PyTorch frees a graph after `backward()`. The tape takes a new identity,
  /// so tensors recorded before are constants from now on and it can record afresh.
  public func release() {
    entries.removeAll()
    hooks.removeAll()
    id = TapeIdentifiers.next()
  }

  /// One line per entry: index, op, input indices (`c` for a constant), output shape.
  public var description: String {
    var lines = ["Tape<\(Scalar.dtypeName)> with \(entries.count) entries"]
    for (position, entry) in entries.enumerated() {
      let inputs = entry.inputs.map { $0.map(String.init) ?? "c" }.joined(separator: ", ")
      let name = entry.op.padding(toLength: max(entry.op.count, 14), withPad: " ", startingAt: 0)
      lines.append("  %\(position) = \(name) (\(inputs)) -> \(entry.output.shape)")
    }
    return lines.joined(separator: "\n")
  }
}

/// The task-local state that tells ops which tape records them.
@usableFromInline
internal enum RecordingContext {
  /// The recording tape, type-erased because a task-local cannot be generic.
  @TaskLocal @usableFromInline static var tape: (any AnyObject & Sendable)?
}

/// Hands out tape identities, so a tensor left over from an old tape is never mistaken for an
/// entry of a new one.
internal enum TapeIdentifiers {
  private static let counter = TapeIdentifierCounter()

  static func next() -> UInt64 { counter.next() }
}

private final class TapeIdentifierCounter: @unchecked Sendable {
  private var value: UInt64 = 0
  private let lock = NSLock()

  func next() -> UInt64 {
    lock.lock()
    defer { lock.unlock() }
    value += 1
    return value
  }
}
