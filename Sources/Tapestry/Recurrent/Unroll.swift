// Backpropagation through time is not written anywhere: unrolling records every step's ops on
// the tape in order, and the ordinary reverse loop over the tape visits them backwards.

/// A cell run over a whole sequence by ``unroll(_:inputs:initialState:batchFirst:)``: the output
/// of every step, the state after every step, and the final state.
public struct UnrolledSequence<Cell: RecurrentCell> {
  /// The output of every step stacked along the time axis: `[T, B, hiddenSize]`, or
  /// `[B, T, hiddenSize]` when `batchFirst`.
  public let outputs: Tensor<Cell.Scalar>
  /// The state after each step, `T` of them in order (for an LSTM, each holds the cell state c
  /// as well as h; see ``cellStates``).
  public let states: [Cell.State]
  /// The state after the last step (the initial state when the sequence is empty): what to pass
  /// as the initial state of the next chunk of a long sequence.
  public let finalState: Cell.State
  /// Whether the batch axis comes first in ``outputs``.
  public let batchFirst: Bool
}

extension UnrolledSequence where Cell.State == LSTMState<Cell.Scalar> {
  /// The LSTM cell state c after every step, stacked like ``outputs``: `[T, B, hiddenSize]`, or
  /// `[B, T, hiddenSize]` when `batchFirst`. Traps on an empty sequence, which has none.
  public var cellStates: Tensor<Cell.Scalar> {
    stack(states.map(\.cell), alongAxis: batchFirst ? 1 : 0)
  }
}

/// Runs `cell` over every time step of `inputs`, feeding each step's state to the next: the
/// forward pass of a one-layer recurrent network (PyTorch's `nn.RNN`/`nn.LSTM`/`nn.GRU` for
/// a single layer and direction, with the cells of this library or any ``RecurrentCell``).
///
/// Inputs are time-major, `[T, B, inputSize]`, or `[B, T, inputSize]` when `batchFirst`; the
/// outputs come back in the same layout with `hiddenSize` features. With no `initialState`, the
/// cell's ``RecurrentCell/zeroState(batchSize:)`` is used. Every step is recorded on the active
/// tape, so the gradient of a loss of the outputs or of the final state reaches the parameters,
/// the inputs and the initial state through all the steps (backpropagation through time).
///
/// A cell that adopts ``InputProjectingCell`` (the built-in ones do) has its input projection
/// computed for all `T·B` rows as one matrix product before the loop, instead of one small
/// product per step; the result is the same up to rounding.
///
/// Traps, naming the cell and the shapes, when `inputs` is not rank 3 or its feature size is not
/// the cell's `inputSize`; the cell itself traps on an initial state of the wrong shape.
public func unroll<Cell: RecurrentCell>(
  _ cell: Cell, inputs: Tensor<Cell.Scalar>, initialState: Cell.State? = nil,
  batchFirst: Bool = false
) -> UnrolledSequence<Cell> {
  let layout = batchFirst ? "[B, T, inputSize]" : "[T, B, inputSize]"
  precondition(
    inputs.rank == 3 && inputs.shape[2] == cell.inputSize,
    "unroll: \(Cell.cellName) input shape \(inputs.shape) does not match \(layout) "
      + "with inputSize \(cell.inputSize)")
  let timeAxis = batchFirst ? 1 : 0
  let batchSize = inputs.shape[1 - timeAxis]
  // Last step first, so that each is taken off the end and freed once run: a cell's own
  // `unrolledSteps` may capture each step's input, which nothing reads afterwards.
  var remainingSteps = Array(cell.unrolledSteps(of: inputs, alongAxis: timeAxis).reversed())
  let stepCount = remainingSteps.count
  var state = initialState ?? cell.zeroState(batchSize: batchSize)
  var outputs: [Tensor<Cell.Scalar>] = []
  var states: [Cell.State] = []
  outputs.reserveCapacity(stepCount)
  states.reserveCapacity(stepCount)
  while let step = remainingSteps.popLast() {
    // Taken apart and moved where they go: copying the result tuple whole retained each of its
    // tensors once more per step.
    let (output, next) = step(state)
    outputs.append(output)
    states.append(next)
    state = next
  }
  let stacked =
    stepCount == 0
    ? Tensor.zeros(batchFirst ? [batchSize, 0, cell.hiddenSize] : [0, batchSize, cell.hiddenSize])
    : stack(outputs, alongAxis: timeAxis)
  return UnrolledSequence(
    outputs: stacked, states: states, finalState: state, batchFirst: batchFirst)
}
