import Dispatch
import Foundation
import Tapestry
import TapestryTestSupport
import Testing

/// `valueWithGradient(at:batchSize:shards:of:)` runs shards of a batch on parallel threads, each
/// on its own tape; its loss and gradients are those of the whole batch on one tape.
@Suite("Batch shards on parallel threads") struct BatchShardTests {
  static let (steps, batch, inputSize, hiddenSize) = (5, 7, 3, 4)
  static let inputs = Tensor<Double>.normal([steps, batch, inputSize], seed: 11)
  static let targets = Tensor<Double>.uniform([steps, batch, hiddenSize], in: -1..<1, seed: 12)

  /// The mean squared error of an unrolled cell's outputs over the batch rows `rows`.
  static func loss<Cell: RecurrentCell<Double>>(_ cell: Cell, rows: Range<Int>) -> Tensor<Double> {
    let outputs = unroll(cell, inputs: inputs.slice(alongAxis: 1, rows)).outputs
    return meanSquaredError(predicted: outputs, expected: targets.slice(alongAxis: 1, rows))
  }

  static func expectSameAsWholeBatch<Cell: RecurrentCell<Double> & SendableMetatype>(
    _ cell: Cell, shards: Int
  ) {
    let (whole, wholeGradients) = valueWithGradient(at: cell) { loss($0, rows: 0..<batch) }
    let (sharded, shardedGradients) = valueWithGradient(
      at: cell, batchSize: batch, shards: shards
    ) { cell, rows in loss(cell, rows: rows) }
    expectClose(sharded, whole, relativeTolerance: 1e-10)
    #expect(!sharded.isRecorded)
    #expect(shardedGradients.names == wholeGradients.names)
    for (shardedEntry, wholeEntry) in zip(shardedGradients.entries, wholeGradients.entries) {
      #expect(shardedEntry.parameter === wholeEntry.parameter)
      expectClose(shardedEntry.gradient, wholeEntry.gradient, relativeTolerance: 1e-10)
    }
  }

  @Test(arguments: [1, 2, 3, 7, 12])
  func lstmGradientsMatchTheWholeBatch(shards: Int) {
    Self.expectSameAsWholeBatch(
      LSTMCell<Double>(inputSize: Self.inputSize, hiddenSize: Self.hiddenSize, seed: 1),
      shards: shards)
  }

  @Test(arguments: [2, 3])
  func gruAndPeepholeGradientsMatchTheWholeBatch(shards: Int) {
    Self.expectSameAsWholeBatch(
      GRUCell<Double>(inputSize: Self.inputSize, hiddenSize: Self.hiddenSize, seed: 2),
      shards: shards)
    Self.expectSameAsWholeBatch(
      LSTMCell<Double>(
        inputSize: Self.inputSize, hiddenSize: Self.hiddenSize, peepholes: true, seed: 3),
      shards: shards)
  }

  @Test func parametersAreRestoredAndFrozenOnesGetNoGradient() {
    let cell = RNNCell<Double>(inputSize: Self.inputSize, hiddenSize: Self.hiddenSize, seed: 4)
    cell.bias_hh?.isFrozen = true
    let before = namedParameters(of: cell, as: Double.self).map(\.parameter.value)
    let (_, gradients) = valueWithGradient(at: cell, batchSize: Self.batch, shards: 2) {
      cell, rows in Self.loss(cell, rows: rows)
    }
    let after = namedParameters(of: cell, as: Double.self).map(\.parameter.value)
    #expect(after == before)
    #expect(after.allSatisfy { !$0.isRecorded })
    #expect(gradients.names == ["weight_ih", "weight_hh", "bias_ih"])
  }

