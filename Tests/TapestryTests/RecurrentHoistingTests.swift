import Tapestry
import Testing

/// `unroll` computes the input projection of every step in one product for cells that adopt
/// `InputProjectingCell`, and hands step gradients back through one `unstack` entry; the results
/// and gradients are those of stepping the cell by hand.
@Suite("Hoisted input projection") struct RecurrentHoistingTests {
  static let (steps, batch, inputSize, hiddenSize) = (6, 3, 4, 5)

  /// The sum of the outputs, weighted so every output element matters differently, unrolled or
  /// stepped by hand through the one-step call.
  static func loss<Cell: RecurrentCell<Double>>(
    _ cell: Cell, _ inputs: Tensor<Double>, byHand: Bool
  ) -> Tensor<Double> {
    let weights = Tensor<Double>.uniform([steps, batch, hiddenSize], in: -1..<1, seed: 9)
    guard byHand else { return (unroll(cell, inputs: inputs).outputs * weights).sum() }
    var state = cell.zeroState(batchSize: batch)
    var outputs: [Tensor<Double>] = []
    for t in 0..<steps {
      let step = cell(inputs[t], state)
      outputs.append(step.output)
      state = step.state
    }
    return (stack(outputs) * weights).sum()
  }

  static func expectSameAsByHand<Cell: RecurrentCell<Double>>(_ cell: Cell) {
    let inputs = Tensor<Double>.normal([steps, batch, inputSize], seed: 3)
    let parameters = namedParameters(of: cell, as: Double.self).map(\.parameter)
    let originals = parameters.map(\.value)
    func gradientsOfLoss(byHand: Bool) -> (Tensor<Double>, [Tensor<Double>]) {
      let (value, gradients) = valueWithGradients(at: originals + [inputs]) { values in
        for (parameter, value) in zip(parameters, values) { parameter.value = value }
        return loss(cell, values[values.count - 1], byHand: byHand)
      }
      for (parameter, original) in zip(parameters, originals) { parameter.value = original }
      return (value, gradients)
    }
    let (hoisted, hoistedGradients) = gradientsOfLoss(byHand: false)
    let (stepped, steppedGradients) = gradientsOfLoss(byHand: true)
    #expect(abs(hoisted.scalar - stepped.scalar) < 1e-12)
    for (a, b) in zip(hoistedGradients, steppedGradients) {
      #expect(a.isClose(to: b, relativeTolerance: 1e-10, absoluteTolerance: 1e-12))
    }
  }

  @Test func lstmMatchesSteppingByHand() {
    Self.expectSameAsByHand(
      LSTMCell<Double>(inputSize: Self.inputSize, hiddenSize: Self.hiddenSize, seed: 1))
    Self.expectSameAsByHand(
      LSTMCell<Double>(
        inputSize: Self.inputSize, hiddenSize: Self.hiddenSize, peepholes: true, seed: 2))
  }

  @Test func rnnAndGRUMatchSteppingByHand() {
    Self.expectSameAsByHand(
      RNNCell<Double>(inputSize: Self.inputSize, hiddenSize: Self.hiddenSize, seed: 3))
    Self.expectSameAsByHand(
      GRUCell<Double>(inputSize: Self.inputSize, hiddenSize: Self.hiddenSize, seed: 4))
    Self.expectSameAsByHand(
      GRUCell<Double>(
        inputSize: Self.inputSize, hiddenSize: Self.hiddenSize, bias: false, seed: 5))
  }

  /// The tape of an LSTM unrolled over a watched input sequence.
  static func entriesOfUnrolledLSTM() -> [Tape<Double>.Entry] {
    let cell = LSTMCell<Double>(inputSize: inputSize, hiddenSize: hiddenSize, seed: 1)
    let tape = Tape<Double>()
    tape.record {
      let inputs = tape.watch(.normal([steps, batch, inputSize], seed: 3))
      _ = unroll(cell, inputs: inputs)
    }
    return tape.entries
  }

  @Test func oneInputProductForTheWholeSequence() {
    let ops = Self.entriesOfUnrolledLSTM().map(\.op)
    // One product for the inputs and one per step for the state, except the first step's, whose
    // zero state and unwatched weights are constants; no per-step select of the recorded
    // sequence, whose pullback would send back a whole-sequence gradient per step.
    #expect(ops.filter { $0 == "matmul" }.count == 1 + (Self.steps - 1))
    #expect(ops.filter { $0 == "unstack" }.count == 1)
    #expect(!ops.contains("select"))
  }

