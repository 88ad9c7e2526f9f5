import Foundation
import Tapestry
import TapestryTestSupport
import Testing

@Suite("gradient-flow diagnostics") struct DiagnosticsTests {
  static let hidden = 6
  static let steps = 12

  /// A linear RNN h_t = W h_{t−1} (identity activation, no bias, zero inputs) with W = a·Q, Q
  /// orthogonal, started from a random state.
  static func linearRNN(scale: Double) -> (RNNCell<Double>, Tensor<Double>, Tensor<Double>) {
    let cell = RNNCell<Double>(
      inputSize: 1, hiddenSize: hidden, bias: false, nonlinearity: .identity, seed: 3)
    cell.weight_hh.value =
      Initializer.orthogonal().makeTensor([hidden, hidden], as: Double.self, seed: 4) * scale
    let inputs = Tensor<Double>.zeros([steps, 1, 1])
    let initial = randomTensor([1, hidden], seed: 5)
    return (cell, inputs, initial)
  }

  @Test(
    "‖∂L/∂h_t‖ of a linear RNN with W = a·Q follows a^(T−t)", arguments: [0.5, 1.0, 1.5])
  func linearRNNGradientNorms(scale: Double) {
    let (cell, inputs, initial) = Self.linearRNN(scale: scale)
    let direction = randomTensor([1, Self.hidden], seed: 6)
    let flow = measureGradientFlow(through: cell, inputs: inputs, initialState: initial) {
      ($0.finalState * direction).sum()
    }
    #expect(flow.hidden.count == Self.steps)
    #expect(flow.cell == nil)
    let seedNorm = direction.euclideanNorm
    for t in 1...Self.steps {
      let expected = Double.pow(scale, Double(Self.steps - t)) * seedNorm
      expectClose(flow.hidden[t - 1], expected, relativeTolerance: 1e-9, absoluteTolerance: 0)
    }
    expectClose(flow.perStepGrowth, scale, relativeTolerance: 1e-9)
    let expectedVerdict: GradientVerdict =
      scale < 1 ? .vanishing : scale > 1 ? .exploding : .stable
    #expect(flow.verdict == expectedVerdict)
  }

  @Test("σ₁(∂h_T/∂h_t) of a linear RNN with W = a·Q is a^(T−t)", arguments: [0.5, 1.5])
  func linearRNNJacobianNorms(scale: Double) {
    let (cell, inputs, initial) = Self.linearRNN(scale: scale)
    let norms = jacobianNormsThroughTime(of: cell, inputs: inputs, initialState: initial)
    #expect(norms.count == Self.steps)
    for t in 1...Self.steps {
      expectClose(norms[t - 1], Double.pow(scale, Double(Self.steps - t)), relativeTolerance: 1e-9)
    }
  }

  @Test func recurrentWeightDiagnosisReadsTheScale() {
    let q = Initializer.orthogonal().makeTensor([5, 5], as: Double.self, seed: 1)
    let small = RecurrentWeightDiagnosis(of: q * 0.5)
    expectClose(small.spectralRadius, 0.5, relativeTolerance: 1e-9)
    expectClose(small.largestSingularValue, 0.5, relativeTolerance: 1e-9)
    #expect(small.verdict == .vanishing)
    #expect(RecurrentWeightDiagnosis(of: q).verdict == .stable)
    #expect(RecurrentWeightDiagnosis(of: q * 1.5).verdict == .exploding)
    #expect(small.description == "ρ = 0.500, σ₁ = 0.500: vanishing")
    let stacked = concatenate([q * 0.5, q * 2], alongAxis: 0)
    expectClose(RecurrentWeightDiagnosis(of: stacked).spectralRadius, 2, relativeTolerance: 1e-9)
  }

  @Test func verdictOfEdgeCases() {
    #expect(perStepGrowth(of: []) == 1)
    #expect(perStepGrowth(of: [3]) == 1)
    #expect(perStepGrowth(of: [0, 1]) == 0)
    #expect(perStepGrowth(of: [.nan, 1]) == .infinity)
    #expect(GradientVerdict(perStepFactor: .nan) == .exploding)
    #expect(GradientVerdict(perStepFactor: 0.97) == .stable)
  }

  @Test func lstmFlowHasCellStatesAndEveryGate() {
    let cell = LSTMCell<Double>(inputSize: 2, hiddenSize: 3, peepholes: true, seed: 7)
    let inputs = randomTensor([4, 2, 2], seed: 8)
    let flow = measureGradientFlow(through: cell, inputs: inputs) { $0.outputs.sum() }
    #expect(flow.hidden.count == 4)
    #expect(flow.cell?.count == 4)
    #expect(
      Set(flow.gates.keys) == ["gate.input", "gate.forget", "gate.cell", "gate.output"])
    // The forget gate multiplies c₀ = 0 at the first step, so only later steps must be non-zero.
    for series in flow.gates.values {
      #expect(series.count == 4 && series.dropFirst().allSatisfy { $0 > 0 })
    }
    #expect(
      flow.parameterNorms.map(\.name) == namedParameters(of: cell, as: Double.self).map(\.name))
  }

  @Test func gruGatesAreProbed() {
    let cell = GRUCell<Double>(inputSize: 2, hiddenSize: 3, seed: 9)
    let flow = measureGradientFlow(through: cell, inputs: randomTensor([3, 1, 2])) {
      $0.finalState.sum()
    }
    #expect(Set(flow.gates.keys) == ["gate.reset", "gate.update", "gate.candidate"])
    // The first step's reset gate multiplies W_hn·h₀ + b_hn, which is not zero (b_hn is not).
    #expect(flow.gates["gate.reset"]?.count == 3)
  }

  @Test func flowRidesAlongTheOrdinaryGradient() {
    let cell = RNNCell<Double>(inputSize: 2, hiddenSize: 4, seed: 10)
    let inputs = randomTensor([5, 3, 2], seed: 11)
    func loss(_ cell: RNNCell<Double>) -> Tensor<Double> {
      let sequence = unroll(cell, inputs: inputs)
      probeStates(of: sequence)
      return (sequence.outputs * sequence.outputs).mean()
    }
    let plain = valueWithGradient(at: cell, of: loss)
    let (value, gradient, flow) = valueWithGradientFlow(at: cell, of: loss)
    #expect(value == plain.value)
    for (a, b) in zip(gradient.entries, plain.gradient.entries) {
      #expect(a.gradient == b.gradient)
    }
    #expect(flow.loss == value.scalar)
    #expect(flow.hidden.count == 5)
    #expect(flow.parameterNorms.first?.norm == plain.gradient.entries.first?.gradient.euclideanNorm)
  }

  @Test func probeWithoutARecorderChangesNothing() {
    let recorder = GradientFlowRecorder()
    let x = randomTensor([2, 2])
    let (_, dx) = valueWithGradient(at: x) { probe($0, as: "x").sum() }
    #expect(dx == Tensor.ones([2, 2]))
    #expect(recorder.labels.isEmpty)
    let (_, dy) = recorder.record { valueWithGradient(at: x) { (probe($0, as: "x") * 3).sum() } }
    #expect(dy == Tensor.filled([2, 2], with: 3))
    #expect(recorder.labels == ["x"])
    expectClose(recorder.norms("x")[0], 6, relativeTolerance: 1e-12)
    #expect(recorder.norms("missing").isEmpty)
  }
}
