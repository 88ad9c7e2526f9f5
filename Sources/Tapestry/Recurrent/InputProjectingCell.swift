// Hoisting the input projection out of the time loop. A cell's input usually enters only through
// x·W_ihᵀ + b, which does not depend on the state; computing it for all T·B rows at once turns T
// skinny products (B rows each, B = 1 for many models) into one tall one, in the forward and in
// the backward pass. The product is an ordinary recorded matmul, so its gradient is still derived
// by the tape; only the order of work changes.

/// A ``RecurrentCell`` whose input enters only through a row-wise map that does not depend on
/// the state (for the built-in cells, `x·W_ihᵀ + b`), split off so that
/// ``unroll(_:inputs:initialState:batchFirst:)`` can apply it to every time step in one product.
///
/// Adopting it is optional: ``unroll(_:inputs:initialState:batchFirst:)`` runs any cell, and
/// runs an `InputProjectingCell` by calling ``projectInputs(_:)`` once on the `[T·B, inputSize]`
/// rows, then ``callAsFunction(projectedInput:_:)`` per step (through the
/// ``RecurrentCell/unrolledSteps(of:alongAxis:)`` this protocol provides). A cell that adopts it gets its
/// one-step ``RecurrentCell/callAsFunction(_:_:)`` for free: project, then step.
///
/// The two methods must agree: `callAsFunction(projectedInput: projectInputs(x), state)` is the
/// step of input `x`, and row `r` of `projectInputs(x)` depends on row `r` of `x` alone.
public protocol InputProjectingCell<Scalar>: RecurrentCell {
  /// The input's part of the step, for any number of rows: `[N, inputSize]` to `[N, P]`, where
  /// `P` is what ``callAsFunction(projectedInput:_:)`` expects (`4·hiddenSize` for an LSTM).
  func projectInputs(_ inputs: Tensor<Scalar>) -> Tensor<Scalar>

  /// One time step from the projected input `[B, P]` and the previous state: the output
  /// `[B, hiddenSize]` and the next state.
  func callAsFunction(projectedInput: Tensor<Scalar>, _ state: State)
    -> (output: Tensor<Scalar>, state: State)
}

extension InputProjectingCell {
  /// One step: `input` `[B, inputSize]` is projected, then stepped. Traps, naming the cell and the
  /// shapes, on a wrong input shape.
  public func callAsFunction(_ input: Tensor<Scalar>, _ state: State)
    -> (output: Tensor<Scalar>, state: State)
  {
    checkInput(input)
    return self(projectedInput: projectInputs(input), state)
  }

  /// The inputs of all steps projected in one product (`[T·B, inputSize]` rows), then each
  /// step's slice of the projection fed to ``callAsFunction(projectedInput:_:)``.
  public func unrolledSteps(of inputs: Tensor<Scalar>, alongAxis axis: Int)
    -> [(State) -> (output: Tensor<Scalar>, state: State)]
  {
    guard inputs.rank == 3, inputs.count > 0 else {
      return TimeSteps(of: inputs, alongAxis: axis).functions { input, state in self(input, state) }
    }
    let (outer, inner) = (inputs.shape[0], inputs.shape[1])
    let projected = projectInputs(inputs.reshaped(to: [outer * inner, inputs.shape[2]]))
    let sequence = projected.reshaped(to: [outer, inner, projected.shape[1]])
    return TimeSteps(of: sequence, alongAxis: axis).functions { projectedInput, state in
      self(projectedInput: projectedInput, state)
    }
  }

  /// Traps, naming the cell and the shapes, unless `projectedInput` is `[B, width]`.
  public func checkProjectedInput(_ projectedInput: Tensor<Scalar>, width: Int) {
    precondition(
      projectedInput.rank == 2 && projectedInput.shape[1] == width,
      "\(Self.cellName): projected input shape \(projectedInput.shape) does not match "
        + "[B, \(width)]")
  }
}

