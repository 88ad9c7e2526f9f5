import Foundation
import Tapestry
import TapestryTestSupport
import Testing

/// A model with one parameter, for tests that script the loss rather than learn anything.
private struct Probe {
  let weight: Parameter<Double>

  init(_ values: [Double] = [0]) {
    weight = Parameter(Tensor(values))
  }
}

/// A reference box that closures given to the trainer can write to.
private final class Log<Element> {
  var items: [Element] = []
}

/// `n` samples whose input is their own index, `[n, 1]`, so a batch shows which samples it holds.
private func indexedData(_ n: Int) -> TensorDataset<Double> {
  let indices = Tensor(shape: [n, 1], scalars: (0..<n).map(Double.init))
  return TensorDataset(inputs: indices, targets: indices * 2)
}

/// A loss whose value is `value` and whose gradient with respect to the probe's weight is 0.
private func constantLoss(_ model: Probe, _ value: Double) -> Tensor<Double> {
  (model.weight.value * 0).sum() + Tensor(value)
}

/// A silent trainer of a probe by plain SGD (learning rate 0 unless given) on `loss`.
private func probeTrainer(
  _ model: Probe = Probe(), learningRate: Double = 0,
  loss: @escaping (Probe, Tensor<Double>, Tensor<Double>) -> Tensor<Double>
) -> Trainer<Probe, SGD<Double>> {
  var trainer = Trainer(
    model: model, optimizer: SGD<Double>(learningRate: learningRate), loss: loss)
  trainer.verbosity = .silent
  return trainer
}

@Suite("TensorDataset")
struct TensorDatasetTests {
  @Test(arguments: [(10, 4), (10, 5), (10, 1), (3, 8), (7, 7)])
  func batchesCoverEverySampleOncePerEpoch(count: Int, size: Int) {
    let data = indexedData(count)
    var generator = SeededGenerator(seed: 11)
    var orders: [[Int]] = []
    for _ in 0..<3 {
      let batches = data.batchIndices(size: size, shuffledWith: &generator)
      #expect(batches.dropLast().allSatisfy { $0.count == size })
      #expect(batches.last?.count == count - size * (batches.count - 1))
      let order = batches.flatMap { $0 }
      #expect(order.sorted() == Array(0..<count))
      orders.append(order)
    }
    var again = SeededGenerator(seed: 11)
    let replayed = (0..<3).map { _ in
      data.batchIndices(size: size, shuffledWith: &again).flatMap { $0 }
    }
    #expect(replayed == orders)
    if count >= 7 { #expect(Set(orders).count == 3, "each epoch draws its own order") }
    #expect(data.batchIndices(size: size).flatMap { $0 } == Array(0..<count))
  }

  @Test func samplesAreGatheredAlongTheFirstAxis() {
    let data = indexedData(5).samples(at: [3, 0, 3])
    #expect(data.inputs == Tensor(shape: [3, 1], scalars: [3, 0, 3]))
    #expect(data.targets == Tensor(shape: [3, 1], scalars: [6, 0, 6]))
    #expect(data.count == 3)
  }

  @Test func twoMoonsLieOnTheirHalfCircles() {
    let exact = TensorDataset<Double>.twoMoons(samples: 51, noise: 0, seed: 3)
    #expect(exact.inputs.shape == [51, 2] && exact.targets.shape == [51, 1])
    #expect(exact.targets.scalars.filter { $0 == 0 }.count == 25)
    for row in 0..<51 {
      let (x, y) = (exact.inputs[row, 0], exact.inputs[row, 1])
      if exact.targets[row, 0] == 0 {
        expectClose(x * x + y * y, 1, absoluteTolerance: 1e-12)
        #expect(y >= 0)
      } else {
        expectClose((x - 1) * (x - 1) + (y - 0.5) * (y - 0.5), 1, absoluteTolerance: 1e-12)
        #expect(y <= 0.5)
      }
    }
    let noisy = TensorDataset<Double>.twoMoons(samples: 51, noise: 0.1, seed: 3)
    #expect(noisy.inputs == TensorDataset<Double>.twoMoons(samples: 51, noise: 0.1, seed: 3).inputs)
    #expect(noisy.inputs != exact.inputs)
  }

  @Test func xorAndSineFollowTheirDefinitions() {
    let xor = TensorDataset<Double>.xor(samples: 40, seed: 5)
    for row in 0..<40 {
      let differ = (xor.inputs[row, 0] < 0) != (xor.inputs[row, 1] < 0)
      #expect(xor.targets[row, 0] == (differ ? 1 : 0))
    }
    let sine = TensorDataset<Double>.sineRegression(samples: 30, noise: 0, seed: 6)
    #expect(sine.inputs.shape == [30, 1] && sine.targets.shape == [30, 1])
    expectClose(
      sine.targets, Tensor(shape: [30, 1], scalars: sine.inputs.scalars.map { sin(3 * $0) }))
  }
}

@Suite("Trainer")
struct TrainerTests {
  @Test func trainsOnTheSeededOrderInTrainingPhase() {
    let data = indexedData(10)
    let seen = Log<(phase: LearningPhase, recorded: Bool, samples: [Double])>()
    var trainer = probeTrainer { model, inputs, _ in
      seen.items.append((LearningPhase.current, model.weight.value.isRecorded, inputs.scalars))
      return constantLoss(model, 1)
    }
    trainer.batchSize = 4
    trainer.seed = 9
    trainer.fit(data, validation: indexedData(3), epochs: 2)

    var generator = SeededGenerator(seed: 9)
    var expected: [[Double]] = []
    for _ in 0..<2 {
      expected += data.batchIndices(size: 4, shuffledWith: &generator).map { $0.map(Double.init) }
      expected.append([0, 1, 2])
    }
    #expect(seen.items.map(\.samples) == expected)
    let validation = seen.items.filter { $0.samples == [0, 1, 2] }
    #expect(validation.allSatisfy { $0.phase == .inference && !$0.recorded })
    let training = seen.items.filter { $0.samples != [0, 1, 2] }
    #expect(training.allSatisfy { $0.phase == .training && $0.recorded })
  }

