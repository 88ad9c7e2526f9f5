import Foundation
import Tapestry
import TapestryTestSupport
import Testing

/// One PyTorch run of Fixtures/Sequence/layers.json (written by make_fixtures.py there): a
/// module's parameters by their `state_dict` names, a batch, an initial state, what the module
/// produced, and the gradients of Σ outputs ⊙ w + Σ h_n ⊙ w_h (+ Σ c_n ⊙ w_c).
struct SequenceFixture: Decodable, CustomTestStringConvertible, Sendable {
  struct Options: Decodable, Sendable {
    let layer: String
    let nonlinearity: String?
    let layers: Int?
    let bias: Bool?
    let bidirectional: Bool?
    let batchFirst: Bool?
    let lengths: [Int]?
  }

  let name: String
  let options: Options
  let parameters: [String: StoredTensor]
  let input: StoredTensor
  let h0: StoredTensor
  let c0: StoredTensor?
  let outputWeights: StoredTensor
  let hWeights: StoredTensor
  let cWeights: StoredTensor?
  let outputs: StoredTensor
  let hN: StoredTensor
  let cN: StoredTensor?
  let loss: Double
  /// By PyTorch parameter name, plus `input`, `h0` and `c0`.
  let gradients: [String: StoredTensor]

  var testDescription: String { name }

  private struct File: Decodable {
    let cases: [SequenceFixture]
  }

  /// Every case in the fixture file, found from this source file's path.
  static let all: [SequenceFixture] = {
    do {
      return try decodeFixture(File.self, from: "Sequence/layers.json").cases
    } catch {
      Issue.record("cannot read layers.json: \(error)")
      return []
    }
  }()
}

/// A sequence layer behind one signature: (input, h0, c0, lengths) ↦ (outputs, h_n, c_n).
private struct AnySequenceLayer {
  let model: Any
  let run:
    (Tensor<Double>, Tensor<Double>?, Tensor<Double>?, [Int]?) -> (
      outputs: Tensor<Double>, hidden: Tensor<Double>, cell: Tensor<Double>?
    )

  init(_ options: SequenceFixture.Options, inputSize: Int = 3, hiddenSize: Int = 4) {
    let (layers, bias) = (options.layers ?? 1, options.bias ?? true)
    let (bidirectional, batchFirst) = (options.bidirectional ?? false, options.batchFirst ?? false)
    switch options.layer {
    case "lstm":
      let lstm = LSTM<Double>(
        inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, bias: bias,
        bidirectional: bidirectional, batchFirst: batchFirst, seed: 1)
      model = lstm
      run = { input, h0, c0, lengths in
        let state = h0.map { LSTMState(hidden: $0, cell: c0 ?? Tensor.zeros($0.shape)) }
        let result = lstm(input, initialState: state, lengths: lengths)
        return (result.outputs, result.finalState.hidden, result.finalState.cell)
      }
    case "gru":
      let gru = GRU<Double>(
        inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, bias: bias,
        bidirectional: bidirectional, batchFirst: batchFirst, seed: 1)
      model = gru
      run = { input, h0, _, lengths in
        let result = gru(input, initialState: h0, lengths: lengths)
        return (result.outputs, result.finalState, nil)
      }
    default:
      let rnn = RNN<Double>(
        inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, bias: bias,
        bidirectional: bidirectional, batchFirst: batchFirst,
        nonlinearity: options.nonlinearity == "relu" ? .relu : .tanh, seed: 1)
      model = rnn
      run = { input, h0, _, lengths in
        let result = rnn(input, initialState: h0, lengths: lengths)
        return (result.outputs, result.finalState, nil)
      }
    }
  }
}

/// A layer with its batch and initial state held as parameters, so one `valueWithGradient(at:)`
/// gives the gradients of the layer's weights (`layer.weight_ih_l0`, …) and of `input`, `h0`, `c0`.
private struct Harness {
  let layer: Any
  let input: Parameter<Double>
  let h0: Parameter<Double>
  let c0: Parameter<Double>?
}

private func options(
  _ layer: String, layers: Int = 1, bidirectional: Bool = false, bias: Bool = true
) -> SequenceFixture.Options {
  SequenceFixture.Options(
    layer: layer, nonlinearity: nil, layers: layers, bias: bias, bidirectional: bidirectional,
    batchFirst: nil, lengths: nil)
}

