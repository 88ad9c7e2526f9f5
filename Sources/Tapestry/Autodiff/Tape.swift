import Foundation

/// The identity of a recorded tensor: which tape, and which entry on it, packed in one word (the
/// tape's identity in the high 32 bits, the entry's index in the low 32).
///
/// A tensor stores the word itself, zero for a constant (no tape identity is zero), rather than an
/// optional pair of integers: that took 17 bytes and, with the tag byte, put every tensor at 80
/// bytes of stride instead of 64, copied with each tensor into and out of every tape entry.
@usableFromInline
internal struct TapeNode: Sendable, Hashable {
  @usableFromInline let bits: UInt64

  @inlinable init(tapeID: UInt32, index: Int) {
    bits = UInt64(tapeID) << 32 | UInt64(UInt32(truncatingIfNeeded: index))
  }

  /// The node a tensor's stored word names, `nil` for zero (a constant).
  @inlinable init?(bits: UInt64) {
    guard bits != 0 else { return nil }
    self.bits = bits
  }

  @inlinable var tapeID: UInt32 { UInt32(truncatingIfNeeded: bits >> 32) }
  @inlinable var index: Int { Int(UInt32(truncatingIfNeeded: bits)) }
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

/// What a built-in op's pullback reads besides the gradient and the output: up to two tensors
/// and one scalar, saved when the op is recorded, and which inputs need a gradient at all.
///
/// The small fields are stored in the padding after the first tensor (56 bytes, aligned to 16)
/// and as 32-bit integers, which takes a `Float` tape entry from 320 bytes to 288 (`Double`: 304):
/// the backward pass reads every entry back from memory, so their size is much of its cost.
@usableFromInline
internal struct SavedValues<Scalar: TensorScalar> {
  @usableFromInline var first: Tensor<Scalar>
  @usableFromInline let storedOptions: Int32
  @usableFromInline let storedOffset: Int32
  @usableFromInline var second: Tensor<Scalar>
  @usableFromInline var scalar: Scalar
  /// Whether the first input is recorded on the tape, so its gradient is wanted; set by the tape.
  @usableFromInline var firstNeedsGradient = true
  /// Whether the second input is recorded on the tape, so its gradient is wanted.
  @usableFromInline var secondNeedsGradient = true
  /// Whether the pullback reads the op's output (σ′ = y(1 − y), exp′ = y, ...), so the tape must
  /// keep it; otherwise the entry drops the output's elements and keeps only its shape.
  @usableFromInline var keepsOutput: Bool

  /// Saves `first` and `second` (empty placeholders when left out), `scalar` and `options`.
  @inlinable
  init(
    _ first: Tensor<Scalar> = .placeholder, _ second: Tensor<Scalar> = .placeholder,
    scalar: Scalar = 0, options: Int = 0, offset: Int = 0, keepingOutput: Bool = false
  ) {
    self.first = first
    self.storedOptions = Int32(options)
    self.storedOffset = Int32(offset)
    self.second = second
    self.scalar = scalar
    self.keepsOutput = keepingOutput
  }

  /// Options of the op, such as matmul's transpose flags or the axis of a slice.
  @inlinable var options: Int { Int(storedOptions) }

