import Foundation
import Tapestry
import Testing

/// A two-layer model with a named sub-layer, so names have dots.
private struct SmallModel {
  let hidden: Linear<Double>
  let output: Linear<Double>

  init(hiddenSize: Int = 4, seed: UInt64 = 1) {
    var generator = SeededGenerator(seed: seed)
    hidden = Linear(inputSize: 3, outputSize: hiddenSize, using: &generator)
    output = Linear(inputSize: hiddenSize, outputSize: 1, using: &generator)
  }

  var values: [String: Tensor<Double>] {
    Dictionary(
      uniqueKeysWithValues: namedParameters(of: self, as: Double.self).map {
        ($0.name, $0.parameter.value)
      })
  }
}

/// One gradient step of `optimizer` on a fixed regression batch.
private func trainStep<Optimizer: CheckpointableOptimizer>(
  _ model: SmallModel, _ optimizer: Optimizer
) where Optimizer.Scalar == Double {
  let x = Tensor<Double>.uniform([5, 3], in: -1..<1, seed: 3)
  let y = Tensor<Double>.uniform([5, 1], in: -1..<1, seed: 4)
  let (_, gradients) = valueWithGradient(at: model) { model in
    meanSquaredError(predicted: model.output(tanh(model.hidden(x))), expected: y)
  }
  optimizer.update(gradients)
}

private func temporaryURL() -> URL {
  FileManager.default.temporaryDirectory.appendingPathComponent(
    "tapestry-training-checkpoint-\(UUID().uuidString).safetensors")
}

/// Trains a model with a fresh optimiser from `make` for three steps, checkpoints it, restores
/// the checkpoint into a new model and a second fresh optimiser, and checks that both continue
/// identically.
private func checkRoundTrip<Optimizer: CheckpointableOptimizer>(_ make: () -> Optimizer) throws
where Optimizer.Scalar == Double {
  let (original, restored) = (make(), make())
  let model = SmallModel()
  for _ in 0..<3 { trainStep(model, original) }
  let url = temporaryURL()
  defer { try? FileManager.default.removeItem(at: url) }
  let carried = Tensor<Double>.uniform([2, 4], seed: 9)
  try TrainingCheckpoint.write(
    model: model, optimizer: original, step: 3, trainingTensors: ["state": carried],
    metadata: ["task": "regression"], to: url)

  let checkpoint = try TrainingCheckpoint.read(from: url)
  #expect(checkpoint.step == 3)
  #expect(checkpoint.metadata == ["task": "regression"])
  let copy = SmallModel(seed: 2)
  let tensors = try checkpoint.restore(
    into: copy, optimizer: restored, trainingTensorShapes: ["state": [2, 4]])
  #expect(tensors["state"] == carried)
  #expect(copy.values == model.values)
  #expect(restored.step == original.step)
  #expect(restored.savedStates(of: copy) == original.savedStates(of: model))

  trainStep(model, original)
  trainStep(copy, restored)
  #expect(copy.values == model.values, "the next update differs after a restore")
}

@Suite("training checkpoints") struct TrainingCheckpointTests {
  /// Every optimiser, with every optional piece of its state switched on.
  @Test(
    "a restored run continues exactly as the original",
    arguments: [
      "SGD with momentum", "plain SGD", "Adam with AMSGrad", "AdamW", "RMSprop", "Adagrad",
    ])
  func roundTrip(optimizer: String) throws {
    switch optimizer {
    case "SGD with momentum": try checkRoundTrip { SGD<Double>(learningRate: 0.1, momentum: 0.9) }
    case "plain SGD": try checkRoundTrip { SGD<Double>(learningRate: 0.1) }
    case "Adam with AMSGrad": try checkRoundTrip { Adam<Double>(learningRate: 0.01, amsgrad: true) }
    case "AdamW": try checkRoundTrip { AdamW<Double>(learningRate: 0.01) }
    case "RMSprop":
      try checkRoundTrip { RMSprop<Double>(learningRate: 0.01, momentum: 0.5, centered: true) }
    default: try checkRoundTrip { Adagrad<Double>(learningRate: 0.1) }
    }
  }

