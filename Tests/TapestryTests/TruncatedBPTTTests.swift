import Foundation
import Tapestry
import TapestryTestSupport
import Testing

/// The state of ``TraceCell``: two tensors that must be detached together.
private struct TraceState: Detachable {
  var hidden: Tensor<Double>
  var trace: Tensor<Double>

  func detached() -> TraceState {
    TraceState(hidden: withoutDerivative(at: hidden), trace: withoutDerivative(at: trace))
  }
}

/// A cell written as a user would, with a state type of its own: a tanh unit that reads a
/// running average of its past outputs rather than its last output.
private struct TraceCell: RecurrentCell {
  let inputWeight: Parameter<Double>
  let traceWeight: Parameter<Double>
  let inputSize: Int
  let hiddenSize: Int

  init(inputSize: Int, hiddenSize: Int, seed: UInt64) {
    inputWeight = Parameter(randomTensor([hiddenSize, inputSize], seed: seed))
    traceWeight = Parameter(randomTensor([hiddenSize, hiddenSize], seed: seed + 1))
    self.inputSize = inputSize
    self.hiddenSize = hiddenSize
  }

  func zeroState(batchSize: Int) -> TraceState {
    TraceState(
      hidden: Tensor.zeros([batchSize, hiddenSize]), trace: Tensor.zeros([batchSize, hiddenSize]))
  }

  func callAsFunction(_ input: Tensor<Double>, _ state: TraceState)
    -> (output: Tensor<Double>, state: TraceState)
  {
    let hidden = tanh(
      matmul(input, inputWeight.value, transposeB: true)
        + matmul(state.trace, traceWeight.value, transposeB: true))
    return (hidden, TraceState(hidden: hidden, trace: 0.5 * state.trace + 0.5 * hidden))
  }
}

/// The cells every property is checked on: the three built-in ones and a user's.
enum TBPTTCell: String, CaseIterable, Sendable {
  case rnn, lstm, gru, user
}

/// A check run on a cell of any type, so one parameterised test covers every ``TBPTTCell``.
private protocol CellCheck {
  func run<Cell: RecurrentCell>(_ cell: Cell) where Cell.Scalar == Double, Cell.State: Detachable
}

private let (inputSize, hiddenSize, batchSize) = (2, 3, 2)

extension CellCheck {
  /// Runs the check on a freshly seeded cell of `kind`.
  func run(on kind: TBPTTCell) {
    switch kind {
    case .rnn: run(RNNCell<Double>(inputSize: inputSize, hiddenSize: hiddenSize, seed: 1))
    case .lstm: run(LSTMCell<Double>(inputSize: inputSize, hiddenSize: hiddenSize, seed: 2))
    case .gru: run(GRUCell<Double>(inputSize: inputSize, hiddenSize: hiddenSize, seed: 3))
    case .user: run(TraceCell(inputSize: inputSize, hiddenSize: hiddenSize, seed: 4))
    }
  }
}

/// A seeded stream of `steps` inputs `[T, B, I]` and targets `[T, B, H]`.
private func stream(steps: Int) -> (inputs: Tensor<Double>, targets: Tensor<Double>) {
  (
    randomTensor([steps, batchSize, inputSize], seed: 10),
    randomTensor([steps, batchSize, hiddenSize], seed: 11)
  )
}

private func stepLoss(_ output: Tensor<Double>, _ target: Tensor<Double>) -> Tensor<Double> {
  meanSquaredError(predicted: output, expected: target)
}

/// Runs `schedule` over `inputs` from the cell's zero state without updating the parameters and
/// returns every update and the final carry.
private func collectUpdates<Cell: RecurrentCell>(
  _ schedule: TruncatedBPTT, _ cell: Cell, inputs: Tensor<Double>, targets: Tensor<Double>,
  from carry: TruncatedBPTT.Carry<Cell.State, Double>? = nil
) -> (updates: [TruncatedBPTT.Update<Double>], carry: TruncatedBPTT.Carry<Cell.State, Double>)
where Cell.Scalar == Double, Cell.State: Detachable {
  var updates: [TruncatedBPTT.Update<Double>] = []
  let start = carry ?? .init(cell.zeroState(batchSize: batchSize), as: Double.self)
  let end = schedule.train(cell, inputs: inputs, targets: targets, from: start, loss: stepLoss) {
    updates.append($0)
  }
  return (updates, end)
}