  /// Where the part an op takes from its input starts along its axis (slice, select): below
  /// 2³¹, as every size is.
  @inlinable var offset: Int { Int(storedOffset) }
}

/// The pullback of a built-in op with one or two inputs: a ``Pullback`` that reads what it needs
/// from `saved` instead of capturing it. Written as a closure literal that captures nothing, it
/// is a plain function, so recording the op allocates no closure context; its gradients come
/// back as a pair, not an array.
@usableFromInline
internal typealias BuiltinPullback<Scalar: TensorScalar> = (
  _ gradient: consuming Tensor<Scalar>, _ output: Tensor<Scalar>, _ saved: SavedValues<Scalar>
) -> (Tensor<Scalar>?, Tensor<Scalar>?)

/// The pullback of a built-in op that adds its gradients straight into the running totals of its
/// inputs' gradients (`nil` before any arrived); `inputs` gives their shapes.
///
/// An op whose gradient is zero outside part of its input (a slice) fills in just that part, so
/// the parts of a tensor cut into pieces add up in one buffer instead of each being padded to
/// full size; a product adds `g·x` into the total in one pass without a temporary. When the
/// gradient or a total is recorded (a backward pass that creates a graph), the pullback must use
/// differentiable ops instead.
@usableFromInline
internal typealias AccumulatingPullback<Scalar: TensorScalar> = (
  _ gradient: consuming Tensor<Scalar>, _ first: inout Tensor<Scalar>?,
  _ second: inout Tensor<Scalar>?,
  _ inputs: PullbackInputs<Scalar>, _ saved: SavedValues<Scalar>
) -> Void

/// How the gradient of an entry flows back to its inputs.
///
/// A built-in op's saved values are a field of its entry, not part of this enum: binding them
/// out of an enum case in the backward pass copied them (and destroyed the original) through
/// their value witnesses, and reading whether they keep the output copied them again.
@usableFromInline
internal enum Derivative<Scalar: TensorScalar> {
  /// A watched variable: the gradient stops here.
  case leaf
  /// A pullback given to ``Tensor/recorded(as:from:pullback:)``.
  case closure(Pullback<Scalar>)
  /// A built-in op's pullback, which reads the entry's saved values.
  case builtin(BuiltinPullback<Scalar>)
  /// A built-in op's pullback that adds into its input's total, reading the saved values.
  case accumulating(AccumulatingPullback<Scalar>)
}

/// The inputs of an entry: the tape index of each, −1 for a constant.
///
/// A recorded input's shape is the output shape of its own entry on the same tape, so it is not
/// stored again here: copying two inline shapes (72 bytes) into every entry, and moving them with
/// it, was a measurable part of an op's cost. Only a constant's shape is kept, for printing and
/// anomaly messages; among the first two inputs at most one is a constant (an entry has a
/// recorded input), so one shape is stored inline. An entry of more than two inputs (such as
/// `concatenate`, or a ``Tensor/recorded(as:from:pullback:)`` of three) keeps every input's index
/// and shape in `all`.
@usableFromInline
internal struct EntryInputs {
  /// The shape of the first or second input, whichever is a constant; `[]` when neither is.
  @usableFromInline let constantShape: TensorShape
  @usableFromInline let count: Int32
  @usableFromInline let first: Int
  @usableFromInline let second: Int
  /// Every input, for entries of more than two; empty otherwise.
  @usableFromInline let all: [(index: Int, shape: TensorShape)]

  /// No inputs (a watched variable).
  @inlinable
  init() {
    self.init(count: 0, first: -1, second: -1, constantShape: TensorShape(), all: [])
  }

  /// One recorded input.
  @inlinable
  init(_ first: Int) {
    self.init(count: 1, first: first, second: -1, constantShape: TensorShape(), all: [])
  }

  /// Two inputs, at least one of them recorded; the shapes are read only for a constant.
  @inlinable
  init(_ first: Int, _ firstShape: TensorShape, _ second: Int, _ secondShape: TensorShape) {
    self.init(
      count: 2, first: first, second: second,
      constantShape: first < 0 ? firstShape : second < 0 ? secondShape : TensorShape(), all: [])
  }

  /// Any number of inputs.
  @inlinable
  init(indices: [Int], shapes: [TensorShape]) {
    let count = indices.count
    let first = count > 0 ? indices[0] : -1
    let second = count > 1 ? indices[1] : -1
    guard count <= 2 else {
      self.init(
        count: Int32(count), first: first, second: second, constantShape: TensorShape(),
        all: Array(zip(indices, shapes)))
      return
    }
    self.init(
      count: Int32(count), first: first, second: second,
      constantShape: first < 0 && count > 0
        ? shapes[0] : second < 0 && count > 1 ? shapes[1] : TensorShape(),
      all: [])
  }

  @inlinable
  init(
    count: Int32, first: Int, second: Int, constantShape: TensorShape,
    all: [(index: Int, shape: TensorShape)]
  ) {
    self.constantShape = constantShape
    self.count = count
    self.first = first
    self.second = second
    self.all = all
  }

  /// The tape index of input `slot`, −1 for a constant.
  @inlinable
  func index(_ slot: Int) -> Int {
    slot == 0 ? first : slot == 1 ? second : all[slot].index
  }
}

/// What an accumulating pullback knows of an entry's first two inputs besides their totals: their
/// shapes, to form a total that has none yet (read from the tape when the backward pass reaches
/// the entry), their tape positions (−1 for a constant), and the pass's store of
/// ``DeferredProducts`` (`nil` in a pass that creates a graph), keyed by those positions.
///
/// The store is held `unowned(unsafe)`: the backward pass owns it for longer than any pullback
/// runs, and a strong reference was a retain and a release, both atomic, per accumulating entry.
@usableFromInline
internal struct PullbackInputs<Scalar: TensorScalar> {
  @usableFromInline let firstShape: TensorShape
  @usableFromInline let secondShape: TensorShape
  @usableFromInline let firstPosition: Int
  @usableFromInline let secondPosition: Int
  @usableFromInline unowned(unsafe) let deferredProducts: DeferredProducts<Scalar>?

