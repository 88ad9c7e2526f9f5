import Tapestry

// Fit y = sin(3x) + noise (`TensorDataset.sineRegression`) with an MLP and Adam on shuffled
// mini-batches, first with a hand-written loop, then with the optional `Trainer`. The noise has
// standard deviation 0.1, so the best reachable mean squared error is about 0.01.

/// One input, 16 tanh units, one output; the same initial weights for the same seed.
func makeRegressor(seed: UInt64) -> Sequential<Float> {
  var generator = SeededGenerator(seed: seed)
  return Sequential {
    Linear<Float>(inputSize: 1, outputSize: 16, using: &generator)
    Activation<Float>.tanh
    Linear<Float>(inputSize: 16, outputSize: 1, using: &generator)
  }
}

/// The mean squared error of `model` on `data`.
func meanSquaredError(of model: Sequential<Float>, on data: TensorDataset<Float>) -> Float {
  meanSquaredError(predicted: model(data.inputs), expected: data.targets).scalar
}

let train = TensorDataset<Float>.sineRegression(samples: 128, noise: 0.1, seed: 1)
let test = TensorDataset<Float>.sineRegression(samples: 128, noise: 0.1, seed: 2)
let (epochs, batchSize, learningRate) = (60, 16, 0.02)

// 1. By hand: shuffle, cut into batches, step.
let handModel = makeRegressor(seed: 0)
let optimizer = Adam<Float>(learningRate: learningRate)
var generator = SeededGenerator(seed: 0)
for epoch in 1...epochs {
  var total: Float = 0
  for indices in train.batchIndices(size: batchSize, shuffledWith: &generator) {
    let batch = train.samples(at: indices)
    let (loss, gradients) = valueWithGradient(at: handModel) { model in
      meanSquaredError(predicted: model(batch.inputs), expected: batch.targets)
    }
    optimizer.update(gradients)
    total += loss.scalar * Float(indices.count)
  }
  if epoch % 20 == 0 { print("epoch \(epoch): training MSE \(total / Float(train.count))") }
}
print("hand-written loop: test MSE \(meanSquaredError(of: handModel, on: test))")

// 2. With the helper (the same loop), reporting every 20 epochs through a callback.
let model = makeRegressor(seed: 0)
var trainer = Trainer(model: model, optimizer: Adam<Float>(learningRate: learningRate)) {
  model, inputs, targets in
  meanSquaredError(predicted: model(inputs), expected: targets)
}
trainer.batchSize = batchSize
trainer.verbosity = .silent
trainer.callbacks = [
  { history in
    if let last = history.records.last, last.epoch % 20 == 0 {
      print("epoch \(last.epoch): training MSE \(last.loss)")
    }
    return .proceed
  }
]
trainer.fit(train, epochs: epochs)
print("Trainer: test MSE \(meanSquaredError(of: model, on: test))")
