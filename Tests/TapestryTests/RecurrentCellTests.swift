import Foundation
import Tapestry
import TapestryTestSupport
import Testing

/// One PyTorch run of Fixtures/Recurrent/cells.json (written by make_fixtures.py there): a cell's
/// parameters by their PyTorch names, a sequence, an initial state, what the unrolled cell
/// produced, and the gradients of Σ outputs ⊙ lossWeights.
struct RecurrentFixture: Decodable, CustomTestStringConvertible, Sendable {
  struct Options: Decodable, Sendable {
    let cell: String
    let nonlinearity: String?
    let bias: Bool?
    let peepholes: Bool?
  }

  let name: String
  let options: Options
  let parameters: [String: StoredTensor]
  let input: StoredTensor
  let h0: StoredTensor
  let c0: StoredTensor?
  let lossWeights: StoredTensor
  let outputs: StoredTensor
  /// The LSTM cell state after every step, `[T, B, H]`.
  let cellStates: StoredTensor?
  let loss: Double
  /// By PyTorch parameter name, plus `input`, `h0` and `c0`.
  let gradients: [String: StoredTensor]

  var testDescription: String { name }

  private struct File: Decodable {
    let inputSize: Int
    let hiddenSize: Int
    let cases: [RecurrentFixture]
  }

  /// Every case in the fixture file, found from this source file's path.
  static let all: [RecurrentFixture] = {
    do {
      return try decodeFixture(File.self, from: "Recurrent/cells.json").cases
    } catch {
      Issue.record("cannot read fixture Recurrent/cells.json: \(error)")
      return []
    }
  }()
}

/// A cell together with its sequence and initial state held as parameters, so that one
/// `valueWithGradient(at:)` gives the gradients of the cell's weights (`cell.weight_ih`, …) and
/// of the input and initial state (`input`, `h0`, `c0`).
private struct Harness<Cell: RecurrentCell> where Cell.Scalar == Double {
  let cell: Cell
  let input: Parameter<Double>
  let h0: Parameter<Double>
  let c0: Parameter<Double>?
}

/// Loads the fixture's parameters into `cell` by name, unrolls it from the fixture's initial state
/// (made by `state` from h0 and c0) and expects PyTorch's outputs, final state, loss and every
/// gradient to 1e-9 relative.
private func expectMatchesPyTorch<Cell: RecurrentCell>(
  _ cell: Cell, _ fixture: RecurrentFixture,
  state: (Tensor<Double>, Tensor<Double>?) -> Cell.State,
  hidden: (Cell.State) -> Tensor<Double>, cellState: (Cell.State) -> Tensor<Double>?
) throws where Cell.Scalar == Double {
  let parameters = namedParameters(of: cell, as: Double.self)
  #expect(Set(parameters.map(\.name)) == Set(fixture.parameters.keys))
  for named in parameters {
    let stored = try #require(fixture.parameters[named.name])
    #expect(named.parameter.shape == stored.shape, "\(named.name)")
    named.parameter.value = stored.tensor
  }
  let harness = Harness(
    cell: cell, input: Parameter(fixture.input.tensor), h0: Parameter(fixture.h0.tensor),
    c0: fixture.c0.map { Parameter($0.tensor) })
  var unrolled: UnrolledSequence<Cell>?
  let (loss, gradients) = valueWithGradient(at: harness) { harness in
    let run = unroll(
      harness.cell, inputs: harness.input.value,
      initialState: state(harness.h0.value, harness.c0?.value))
    unrolled = run
    return (run.outputs * fixture.lossWeights.tensor).sum()
  }
  let run = try #require(unrolled)
  expectClose(run.outputs, fixture.outputs.tensor, "outputs")
  expectClose(loss.scalar, fixture.loss)
  expectClose(hidden(run.finalState), fixture.outputs.tensor[-1], "final hidden state")
  #expect(run.states.count == fixture.input.shape[0])
  if let expected = fixture.cellStates {
    let finalCell = try #require(cellState(run.finalState))
    expectClose(finalCell, expected.tensor[-1], "final cell state")
    let everyStep = stack(run.states.compactMap(cellState))
    expectClose(everyStep, expected.tensor, "cell states")
  }
  #expect(gradients.names.count == fixture.gradients.count)
  for (name, expected) in fixture.gradients {
    let key = ["input", "h0", "c0"].contains(name) ? name : "cell.\(name)"
    let gradient = try #require(gradients[key], "no gradient named \(key)")
    expectClose(gradient, expected.tensor, "gradient of \(name)")
  }
}