  @inlinable
  init(
    firstShape: TensorShape, secondShape: TensorShape, firstPosition: Int, secondPosition: Int,
    deferredProducts: DeferredProducts<Scalar>?
  ) {
    self.firstShape = firstShape
    self.secondShape = secondShape
    self.firstPosition = firstPosition
    self.secondPosition = secondPosition
    self.deferredProducts = deferredProducts
  }
}

/// One entry as the tape stores it.
///
/// `output` holds the op's value only where the backward pass reads it (`saved.keepsOutput`);
/// elsewhere it keeps the shape and no elements, so the tape does not keep alive values that
/// only the forward pass needed (an LSTM step's pre-activations and products, for instance).
@usableFromInline
internal struct TapeRecord<Scalar: TensorScalar> {
  @usableFromInline var op: String
  @usableFromInline var inputs: EntryInputs
  @usableFromInline var output: Tensor<Scalar>
  @usableFromInline var derivative: Derivative<Scalar>
  /// What a built-in op's pullback reads; for a variable or a ``Pullback``, no tensors and
  /// `keepsOutput` (the pullback is given the output).
  @usableFromInline var saved: SavedValues<Scalar>

  @inlinable
  init(
    op: String, inputs: EntryInputs, output: Tensor<Scalar>, derivative: Derivative<Scalar>,
    saved: SavedValues<Scalar>
  ) {
    self.op = op
    self.inputs = inputs
    self.output = output
    self.derivative = derivative
    self.saved = saved
  }

  /// An entry that holds nothing, left behind where the backward pass took one out.
  @inlinable
  static var empty: TapeRecord {
    TapeRecord(
      op: "", inputs: EntryInputs(), output: .placeholder, derivative: .leaf,
      saved: SavedValues())
  }
}

/// Everything a tape holds. It lives behind a pointer owned by the tape rather than in stored
/// properties of the class, because every access to a class's mutable property pays a run-time
/// exclusivity check, several per recorded op.
@usableFromInline
internal struct TapeState<Scalar: TensorScalar> {
  @usableFromInline var id: UInt32
  @usableFromInline var records: [TapeRecord<Scalar>] = []
  @usableFromInline var isRecording = true
  @usableFromInline var hooks: [Int: [Tape<Scalar>.GradientHook]] = [:]
  @usableFromInline var anomalyRecorder: AnomalyRecorder?

  @inlinable
  init(id: UInt32, records: [TapeRecord<Scalar>]) {
    self.id = id
    self.records = records
  }

  /// Appends an entry and returns `output` linked to it; the entry keeps the output's elements
  /// only if `saved` says the pullback reads them.
  @inlinable
  mutating func append(
    op: String, inputs: consuming EntryInputs, output: consuming Tensor<Scalar>,
    derivative: consuming Derivative<Scalar>, saved: consuming SavedValues<Scalar>
  ) -> Tensor<Scalar> {
    var linked = consume output
    let index = records.count
    precondition(index <= Int(UInt32.max), "Tape: more than 2^32 entries on one tape")
    linked.node = TapeNode(tapeID: id, index: index)
    // Built without the elements rather than copied and emptied: the copy was a retain and a
    // release of the output's buffer for nothing.
    var stored = saved.keepsOutput ? linked : Tensor(uncheckedShape: linked.shape, scalars: [])
    stored.node = linked.node
    records.append(
      TapeRecord(
        op: op, inputs: consume inputs, output: stored, derivative: consume derivative,
        saved: consume saved))
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
        op: records[position].op, tapeIndex: position, inputShapes: inputs.map(\.shape),
        phase: .forward))
  }

  /// The tape index of `tensor` if it was recorded on this tape, else −1.
  @inlinable
  func position(of tensor: Tensor<Scalar>) -> Int {
    guard let node = tensor.node, node.tapeID == id else { return -1 }
    return node.index
  }
}

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
/// A tape is used by one thread at a time, the one recording on it; it is `Sendable` so that the
/// shards of a batch can each be handed their own tape on another thread.
public final class Tape<Scalar: TensorScalar>: @unchecked Sendable, CustomStringConvertible {
  /// One recorded operation.
  public struct Entry {
    /// The op's name (`"mul"`, `"matmul"`, `"variable"` for a watched input, ...).
    public let op: String
    /// The tape index of each input, `nil` for an input that was a constant.
    public let inputs: [Int?]
    /// The shape of each input.
    public let inputShapes: [TensorShape]
    /// The shape of the value the op produced.
    public let outputShape: TensorShape
    /// The value the op produced (recorded: its ``Tensor/isRecorded`` is true), if the tape kept
    /// it: it does for watched variables, for ops recorded with ``Tensor/recorded(as:from:pullback:)``
    /// and for built-in ops whose pullback reads their output (`sigmoid`, `tanh`, `exp`, `sqrt`,
    /// `div`); `nil` for the others, whose values the backward pass does not need.
    public let output: Tensor<Scalar>?
  }

