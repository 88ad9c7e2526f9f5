import Tapestry

// Classify the two interleaving half circles of `TensorDataset.twoMoons` with a small MLP
// (Linear–tanh–Linear, one logit per point, binary cross-entropy): first with the optional
// `Trainer`, then with the hand-written loop it stands for.

/// The fraction of points whose logit is on the side of their 0/1 label.
func accuracy(logits: Tensor<Float>, labels: Tensor<Float>) -> Double {
  let hits = zip(logits.scalars, labels.scalars).filter { ($0 > 0) == ($1 > 0.5) }.count
  return Double(hits) / Double(labels.count)
}

/// Two inputs, 16 tanh units, one logit; the same initial weights for the same seed.
func makeClassifier(seed: UInt64) -> Sequential<Float> {
  var generator = SeededGenerator(seed: seed)
  return Sequential {
    Linear<Float>(inputSize: 2, outputSize: 16, using: &generator)
    Activation<Float>.tanh
    Linear<Float>(inputSize: 16, outputSize: 1, using: &generator)
  }
}

let train = TensorDataset<Float>.twoMoons(samples: 200, noise: 0.1, seed: 1)
let test = TensorDataset<Float>.twoMoons(samples: 100, noise: 0.1, seed: 2)
let (epochs, batchSize, learningRate) = (30, 16, 0.03)

// 1. With the training helper: shuffled batches, metrics, validation, early stopping.
let model = makeClassifier(seed: 0)
var trainer = Trainer(model: model, optimizer: Adam<Float>(learningRate: learningRate)) {
  model, inputs, labels in
  binaryCrossEntropy(logits: model(inputs), labels: labels)
}
trainer.batchSize = batchSize
trainer.metrics = [
  Metric("accuracy") { model, inputs, labels in accuracy(logits: model(inputs), labels: labels) }
]
trainer.earlyStopping = EarlyStopping(patience: 10, minDelta: 1e-4)
let history = trainer.fit(train, validation: test, epochs: epochs)
let helperAccuracy = accuracy(logits: model(test.inputs), labels: test.targets)
print("Trainer: test accuracy \(helperAccuracy) after \(history.records.count) epochs")

// 2. The same model trained by hand: the loop the helper runs, in a few lines.
let handModel = makeClassifier(seed: 0)
let optimizer = Adam<Float>(learningRate: learningRate)
var generator = SeededGenerator(seed: 0)
for _ in 0..<epochs {
  for indices in train.batchIndices(size: batchSize, shuffledWith: &generator) {
    let batch = train.samples(at: indices)
    let (_, gradients) = valueWithGradient(at: handModel) { model in
      binaryCrossEntropy(logits: model(batch.inputs), labels: batch.targets)
    }
    optimizer.update(gradients)
  }
}
let handAccuracy = accuracy(logits: handModel(test.inputs), labels: test.targets)
print("hand-written loop: test accuracy \(handAccuracy)")