/// A cell of the shape the fixtures use, with arbitrary initial weights.
private func makeCell(_ options: RecurrentFixture.Options, inputSize: Int, hiddenSize: Int)
  -> any RecurrentCell<Double>
{
  let bias = options.bias ?? true
  switch options.cell {
  case "rnn":
    return RNNCell<Double>(
      inputSize: inputSize, hiddenSize: hiddenSize, bias: bias,
      nonlinearity: options.nonlinearity == "relu" ? .relu : .tanh, seed: 1)
  case "lstm":
    return LSTMCell<Double>(
      inputSize: inputSize, hiddenSize: hiddenSize, bias: bias,
      peepholes: options.peepholes ?? false, seed: 1)
  case "gru":
    return GRUCell<Double>(inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, seed: 1)
  default:
    preconditionFailure("make_fixtures.py wrote an unknown cell \(options.cell)")
  }
}

@Suite("Recurrent cells and unroll")
struct RecurrentCellTests {
  // MARK: - PyTorch parity

  @Test func fixtureHoldsEveryCell() {
    #expect(
      RecurrentFixture.all.map(\.name) == [
        "rnn-tanh", "rnn-relu-no-bias", "lstm", "lstm-peepholes", "gru", "gru-no-bias",
      ])
  }

  @Test(arguments: RecurrentFixture.all)
  func unrolledCellMatchesPyTorch(fixture: RecurrentFixture) throws {
    let (inputSize, hiddenSize) = (fixture.input.shape[2], fixture.h0.shape[1])
    switch makeCell(fixture.options, inputSize: inputSize, hiddenSize: hiddenSize) {
    case let cell as LSTMCell<Double>:
      try expectMatchesPyTorch(
        cell, fixture, state: { h, c in LSTMState(hidden: h, cell: c ?? Tensor.zeros(h.shape)) },
        hidden: \.hidden, cellState: \.cell)
    case let cell as RNNCell<Double>:
      try expectMatchesPyTorch(
        cell, fixture, state: { h, _ in h }, hidden: { $0 }, cellState: { _ in nil })
    case let cell as GRUCell<Double>:
      try expectMatchesPyTorch(
        cell, fixture, state: { h, _ in h }, hidden: { $0 }, cellState: { _ in nil })
    default:
      Issue.record("no cell for \(fixture.options.cell)")
    }
  }

  @Test func pyTorchStateDictLoadsByName() throws {
    let url = fixtureURL("Recurrent/lstm_cell.safetensors")
    let cell = LSTMCell<Double>(inputSize: 3, hiddenSize: 4, seed: 1)
    let report = try loadParameters(into: cell, from: url, as: Double.self)
    #expect(report.loaded == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"])
    let fixture = try #require(RecurrentFixture.all.first { $0.name == "lstm" })
    for named in namedParameters(of: cell, as: Double.self) {
      #expect(named.parameter.value == fixture.parameters[named.name]?.tensor, "\(named.name)")
    }
  }

  // MARK: - Construction

  @Test(
    arguments: [
      (RecurrentFixture.Options(cell: "rnn", nonlinearity: nil, bias: nil, peepholes: nil), 1),
      (RecurrentFixture.Options(cell: "rnn", nonlinearity: "relu", bias: false, peepholes: nil), 1),
      (RecurrentFixture.Options(cell: "lstm", nonlinearity: nil, bias: nil, peepholes: nil), 4),
      (RecurrentFixture.Options(cell: "lstm", nonlinearity: nil, bias: nil, peepholes: true), 4),
      (RecurrentFixture.Options(cell: "lstm", nonlinearity: nil, bias: false, peepholes: true), 4),
      (RecurrentFixture.Options(cell: "gru", nonlinearity: nil, bias: nil, peepholes: nil), 3),
      (RecurrentFixture.Options(cell: "gru", nonlinearity: nil, bias: false, peepholes: nil), 3),
    ])
  func parametersHavePyTorchNamesShapesAndBounds(options: RecurrentFixture.Options, gates: Int) {
    let cell = makeCell(options, inputSize: 3, hiddenSize: 4)
    var expected: [(name: String, shape: TensorShape)] = [
      ("weight_ih", [gates * 4, 3]), ("weight_hh", [gates * 4, 4]),
    ]
    if options.bias ?? true { expected += [("bias_ih", [gates * 4]), ("bias_hh", [gates * 4])] }
    if options.peepholes ?? false {
      expected += [("weight_ci", [4]), ("weight_cf", [4]), ("weight_co", [4])]
    }
    let parameters = namedParameters(of: cell, as: Double.self)
    #expect(parameters.map(\.name) == expected.map(\.name))
    for (named, shape) in zip(parameters, expected.map(\.shape)) {
      #expect(named.parameter.shape == shape, "\(named.name)")
      // U(−1/√H, 1/√H) with H = 4.
      #expect(named.parameter.value.scalars.allSatisfy { abs($0) <= 0.5 }, "\(named.name)")
    }
    #expect(cell.inputSize == 3 && cell.hiddenSize == 4)
  }

  @Test func defaultInitialisationFillsTheWholeRange() {
    let cell = LSTMCell<Double>(inputSize: 8, hiddenSize: 16, seed: 2)
    let weights = cell.weight_hh.value.scalars
    #expect(weights.allSatisfy { abs($0) < 0.25 })
    #expect(weights.map(abs).max() ?? 0 > 0.24)
    #expect(abs(weights.reduce(0, +) / Double(weights.count)) < 0.01)
  }

  @Test func forgetGateBiasSetsTheForgetRowsOnly() throws {
    let cell = LSTMCell<Double>(inputSize: 2, hiddenSize: 3, forgetGateBias: 1, seed: 5)
    let plain = LSTMCell<Double>(inputSize: 2, hiddenSize: 3, seed: 5)
    let inputBias = try #require(cell.bias_ih).value.scalars
    let hiddenBias = try #require(cell.bias_hh).value.scalars
    #expect(Array(inputBias[3..<6]) == [1, 1, 1])
    #expect(Array(hiddenBias[3..<6]) == [0, 0, 0])
    // The other gates keep the values they would have had.
    let plainInputBias = try #require(plain.bias_ih).value.scalars
    #expect(Array(inputBias[0..<3]) == Array(plainInputBias[0..<3]))
    #expect(Array(inputBias[6...]) == Array(plainInputBias[6...]))
    #expect(cell.weight_ih.value == plain.weight_ih.value)
  }

  // MARK: - Unrolling

  @Test func batchFirstIsTheTransposedLayout() {
    let cell = LSTMCell<Double>(inputSize: 3, hiddenSize: 4, peepholes: true, seed: 3)
    let inputs = randomTensor([5, 2, 3], seed: 4)
    let timeMajor = unroll(cell, inputs: inputs)
    let batchMajor = unroll(
      cell, inputs: inputs.transposed(permutation: [1, 0, 2]), batchFirst: true)
    #expect(batchMajor.outputs.shape == [2, 5, 4])
    #expect(batchMajor.outputs == timeMajor.outputs.transposed(permutation: [1, 0, 2]))
    #expect(batchMajor.cellStates == timeMajor.cellStates.transposed(permutation: [1, 0, 2]))
    #expect(batchMajor.finalState.cell == timeMajor.finalState.cell)
  }

  @Test func missingInitialStateIsZeroState() {
    let cell = GRUCell<Double>(inputSize: 3, hiddenSize: 4, seed: 6)
    let inputs = randomTensor([4, 2, 3], seed: 7)
    #expect(cell.zeroState(batchSize: 2) == Tensor.zeros([2, 4]))
    #expect(
      unroll(cell, inputs: inputs).outputs
        == unroll(cell, inputs: inputs, initialState: cell.zeroState(batchSize: 2)).outputs)
  }

  @Test func finalStateContinuesTheSequence() {
    // Two chunks, the second started from the first's final state, are one long sequence.
    let cell = RNNCell<Double>(inputSize: 3, hiddenSize: 4, seed: 8)
    let inputs = randomTensor([6, 2, 3], seed: 9)
    let whole = unroll(cell, inputs: inputs)
    let first = unroll(cell, inputs: inputs.slice(alongAxis: 0, 0..<2))
    let second = unroll(
      cell, inputs: inputs.slice(alongAxis: 0, 2..<6), initialState: first.finalState)
    expectClose(concatenate([first.outputs, second.outputs], alongAxis: 0), whole.outputs)
  }

  @Test func emptySequenceKeepsTheInitialState() {
    let cell = LSTMCell<Double>(inputSize: 3, hiddenSize: 4, seed: 10)
    let initial = LSTMState(hidden: randomTensor([2, 4], seed: 11), cell: randomTensor([2, 4]))
    let run = unroll(cell, inputs: Tensor.zeros([0, 2, 3]), initialState: initial)
    #expect(run.outputs.shape == [0, 2, 4] && run.states.isEmpty)
    #expect(run.finalState.hidden == initial.hidden && run.finalState.cell == initial.cell)
  }

  @Test func floatCellsRunToo() {
    let cell = GRUCell<Float>(inputSize: 3, hiddenSize: 4, seed: 12)
    let run = unroll(cell, inputs: Tensor<Float>.zeros([3, 2, 3]), batchFirst: false)
    #expect(run.outputs.shape == [3, 2, 4] && run.outputs.isFinite)
  }

  // MARK: - Gradients

  @Test func unrolledPeepholeLSTMGradientsMatchFiniteDifferences() {
    let cell = LSTMCell<Double>(inputSize: 2, hiddenSize: 3, peepholes: true, seed: 13)
    let parameters = namedParameters(of: cell, as: Double.self).map(\.parameter)
    #expect(parameters.count == 7)
    let points =
      [randomTensor([4, 2, 2], seed: 14), randomTensor([2, 3], seed: 15), randomTensor([2, 3])]
      + parameters.map(\.value)
    expectGradientsMatchFiniteDifferences(at: points) { xs in
      for (parameter, value) in zip(parameters, xs.dropFirst(3)) { parameter.value = value }
      let run = unroll(cell, inputs: xs[0], initialState: LSTMState(hidden: xs[1], cell: xs[2]))
      return concatenate([run.outputs, run.cellStates], alongAxis: 2)
    }
  }

  // MARK: - Programmer errors

  @Test func inputOfTheWrongFeatureSizeTrapsNamingCellAndShapes() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      let cell = LSTMCell<Double>(inputSize: 3, hiddenSize: 4, seed: 1)
      _ = unroll(cell, inputs: Tensor.zeros([5, 2, 4]))
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(
      message.contains(
        "unroll: LSTMCell input shape [5, 2, 4] does not match [T, B, inputSize] with inputSize 3"
      ))
  }

  @Test func cellStepWithTheWrongInputTrapsNamingCellAndShapes() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      let cell = LSTMCell<Double>(inputSize: 3, hiddenSize: 4, seed: 1)
      _ = cell(Tensor.zeros([4, 5]), cell.zeroState(batchSize: 4))
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("LSTMCell: input shape [4, 5] does not match inputSize 3"))
  }

  @Test func stateOfTheWrongShapeTrapsNamingCellAndShapes() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      let cell = GRUCell<Double>(inputSize: 3, hiddenSize: 4, seed: 1)
      _ = unroll(cell, inputs: Tensor.zeros([5, 2, 3]), initialState: Tensor.zeros([3, 4]))
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(
      message.contains("GRUCell: state shape [3, 4] does not match [batchSize 2, hiddenSize 4]"))
  }

  @Test func lstmCellStateOfTheWrongShapeTrapsNamingCellAndShapes() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      let cell = LSTMCell<Double>(inputSize: 3, hiddenSize: 4, seed: 1)
      let state = LSTMState(hidden: Tensor<Double>.zeros([2, 4]), cell: Tensor.zeros([2, 5]))
      _ = unroll(cell, inputs: Tensor.zeros([5, 2, 3]), initialState: state)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(
      message.contains(
        "LSTMCell: cell state shape [2, 5] does not match [batchSize 2, hiddenSize 4]"))
  }
}