  /// Shards of each batch train as the whole batch does: the same losses epoch by epoch and the
  /// same weights at the end (Double; 50 samples in batches of 16, so the last batch of 2 gives
  /// one sample per shard).
  @Test(arguments: [2, 3])
  func shardedTrainingMatchesWholeBatches(shards: Int) throws {
    typealias Model = Sequential<Double>
    func trained(shards: Int?) -> (losses: [Double], weights: [Tensor<Double>]) {
      var generator = SeededGenerator(seed: 4)
      let model = Model {
        Linear<Double>(inputSize: 2, outputSize: 8, using: &generator)
        Activation<Double>.tanh
        Linear<Double>(inputSize: 8, outputSize: 1, using: &generator)
      }
      let loss: Trainer<Model, Adam<Double>>.SendableLoss = { model, inputs, labels in
        binaryCrossEntropy(logits: model(inputs), labels: labels)
      }
      let optimizer = Adam<Double>(learningRate: 0.05)
      var trainer =
        shards.map { Trainer(model: model, optimizer: optimizer, shards: $0, loss: loss) }
        ?? Trainer(model: model, optimizer: optimizer, loss: loss)
      trainer.verbosity = .silent
      trainer.batchSize = 16
      let history = trainer.fit(TensorDataset<Double>.twoMoons(samples: 50, seed: 2), epochs: 3)
      return (history.losses, namedParameters(of: model, as: Double.self).map(\.parameter.value))
    }
    let whole = trained(shards: nil)
    let sharded = trained(shards: shards)
    #expect(whole.losses.count == 3)
    for (shardedLoss, wholeLoss) in zip(sharded.losses, whole.losses) {
      expectClose(shardedLoss, wholeLoss, relativeTolerance: 1e-10)
    }
    for (shardedWeight, wholeWeight) in zip(sharded.weights, whole.weights) {
      expectClose(shardedWeight, wholeWeight, relativeTolerance: 1e-8, absoluteTolerance: 1e-10)
    }
  }