  /// Hooks are called with the total gradient of a tensor once it is complete, and may replace it.
  public typealias GradientHook = (Tensor<Scalar>) -> Tensor<Scalar>

  @usableFromInline let state: UnsafeMutablePointer<TapeState<Scalar>>

  /// Creates an empty tape.
  public convenience init() {
    self.init(id: TapeIdentifiers.next())
  }

  /// An empty tape with the identity of `sibling`, for a shard of a batch split across threads:
  /// the parameters both tapes watch first, in the same order, are then the same recorded tensors
  /// on each, so one model's parameter boxes serve every shard at once
  /// (``valueWithGradient(at:batchSize:shards:of:)``). Tensors must not pass between the two.
  internal convenience init(sharingIdentityWith sibling: Tape) {
    self.init(id: sibling.id)
  }

  private init(id: UInt32) {
    state = .allocate(capacity: 1)
    state.initialize(to: TapeState(id: id, records: SpareEntryStorage.shared.take()))
  }

  deinit {
    state.pointee.records.removeAll(keepingCapacity: true)
    SpareEntryStorage.shared.keep(state.pointee.records)
    state.deinitialize(count: 1)
    state.deallocate()
  }

  /// Renewed when the entries are released, so tensors recorded before become constants.
  @inlinable var id: UInt32 { state.pointee.id }

  /// Whether ops append entries; off during a backward pass that does not create a graph.
  @inlinable var isRecording: Bool { state.pointee.isRecording }

  /// Where anomalies go while this tape records or runs a backward pass inside
  /// ``withAnomalyDetection(_:)``; `nil` otherwise, so that checking costs one test per op.
  @inlinable var anomalyRecorder: AnomalyRecorder? { state.pointee.anomalyRecorder }

  /// The entries in the order they were recorded.
  ///
  /// The tape stores entries more compactly than this, so the array is built on each access,
  /// in time proportional to the tape's length: read ``entryCount`` for just the count.
  public var entries: [Entry] {
    state.pointee.records.map { record in
      let inputs = record.inputs
      return Entry(
        op: record.op,
        inputs: (0..<Int(inputs.count)).map { inputs.index($0) < 0 ? nil : inputs.index($0) },
        inputShapes: (0..<Int(inputs.count)).map { inputShape($0, of: inputs) },
        outputShape: record.output.shape,
        output: record.saved.keepsOutput ? record.output : nil)
    }
  }

  /// The number of entries, without building ``entries``.
  public var entryCount: Int { state.pointee.records.count }

  /// The tape recording on the current thread, if any.
  @inlinable
  public static var active: Tape? {
    guard let object = RecordingContext.slot.unretainedObject?.takeUnretainedValue(),
      isTape(object)
    else { return nil }
    return unsafeDowncast(object, to: Tape.self)
  }

  /// What the recording tape holds, if a tape of this scalar type records on the current thread:
  /// how ops record themselves. Read without a reference to the tape, which `record` keeps alive
  /// meanwhile: taking one, and dropping it, cost two atomic operations on every op (W1 S: 2.5%
  /// of the instructions, callgrind, and more of the time on an Intel Xeon).
  @inlinable
  static var activeState: UnsafeMutablePointer<TapeState<Scalar>>? {
    guard let object = RecordingContext.slot.unretainedObject else { return nil }
    return object._withUnsafeGuaranteedRef { object in
      isTape(object) ? unsafeDowncast(object, to: Tape.self).state : nil
    }
  }

  /// Whether `object`, read from the recording slot, is a tape of this scalar type. Comparing
  /// classes is a pointer comparison; a conditional cast (`as? Tape`) looks the generic class up
  /// at run time on every op.
  @inlinable
  static func isTape(_ object: AnyObject) -> Bool {
    ObjectIdentifier(type(of: object)) == ObjectIdentifier(Tape.self)
  }