/// Expects two sets of gradients of the same model to agree name by name.
private func expectSameGradients(
  _ actual: ParameterGradients<Double>, _ expected: ParameterGradients<Double>,
  _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(actual.names == expected.names, comment, sourceLocation: sourceLocation)
  for (name, _, gradient) in expected.entries {
    guard let mine = actual[name] else { continue }
    expectClose(
      mine, gradient, relativeTolerance: 0, absoluteTolerance: 1e-12, "\(comment) \(name)",
      sourceLocation: sourceLocation)
  }
}

@Suite("Truncated BPTT")
struct TruncatedBPTTTests {
  /// With one chunk covering the stream there is nothing to truncate: the update must be full
  /// BPTT through `unroll`, with the same loss (the mean over steps of each step's mean squared
  /// error is the mean squared error over the whole stream).
  @Test(arguments: TBPTTCell.allCases, [6, 9])
  func oneChunkIsFullBPTT(kind: TBPTTCell, k: Int) {
    struct Check: CellCheck {
      let k: Int
      func run<Cell: RecurrentCell>(_ cell: Cell)
      where Cell.Scalar == Double, Cell.State: Detachable {
        let (inputs, targets) = stream(steps: 6)
        let (updates, _) = collectUpdates(
          TruncatedBPTT(k1: k), cell, inputs: inputs, targets: targets)
        let (loss, reference) = valueWithGradient(at: cell) { cell in
          meanSquaredError(predicted: unroll(cell, inputs: inputs).outputs, expected: targets)
        }
        #expect(updates.count == 1)
        guard let update = updates.first else { return }
        expectClose(update.loss, loss.scalar, relativeTolerance: 0, absoluteTolerance: 1e-12)
        expectSameGradients(update.gradients, reference, "k \(k)")
      }
    }
    Check(k: k).run(on: kind)
  }

  /// Each step reads its input from a parameter holding the whole stream, selected by a time
  /// index fed as the input, so the gradient of that parameter shows how far back each update
  /// reaches: exactly zero before the backward window, non-zero inside it.
  @Test(arguments: [(4, 4), (3, 3), (1, 3), (2, 5), (3, 7)])
  func noGradientReachesPastTheWindow(k1: Int, k2: Int) {
    struct Model {
      let cell = RNNCell<Double>(inputSize: inputSize, hiddenSize: hiddenSize, seed: 5)
      let stream = Parameter(randomTensor([11, batchSize, inputSize], seed: 12))
    }
    let model = Model()
    let steps = 11
    let times = Tensor(shape: [steps, 1], scalars: (0..<steps).map(Double.init))
    let targets = randomTensor([steps, batchSize, hiddenSize], seed: 13)
    var windows: [Range<Int>] = []
    _ = TruncatedBPTT(k1: k1, k2: k2).train(
      model, inputs: times, targets: targets,
      from: .init(model.cell.zeroState(batchSize: batchSize)),
      step: { model, time, state in
        model.cell(model.stream.value.select(Int(time.scalar), alongAxis: 0), state)
      }, loss: stepLoss,
      update: { update in
        let window = max(0, update.steps.lowerBound - (k2 - k1))..<update.steps.upperBound
        windows.append(window)
        #expect(update.backpropagatedSteps == window.count)
        #expect(window.count <= k2)
        guard let gradient = update.gradients["stream"] else {
          Issue.record("no gradient for the stream")
          return
        }
        for time in 0..<steps {
          let reached = gradient.select(time, alongAxis: 0).scalars.contains { $0 != 0 }
          #expect(reached == window.contains(time), "step \(time), window \(window)")
        }
      })
    #expect(windows.map(\.upperBound) == Array(stride(from: k1, to: steps, by: k1)) + [steps])
  }