/// The steps of a sequence along an axis, each with that axis removed, cut out one at a time as
/// they are asked for, as separate tensors whose gradients flow back to the sequence in one piece.
///
/// ``Tensor/unstacked(alongAxis:)`` records one `select` per step, and each `select` sends back a
/// gradient of the whole sequence, zero but for its step: T full-size gradients to add, O(T²) for
/// a sequence of T steps. Here the steps hand their gradients to one shared collector instead,
/// and one `unstack` entry, recorded before them and so visited after them in the backward pass,
/// returns the collected gradients as the sequence's gradient: O(T). The link from each step to
/// that entry is a one-element token tensor, whose gradient is a zero; only the first step to
/// receive a gradient in a pass gives it one (enough for the pass to reach the entry), so the
/// other steps allocate and add nothing.
///
/// A step is copied out of the sequence (and recorded) when ``step(_:)`` is called, not all of
/// them up front: that way the copy is still in the cache when the cell reads it (an LSTM's
/// projected step, `[B, 4H]`, which `addmm` reads as the addend of its product), and only one
/// step's copy is alive at a time rather than a second copy of the whole sequence. Ask for the
/// steps while the tape that recorded the sequence records, as
/// ``unroll(_:inputs:initialState:batchFirst:)`` does.
///
/// Every step's entry holds the same pullback, which reads the step's index from its saved
/// values: one closure for the sequence, where a closure per step (and the array of its one
/// input, and the array of its one gradient) cost three allocations a step. The tape does not
/// keep the steps (no pullback reads them), so a step is freed once the caller drops it.
final class TimeSteps<Scalar: TensorScalar> {
  /// The sequence, a constant: each step is linked to the tape through the token instead.
  private let sequence: Tensor<Scalar>
  private let axis: Int
  /// The number of steps.
  let count: Int
  /// What links a recorded sequence's steps to its `unstack` entry; `nil` when the sequence is
  /// not recorded (or empty), and the steps are constants.
  private let link: (token: Tensor<Scalar>, receive: AccumulatingPullback<Scalar>)?

  /// The steps of `sequence` along `axis`; records the `unstack` entry now if `sequence` is
  /// recorded.
  init(of sequence: Tensor<Scalar>, alongAxis axis: Int) {
    let axis = resolvedAxis(axis, rank: sequence.rank, op: "unstack", shape: sequence.shape)
    self.sequence = withoutDerivative(at: sequence)
    self.axis = axis
    count = sequence.shape[axis]
    guard sequence.isRecorded, count > 0 else {
      link = nil
      return
    }
    let collected = CollectedGradients<Scalar>(sequenceShape: sequence.shape, axis: axis)
    let token = Tensor<Scalar>.zeros([1]).recorded(as: "unstack", from: sequence) { _, _ in
      [collected.take()]
    }
    link = (
      token,
      { gradient, tokenGradient, _, _, saved in
        collected.receive(gradient, at: saved.offset)
        if tokenGradient == nil { tokenGradient = Tensor.zeros([1]) }
      }
    )
  }

  /// Step `index`, copied out of the sequence and, if the sequence is recorded, recorded as a
  /// `step` entry whose gradient goes to the sequence's.
  func step(_ index: Int) -> Tensor<Scalar> {
    let step = sequence.select(index, alongAxis: axis)
    guard let (token, receive) = link else { return step }
    return step.recorded(
      as: "step", token, saving: SavedValues(offset: index), accumulating: receive)
  }

  /// One function per step, in order, each applying `body` to its step and a state: what
  /// ``RecurrentCell/unrolledSteps(of:alongAxis:)`` returns. `body` is captured once, for all.
  func functions<State>(
    _ body: @escaping (Tensor<Scalar>, State) -> (output: Tensor<Scalar>, state: State)
  ) -> [(State) -> (output: Tensor<Scalar>, state: State)] {
    (0..<count).map { index in { state in body(self.step(index), state) } }
  }
}