  /// Runs `body` with this tape recording: differentiable ops on this thread whose inputs were
  /// recorded on this tape (by ``watch(_:)`` or by earlier ops) append entries to it.
  public func record<Result>(_ body: () throws -> Result) rethrows -> Result {
    let outerRecorder = state.pointee.anomalyRecorder
    state.pointee.anomalyRecorder = AnomalyRecorder.current ?? outerRecorder
    defer { state.pointee.anomalyRecorder = outerRecorder }
    // Matrix products by the same weight at every time step pack it once (`PackedOperands`).
    return try PackedOperands.withCurrent(PackedOperands()) {
      try RecordingContext.withTape(self) { try body() }
    }
  }

  /// Starts tracking `tensor` as a variable to differentiate with respect to.
  ///
  /// The result is a new leaf entry. If `tensor` was already recorded on this tape (a nested
  /// derivative), the entry is an identity op, so that outer derivatives flow through it.
  public func watch(_ tensor: Tensor<Scalar>) -> Tensor<Scalar> {
    let position = self.position(of: tensor)
    if position >= 0 {
      return append(
        op: "variable", inputs: EntryInputs(position), output: tensor,
        derivative: .builtin { gradient, _, _ in (gradient, nil) },
        saved: SavedValues(keepingOutput: true))
    }
    return append(
      op: "variable", inputs: EntryInputs(), output: tensor, derivative: .leaf,
      saved: SavedValues(keepingOutput: true))
  }

  /// Calls `hook` during the backward pass with the complete gradient of `tensor` (a tensor
  /// recorded on this tape); the hook's result replaces that gradient for everything upstream.
  ///
  /// This is how the recurrent diagnostics read ‖∂L/∂h_t‖ at every time step.
  public func addGradientHook(to tensor: Tensor<Scalar>, _ hook: @escaping GradientHook) {
    let position = self.position(of: tensor)
    guard position >= 0 else {
      preconditionFailure(
        "Tape.addGradientHook: the tensor of shape \(tensor.shape) is not recorded on this tape")
    }
    addGradientHook(at: position, hook)
  }

  /// Calls `hook` with the complete gradient of the entry at `position`, as
  /// ``addGradientHook(to:_:)`` does for the tensor recorded there.
  func addGradientHook(at position: Int, _ hook: @escaping GradientHook) {
    state.pointee.hooks[position, default: []].append(hook)
  }

  /// Appends an entry and returns `output` linked to it (``TapeState/append(op:inputs:output:derivative:saved:)``).
  @inlinable
  func append(
    op: String, inputs: consuming EntryInputs, output: consuming Tensor<Scalar>,
    derivative: consuming Derivative<Scalar>, saved: consuming SavedValues<Scalar>
  ) -> Tensor<Scalar> {
    state.pointee.append(
      op: op, inputs: consume inputs, output: consume output, derivative: consume derivative,
      saved: consume saved)
  }

  /// The tape index of `tensor` if it was recorded here, else −1.
  @inlinable
  func position(of tensor: Tensor<Scalar>) -> Int { state.pointee.position(of: tensor) }

  /// Reverse accumulation: the gradients of the scalar `output` (or of `output` weighted by
  /// `seed`) with respect to each tensor in `inputs`, all recorded on this tape.
  ///
  /// - Parameters:
  ///   - seed: the gradient to start from, with the shape of `output`; ones when `nil`, which
  ///     requires a one-element `output`.
  ///   - createGraph: record the backward pass itself, so the gradients can be differentiated
  ///     again (PyTorch's `create_graph=True`). Off by default: then pullbacks run unrecorded.
  ///   - retainTape: keep the entries after the pass (to print or draw the tape, or to run another
  ///     backward pass). Off by default: each visited entry's output, saved values and
  ///     intermediate gradient are released as soon as the pass has used them.
  /// - Returns: one gradient per input, zeros where the output does not depend on it.
  public func gradients(
    of output: Tensor<Scalar>, at inputs: [Tensor<Scalar>], seed: Tensor<Scalar>? = nil,
    createGraph: Bool = false, retainTape: Bool = false
  ) -> [Tensor<Scalar>] {
    let positions = inputs.map { position(of: $0) }
    let lowest = positions.filter { $0 >= 0 }.min() ?? 0
    let accumulated = backward(
      from: output, seed: seed, downTo: lowest, keeping: positions, createGraph: createGraph,
      retainTape: retainTape)
    return zip(inputs, accumulated).map { input, gradient in gradient ?? Tensor.zeros(input.shape) }
  }