  @Test func assigningALossTurnsShardingOff() {
    var trainer = Trainer(model: Probe(), optimizer: SGD<Double>(learningRate: 0), shards: 2) {
      model, _, _ in constantLoss(model, 1)
    }
    #expect(trainer.shards == 2)
    trainer.loss = { model, _, _ in constantLoss(model, 2) }
    #expect(trainer.shards == 1)
  }

  @Test func zeroShardsTrap() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = Trainer(model: Probe(), optimizer: SGD<Double>(learningRate: 0), shards: 0) {
        model, _, _ in constantLoss(model, 1)
      }
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("Trainer: shards 0 must be at least 1"))
  }

  @Test func lossDecreasesOnTwoMoons() throws {
    var generator = SeededGenerator(seed: 1)
    let model = Sequential<Double> {
      Linear<Double>(inputSize: 2, outputSize: 8, using: &generator)
      Activation<Double>.tanh
      Linear<Double>(inputSize: 8, outputSize: 1, using: &generator)
    }
    var trainer = Trainer(model: model, optimizer: Adam<Double>(learningRate: 0.05)) {
      model, inputs, labels in binaryCrossEntropy(logits: model(inputs), labels: labels)
    }
    trainer.verbosity = .silent
    trainer.batchSize = 16
    trainer.metrics = [
      Metric("accuracy") { model, inputs, labels in
        let logits = model(inputs).scalars
        let hits = zip(logits, labels.scalars).filter { ($0 > 0) == ($1 > 0.5) }.count
        return Double(hits) / Double(labels.count)
      }
    ]
    let data = TensorDataset<Double>.twoMoons(samples: 96, seed: 2)
    let history = trainer.fit(data, epochs: 6)
    #expect(history.records.count == 6 && history.stopReason == .completed)
    let losses = history.losses
    let (first, last) = (try #require(losses.first), try #require(losses.last))
    #expect(last < 0.7 * first, "losses \(losses)")
    let accuracy = try #require(history.metric("accuracy")?.last)
    #expect(accuracy > 0.8)
  }

  /// Validation losses, patience, min delta, then the epochs run and the best epoch (nil: all
  /// epochs ran).
  @Test(arguments: [
    ([5, 4, 3, 3.5, 3.2, 3.1, 2, 1], 3, 0.0, 6, 3 as Int?),
    ([5, 4, 3, 3.5, 3.2, 3.1, 2, 1], 4, 0.0, 8, nil),
    ([5, 4, 3, 3, 3, 3, 3, 3], 1, 0.0, 4, 3),
    ([1, 0.95, 0.85, 0.8, 0.78, 0.77, 0.7, 0.6], 2, 0.1, 5, 3),
    ([1, 2, 3, 4, 5, 6, 7, 8], 2, 0.0, 3, 1),
  ])
  func earlyStoppingStopsAtTheRightEpoch(
    validationLosses: [Double], patience: Int, minDelta: Double, epochsRun: Int, bestEpoch: Int?
  ) {
    let calls = Log<Int>()
    var trainer = probeTrainer { model, _, _ in
      guard LearningPhase.current == .inference else { return constantLoss(model, 1) }
      calls.items.append(calls.items.count)
      return constantLoss(model, validationLosses[calls.items.count - 1])
    }
    trainer.earlyStopping = EarlyStopping(patience: patience, minDelta: minDelta)
    let history = trainer.fit(indexedData(4), validation: indexedData(1), epochs: 8)
    #expect(history.records.count == epochsRun)
    #expect(history.validationLosses == Array(validationLosses.prefix(epochsRun)))
    #expect(history.stopReason == (bestEpoch.map { .earlyStopping(bestEpoch: $0) } ?? .completed))
  }

  @Test func earlyStoppingWatchesTheTrainingLossWithoutValidationAndCanRestore() {
    // One sample per epoch, so one training step each: the weight falls by 1 per epoch.
    let scripted: [Double] = [3, 2, 1, 1.5, 1.2, 9, 9]
    let model = Probe([0])
    let calls = Log<Int>()
    var trainer = probeTrainer(model, learningRate: 1) { model, _, _ in
      calls.items.append(0)
      // The scripted value, with gradient 1 with respect to the weight.
      let weight = model.weight.value.sum()
      return weight - withoutDerivative(at: weight) + Tensor(scripted[calls.items.count - 1])
    }
    trainer.earlyStopping = EarlyStopping(patience: 2, restoresBestParameters: true)
    let history = trainer.fit(indexedData(1), epochs: 7)
    #expect(history.losses == [3, 2, 1, 1.5, 1.2])
    #expect(history.stopReason == .earlyStopping(bestEpoch: 3))
    #expect(model.weight.value.scalars == [-3], "the value after epoch 3, not after epoch 5")
  }

  @Test func callbacksSeeEveryEpochAndCanStop() {
    let epochsSeen = Log<[Int]>()
    let alsoCalled = Log<Int>()
    var trainer = probeTrainer { model, _, _ in constantLoss(model, 0.5) }
    trainer.callbacks = [
      { history in
        epochsSeen.items.append(history.records.map(\.epoch))
        return history.records.count == 3 ? .stop : .proceed
      },
      { history in
        alsoCalled.items.append(history.records.count)
        return .proceed
      },
    ]
    let history = trainer.fit(indexedData(5), epochs: 10)
    #expect(epochsSeen.items == [[1], [1, 2], [1, 2, 3]])
    #expect(alsoCalled.items == [1, 2, 3])
    #expect(history.records.count == 3 && history.stopReason == .callback)
  }

  @Test func clipsTheGlobalNormBeforeTheUpdate() {
    let model = Probe([0, 0, 0])
    var trainer = probeTrainer(model, learningRate: 1) { model, _, _ in
      (model.weight.value * Tensor([30, 40, 0])).sum()
    }
    trainer.clipGlobalNorm = 5
    trainer.fit(indexedData(1), epochs: 1)
    expectClose(model.weight.value, Tensor([-3, -4, 0]), relativeTolerance: 1e-6)
  }

  @Test func aNonFiniteLossStopsWithoutUpdating() {
    let model = Probe([0])
    let calls = Log<Int>()
    let trainer = probeTrainer(model, learningRate: 1) { model, _, _ in
      calls.items.append(0)
      return model.weight.value.sum() * (calls.items.count == 3 ? Double.nan : 1)
    }
    let history = trainer.fit(indexedData(1), epochs: 5)
    #expect(history.records.count == 3 && history.stopReason == .nonFiniteLoss)
    #expect(history.losses[2].isNaN)
    #expect(model.weight.value.scalars == [-2])
  }

  @Test func plainOutputIsOneLinePerEpoch() {
    let written = Log<String>()
    var trainer = probeTrainer { model, _, _ in
      constantLoss(model, LearningPhase.current == .training ? 0.5 : 0.25)
    }
    trainer.metrics = [Metric("mae") { _, _, _ in 0.125 }]
    trainer.verbosity = .automatic
    trainer.outputIsTerminal = false
    trainer.output = { written.items.append($0) }
    trainer.earlyStopping = EarlyStopping(patience: 1)
    trainer.fit(indexedData(4), validation: indexedData(2), epochs: 3)
    #expect(
      written.items == [
        "epoch 1/3  loss 0.5  mae 0.125  val_loss 0.25  val_mae 0.125\n",
        "epoch 2/3  loss 0.5  mae 0.125  val_loss 0.25  val_mae 0.125\n",
        "stopped early at epoch 2: val_loss has not improved for 1 epoch (best: epoch 1)\n",
      ])

    written.items = []
    trainer.verbosity = .silent
    trainer.fit(indexedData(4), epochs: 2)
    #expect(written.items.isEmpty)
  }
}