@Suite("Sequence layers")
struct SequenceLayerTests {
  // MARK: - PyTorch parity

  @Test func fixtureHoldsEveryConfiguration() {
    #expect(SequenceFixture.all.count == 16)
  }

  @Test(arguments: SequenceFixture.all)
  func layerMatchesPyTorch(fixture: SequenceFixture) throws {
    let layer = AnySequenceLayer(fixture.options)
    let parameters = namedParameters(of: layer.model, as: Double.self)
    #expect(parameters.map(\.name).sorted() == fixture.parameters.keys.sorted())
    for named in parameters {
      let stored = try #require(fixture.parameters[named.name])
      #expect(named.parameter.shape == stored.shape, "\(named.name)")
      named.parameter.value = stored.tensor
    }
    let harness = Harness(
      layer: layer.model, input: Parameter(fixture.input.tensor), h0: Parameter(fixture.h0.tensor),
      c0: fixture.c0.map { Parameter($0.tensor) })
    var result: (outputs: Tensor<Double>, hidden: Tensor<Double>, cell: Tensor<Double>?)?
    let (loss, gradients) = valueWithGradient(at: harness) { harness in
      let run = layer.run(
        harness.input.value, harness.h0.value, harness.c0?.value, fixture.options.lengths)
      result = run
      let outputTerm = (run.outputs * fixture.outputWeights.tensor).sum()
      var loss = outputTerm + (run.hidden * fixture.hWeights.tensor).sum()
      if let cell = run.cell, let weights = fixture.cWeights {
        loss = loss + (cell * weights.tensor).sum()
      }
      return loss
    }
    let run = try #require(result)
    expectClose(run.outputs, fixture.outputs.tensor, "outputs")
    expectClose(run.hidden, fixture.hN.tensor, "h_n")
    if let expected = fixture.cN { expectClose(try #require(run.cell), expected.tensor, "c_n") }
    expectClose(loss.scalar, fixture.loss)
    #expect(gradients.names.count == fixture.gradients.count)
    for (name, expected) in fixture.gradients {
      let key = ["input", "h0", "c0"].contains(name) ? name : "layer.\(name)"
      let gradient = try #require(gradients[key], "no gradient named \(key)")
      expectClose(gradient, expected.tensor, "gradient of \(name)")
    }
  }

  @Test func pyTorchStateDictLoadsByName() throws {
    let lstm = LSTM<Double>(inputSize: 3, hiddenSize: 4, layers: 2, bidirectional: true, seed: 2)
    let report = try loadParameters(
      into: lstm, from: fixtureURL("Sequence/lstm.safetensors"), as: Double.self)
    #expect(report.loaded.count == 16 && report.missing.isEmpty && report.unexpected.isEmpty)
    let fixture = try #require(
      SequenceFixture.all.first { $0.name == "lstm-2-layers-bidirectional" })
    for named in namedParameters(of: lstm, as: Double.self) {
      #expect(named.parameter.value == fixture.parameters[named.name]?.tensor, "\(named.name)")
    }
  }

  // MARK: - Construction

  @Test func parametersHavePyTorchNamesInPyTorchOrder() {
    let lstm = LSTM<Double>(
      inputSize: 3, hiddenSize: 4, layers: 2, bidirectional: true, peepholes: true, seed: 3)
    let names = namedParameters(of: lstm, as: Double.self).map(\.name)
    let perCell =
      ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_ci", "weight_cf"]
      + ["weight_co"]
    let expected = ["_l0", "_l0_reverse", "_l1", "_l1_reverse"].flatMap { suffix in
      perCell.map { $0 + suffix }
    }
    #expect(names == expected)
    #expect(lstm.cells[1][0].inputSize == 8 && lstm.cells[0][1].inputSize == 3)
    let gru = GRU<Double>(inputSize: 3, hiddenSize: 4, bias: false, seed: 4)
    #expect(
      namedParameters(of: gru, as: Double.self).map(\.name) == ["weight_ih_l0", "weight_hh_l0"])
    // Nested in a model, the names are PyTorch's `encoder.weight_ih_l0`.
    struct Model { let encoder: RNN<Double> }
    let model = Model(encoder: RNN(inputSize: 3, hiddenSize: 4, seed: 5))
    #expect(namedParameters(of: model, as: Double.self).first?.name == "encoder.weight_ih_l0")
  }