  /// Walks entries `output ... lowest` backwards and returns the gradient of each position in
  /// `keeping`, in its order (`nil` for a position not on the tape or where none arrived).
  ///
  /// Matrix products in the pass keep the operands they pack more than once (a recurrent weight,
  /// right operand of the state's gradient at every time step) packed until it ends
  /// (``PackedOperands``). Outside a graph-creating pass, a weight's gradient products over a
  /// batch of up to 64 rows wait in ``DeferredProducts`` and are added to its total as deep
  /// products, the last when the walk reaches the weight's position, before anything reads that
  /// total.
  func backward(
    from output: Tensor<Scalar>, seed: Tensor<Scalar>?, downTo lowest: Int, keeping: [Int],
    createGraph: Bool, retainTape: Bool
  ) -> [Tensor<Scalar>?] {
    PackedOperands.withCurrent(PackedOperands()) {
      walkBackward(
        from: output, seed: seed, downTo: lowest, keeping: keeping, createGraph: createGraph,
        retainTape: retainTape)
    }
  }

  /// ``backward(from:seed:downTo:keeping:createGraph:retainTape:)`` inside its packing scope.
  private func walkBackward(
    from output: Tensor<Scalar>, seed: Tensor<Scalar>?, downTo lowest: Int, keeping: [Int],
    createGraph: Bool, retainTape: Bool
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
    let top = position(of: output)
    guard top >= 0 else { return Array(repeating: nil, count: keeping.count) }
    // The running gradient of every entry, in a buffer of its own rather than an array: an
    // array of optional tensors is destroyed by the runtime's generic loop, a value witness call
    // per slot, one slot per entry (callgrind, W1 S and W3 S: 1.9–2.0% of the instructions of a
    // training step); `deinitializeTable` below is specialised.
    let grads = UnsafeMutableBufferPointer<Tensor<Scalar>?>.allocate(capacity: top + 1)
    grads.initialize(repeating: nil)
    defer { Self.deinitializeTable(grads) }
    grads[top] = start
    var kept = [Bool](repeating: false, count: top + 1)
    for position in keeping where position >= 0 && position <= top { kept[position] = true }

    let wasRecording = state.pointee.isRecording
    let outerRecorder = state.pointee.anomalyRecorder
    state.pointee.isRecording = createGraph
    // Ops that pullbacks record (with `createGraph`) are checked as part of their pullback.
    state.pointee.anomalyRecorder = nil
    let recorder = outerRecorder ?? AnomalyRecorder.current
    defer {
      state.pointee.isRecording = wasRecording
      state.pointee.anomalyRecorder = outerRecorder
    }

    // Entries are taken from the end of the tape while the pass walks down it: no empty entry
    // is left behind to be freed later. Not in a recorded pass, whose new entries sit above and
    // must keep their indices.
    let removing = !retainTape && !createGraph
    let deferredProducts = createGraph ? nil : DeferredProducts<Scalar>()
    for position in stride(from: top, through: lowest, by: -1) {
      if let deferredProducts, position <= deferredProducts.highestPosition {
        deferredProducts.flush(at: position, into: &grads[position])
      }
      guard var gradient = grads[position].take() else {
        if removing && position == state.pointee.records.count - 1 {
          state.pointee.records.removeLast()
        }
        continue
      }
      if !state.pointee.hooks.isEmpty, let hooks = state.pointee.hooks[position] {
        for hook in hooks { gradient = hook(gradient) }
      }
      if kept[position] { grads[position] = gradient }
      var record = takeRecord(at: position, releasing: !retainTape, removing: removing)
      if !createGraph {
        gradient.node = nil
        record.output.node = nil
        // Constants: the ops of the pullback then skip looking up the recording tape.
        record.saved.first.node = nil
        record.saved.second.node = nil
      }
      record.saved.firstNeedsGradient = record.inputs.first >= 0
      record.saved.secondNeedsGradient = record.inputs.second >= 0
      switch record.derivative {
      case .leaf:
        continue
      case .closure(let pullback):
        let inputGradients = pullback(gradient, record.output)
        precondition(
          inputGradients.count == Int(record.inputs.count),
          "\(record.op): pullback returned \(inputGradients.count) gradients for \(record.inputs.count) inputs"
        )
        if let recorder, recorder.isWatching, gradient.isFinite,
          inputGradients.contains(where: { $0.map { !$0.isFinite } ?? false })
        {
          recordBackwardAnomaly(record, at: position, in: recorder)
        }
        for (slot, inputGradient) in inputGradients.enumerated() {
          accumulate(inputGradient, slot: slot, of: record, into: grads)
        }
      case .builtin(let pullback):
        let watching = recorder?.isWatching == true && gradient.isFinite
        // Handed over, not lent: a pullback may write its result over the gradient's elements.
        let (firstGradient, secondGradient) = pullback(
          consume gradient, record.output, record.saved)
        if watching, let recorder,
          !(firstGradient?.isFinite ?? true) || !(secondGradient?.isFinite ?? true)
        {
          recordBackwardAnomaly(record, at: position, in: recorder)
        }
        accumulate(firstGradient, slot: 0, of: record, into: grads)
        accumulate(secondGradient, slot: 1, of: record, into: grads)
      case .accumulating(let pullback):
        let (first, second) = (record.inputs.first, record.inputs.second)
        var firstTotal = first >= 0 ? grads[first].take() : nil
        // One tensor in both slots (`x * x`): its second gradient starts apart, added below.
        var secondTotal = second >= 0 && second != first ? grads[second].take() : nil
        // Only a total that turns non-finite here is this entry's anomaly.
        let watching =
          recorder?.isWatching == true && gradient.isFinite && (firstTotal?.isFinite ?? true)
          && (secondTotal?.isFinite ?? true)
        let inputs = PullbackInputs(
          firstShape: inputShape(0, of: record.inputs),
          secondShape: inputShape(1, of: record.inputs), firstPosition: first,
          secondPosition: second, deferredProducts: deferredProducts)
        pullback(consume gradient, &firstTotal, &secondTotal, inputs, record.saved)
        if watching, let recorder,
          !(firstTotal?.isFinite ?? true) || !(secondTotal?.isFinite ?? true)
        {
          recordBackwardAnomaly(record, at: position, in: recorder)
        }
        // Moved back, not copied: a copy was a retain and a release of the total's buffer.
        if first >= 0 { grads[first] = firstTotal.take() }
        if second >= 0 && second == first {
          accumulate(secondTotal.take(), slot: 1, of: record, into: grads)
        } else if second >= 0 {
          grads[second] = secondTotal.take()
        }
      }
    }
    if !retainTape { release() }
    return keeping.map { $0 >= 0 && $0 <= top ? grads[$0] : nil }
  }

