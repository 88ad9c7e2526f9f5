// Truncated backpropagation through time is a training schedule, not a derivative: the gradients
// still come from the tape. What this file decides is which steps share a tape (one chunk, plus
// any steps recomputed before it) and where the state is cut off from it, so that a stream of
// any length is trained with a tape that never holds more than k2 steps.

/// A recurrent state made of tensors that can be cut off from the tape as a whole, which is what
/// truncated backpropagation does to the state it carries from one chunk of a stream to the next.
///
/// `Tensor`, ``LSTMState`` and arrays of conforming values conform. A custom cell's state
/// conforms by passing each tensor it holds through ``withoutDerivative(at:)``.
public protocol Detachable {
  /// The same value with every tensor in it a constant to every derivative.
  func detached() -> Self
}

extension Tensor: Detachable {
  /// `self` cut off from the tape: ``withoutDerivative(at:)``.
  public func detached() -> Tensor { withoutDerivative(at: self) }
}

extension LSTMState: Detachable {
  /// Both the hidden and the cell state cut off from the tape.
  public func detached() -> LSTMState {
    LSTMState(hidden: withoutDerivative(at: hidden), cell: withoutDerivative(at: cell))
  }
}

extension Array: Detachable where Element: Detachable {
  /// Every element cut off from the tape (the per-layer states of a stack of cells).
  public func detached() -> [Element] { map { $0.detached() } }
}

/// Truncated backpropagation through time in the k1/k2 form of Williams & Peng (1990): a long
/// stream is run forward in chunks of `k1` steps, and after each chunk one backward pass covers
/// the last `k2` steps; the optimiser is applied between chunks.
///
/// The losses of a chunk's `k1` steps are averaged into one loss, whose gradient is taken with
/// ``valueWithGradient(at:of:)`` on a fresh tape. The recurrent state is carried from chunk to
/// chunk but detached (``Detachable``), so no gradient flows past the start of the backward
/// window and the tape holds at most `k2` steps however long the stream is.
///
/// - `k1 == k2` (the common case, and what most language-model code calls "BPTT length"): the
///   stream is cut into independent chunks; every step runs forward once.
/// - `k1 < k2`: each step's loss still reaches up to `k2` steps back, across the chunk boundary.
///   Since the previous tape has been freed, the `k2 − k1` steps before the chunk are recomputed
///   from a detached state saved at the start of the window, with the current parameters. The
///   cost: every update runs `k2` forward steps for `k1` new ones (`k2 / k1` times the forward
///   work of `k1 == k2`), the backward pass covers `k2` steps either way, and the carried
///   ``Carry`` holds the last `k2 − k1` inputs.
///
/// ```swift
/// let tbptt = TruncatedBPTT(k1: 20, k2: 40)
/// var carry = TruncatedBPTT.Carry(cell.zeroState(batchSize: 16))
/// for (inputs, targets) in batches {  // [T, B, F] and [T, B, ...], one long text in order
///   carry = tbptt.train(cell, inputs: inputs, targets: targets, from: carry) {
///     output, target in meanSquaredError(predicted: output, expected: target)
///   } update: { update in
///     var gradients = update.gradients
///     _ = gradients.clipGlobalNorm(to: 1)
///     optimizer.update(gradients)
///   }
/// }
/// ```
///
/// Chunks are counted from the start of each call: successive calls whose lengths are multiples
/// of `k1` train exactly as one call over the concatenated stream would (the ``Carry`` brings the
/// state and the inputs to recompute); a call whose length is not a multiple of `k1` ends with a
/// shorter chunk, updated on its own. Call it outside any recording: under an outer tape every
/// chunk would be recorded there too, and that tape would grow with the stream.
public struct TruncatedBPTT {
  /// The number of steps run forward between two updates, whose losses each update averages.
  public let k1: Int
  /// The number of steps each backward pass covers (at least `k1`).
  public let k2: Int

  /// A schedule that updates every `k1` steps and backpropagates through `k2` (default `k1`).
  /// Traps unless `0 < k1 ≤ k2`.
  public init(k1: Int, k2: Int? = nil) {
    let k2 = k2 ?? k1
    precondition(k1 > 0, "TruncatedBPTT: k1 must be positive, got k1 \(k1)")
    precondition(k2 >= k1, "TruncatedBPTT: k2 must be at least k1, got k1 \(k1), k2 \(k2)")
    self.k1 = k1
    self.k2 = k2
  }