  @Test(arguments: ["rnn", "lstm", "gru"])
  func shapesFollowPyTorch(layer: String) {
    let sequenceLayer = AnySequenceLayer(options(layer, layers: 3, bidirectional: true))
    let run = sequenceLayer.run(randomTensor([5, 2, 3], seed: 6), nil, nil, nil)
    #expect(run.outputs.shape == [5, 2, 8])
    #expect(run.hidden.shape == [6, 2, 4])
    #expect(run.cell?.shape ?? [6, 2, 4] == [6, 2, 4])
  }

  @Test func floatLayersRunBatchFirst() {
    let gru = GRU<Float>(
      inputSize: 3, hiddenSize: 4, layers: 2, bidirectional: true, batchFirst: true, seed: 20)
    let run = gru(
      Tensor<Float>.uniform([2, 5, 3], in: -1..<1, seed: 21), initialState: nil, lengths: [5, 1])
    #expect(run.outputs.shape == [2, 5, 8] && run.outputs.isFinite)
    #expect(run.finalState.shape == [4, 2, 4])
  }

  // MARK: - Dropout

  @Test func dropoutActsBetweenLayersOnlyWhileTraining() {
    let lstm = LSTM<Double>(inputSize: 3, hiddenSize: 4, layers: 2, dropout: 0.5, seed: 7)
    let plain = LSTM<Double>(inputSize: 3, hiddenSize: 4, layers: 2, seed: 7)
    let input = randomTensor([5, 2, 3], seed: 8)
    #expect(lstm(input).outputs == plain(input).outputs)
    let training = withLearningPhase(.training) { lstm(input).outputs }
    #expect(training != plain(input).outputs)
    // The last layer's outputs are not dropped: with p = 0.5 about half would be exactly zero.
    #expect(training.scalars.allSatisfy { $0 != 0 })
    let single = GRU<Double>(inputSize: 3, hiddenSize: 4, dropout: 0.5, seed: 9)
    #expect(withLearningPhase(.training) { single(input).outputs } == single(input).outputs)
  }

  // MARK: - Variable lengths

