// The experiment behind `tapestry vanishing` and the first figures of the demo: one cell with its
// recurrent weight scaled to a chosen spectral radius, run over a random sequence, and the
// gradient of L = Σ h_T read back at every step.

import Tapestry

/// The recurrent cells the commands can build.
enum CellKind: String, CaseIterable, Sendable {
  case rnn
  case lstm
  case gru

  /// The name shown in tables and legends.
  var title: String {
    switch self {
    case .rnn: "RNN"
    case .lstm: "LSTM"
    case .gru: "GRU"
    }
  }
}

/// The nonlinearity of an RNN cell.
enum RNNNonlinearity: String, CaseIterable, Sendable {
  case tanh
  case relu

  var activation: Activation<Double> {
    switch self {
    case .tanh: .tanh
    case .relu: .relu
    }
  }
}

/// What one gradient-flow measurement found.
struct GradientFlowResult {
  /// ‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖, gates, parameters) from the tape's hooks.
  let flow: GradientFlow
  /// σ₁(∂h_T/∂h_t) for t = 1…T, through the tape.
  let jacobian: [Double]
  /// The recurrent weight's spectral radius, σ₁ and verdict.
  let weight: RecurrentWeightDiagnosis
}

/// The settings of one measurement.
struct GradientFlowExperiment: Equatable {
  var cell = CellKind.rnn
  var spectralRadius = 1.0
  var steps = 50
  var hidden = 32
  var inputSize = 4
  var nonlinearity = RNNNonlinearity.tanh
  /// The LSTM's forget-gate bias (σ(1) ≈ 0.73 keeps the memory open).
  var forgetGateBias = 1.0
  var seed: UInt64 = 1

  /// Builds the cell, scales each square block of its recurrent weight to `spectralRadius`, runs
  /// it over a fixed N(0, 1) sequence and measures the flow of L = Σ h_T.
  func run() -> GradientFlowResult {
    var generator = SeededGenerator(seed: seed)
    let inputs = Tensor<Double>.normal([steps, 1, inputSize], using: &generator)
    switch cell {
    case .rnn:
      let rnn = RNNCell<Double>(
        inputSize: inputSize, hiddenSize: hidden, nonlinearity: nonlinearity.activation,
        using: &generator)
      return measure(rnn, rnn.weight_hh, inputs: inputs) { $0.finalState.sum() }
    case .lstm:
      let lstm = LSTMCell<Double>(
        inputSize: inputSize, hiddenSize: hidden, forgetGateBias: forgetGateBias,
        using: &generator)
      return measure(lstm, lstm.weight_hh, inputs: inputs) { $0.finalState.hidden.sum() }
    case .gru:
      let gru = GRUCell<Double>(inputSize: inputSize, hiddenSize: hidden, using: &generator)
      return measure(gru, gru.weight_hh, inputs: inputs) { $0.finalState.sum() }
    }
  }

  private func measure<Cell: RecurrentCell>(
    _ cell: Cell, _ recurrent: Parameter<Double>, inputs: Tensor<Double>,
    loss: (UnrolledSequence<Cell>) -> Tensor<Double>
  ) -> GradientFlowResult
  where Cell.Scalar == Double, Cell.State: ProbedState, Cell.State.Scalar == Double {
    recurrent.value = scaledBlocks(recurrent.value, to: spectralRadius)
    return GradientFlowResult(
      flow: measureGradientFlow(through: cell, inputs: inputs, loss: loss),
      jacobian: jacobianNormsThroughTime(of: cell, inputs: inputs),
      weight: RecurrentWeightDiagnosis(of: recurrent.value))
  }
}

/// `weight` (`[k·H, H]`: the gate blocks of a recurrent weight, or one `[H, H]` matrix) with each
/// `H × H` block scaled to spectral radius `radius`.
func scaledBlocks<Scalar>(_ weight: Tensor<Scalar>, to radius: Double) -> Tensor<Scalar> {
  let blocks = weight.chunked(into: weight.shape[0] / weight.shape[1], alongAxis: 0)
  return concatenate(blocks.map { $0.scaledToSpectralRadius(Scalar(radius)) }, alongAxis: 0)
}