/// The gradients of the steps of one ``TimeSteps``, filled by their pullbacks
/// and emptied by the `unstack` pullback that follows them in the same backward pass, so a tape
/// differentiated twice (`retainTape`) starts each pass empty.
///
/// A gradient that is not itself recorded (any backward pass that does not create a graph) is
/// copied into its place in the sequence's gradient when it arrives, while it is still in the
/// cache, and then freed; stacking them all at the end read T gradients back from memory and kept
/// them alive until then. Recorded gradients (a backward pass that creates a graph hands every step
/// one) are kept and stacked with the differentiable ``stack(_:alongAxis:)``, so higher
/// derivatives flow through them; steps already placed join that stack as constants.
final class CollectedGradients<Scalar: TensorScalar> {
  private let sequenceShape: TensorShape
  private let axis: Int
  /// A step lies in the sequence as `runs` contiguous runs of `run` elements, `stride` apart (one
  /// per index of the axes before `axis`); step `t`'s first run starts at `t · run`.
  private let (runs, run, stride): (Int, Int, Int)
  /// The sequence's gradient, written step by step; empty until the first unrecorded gradient.
  private var placed: [Scalar] = []
  /// Which steps' gradients are in `placed`.
  private var isPlaced: [Bool]
  /// The recorded gradients, by step.
  private var recorded: [Tensor<Scalar>?]

  /// A collector for the steps of a sequence of `sequenceShape`, split along `axis`.
  init(sequenceShape: TensorShape, axis: Int) {
    self.sequenceShape = sequenceShape
    self.axis = axis
    let run = sequenceShape.product(ofAxes: (axis + 1)..<sequenceShape.count)
    (runs, self.run, stride) =
      (sequenceShape.product(ofAxes: 0..<axis), run, sequenceShape[axis] * run)
    isPlaced = Array(repeating: false, count: sequenceShape[axis])
    recorded = Array(repeating: nil, count: sequenceShape[axis])
  }

  /// Takes the gradient of step `index`, added to what that step already received: a step
  /// recorded twice (its function run twice) sends a gradient from each entry.
  func receive(_ gradient: Tensor<Scalar>, at index: Int) {
    guard !gradient.isRecorded else {
      recorded[index] = recorded[index].map { $0 + gradient } ?? gradient
      return
    }
    if placed.isEmpty {
      placed = Kernels.array(count: sequenceShape.elementCount) { _ in }
    }
    let adding = isPlaced[index]
    gradient.scalars.withUnsafeBufferPointer { source in
      placed.withUnsafeMutableBufferPointer { target in
        guard let source = source.baseAddress, let target = target.baseAddress else { return }
        let place = target + index * run
        if adding {
          Kernels.addRuns(
            from: source, stride: run, to: place, stride: stride, length: run, runs: runs)
        } else {
          Kernels.copyRuns(
            from: source, stride: run, to: place, stride: stride, length: run, runs: runs)
        }
      }
    }
    isPlaced[index] = true
  }

  /// The sequence's gradient from the steps' so far (zeros for steps that received none),
  /// leaving the collector empty for the next pass.
  func take() -> Tensor<Scalar> {
    defer {
      placed = []
      isPlaced = Array(repeating: false, count: isPlaced.count)
      recorded = Array(repeating: nil, count: recorded.count)
    }
    guard recorded.allSatisfy({ $0 == nil }) else {
      var stepShape = sequenceShape
      stepShape.remove(at: axis)
      let parts = recorded.indices.map { index in
        recorded[index] ?? placedStep(index) ?? Tensor.zeros(stepShape)
      }
      return stack(parts, alongAxis: axis)
    }
    guard !placed.isEmpty else { return Tensor.zeros(sequenceShape) }
    placed.withUnsafeMutableBufferPointer { target in
      guard let target = target.baseAddress else { return }
      for index in isPlaced.indices where !isPlaced[index] {
        for outer in 0..<runs {
          (target + outer * stride + index * run).update(repeating: 0, count: run)
        }
      }
    }
    return Tensor(shape: sequenceShape, scalars: placed)
  }

  /// Step `index` read back out of `placed`, if it was placed there.
  private func placedStep(_ index: Int) -> Tensor<Scalar>? {
    guard isPlaced[index] else { return nil }
    return Tensor(shape: sequenceShape, scalars: placed).select(index, alongAxis: axis)
  }
}