  @Test(arguments: ["rnn", "lstm", "gru"])
  func paddingDoesNotChangeAShorterSequence(layer: String) throws {
    let sequenceLayer = AnySequenceLayer(options(layer, layers: 2, bidirectional: true))
    let short = randomTensor([3, 1, 3], seed: 10)
    let padding = randomTensor([2, 1, 3], seed: 11)
    let long = randomTensor([5, 1, 3], seed: 12)
    let h0 = randomTensor([4, 2, 4], seed: 13)
    let c0 = randomTensor([4, 2, 4], seed: 14)
    let batch = concatenate([concatenate([short, padding], alongAxis: 0), long], alongAxis: 1)
    let alone = sequenceLayer.run(
      short, h0.slice(alongAxis: 1, 0..<1), c0.slice(alongAxis: 1, 0..<1), nil)
    let longAlone = sequenceLayer.run(
      long, h0.slice(alongAxis: 1, 1..<2), c0.slice(alongAxis: 1, 1..<2), nil)
    let (batchOutputs, batchHidden, batchCell) = sequenceLayer.run(batch, h0, c0, [3, 5])
    expectClose(batchOutputs.slice(alongAxis: 0, 0..<3).slice(alongAxis: 1, 0..<1), alone.outputs)
    #expect(
      batchOutputs.slice(alongAxis: 0, 3..<5).slice(alongAxis: 1, 0..<1) == .zeros([2, 1, 8]))
    expectClose(batchHidden.slice(alongAxis: 1, 0..<1), alone.hidden)
    expectClose(batchOutputs.slice(alongAxis: 1, 1..<2), longAlone.outputs)
    expectClose(batchHidden.slice(alongAxis: 1, 1..<2), longAlone.hidden)
    if let cell = batchCell {
      expectClose(cell.slice(alongAxis: 1, 0..<1), try #require(alone.cell))
    }
    // Nothing past a sequence's end reaches the loss.
    let inputGradient = gradient(at: batch) { batch in
      let run = sequenceLayer.run(batch, h0, c0, [3, 5])
      return (run.outputs * run.outputs).sum() + run.hidden.sum() + (run.cell?.sum() ?? Tensor(0))
    }
    #expect(
      inputGradient.slice(alongAxis: 0, 3..<5).slice(alongAxis: 1, 0..<1) == .zeros([2, 1, 3]))
    #expect(inputGradient.slice(alongAxis: 0, 0..<3).scalars.allSatisfy { $0 != 0 })
  }

  @Test func fullLengthsChangeNothing() {
    let gru = GRU<Double>(inputSize: 3, hiddenSize: 4, layers: 2, bidirectional: true, seed: 15)
    let input = randomTensor([4, 3, 3], seed: 16)
    let full = gru(input, initialState: nil, lengths: [4, 4, 4])
    expectClose(full.outputs, gru(input).outputs)
    expectClose(full.finalState, gru(input).finalState)
  }

  @Test func maskedPeepholeLSTMGradientsMatchFiniteDifferences() {
    let lstm = LSTM<Double>(
      inputSize: 2, hiddenSize: 3, layers: 2, bidirectional: true, batchFirst: true,
      peepholes: true, seed: 17)
    let parameters = namedParameters(of: lstm, as: Double.self).map(\.parameter)
    let points =
      [randomTensor([2, 4, 2], seed: 18), randomTensor([4, 2, 3], seed: 19)]
      + parameters.map(\.value)
    expectGradientsMatchFiniteDifferences(at: points) { xs in
      for (parameter, value) in zip(parameters, xs.dropFirst(2)) { parameter.value = value }
      let state = LSTMState(hidden: xs[1], cell: xs[1] * 0.5)
      let run = lstm(xs[0], initialState: state, lengths: [4, 2])
      return concatenate(
        [run.outputs.reshaped(to: [-1]), run.finalState.cell.reshaped(to: [-1])], alongAxis: 0)
    }
  }

  // MARK: - Programmer errors

  @Test func inputOfTheWrongFeatureSizeTrapsNamingLayerAndShapes() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      let lstm = LSTM<Double>(inputSize: 3, hiddenSize: 4, seed: 1)
      _ = lstm(Tensor.zeros([5, 2, 4]))
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(
      message.contains(
        "LSTM: input shape [5, 2, 4] does not match [T, B, inputSize] with inputSize 3"))
  }

  @Test func initialStateOfTheWrongShapeTrapsNamingLayerAndShapes() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      let gru = GRU<Double>(inputSize: 3, hiddenSize: 4, layers: 2, bidirectional: true, seed: 1)
      _ = gru(Tensor.zeros([5, 2, 3]), initialState: Tensor.zeros([2, 2, 4]))
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(
      message.contains(
        "GRU: initial state shape [2, 2, 4] does not match [layers·directions 4, batchSize 2, "
          + "hiddenSize 4]"))
  }

  @Test func lstmCellStateOfTheWrongShapeTrapsNamingLayerAndShapes() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      let lstm = LSTM<Double>(inputSize: 3, hiddenSize: 4, batchFirst: true, seed: 1)
      let state = LSTMState(
        hidden: Tensor<Double>.zeros([1, 2, 4]), cell: Tensor.zeros([1, 2, 5]))
      _ = lstm(Tensor.zeros([2, 5, 3]), initialState: state)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(
      message.contains(
        "LSTM: initial cell state shape [1, 2, 5] does not match [layers·directions 1, "
          + "batchSize 2, hiddenSize 4]"))
  }

  @Test func lengthsThatDoNotFitTheBatchTrap() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      let rnn = RNN<Double>(inputSize: 3, hiddenSize: 4, seed: 1)
      _ = rnn(Tensor.zeros([5, 2, 3]), initialState: nil, lengths: [5, 6])
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(
      message.contains(
        "RNN: lengths [5, 6] do not give one length in 0...5 for each of the 2 sequences of input "
          + "shape [5, 2, 3]"))
  }
}