  @Test func stepEntriesKeepNoValues() {
    let steps = Self.entriesOfUnrolledLSTM().filter { $0.op == "step" }
    #expect(steps.count == Self.steps)
    #expect(
      steps.allSatisfy { $0.output == nil && $0.outputShape == [Self.batch, 4 * Self.hiddenSize] })
  }

  /// Batch-first steps lie strided in the sequence; their gradients must land in the same places
  /// as the time-major ones.
  @Test func batchFirstGradientsAreTheTimeMajorOnesTransposed() {
    let cell = LSTMCell<Double>(inputSize: Self.inputSize, hiddenSize: Self.hiddenSize, seed: 2)
    let inputs = Tensor<Double>.normal([Self.steps, Self.batch, Self.inputSize], seed: 3)
    let weights = Tensor<Double>.uniform(
      [Self.steps, Self.batch, Self.hiddenSize], in: -1..<1, seed: 9)
    let timeMajor = gradient(at: inputs) { x in (unroll(cell, inputs: x).outputs * weights).sum() }
    let batchFirst = gradient(at: inputs.transposed(permutation: [1, 0, 2])) { x in
      (unroll(cell, inputs: x, batchFirst: true).outputs
        * weights.transposed(permutation: [1, 0, 2])).sum()
    }
    #expect(
      batchFirst.transposed(permutation: [1, 0, 2]).isClose(to: timeMajor, relativeTolerance: 1e-12)
    )
  }

  /// A backward pass that creates a graph hands the steps recorded gradients, which are stacked
  /// differentiably: second derivatives through `unroll` are those of stepping by hand.
  @Test func secondDerivativesMatchSteppingByHand() {
    let cell = RNNCell<Double>(inputSize: Self.inputSize, hiddenSize: Self.hiddenSize, seed: 6)
    let inputs = Tensor<Double>.normal([Self.steps, Self.batch, Self.inputSize], seed: 3)
    let direction = Tensor<Double>.uniform(inputs.shape, in: -1..<1, seed: 11)
    func secondDerivative(byHand: Bool) -> Tensor<Double> {
      gradient(at: inputs) { x in
        (gradient(at: x) { Self.loss(cell, $0, byHand: byHand) } * direction).sum()
      }
    }
    #expect(
      secondDerivative(byHand: false).isClose(
        to: secondDerivative(byHand: true), relativeTolerance: 1e-10, absoluteTolerance: 1e-12))
  }

  /// A graph-creating pass through the steps of a cell that passes its input through, with an
  /// outer variable scaling the first two outputs: the input's gradient is exactly the scale on
  /// those steps and 1 on the others, and the derivative of `Σ ∂L/∂x · d` with respect to the
  /// scale is `Σ d` over the first two steps.
  @Test func graphCreatingPassGivesExactStepGradients() {
    let inputs = Tensor<Double>.normal([Self.steps, Self.batch, Self.inputSize], seed: 3)
    let direction = Tensor<Double>.uniform(inputs.shape, in: -1..<1, seed: 12)
    var inputGradientValue: Tensor<Double>?
    let derivative = gradient(at: Tensor<Double>([1.5])) { scale in
      let inputGradient = gradient(at: inputs) { x in
        let outputs = unroll(PassThroughCell(size: Self.inputSize), inputs: x).outputs
        return (outputs.slice(alongAxis: 0, 0..<2) * scale).sum()
          + outputs.slice(alongAxis: 0, 2..<Self.steps).sum()
      }
      inputGradientValue = withoutDerivative(at: inputGradient)
      return (inputGradient * direction).sum()
    }
    let expected = concatenate(
      [
        Tensor<Double>(repeating: 1.5, shape: [2, Self.batch, Self.inputSize]),
        Tensor<Double>(repeating: 1, shape: [Self.steps - 2, Self.batch, Self.inputSize]),
      ], alongAxis: 0)
    #expect(inputGradientValue == expected)
    #expect(abs(derivative.scalar - direction.slice(alongAxis: 0, 0..<2).sum().scalar) < 1e-12)
  }

  @Test func tapeDifferentiatedTwiceGivesTheSameGradients() {
    let cell = GRUCell<Double>(inputSize: Self.inputSize, hiddenSize: Self.hiddenSize, seed: 4)
    let tape = Tape<Double>()
    let (inputs, loss) = tape.record {
      let inputs = tape.watch(.normal([Self.steps, Self.batch, Self.inputSize], seed: 3))
      return (inputs, unroll(cell, inputs: inputs).outputs.sum())
    }
    let first = tape.gradients(of: loss, at: [inputs], retainTape: true)
    let second = tape.gradients(of: loss, at: [inputs], retainTape: true)
    #expect(first[0] == second[0])
  }

  /// Each step is cut out and recorded when its function runs, so a step function run twice
  /// records its step twice: both entries' gradients must reach the sequence, added, in a plain
  /// pass and in one that creates a graph.
  @Test(arguments: [false, true])
  func stepFunctionRunTwiceSendsBothGradients(createGraph: Bool) {
    let cell = LSTMCell<Double>(inputSize: Self.inputSize, hiddenSize: Self.hiddenSize, seed: 5)
    let inputs = Tensor<Double>.normal([Self.steps, Self.batch, Self.inputSize], seed: 6)
    func gradient(runningStepTwice twice: Bool) -> Tensor<Double> {
      let tape = Tape<Double>()
      let (watched, loss) = tape.record { () -> (Tensor<Double>, Tensor<Double>) in
        let watched = tape.watch(inputs)
        let steps = cell.unrolledSteps(of: watched, alongAxis: 0)
        let state = cell.zeroState(batchSize: Self.batch)
        let once = steps[2](state).output
        let again = twice ? steps[2](state).output : once
        return (watched, (once * 2 + again * 3).sum())
      }
      return tape.gradients(of: loss, at: [watched], createGraph: createGraph)[0]
    }
    let twice = gradient(runningStepTwice: true)
    let once = gradient(runningStepTwice: false)
    #expect(twice.isClose(to: once, relativeTolerance: 1e-12, absoluteTolerance: 1e-14))
    #expect(twice.select(2, alongAxis: 0).scalars.contains { $0 != 0 })
  }
}

/// A cell whose output is its input: its step gradients are whatever reaches its outputs.
private struct PassThroughCell: InputProjectingCell {
  typealias Scalar = Double
  typealias State = Tensor<Double>
  let size: Int
  var inputSize: Int { size }
  var hiddenSize: Int { size }
  func zeroState(batchSize: Int) -> Tensor<Double> { .zeros([batchSize, size]) }
  func projectInputs(_ inputs: Tensor<Double>) -> Tensor<Double> { inputs }
  func callAsFunction(projectedInput: Tensor<Double>, _ state: Tensor<Double>)
    -> (output: Tensor<Double>, state: Tensor<Double>)
  {
    (projectedInput, projectedInput)
  }
}
