/// The unrolled graph of `cell` over `inputs` (`[T, B, inputSize]`, a few steps) as Graphviz DOT
/// after a backward pass of `loss`: one cluster per time step (`cluster_t1` … `cluster_tT`), plus
/// the watched parameters, and the stacked outputs with the loss; op names and shapes on the
/// nodes; edges coloured by the size of the gradient of the tensor they carry (see
/// ``Tape/graphviz(name:clusters:gradientNorms:)``).
///
/// The time step of an entry comes from the tape positions of the states `unroll` returns: step
/// t is everything recorded after the state of step t − 1, up to its own state. Render with
/// `dot -Tsvg unrolled.dot -o unrolled.svg`.
public func unrolledGraphviz<Cell: RecurrentCell>(
  of cell: Cell, inputs: Tensor<Cell.Scalar>, initialState: Cell.State? = nil,
  name: String = "unrolled", loss: (UnrolledSequence<Cell>) -> Tensor<Cell.Scalar>
) -> String where Cell.State: ProbedState, Cell.State.Scalar == Cell.Scalar {
  let tape = Tape<Cell.Scalar>()
  defer { tape.release() }
  let (value, clusters) = withParametersWatched(of: cell, on: tape) {
    () -> (Tensor<Cell.Scalar>, [GraphvizCluster]) in
    let start = tape.entryCount
    let sequence = unroll(cell, inputs: inputs, initialState: initialState)
    var clusters = [GraphvizCluster(id: "parameters", label: "parameters", entries: 0..<start)]
    var lower = start
    for (t, state) in sequence.states.enumerated() {
      let end =
        state.probedTensors.compactMap { tape.recordedPosition(of: $0.tensor) }.max() ?? lower - 1
      let upper = Swift.max(end + 1, lower)
      clusters.append(
        GraphvizCluster(id: "t\(t + 1)", label: "t = \(t + 1)", entries: lower..<upper))
      lower = upper
    }
    let value = loss(sequence)
    clusters.append(
      GraphvizCluster(id: "loss", label: "outputs and loss", entries: lower..<tape.entryCount))
    return (value, clusters)
  }
  let norms = tape.gradientNormsOfEveryEntry(from: value)
  return tape.graphviz(name: name, clusters: clusters, gradientNorms: norms)
}