  /// Frees a gradient table: each slot moved out and released by code specialised for
  /// `Tensor<Scalar>?`, then the buffer.
  private static func deinitializeTable(_ table: UnsafeMutableBufferPointer<Tensor<Scalar>?>) {
    guard let base = table.baseAddress else { return }
    for slot in 0..<table.count { _ = (base + slot).move() }
    table.deallocate()
  }

  /// The entry at `position`; with `releasing`, moved out of the tape, so that its output and
  /// saved values are freed as soon as the backward pass is done with them. With `removing`, the
  /// last entry is removed rather than replaced with an empty one.
  private func takeRecord(at position: Int, releasing: Bool, removing: Bool) -> TapeRecord<Scalar> {
    guard releasing else { return state.pointee.records[position] }
    if removing && position == state.pointee.records.count - 1 {
      return state.pointee.records.removeLast()
    }
    var record = TapeRecord<Scalar>.empty
    swap(&record, &state.pointee.records[position])
    return record
  }

  /// Adds the gradient of input `slot` of the entry at `position` to that input's running total,
  /// summed back to the input's shape if the op broadcast it.
  ///
  /// Outside a recorded pass the sum is formed in place, in the total's buffer, when nothing else
  /// holds that buffer; recorded, it is a differentiable `+`.
  @inline(__always)
  private func accumulate(
    _ gradient: consuming Tensor<Scalar>?, slot: Int, of record: borrowing TapeRecord<Scalar>,
    into grads: UnsafeMutableBufferPointer<Tensor<Scalar>?>
  ) {
    guard slot < record.inputs.count, let gradient else { return }
    let index = record.inputs.index(slot)
    guard index >= 0 else { return }
    let shape = state.pointee.records[index].output.shape
    // Tested here although `add(_:summedTo:op:into:)` tests it too: passing `record.op` on every
    // call made the compiler copy the whole borrowed record (callgrind, W1 S: 2.4% more).
    if gradient.shape == shape {
      Tensor.add(gradient, into: &grads[index])
    } else {
      Tensor.add(gradient, summedTo: shape, op: record.op, into: &grads[index])
    }
  }

  private func recordBackwardAnomaly(
    _ record: TapeRecord<Scalar>, at position: Int, in recorder: AnomalyRecorder
  ) {
    recorder.record(
      AnomalyError(
        op: record.op, tapeIndex: position,
        inputShapes: (0..<Int(record.inputs.count)).map { inputShape($0, of: record.inputs) },
        phase: .backward))
  }

  /// The shape of input `slot` of an entry with `inputs`: a recorded input's is the output shape
  /// of its own entry, which the backward pass has not reached yet when it reaches a later entry.
  private func inputShape(_ slot: Int, of inputs: EntryInputs) -> TensorShape {
    if inputs.count > 2 { return inputs.all[slot].shape }
    let index = inputs.index(slot)
    return index >= 0 ? state.pointee.records[index].output.shape : inputs.constantShape
  }