  /// With k1 < k2, each update is the gradient of the chunk's mean loss through an unroll of
  /// k2 steps from the state k2 steps back, detached: computed here directly from a full
  /// forward pass and `unroll`.
  @Test(arguments: TBPTTCell.allCases)
  func longerWindowMatchesDirectComputation(kind: TBPTTCell) {
    struct Check: CellCheck {
      func run<Cell: RecurrentCell>(_ cell: Cell)
      where Cell.Scalar == Double, Cell.State: Detachable {
        let (inputs, targets) = stream(steps: 12)
        let zero = cell.zeroState(batchSize: batchSize)
        let states = withoutRecording { unroll(cell, inputs: inputs).states }
        for (k1, k2) in [(2, 5), (1, 4), (5, 7)] {
          let (updates, _) = collectUpdates(
            TruncatedBPTT(k1: k1, k2: k2), cell, inputs: inputs, targets: targets)
          #expect(updates.count == (12 + k1 - 1) / k1)
          for update in updates {
            let start = max(0, update.steps.lowerBound - (k2 - k1))
            let (loss, reference) = valueWithGradient(at: cell) { cell in
              let outputs = unroll(
                cell, inputs: inputs.slice(alongAxis: 0, start..<update.steps.upperBound),
                initialState: start == 0 ? zero : states[start - 1]
              ).outputs
              return meanSquaredError(
                predicted: outputs.slice(alongAxis: 0, (update.steps.lowerBound - start)...),
                expected: targets.slice(alongAxis: 0, update.steps))
            }
            expectClose(update.loss, loss.scalar, relativeTolerance: 0, absoluteTolerance: 1e-12)
            expectSameGradients(
              update.gradients, reference, "k1 \(k1) k2 \(k2) steps \(update.steps)")
          }
        }
      }
    }
    Check().run(on: kind)
  }

  /// A stream fed in several calls, passing the carry along, runs the same forward values as
  /// one call (and as a plain unroll); when every call is a whole number of chunks, the
  /// updates, recomputed history included, are the same too.
  @Test(arguments: TBPTTCell.allCases)
  func carryAcrossCallsEqualsOneCall(kind: TBPTTCell) {
    struct Check: CellCheck {
      func run<Cell: RecurrentCell>(_ cell: Cell)
      where Cell.Scalar == Double, Cell.State: Detachable {
        let (inputs, targets) = stream(steps: 12)
        let schedule = TruncatedBPTT(k1: 2, k2: 5)
        let whole = collectUpdates(schedule, cell, inputs: inputs, targets: targets).updates
        let expected = withoutRecording { unroll(cell, inputs: inputs).outputs }
        for splits in [[4, 2, 6], [3, 5, 4], [1, 11]] {
          var carry: TruncatedBPTT.Carry<Cell.State, Double>?
          var updates: [TruncatedBPTT.Update<Double>] = []
          var start = 0
          for length in splits {
            let range = start..<start + length
            let run = collectUpdates(
              schedule, cell, inputs: inputs.slice(alongAxis: 0, range),
              targets: targets.slice(alongAxis: 0, range), from: carry)
            updates += run.updates
            carry = run.carry
            start += length
          }
          let outputs = concatenate(updates.map(\.outputs), alongAxis: 0)
          expectClose(outputs, expected, relativeTolerance: 0, absoluteTolerance: 1e-12)
          guard splits.allSatisfy({ $0.isMultiple(of: schedule.k1) }) else { continue }
          #expect(updates.count == whole.count)
          for (split, one) in zip(updates, whole) {
            expectSameGradients(split.gradients, one.gradients, "splits \(splits)")
          }
        }
      }
    }
    Check().run(on: kind)
  }

