extension Tensor {
  /// Records `self`, the value a differentiable primitive computed from `inputs`, on the active
  /// tape, together with the primitive's pullback; returns `self` linked to the new entry.
  ///
  /// This is how every op in Tapestry is written, and how you add your own (the analogue of
  /// `torch.autograd.Function`): compute the forward value with any code at all, then say how a
  /// gradient flows back:
  /// ```swift
  /// func cube<S>(_ x: Tensor<S>) -> Tensor<S> {
  ///   x.scalars.map { $0 * $0 * $0 }.reshaped(like: x)
  ///     .recorded(as: "cube", from: x) { gradient, _ in [gradient * 3 * x * x] }
  /// }
  /// ```
  /// Nothing is recorded (and the pullback is never called) unless some input is recorded on the
  /// active tape, so an op costs nothing extra outside differentiation.
  ///
  /// - Parameters:
  ///   - name: shown when the tape is printed or drawn.
  ///   - inputs: the tensors the value was computed from, in the order the pullback answers.
  ///   - pullback: given the gradient at the output and the (recorded) output, one gradient per
  ///     input or `nil`. Write it with differentiable ops to get higher-order derivatives.
  @inlinable
  public consuming func recorded(
    as name: String, from inputs: Tensor..., pullback: @escaping Pullback<Scalar>
  ) -> Tensor {
    recorded(as: name, fromInputs: inputs, pullback: pullback)
  }

  /// ``recorded(as:from:pullback:)`` with the inputs given as an array.
  @inlinable
  public consuming func recorded(
    as name: String, fromInputs inputs: [Tensor], pullback: @escaping Pullback<Scalar>
  ) -> Tensor {
    recorded(as: name, fromInputs: inputs, keepingOutput: true, pullback: pullback)
  }

  /// ``recorded(as:fromInputs:pullback:)``, keeping the output's elements on the tape only if
  /// `keepingOutput`; without them the pullback is given the output's shape and no elements.
  ///
  /// Why: the tape holds what it keeps until the backward pass, so a large output that no
  /// pullback reads (a time step of a projected sequence) would stay alive for nothing.
  @inlinable
  consuming func recorded(
    as name: String, fromInputs inputs: [Tensor], keepingOutput: Bool,
    pullback: @escaping Pullback<Scalar>
  ) -> Tensor {
    // One or two inputs (most primitives) need no arrays of positions and shapes: building and
    // freeing them was half of recording a step of an unrolled sequence (`TimeSteps`).
    let recording: (UnsafeMutablePointer<TapeState<Scalar>>, EntryInputs)?
    switch inputs.count {
    case 1: recording = Tensor.recordingTape(of: inputs[0])
    case 2: recording = Tensor.recordingTape(of: inputs[0], inputs[1])
    default: recording = Tensor.recordingTape(of: inputs)
    }
    guard let (tape, entryInputs) = recording else { return self }
    return linked(
      on: tape, as: name, inputs: entryInputs, derivative: .closure(pullback),
      saving: SavedValues(keepingOutput: keepingOutput), checking: inputs)
  }

  /// ``recorded(as:from:pullback:)`` for a built-in op of one input whose pullback reads
  /// `saved` rather than capturing values: recording it allocates nothing but its entry.
  ///
  /// `saved` is evaluated only when the op is recorded.
  @inlinable
  consuming func recorded(
    as name: String, _ input: Tensor, saving saved: @autoclosure () -> SavedValues<Scalar>,
    pullback: @escaping BuiltinPullback<Scalar>
  ) -> Tensor {
    guard let (tape, inputs) = Tensor.recordingTape(of: input) else { return self }
    return linked(
      on: tape, as: name, inputs: inputs, derivative: .builtin(pullback), saving: saved(),
      checking: [input])
  }

  /// ``recorded(as:_:saving:pullback:)`` with a pullback that adds into the input's gradient
  /// total rather than returning a gradient.
  ///
  /// `saved` is evaluated only when the op is recorded.
  @inlinable
  consuming func recorded(
    as name: String, _ input: Tensor, saving saved: @autoclosure () -> SavedValues<Scalar>,
    accumulating pullback: @escaping AccumulatingPullback<Scalar>
  ) -> Tensor {
    guard let (tape, inputs) = Tensor.recordingTape(of: input) else { return self }
    return linked(
      on: tape, as: name, inputs: inputs, derivative: .accumulating(pullback), saving: saved(),
      checking: [input])
  }

  /// ``recorded(as:_:_:saving:pullback:)`` with a pullback that adds into the inputs' gradient
  /// totals rather than returning gradients.
  ///
  /// `saved` is evaluated only when the op is recorded.
  @inlinable
  consuming func recorded(
    as name: String, _ first: Tensor, _ second: Tensor,
    saving saved: @autoclosure () -> SavedValues<Scalar>,
    accumulating pullback: @escaping AccumulatingPullback<Scalar>
  ) -> Tensor {
    guard let (tape, inputs) = Tensor.recordingTape(of: first, second) else { return self }
    return linked(
      on: tape, as: name, inputs: inputs, derivative: .accumulating(pullback), saving: saved(),
      checking: [first, second])
  }

  /// ``recorded(as:from:pullback:)`` for a built-in op of two inputs whose pullback reads
  /// `saved` rather than capturing values: recording it allocates nothing but its entry.
  ///
  /// `saved` is evaluated only when the op is recorded.
  @inlinable
  consuming func recorded(
    as name: String, _ first: Tensor, _ second: Tensor,
    saving saved: @autoclosure () -> SavedValues<Scalar>,
    pullback: @escaping BuiltinPullback<Scalar>
  ) -> Tensor {
    guard let (tape, inputs) = Tensor.recordingTape(of: first, second) else { return self }
    return linked(
      on: tape, as: name, inputs: inputs, derivative: .builtin(pullback), saving: saved(),
      checking: [first, second])
  }