  /// Frees every entry, as PyTorch frees a graph after `backward()`. The tape takes a new identity,
  /// so tensors recorded before are constants from now on and it can record afresh.
  public func release() {
    state.pointee.records.removeAll(keepingCapacity: true)
    state.pointee.hooks.removeAll()
    state.pointee.id = TapeIdentifiers.next()
  }

  /// One line per entry: index, op, input indices (`c` for a constant), output shape.
  public var description: String {
    var lines = ["Tape<\(Scalar.dtypeName)> with \(entryCount) entries"]
    for (position, entry) in entries.enumerated() {
      let inputs = entry.inputs.map { $0.map(String.init) ?? "c" }.joined(separator: ", ")
      let name = entry.op.padding(toLength: max(entry.op.count, 14), withPad: " ", startingAt: 0)
      lines.append("  %\(position) = \(name) (\(inputs)) -> \(entry.outputShape)")
    }
    return lines.joined(separator: "\n")
  }
}

/// What tells ops which tape records them: a ``ThreadSlot`` holding the recording tape, set for
/// the duration of ``Tape/record(_:)`` and emptied by ``withoutRecording(_:)``. Two threads can
/// record on two tapes at once; a batch's shards each record on their own thread.
@usableFromInline
internal enum RecordingContext {
  /// Holds the tape recording on this thread, type-erased because the slot is not generic;
  /// empty when none records.
  @usableFromInline static let slot = ThreadSlot()

  /// Runs `body` with `tape` recording on this thread (`nil`: none), then restores the tape that
  /// recorded before.
  static func withTape<Result>(_ tape: AnyObject?, _ body: () throws -> Result) rethrows
    -> Result
  {
    try slot.with(tape, body)
  }
}

/// The emptied entry arrays of the last freed tapes of each scalar type, kept with their
/// capacity for the next tapes: without them every tape (one per `gradient(at:of:)` call) grows
/// its array from nothing, reallocating and copying all entries each time it doubles, on fresh
/// pages the kernel must fault in (W6: 14 reallocations and 4 MB of copying per 10,000 ops).
/// A few are kept per type, one for each tape of a batch split across threads
/// (``valueWithGradient(at:batchSize:shards:of:)``).
///
/// Only arrays of up to `largestKept` entries are kept, so one very long tape does not hold its
/// memory for the rest of the process.
private final class SpareEntryStorage: @unchecked Sendable {
  static let shared = SpareEntryStorage()
  private static let largestKept = 1 << 16
  private static let keptPerType = 4
  /// The arrays of each scalar type, keyed by the type.
  private var spares: [ObjectIdentifier: [Any]] = [:]
  private let lock = NSLock()

  /// An empty entry array, with the capacity of one kept if there is one.
  func take<Scalar: TensorScalar>() -> [TapeRecord<Scalar>] {
    lock.lock()
    defer { lock.unlock() }
    return spares[ObjectIdentifier(Scalar.self)]?.popLast() as? [TapeRecord<Scalar>] ?? []
  }

  /// Keeps `records`, which must be empty, for a later tape, unless it is too large or enough
  /// are kept already.
  func keep<Scalar: TensorScalar>(_ records: [TapeRecord<Scalar>]) {
    guard records.capacity > 0 && records.capacity <= Self.largestKept else { return }
    lock.lock()
    defer { lock.unlock() }
    let key = ObjectIdentifier(Scalar.self)
    guard spares[key, default: []].count < Self.keptPerType else { return }
    spares[key, default: []].append(records)
  }
}

/// Hands out tape identities, so a tensor left over from an old tape is never mistaken for an
/// entry of a new one.
///
/// Identities are 32 bits (they share a word with the entry index in ``TapeNode``) and skip zero,
/// which marks a constant; they repeat after 2³² − 1 tapes, so a recorded tensor would have to be
/// kept unchanged across some four billion `gradient` calls, and then used again in a recorded
/// computation, to be mistaken for an entry of the tape of the same identity.
internal enum TapeIdentifiers {
  private static let counter = TapeIdentifierCounter()

  static func next() -> UInt32 { counter.next() }
}

private final class TapeIdentifierCounter: @unchecked Sendable {
  private var value: UInt32 = 0
  private let lock = NSLock()

  func next() -> UInt32 {
    lock.lock()
    defer { lock.unlock() }
    value = value == UInt32.max ? 1 : value + 1
    return value
  }
}
