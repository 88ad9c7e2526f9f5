import Tapestry

// A differentiable reservoir: the reservoir's matrices stay frozen, but its leak rate α, its
// spectral scale ρ and its input scale s are unfrozen and trained by backpropagation through time
// on the same tape as any recurrent network, jointly with the readout, on NARMA-10. The reservoir
// starts from a poor setting (spectral radius 0.3: too little memory for a tenth-order task; input
// scaling 1: saturated units); validation NMSE is measured with a ridge readout refitted on the
// training series, before and after, so only the hyper-parameters differ.

let (washout, trainLength, validationLength) = (200, 2000, 2000)
let task = NARMA10.make(count: washout + trainLength + validationLength, seed: 7)
let inputs = Tensor(shape: [task.inputs.count, 1], scalars: task.inputs)
let targets = Tensor(shape: [task.targets.count, 1], scalars: task.targets)

var configuration = ReservoirConfiguration(size: 50, inputSize: 1)
configuration.spectralRadius = 0.3
configuration.leakRate = 0.9
configuration.inputScaling = 1
configuration.biasScaling = 0.1
let network = EchoStateNetwork(
  reservoir: ReservoirCell<Double>(configuration, seed: 3), outputSize: 1)

/// Refits the readout of `network` by ridge on the training series and returns the validation
/// NMSE.
func validationNMSE(_ network: EchoStateNetwork<Double>) -> Double {
  let trainEnd = washout + trainLength
  let harvested = network.fit(
    inputs: inputs.slice(alongAxis: 0, 0..<trainEnd),
    targets: targets.slice(alongAxis: 0, 0..<trainEnd), washout: washout, ridge: 1e-8)
  let validation = network.reservoir.harvest(
    inputs.slice(alongAxis: 0, trainEnd..<inputs.shape[0]), initialState: harvested.finalState)
  return normalizedMeanSquaredError(
    network(validation.states), targets.slice(alongAxis: 0, trainEnd..<targets.shape[0]))
}

/// α, ρ and s of the reservoir of `network`.
func describeHyperParameters(_ network: EchoStateNetwork<Double>) -> String {
  let r = network.reservoir
  return "α \(r.leakRate.value.scalar), ρ \(r.spectralScale.value.scalar), "
    + "s \(r.inputScale.value.scalar)"
}

let before = validationNMSE(network)
print("untrained: validation NMSE \(before) (\(describeHyperParameters(network)))")

for parameter in [
  network.reservoir.leakRate, network.reservoir.spectralScale, network.reservoir.inputScale,
] {
  parameter.isFrozen = false
}
print("trainable: \(trainableParameters(of: network, as: Double.self).map(\.name))")

// Chunks of 80 steps from the training series, batch of 16; the first 20 steps of each chunk
// only warm the state up and are not scored.
let (chunk, warmup, batchSize) = (80, 20, 16)
let optimizer = Adam<Double>(learningRate: 0.01)
var generator = SeededGenerator(seed: 11)
for step in 1...300 {
  let starts = (0..<batchSize).map { _ in
    washout + generator.nextInt(below: trainLength - chunk)
  }
  let batchInputs = stack(
    starts.map { inputs.slice(alongAxis: 0, $0..<($0 + chunk)) }, alongAxis: 1)
  let batchTargets = stack(
    starts.map { targets.slice(alongAxis: 0, ($0 + warmup)..<($0 + chunk)) }, alongAxis: 1)
  let (loss, gradients) = valueWithGradient(at: network) { model in
    let states = unroll(model.reservoir, inputs: batchInputs).outputs
    let scored = states.slice(alongAxis: 0, warmup..<chunk)
    return meanSquaredError(predicted: model(scored), expected: batchTargets)
  }
  optimizer.update(gradients)
  // α must stay in (0, 1]: project back after the step.
  let leak = network.reservoir.leakRate
  leak.value = Tensor(Swift.min(1, Swift.max(0.01, leak.value.scalar)))
  if step % 50 == 0 {
    print("step \(step): training MSE \(loss.scalar) (\(describeHyperParameters(network)))")
  }
}

let after = validationNMSE(network)
print("trained: validation NMSE \(after) (\(describeHyperParameters(network)))")
print("improvement: \(before / after)×")