extension TrainerTests {
  @Test func aTerminalGetsOneBarRedrawnPerEpoch() throws {
    let written = Log<String>()
    var trainer = probeTrainer { model, _, _ in constantLoss(model, 0.5) }
    trainer.outputIsTerminal = true
    trainer.verbosity = .automatic
    trainer.output = { written.items.append($0) }
    trainer.batchSize = 2
    trainer.fit(indexedData(6), epochs: 2)
    #expect(written.items.allSatisfy { $0.hasPrefix("\r") })
    let lines = written.items.filter { $0.hasSuffix("\n") }
    #expect(lines.count == 2)
    let last = try #require(lines.last)
    #expect(last.hasPrefix("\repoch 2/2 [========================] 3/3  loss 0.5  "))

    written.items = []
    trainer.verbosity = .lines
    trainer.fit(indexedData(6), epochs: 1)
    #expect(written.items == ["epoch 1/1  loss 0.5\n"])
  }
}

@Suite("TrainingHistory")
struct TrainingHistoryTests {
  private static func sample(validation: Bool) -> TrainingHistory {
    var history = TrainingHistory(
      metricNames: ["accuracy", "f1, macro"], hasValidation: validation)
    history.records = [
      EpochRecord(
        epoch: 1, loss: 0.5, metrics: [0.75, 0.1], validationLoss: validation ? 0.625 : nil,
        validationMetrics: validation ? [0.5, 1e-5] : []),
      EpochRecord(
        epoch: 2, loss: .nan, metrics: [1, 0.2], validationLoss: validation ? 0.25 : nil,
        validationMetrics: validation ? [1, 0] : []),
    ]
    return history
  }

