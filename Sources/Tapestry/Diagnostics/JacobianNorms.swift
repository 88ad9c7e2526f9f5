/// The largest singular value of ∂h_T/∂h_t for t = 1…T: how much the recurrence can stretch a
/// gradient on its way from the last state back to step t (`[T]`, the last entry 1).
///
/// Computed through the tape, with no hand-written Jacobian: `cell` is unrolled over `inputs`
/// (`[T, B, inputSize]`) once, then `hiddenSize` backward passes are run from h_T, seeded with
/// each basis vector e_i in every batch row; hooks on every h_t collect row i of each sample's
/// Jacobian. Each J_t is then `hiddenSize`² numbers per sample, whose σ₁ comes from
/// ``largestSingularValue(of:)``; the result is the largest over the batch. Seeding every row at
/// once relies on the samples of a batch not interacting, as in every cell of this library.
///
/// For an LSTM, ∂h_T/∂h_t is the partial derivative with the cell state c_t held fixed: the path
/// through h_t only. Cost: `hiddenSize` backward passes and `T · B` small eigenproblems, so use
/// a small batch. Traps when the cell has no trainable parameter (nothing would be recorded).
public func jacobianNormsThroughTime<Cell: RecurrentCell>(
  of cell: Cell, inputs: Tensor<Cell.Scalar>, initialState: Cell.State? = nil
) -> [Double] where Cell.State: ProbedState, Cell.State.Scalar == Cell.Scalar {
  typealias Scalar = Cell.Scalar
  let tape = Tape<Scalar>()
  defer { tape.release() }
  var rows: [[Tensor<Scalar>]] = []
  let last = withParametersWatched(of: cell, on: tape) { () -> Tensor<Scalar>? in
    let sequence = unroll(cell, inputs: inputs, initialState: initialState)
    let hiddens = sequence.states.compactMap { state in
      state.probedTensors.first { $0.label == "h" }?.tensor
    }
    rows = Array(repeating: [], count: hiddens.count)
    for (t, hidden) in hiddens.enumerated() {
      precondition(
        tape.recordedPosition(of: hidden) != nil,
        "jacobianNormsThroughTime: \(Cell.cellName) has no trainable parameter to record through")
      tape.addGradientHook(to: hidden) { gradient in
        rows[t].append(gradient)
        return gradient
      }
    }
    return hiddens.last
  }
  guard let last else { return [] }
  let (batchSize, size) = (last.shape[0], last.shape[1])
  for i in 0..<size {
    var seed = [Scalar](repeating: 0, count: batchSize * size)
    for sample in 0..<batchSize { seed[sample * size + i] = 1 }
    _ = tape.gradients(
      of: last, at: [], seed: Tensor(shape: [batchSize, size], scalars: seed), retainTape: true)
  }
  return rows.map { gradients in
    // A step whose h_t gets no gradient (it cannot reach h_T) has a zero Jacobian.
    guard gradients.count == size else { return 0 }
    let elements = gradients.map { $0.scalars.map(Double.init) }
    return (0..<batchSize).map { sample in
      var jacobian = [Double](repeating: 0, count: size * size)
      for i in 0..<size {
        for j in 0..<size { jacobian[i * size + j] = elements[i][sample * size + j] }
      }
      return largestSingularValue(of: Tensor(shape: [size, size], scalars: jacobian))
    }.max() ?? 0
  }
}