  @Test func aModelOfAnotherShapeIsRejectedAndLeftUnchanged() throws {
    let url = temporaryURL()
    defer { try? FileManager.default.removeItem(at: url) }
    let optimizer = Adam<Double>()
    let model = SmallModel(hiddenSize: 4)
    trainStep(model, optimizer)
    try TrainingCheckpoint.write(model: model, optimizer: optimizer, step: 1, to: url)

    let other = SmallModel(hiddenSize: 5)
    let before = other.values
    #expect(
      throws: CheckpointError.shapeMismatch(
        name: "hidden.weight", modelShape: [5, 3], fileShape: [4, 3])
    ) {
      try TrainingCheckpoint.read(from: url).restore(into: other, optimizer: Adam<Double>())
    }
    #expect(other.values == before)
  }

  @Test func anotherOptimizerIsRejected() throws {
    let url = temporaryURL()
    defer { try? FileManager.default.removeItem(at: url) }
    let model = SmallModel()
    let adam = Adam<Double>()
    trainStep(model, adam)
    try TrainingCheckpoint.write(model: model, optimizer: adam, step: 1, to: url)
    let checkpoint = try TrainingCheckpoint.read(from: url)

    #expect(
      throws: TrainingCheckpointError.optimizerMismatch(
        checkpoint: "Adam<Double>", resuming: "SGD<Double>")
    ) { try checkpoint.restore(into: SmallModel(), optimizer: SGD<Double>()) }
    // Adam's state without AMSGrad lacks the maximum AMSGrad needs.
    #expect(
      throws: OptimizerStateError.missingField(parameter: "hidden.weight", field: "max_exp_avg_sq")
    ) { try checkpoint.restore(into: SmallModel(), optimizer: Adam<Double>(amsgrad: true)) }
  }

  @Test func aStateFieldTheRuleDoesNotUseIsRejected() throws {
    let momentum = SGD<Double>(learningRate: 0.1, momentum: 0.9)
    let model = SmallModel()
    trainStep(model, momentum)
    #expect(
      throws: OptimizerStateError.unexpectedField(
        parameter: "hidden.weight", field: "momentum_buffer")
    ) {
      try SGD<Double>(learningRate: 0.1).restoreStates(momentum.savedStates(of: model), of: model)
    }
  }

  @Test func aMisshapenStateTensorIsRejected() throws {
    let model = SmallModel()
    var saved = [
      "output.bias": SavedOptimizerState<Double>(
        tensors: ["exp_avg": .zeros([1]), "exp_avg_sq": .zeros([2])], counters: ["step": 1])
    ]
    let adam = Adam<Double>()
    #expect(
      throws: OptimizerStateError.shapeMismatch(
        parameter: "output.bias", field: "exp_avg_sq", parameterShape: [1], savedShape: [2])
    ) { try adam.restoreStates(saved, of: model) }
    saved = ["decoder.bias": saved["output.bias"] ?? SavedOptimizerState()]
    #expect(throws: OptimizerStateError.unknownParameters(["decoder.bias"])) {
      try adam.restoreStates(saved, of: model)
    }
  }

  @Test func aMissingOrMisshapenTrainingTensorIsRejected() throws {
    let url = temporaryURL()
    defer { try? FileManager.default.removeItem(at: url) }
    let model = SmallModel()
    try TrainingCheckpoint.write(
      model: model, optimizer: SGD<Double>(), step: 0, trainingTensors: ["state": .zeros([2, 4])],
      to: url)
    let checkpoint = try TrainingCheckpoint.read(from: url)
    #expect(
      throws: TrainingCheckpointError.trainingTensorMismatch(
        name: "state", expectedShape: [3, 4], fileShape: [2, 4])
    ) {
      try checkpoint.restore(
        into: model, optimizer: SGD<Double>(), trainingTensorShapes: ["state": [3, 4]])
    }
    #expect(
      throws: TrainingCheckpointError.trainingTensorMismatch(
        name: "losses", expectedShape: [0], fileShape: nil)
    ) {
      try checkpoint.restore(
        into: model, optimizer: SGD<Double>(), trainingTensorShapes: ["losses": [0]])
    }
  }

  @Test func filesThatAreNotTrainingCheckpointsThrowTypedErrors() throws {
    let url = temporaryURL()
    defer { try? FileManager.default.removeItem(at: url) }
    #expect(throws: SafetensorsError.self) { try TrainingCheckpoint.read(from: url) }

    try saveParameters(of: SmallModel(), to: url, as: Double.self)
    #expect(throws: TrainingCheckpointError.notATrainingCheckpoint(path: url.path)) {
      try TrainingCheckpoint.read(from: url)
    }

    try TrainingCheckpoint.write(model: SmallModel(), optimizer: Adam<Double>(), step: 2, to: url)
    let bytes = try Data(contentsOf: url)
    try bytes.prefix(bytes.count - 3).write(to: url)
    #expect(throws: SafetensorsError.self) { try TrainingCheckpoint.read(from: url) }
  }

  @Test func reservedNamesAreRefused() {
    let url = temporaryURL()
    #expect(throws: TrainingCheckpointError.reservedName("tapestry.step")) {
      try TrainingCheckpoint.write(
        model: SmallModel(), optimizer: Adam<Double>(), step: 0,
        metadata: ["tapestry.step": "7"], to: url)
    }
    #expect(!FileManager.default.fileExists(atPath: url.path))
  }

  @Test func theWeightsLoadAsAPlainCheckpoint() throws {
    let url = temporaryURL()
    defer { try? FileManager.default.removeItem(at: url) }
    let model = SmallModel()
    let adam = Adam<Double>()
    trainStep(model, adam)
    try TrainingCheckpoint.write(
      model: model, optimizer: adam, step: 1, trainingTensors: ["losses": [0.5]], to: url)
    let copy = SmallModel(seed: 5)
    let report = try loadParameters(into: copy, from: url, as: Double.self, strict: false)
    #expect(copy.values == model.values)
    #expect(report.unexpected.contains("optimizer.hidden.weight.exp_avg"))
    #expect(report.unexpected.contains("training.losses"))
  }
}