  @Test(arguments: [
    (
      true,
      """
      epoch,loss,accuracy,"f1, macro",val_loss,val_accuracy,"val_f1, macro"
      1,0.5,0.75,0.1,0.625,0.5,1e-05
      2,nan,1.0,0.2,0.25,1.0,0.0

      """
    ),
    (
      false,
      """
      epoch,loss,accuracy,"f1, macro"
      1,0.5,0.75,0.1
      2,nan,1.0,0.2

      """
    ),
  ])
  func csvHasAHeaderAndOneRowPerEpoch(validation: Bool, expected: String) {
    let history = Self.sample(validation: validation)
    #expect(history.csv == expected)
    #expect(history.metric("accuracy") == [0.75, 1])
    #expect(history.validationMetric("accuracy") == (validation ? [0.5, 1] : nil))
  }

  @Test func writeReplacesTheFileAtomically() throws {
    let directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("tapestry-history-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("history.csv")
    try Data("old contents that are longer than the new ones\n".utf8).write(to: url)

    let history = Self.sample(validation: true)
    try history.write(to: url)
    #expect(try String(contentsOf: url, encoding: .utf8) == history.csv)
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["history.csv"])

    let missing = directory.appendingPathComponent("no/such/dir/history.csv")
    #expect(throws: TrainingHistoryError.self) { try history.write(to: missing) }
  }
}

@Suite("Trainer anomaly detection")
struct TrainerAnomalyTests {
  @Test func anomalyStopsTrainingBeforeTheUpdate() {
    // log(w − 1) at w = 0 is NaN: the loss itself is the first non-finite value.
    var trainer = probeTrainer(learningRate: 0.1) { model, _, _ in
      log(model.weight.value - 1).sum()
    }
    trainer.detectsAnomalies = true
    let history = trainer.fit(indexedData(4), epochs: 3)
    guard case .anomaly(let anomaly) = history.stopReason else {
      Issue.record("stopped with \(history.stopReason)")
      return
    }
    #expect(anomaly.op == "log" && anomaly.phase == .forward && anomaly.inputShapes == [[1]])
    #expect(history.records.isEmpty)
    #expect(trainer.model.weight.value.scalars == [0])
  }

  @Test func withoutDetectionANaNLossStopsAsBefore() {
    let trainer = probeTrainer { model, _, _ in log(model.weight.value - 1).sum() }
    #expect(trainer.fit(indexedData(4), epochs: 3).stopReason == .nonFiniteLoss)
  }
}