  /// Inside a recording tape the shards run as one loss on that tape, so the gradients are
  /// themselves differentiable: d/ds of Σ ∂L/∂W, with the inputs scaled by s, is the same
  /// whether the inner gradient was sharded or not.
  @Test func nestedInsideARecordingTapeTheGradientsAreDifferentiable() {
    let cell = LSTMCell<Double>(inputSize: Self.inputSize, hiddenSize: Self.hiddenSize, seed: 5)
    func outer(sharded: Bool) -> (Tensor<Double>, Tensor<Double>) {
      valueWithGradient(at: Tensor<Double>(0.7)) { scale in
        let lossOf: @Sendable (LSTMCell<Double>, Range<Int>) -> Tensor<Double> = { cell, rows in
          let outputs = unroll(cell, inputs: Self.inputs.slice(alongAxis: 1, rows) * scale)
          return meanSquaredError(
            predicted: outputs.outputs, expected: Self.targets.slice(alongAxis: 1, rows))
        }
        let gradients =
          sharded
          ? valueWithGradient(at: cell, batchSize: Self.batch, shards: 2, of: lossOf).gradient
          : valueWithGradient(at: cell) { lossOf($0, 0..<Self.batch) }.gradient
        return gradients.entries.map { $0.gradient.sum() }.reduce(Tensor(0), +)
      }
    }
    let (shardedValue, shardedSlope) = outer(sharded: true)
    let (wholeValue, wholeSlope) = outer(sharded: false)
    expectClose(shardedValue, wholeValue, relativeTolerance: 1e-10)
    expectClose(shardedSlope, wholeSlope, relativeTolerance: 1e-9)
    #expect(abs(wholeSlope.scalar) > 1e-6)
  }

  @Test func anomalyDetectionStillFindsTheOpInAShard() {
    let layer = Linear<Double>(inputSize: 2, outputSize: 1, seed: 6)
    let inputs = Tensor<Double>([[1, 2], [3, 4], [-5, 6], [7, 8]])
    #expect(throws: AnomalyError.self) {
      try withAnomalyDetection {
        _ = valueWithGradient(at: layer, batchSize: 4, shards: 2) { layer, rows in
          log(layer(inputs.slice(alongAxis: 0, rows)) * 0 - 1).mean()
        }
      }
    }
  }

  /// Two threads drawing from one layer's generator at once get the numbers of one sequential
  /// stream between them, none lost or repeated.
  @Test func concurrentDropoutDrawsShareOneStream() {
    let dropout = Dropout<Double>(probability: 0.5, seed: 21)
    let reference = Dropout<Double>(probability: 0.5, seed: 21)
    let input = Tensor<Double>.ones([4000])
    let masks = Collected<Tensor<Double>>()
    withLearningPhase(.training) {
      let phase = LearningPhase.current
      DispatchQueue.concurrentPerform(iterations: 2) { _ in
        let mask = withLearningPhase(phase) { dropout(input) }
        masks.append(mask)
      }
    }
    let sequential = withLearningPhase(.training) { [reference(input), reference(input)] }
    let drawn = masks.all.map(\.scalars)
    #expect(Set([drawn[0], drawn[1]]) == Set(sequential.map(\.scalars)))
  }

  /// The shards already use the cores: kernels inside one see one thread, outside as before.
  @Test func kernelsInsideAShardUseItsThreadOnly() {
    let layer = Linear<Double>(inputSize: 2, outputSize: 1, seed: 9)
    let inputs = Tensor<Double>([[1, 2], [3, 4], [5, 6], [7, 8]])
    let seen = Collected<Int>()
    _ = valueWithGradient(at: layer, batchSize: 4, shards: 2) { layer, rows in
      seen.append(ComputeSettings.threads)
      return layer(inputs.slice(alongAxis: 0, rows)).mean()
    }
    #expect(seen.all == [1, 1])
  }

  @Test func zeroBatchTrapsNamingTheFunction() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      let layer = Linear<Double>(inputSize: 2, outputSize: 1, seed: 7)
      _ = valueWithGradient(at: layer, batchSize: 0, shards: 2) { layer, _ in
        layer.weight.value.sum()
      }
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(
      message.contains(
        "valueWithGradient(at:batchSize:shards:of:): batch size 0 and shards 2 must be at least 1"))
  }

  @Test func nonScalarLossTrapsWithItsShape() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      let layer = Linear<Double>(inputSize: 2, outputSize: 1, seed: 8)
      let inputs = Tensor<Double>([[1, 2], [3, 4], [5, 6], [7, 8]])
      _ = valueWithGradient(at: layer, batchSize: 4, shards: 2) { layer, rows in
        layer(inputs.slice(alongAxis: 0, rows))
      }
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("the loss has shape [2, 1]; reduce it to one element"))
  }
}

/// Values handed in by several threads at once, kept in the order they arrived.
private final class Collected<Value>: @unchecked Sendable {
  private var values: [Value] = []
  private let lock = NSLock()

  func append(_ value: Value) {
    lock.withLock { values.append(value) }
  }

  var all: [Value] { lock.withLock { values } }
}