  /// What a stream carries from one call of
  /// ``TruncatedBPTT/train(_:inputs:targets:from:step:loss:update:)`` to the next: the
  /// recurrent state and, when `k2 > k1`, the inputs the next update must recompute.
  ///
  /// Every tensor in it is detached, so keeping a carry keeps no tape alive.
  public struct Carry<State: Detachable, Scalar: TensorScalar> {
    /// The recurrent state after the last step run: the initial state of the next call.
    public let state: State
    /// The state at the start of the next backward window, `history.count` steps before `state`.
    let windowState: State
    /// The inputs of the steps between `windowState` and `state`, oldest first: at most
    /// `k2 − k1` of them, rerun before the next chunk so its backward pass reaches `k2` back.
    let history: [Tensor<Scalar>]

    /// The carry at the start of a stream, or after resetting one: `state` and no history.
    /// `Scalar` names the tensors' scalar type, which a custom `State` does not give away.
    public init(_ state: State, as _: Scalar.Type) {
      self.init(state: state.detached(), windowState: state.detached(), history: [])
    }

    init(state: State, windowState: State, history: [Tensor<Scalar>]) {
      self.state = state
      self.windowState = windowState
      self.history = history
    }
  }
}

extension TruncatedBPTT.Carry where State == Tensor<Scalar> {
  /// The carry at the start of a stream of a single-tensor state (RNN, GRU): `state`, no history.
  public init(_ state: State) { self.init(state, as: Scalar.self) }
}

extension TruncatedBPTT.Carry where State == LSTMState<Scalar> {
  /// The carry at the start of a stream of an LSTM state: `state`, no history.
  public init(_ state: State) { self.init(state, as: Scalar.self) }
}

extension TruncatedBPTT {
  /// What one backward pass produced, handed to the `update` closure of
  /// ``TruncatedBPTT/train(_:inputs:targets:from:step:loss:update:)`` to apply an optimiser, clip
  /// or log.
  public struct Update<Scalar: TensorScalar> {
    /// The gradient of ``loss`` with respect to every trainable parameter of the model.
    public let gradients: ParameterGradients<Scalar>
    /// The mean of the per-step losses of the chunk.
    public let loss: Scalar
    /// The chunk's time steps, as indices into this call's `inputs`.
    public let steps: Range<Int>
    /// The outputs of the chunk's steps stacked along a new first axis, `[steps.count, ...]`,
    /// detached: for metrics such as accuracy.
    public let outputs: Tensor<Scalar>
    /// How many steps the backward pass covered: the chunk plus the steps recomputed before it
    /// (at most `k2`). No gradient reaches an input older than that.
    public let backpropagatedSteps: Int
    /// The number of entries on the tape when its backward pass began: the memory this update
    /// needed, which depends on `k2` and the model, never on the length of the stream.
    public let tapeEntries: Int
  }

  /// Trains `model` on the stream `inputs` with per-step `targets`, one update per chunk of `k1`
  /// steps, starting from `carry`; returns the carry to pass to the next call.
  ///
  /// - Parameters:
  ///   - model: the parameters to differentiate: any struct of ``Parameter``s, as for
  ///     ``valueWithGradient(at:of:)``.
  ///   - inputs: the stream, time first: `[T, ...]`, usually `[T, B, F]`.
  ///   - targets: one target per step, `[T, ...]`; step `t`'s is `targets.select(t, alongAxis: 0)`.
  ///   - carry: the state (and recomputation history) left by the previous call, or a new
  ///     ``Carry`` made from an initial state at the start of a stream (or to reset it, at a
  ///     document boundary, say).
  ///   - step: one time step of the model: `(model, input, state) -> (output, state)`.
  ///   - loss: the one-element loss of one step's output against its target.
  ///   - update: called after each backward pass, before the next chunk runs, so that an
  ///     optimiser step there trains the rest of the stream.
  public func train<Model, State: Detachable, Scalar>(
    _ model: Model, inputs: Tensor<Scalar>, targets: Tensor<Scalar>,
    from carry: Carry<State, Scalar>,
    step: (Model, Tensor<Scalar>, State) -> (output: Tensor<Scalar>, state: State),
    loss: (_ output: Tensor<Scalar>, _ target: Tensor<Scalar>) -> Tensor<Scalar>,
    update: (Update<Scalar>) -> Void
  ) -> Carry<State, Scalar> {
    precondition(
      inputs.rank >= 1 && targets.rank >= 1 && inputs.shape[0] == targets.shape[0],
      "TruncatedBPTT.train: inputs \(inputs.shape) and targets \(targets.shape) must have the "
        + "same number of steps along axis 0")
    var carry = carry
    for start in stride(from: 0, to: inputs.shape[0], by: k1) {
      let steps = start..<min(start + k1, inputs.shape[0])
      carry = trainChunk(
        model, inputs: inputs, targets: targets, steps: steps, from: carry, step: step,
        loss: loss, update: update)
    }
    return carry
  }