  /// The tape of every backward pass holds the same number of entries whether the stream is
  /// 12 or 120 steps long. The count is read from the tape itself just before its backward
  /// pass, so it is what that pass keeps in memory; and the carried state is detached, so
  /// nothing links one chunk's tape to the next.
  @Test(arguments: [(4, 4), (2, 6)])
  func tapeDoesNotGrowWithTheStream(k1: Int, k2: Int) {
    let cell = LSTMCell<Double>(inputSize: inputSize, hiddenSize: hiddenSize, seed: 6)
    let schedule = TruncatedBPTT(k1: k1, k2: k2)
    var largest: [Int] = []
    for steps in [12, 120] {
      let (inputs, targets) = stream(steps: steps)
      let (updates, carry) = collectUpdates(schedule, cell, inputs: inputs, targets: targets)
      let full = updates.filter { $0.backpropagatedSteps == k2 }.map(\.tapeEntries)
      #expect(!full.isEmpty && Set(full).count == 1, "entries per full window: \(full)")
      largest.append(updates.map(\.tapeEntries).max() ?? 0)
      #expect(!carry.state.hidden.isRecorded && !carry.state.cell.isRecorded)
    }
    #expect(largest[0] == largest[1], "largest tape: \(largest)")
  }

  /// Training on a stream with an optimiser applied in `update` lowers the loss.
  @Test func trainingWithAnOptimiserLowersTheLoss() {
    let cell = GRUCell<Double>(inputSize: inputSize, hiddenSize: hiddenSize, seed: 7)
    let (inputs, _) = stream(steps: 40)
    // Target: the previous step's first input feature, which needs one step of memory.
    let targets = concatenate(
      [
        Tensor.zeros([1, batchSize, 1]),
        inputs.slice(alongAxis: 0, 0..<39).slice(alongAxis: 2, 0..<1),
      ],
      alongAxis: 0)
    let optimizer = Adam<Double>(learningRate: 0.05)
    let schedule = TruncatedBPTT(k1: 5, k2: 8)
    var losses: [Double] = []
    for _ in 0..<30 {
      var total = 0.0
      _ = schedule.train(
        cell, inputs: inputs, targets: targets, from: .init(cell.zeroState(batchSize: batchSize))
      ) { output, target in
        meanSquaredError(predicted: output.slice(alongAxis: 1, 0..<1), expected: target)
      } update: { update in
        total += update.loss
        optimizer.update(update.gradients)
      }
      losses.append(total)
    }
    #expect((losses.last ?? .infinity) < 0.5 * (losses.first ?? 0), "losses \(losses)")
  }

  @Test func zeroK1Traps() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = TruncatedBPTT(k1: 0)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("TruncatedBPTT: k1 must be positive, got k1 0"))
  }

  @Test func negativeK1Traps() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = TruncatedBPTT(k1: -3, k2: 4)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("TruncatedBPTT: k1 must be positive, got k1 -3"))
  }

  @Test func k2BelowK1Traps() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = TruncatedBPTT(k1: 5, k2: 3)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("TruncatedBPTT: k2 must be at least k1, got k1 5, k2 3"))
  }

  @Test func mismatchedTargetsTrap() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      let cell = RNNCell<Double>(inputSize: 2, hiddenSize: 3, seed: 1)
      _ = TruncatedBPTT(k1: 2).train(
        cell, inputs: Tensor.zeros([4, 1, 2]), targets: Tensor.zeros([3, 1, 3]),
        from: .init(cell.zeroState(batchSize: 1))
      ) { output, target in
        meanSquaredError(predicted: output, expected: target)
      } update: { _ in
      }
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("TruncatedBPTT.train: inputs [4, 1, 2] and targets [3, 1, 3]"))
  }

  @Test func nonScalarStepLossTraps() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      let cell = RNNCell<Double>(inputSize: 2, hiddenSize: 3, seed: 1)
      _ = TruncatedBPTT(k1: 2).train(
        cell, inputs: Tensor.zeros([4, 1, 2]), targets: Tensor.zeros([4, 1, 3]),
        from: .init(cell.zeroState(batchSize: 1))
      ) { output, target in
        meanSquaredError(predicted: output, expected: target, reduction: .none)
      } update: { _ in
      }
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("the loss of step 0 has shape [1, 3]; reduce it to one element"))
  }
}