  /// Records `self`, computed as `c + p` without ever forming `p`, as the two entries the
  /// unfused expression makes: `p`'s own entry (op `name` of `a` and `b`, with `p`'s shape and
  /// no elements, since that op keeps no output) and then the `add` of `c` and `p`. Gradients,
  /// the printed tape and higher derivatives are therefore those of the expression written out.
  ///
  /// Returns `nil` under anomaly detection, which checks each entry's own value: the caller
  /// then computes the expression unfused. `saved` is evaluated only when `p` is recorded.
  @inlinable
  consuming func recordedSum(
    _ c: Tensor, unformed name: String, shape: TensorShape, of a: Tensor, _ b: Tensor,
    saving saved: @autoclosure () -> SavedValues<Scalar>,
    accumulating pullback: @escaping AccumulatingPullback<Scalar>
  ) -> Tensor? {
    let unformed = Tensor(uncheckedShape: shape, scalars: [])
    guard let (tape, inputs) = Tensor.recordingTape(of: a, b) else {
      return recordedSum(c, unformed)
    }
    if tape.pointee.anomalyRecorder != nil { return nil }
    let term = unformed.linked(
      on: tape, as: name, inputs: inputs, derivative: .accumulating(pullback), saving: saved(),
      checking: [a, b])
    return linked(
      on: tape, as: "add",
      inputs: EntryInputs(
        tape.pointee.position(of: c), c.shape, tape.pointee.position(of: term), shape),
      derivative: .builtin { g, _, saved in Tensor.sumGradients(g, saved) },
      saving: SavedValues(), checking: [c, term])
  }

  /// What the active, recording tape holds and the entry inputs of an op of one input, or `nil`
  /// when the op is not recorded (the input is not on that tape, or no tape records).
  @inlinable @inline(__always)
  static func recordingTape(of input: Tensor) -> (
    UnsafeMutablePointer<TapeState<Scalar>>, EntryInputs
  )? {
    guard input.node != nil, let tape = Tape<Scalar>.activeState, tape.pointee.isRecording
    else { return nil }
    let position = tape.pointee.position(of: input)
    guard position >= 0 else { return nil }
    return (tape, EntryInputs(position))
  }

  /// ``recordingTape(of:)`` for an op of two inputs, recorded when either is on the tape.
  @inlinable @inline(__always)
  static func recordingTape(of first: Tensor, _ second: Tensor) -> (
    UnsafeMutablePointer<TapeState<Scalar>>, EntryInputs
  )? {
    guard first.node != nil || second.node != nil, let tape = Tape<Scalar>.activeState,
      tape.pointee.isRecording
    else { return nil }
    let firstPosition = tape.pointee.position(of: first)
    let secondPosition = tape.pointee.position(of: second)
    guard firstPosition >= 0 || secondPosition >= 0 else { return nil }
    return (tape, EntryInputs(firstPosition, first.shape, secondPosition, second.shape))
  }

  /// ``recordingTape(of:)`` for an op of any number of inputs, recorded when any is on the tape.
  @inlinable
  static func recordingTape(of inputs: [Tensor]) -> (
    UnsafeMutablePointer<TapeState<Scalar>>, EntryInputs
  )? {
    guard inputs.contains(where: { $0.node != nil }), let tape = Tape<Scalar>.activeState,
      tape.pointee.isRecording
    else { return nil }
    let positions = inputs.map { tape.pointee.position(of: $0) }
    guard positions.contains(where: { $0 >= 0 }) else { return nil }
    return (tape, EntryInputs(indices: positions, shapes: inputs.map(\.shape)))
  }

  /// Appends `self` to the tape holding `tape` with `derivative` and the values it reads and, in
  /// anomaly mode, checks it against `inputs`.
  @inlinable
  consuming func linked(
    on tape: UnsafeMutablePointer<TapeState<Scalar>>, as name: String,
    inputs: consuming EntryInputs, derivative: consuming Derivative<Scalar>,
    saving saved: consuming SavedValues<Scalar>,
    checking checkedInputs: @autoclosure () -> [Tensor]
  ) -> Tensor {
    // Handed over (`consuming`), the op's fresh output moves into the entry and back out linked:
    // a copy here was a retain and a release of its buffer, atomic, on every op.
    var output = self
    output.node = nil
    let linked = tape.pointee.append(
      op: name, inputs: consume inputs, output: consume output, derivative: consume derivative,
      saved: consume saved)
    if tape.pointee.anomalyRecorder != nil {
      tape.pointee.checkForward(
        checkedInputs(), output: linked, at: tape.pointee.records.count - 1)
    }
    return linked
  }
}

/// Returns `x` cut off from the tape: a constant to every derivative (JAX's `stop_gradient`,
/// PyTorch's `detach`).
@inlinable
public func withoutDerivative<Scalar>(at x: Tensor<Scalar>) -> Tensor<Scalar> {
  var constant = x
  constant.node = nil
  return constant
}

/// Runs `body` with recording switched off, for every tape: nothing it computes is differentiated
/// (PyTorch's `torch.no_grad()`). Use it for evaluation and parameter updates.
public func withoutRecording<Result>(_ body: () throws -> Result) rethrows -> Result {
  try RecordingContext.withTape(nil) { try body() }
}