  /// ``train(_:inputs:targets:from:step:loss:update:)`` for a ``RecurrentCell``, whose output
  /// is what `loss` compares with each target.
  public func train<Cell: RecurrentCell>(
    _ cell: Cell, inputs: Tensor<Cell.Scalar>, targets: Tensor<Cell.Scalar>,
    from carry: Carry<Cell.State, Cell.Scalar>,
    loss: (_ output: Tensor<Cell.Scalar>, _ target: Tensor<Cell.Scalar>) -> Tensor<Cell.Scalar>,
    update: (Update<Cell.Scalar>) -> Void
  ) -> Carry<Cell.State, Cell.Scalar> where Cell.State: Detachable {
    train(
      cell, inputs: inputs, targets: targets, from: carry, step: { $0($1, $2) }, loss: loss,
      update: update)
  }

  /// One update: reruns the carried history, runs the chunk's `steps`, backpropagates through
  /// both, calls `update`, and returns the carry for the next chunk.
  private func trainChunk<Model, State: Detachable, Scalar>(
    _ model: Model, inputs: Tensor<Scalar>, targets: Tensor<Scalar>, steps: Range<Int>,
    from carry: Carry<State, Scalar>,
    step: (Model, Tensor<Scalar>, State) -> (output: Tensor<Scalar>, state: State),
    loss: (Tensor<Scalar>, Tensor<Scalar>) -> Tensor<Scalar>,
    update: (Update<Scalar>) -> Void
  ) -> Carry<State, Scalar> {
    let window = carry.history + steps.map { inputs.select($0, alongAxis: 0) }
    // The next window starts this many steps into this one; its state is saved on the way.
    let nextWindowOffset = max(0, window.count - (k2 - k1))
    var nextWindowState = carry.windowState
    var finalState = carry.windowState
    var outputs: [Tensor<Scalar>] = []
    var entries = 0
    let (value, gradients) = valueWithGradient(at: model) { model -> Tensor<Scalar> in
      var state = carry.windowState
      var losses: [Tensor<Scalar>] = []
      outputs = []
      for (offset, input) in window.enumerated() {
        if offset == nextWindowOffset { nextWindowState = state.detached() }
        let result = step(model, input, state)
        state = result.state
        let time = offset - carry.history.count
        guard time >= 0 else { continue }
        let stepLoss = loss(result.output, targets.select(steps.lowerBound + time, alongAxis: 0))
        precondition(
          stepLoss.count == 1,
          "TruncatedBPTT.train: the loss of step \(steps.lowerBound + time) has shape "
            + "\(stepLoss.shape); reduce it to one element")
        losses.append(stepLoss.reshaped(to: []))
        outputs.append(withoutDerivative(at: result.output))
      }
      finalState = state.detached()
      if nextWindowOffset == window.count { nextWindowState = finalState }
      let mean = stack(losses).mean()
      entries = Tape<Scalar>.active?.entryCount ?? 0
      return mean
    }
    update(
      Update(
        gradients: gradients, loss: value.scalar, steps: steps, outputs: stack(outputs),
        backpropagatedSteps: window.count, tapeEntries: entries))
    return Carry(
      state: finalState, windowState: nextWindowState,
      history: Array(window[nextWindowOffset...]))
  }
}
