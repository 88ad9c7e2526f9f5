import Tapestry

// Build your own recurrent cell: the minimal gated unit of Zhou et al. (2016), written from two
// `Linear` layers and a few ops. Conforming to `RecurrentCell` is all it takes for `unroll`,
// parameter discovery, optimisers and backpropagation through time to work. See
// Docs/CustomCells.md.

/// The minimal gated unit (Zhou et al. 2016): a single forget gate f both chooses what the
/// candidate sees of the old state and how much of the old state it replaces.
///
///     f = σ(W_f [h, x] + b_f)
///     h̃ = tanh(W_h [f ⊙ h, x] + b_h)
///     h′ = (1 − f) ⊙ h + f ⊙ h̃
///
/// Input `[B, inputSize]`; state and output `[B, hiddenSize]`.
struct MinimalGatedUnit<Scalar: TensorScalar>: RecurrentCell {
  let forget: Linear<Scalar>
  let candidate: Linear<Scalar>
  let inputSize: Int
  let hiddenSize: Int

  init(inputSize: Int, hiddenSize: Int, using generator: inout SeededGenerator) {
    // Each layer reads [h, x] concatenated: one matrix instead of separate W and U.
    let joined = hiddenSize + inputSize
    forget = Linear(inputSize: joined, outputSize: hiddenSize, using: &generator)
    candidate = Linear(inputSize: joined, outputSize: hiddenSize, using: &generator)
    self.inputSize = inputSize
    self.hiddenSize = hiddenSize
  }

  func zeroState(batchSize: Int) -> Tensor<Scalar> { Tensor.zeros([batchSize, hiddenSize]) }

  func callAsFunction(_ x: Tensor<Scalar>, _ h: Tensor<Scalar>)
    -> (output: Tensor<Scalar>, state: Tensor<Scalar>)
  {
    checkInput(x)
    checkState(h, named: "state", batchSize: x.shape[0])
    let f = sigmoid(forget(concatenate([h, x], alongAxis: 1)))
    let proposal = tanh(candidate(concatenate([f * h, x], alongAxis: 1)))
    let next = (1 - f) * h + f * proposal
    return (next, next)
  }
}

/// A cell run over the sequence, read out by a linear layer on its last output.
struct LastStepRegressor<Cell: RecurrentCell> {
  let cell: Cell
  let readout: Linear<Cell.Scalar>

  func callAsFunction(_ inputs: Tensor<Cell.Scalar>) -> Tensor<Cell.Scalar> {
    let outputs = unroll(cell, inputs: inputs).outputs
    return readout(outputs.select(outputs.shape[0] - 1, alongAxis: 0))
  }
}

// 1. The parameters are found by reflection and named after the properties.
var generator = SeededGenerator(seed: 1)
let model = LastStepRegressor(
  cell: MinimalGatedUnit<Float>(inputSize: 2, hiddenSize: 16, using: &generator),
  readout: Linear(inputSize: 16, outputSize: 1, using: &generator))
for named in namedParameters(of: model, as: Float.self) {
  print("\(named.name): \(named.parameter.shape)")
}

// 2. The tape's gradients through time agree with finite differences (in Double).
var checkGenerator = SeededGenerator(seed: 2)
let small = MinimalGatedUnit<Double>(inputSize: 2, hiddenSize: 3, using: &checkGenerator)
let parameters = namedParameters(of: small, as: Double.self).map(\.parameter)
let originals = parameters.map(\.value)
let sequence = AddingProblem(length: 5).batch(size: 2, seed: 3, as: Double.self).inputs
let report = checkGradients(at: originals) { values in
  for (parameter, value) in zip(parameters, values) { parameter.value = value }
  return unroll(small, inputs: sequence).outputs.squared().sum()
}
for (parameter, original) in zip(parameters, originals) { parameter.value = original }
print("\(report) (passes: \(report.passes()))")

// 3. Train on the adding problem at T = 20 with Adam; BPTT comes from the tape.
let task = AddingProblem(length: 20)
let test = task.batch(size: 1000, seed: 100, as: Float.self)
let optimizer = Adam<Float>(learningRate: 0.01)
for step in 0...600 {
  if step % 100 == 0 {
    let mse = meanSquaredError(predicted: model(test.inputs), expected: test.targets).scalar
    print("step \(step): test MSE \(mse) (baseline \(AddingProblem.constantBaselineMSE))")
  }
  let batch = task.batch(size: 32, using: &generator, as: Float.self)
  var (_, gradients) = valueWithGradient(at: model) { model in
    meanSquaredError(predicted: model(batch.inputs), expected: batch.targets)
  }
  _ = gradients.clipGlobalNorm(to: 1)
  optimizer.update(gradients)
}
