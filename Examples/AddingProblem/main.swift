import Foundation
import Tapestry

// The adding problem (Le et al. 2015) at T = 100: an LSTM learns to carry two marked values
// across up to 100 steps; a plain tanh RNN, with the same budget, stays near the 0.167 baseline
// of predicting 1, because the gradient from the target fades before it reaches the markers.
// Flags: --length T, --steps N, --hidden H, --batch B, --rate R (Adam's learning rate).
// Docs/LongDependencies.md has the figures this run gave.

/// The run's settings, from the command line.
struct Settings {
  var length = 100
  var steps = 3000
  var hidden = 32
  var batch = 32
  var learningRate = 0.005
}

/// Parses `--flag value` pairs; on anything else, prints the problem and usage and exits.
func parseSettings(_ arguments: [String]) -> Settings {
  var settings = Settings()
  var remaining = arguments[...]
  func fail(_ message: String) -> Never {
    let usage = "usage: AddingProblem [--length T] [--steps N] [--hidden H] [--batch B] [--rate R]"
    FileHandle.standardError.write(Data("AddingProblem: \(message)\n\(usage)\n".utf8))
    exit(2)
  }
  while let flag = remaining.popFirst() {
    guard let text = remaining.popFirst() else { fail("\(flag) needs a value") }
    guard let value = Double(text), value > 0 else { fail("\(flag) needs a positive number") }
    if flag == "--rate" {
      settings.learningRate = value
      continue
    }
    guard let count = Int(exactly: value) else { fail("\(flag) needs a whole number") }
    switch flag {
    case "--length": settings.length = count
    case "--steps": settings.steps = count
    case "--hidden": settings.hidden = count
    case "--batch": settings.batch = count
    default: fail("unknown flag \(flag)")
    }
  }
  if settings.length < 2 { fail("--length must be at least 2") }
  return settings
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

/// Trains `model` with Adam and global-norm clipping on fresh batches, printing the test MSE
/// ten times along the way; returns the final test MSE.
func train<Cell: RecurrentCell>(
  _ name: String, _ model: LastStepRegressor<Cell>, settings: Settings,
  generator: inout SeededGenerator
) -> Float where Cell.Scalar == Float {
  let task = AddingProblem(length: settings.length)
  let test = task.batch(size: 1000, seed: 12_345, as: Float.self)
  func testMSE() -> Float {
    meanSquaredError(predicted: model(test.inputs), expected: test.targets).scalar
  }
  let optimizer = Adam<Float>(learningRate: settings.learningRate)
  let start = Date()
  for step in 1...settings.steps {
    let batch = task.batch(size: settings.batch, using: &generator, as: Float.self)
    var (_, gradients) = valueWithGradient(at: model) { model in
      meanSquaredError(predicted: model(batch.inputs), expected: batch.targets)
    }
    _ = gradients.clipGlobalNorm(to: 1)
    optimizer.update(gradients)
    if step % max(1, settings.steps / 10) == 0 {
      let seconds = Date().timeIntervalSince(start)
      print("\(name) step \(step): test MSE \(testMSE()) (\(Int(seconds)) s)")
    }
  }
  let mse = testMSE()
  print(
    "\(name): final test MSE \(mse) after \(settings.steps) steps, "
      + "\(Int(Date().timeIntervalSince(start))) s")
  return mse
}

let settings = parseSettings(Array(CommandLine.arguments.dropFirst()))
print(
  "adding problem, T = \(settings.length), hidden \(settings.hidden), batch \(settings.batch), "
    + "\(settings.steps) steps; baseline MSE \(AddingProblem.constantBaselineMSE)")
var generator = SeededGenerator(seed: 1)
let lstm = LastStepRegressor(
  cell: LSTMCell<Float>(
    inputSize: 2, hiddenSize: settings.hidden, forgetGateBias: 1, using: &generator),
  readout: Linear(inputSize: settings.hidden, outputSize: 1, using: &generator))
let lstmMSE = train("LSTM", lstm, settings: settings, generator: &generator)
let rnn = LastStepRegressor(
  cell: RNNCell<Float>(inputSize: 2, hiddenSize: settings.hidden, using: &generator),
  readout: Linear(inputSize: settings.hidden, outputSize: 1, using: &generator))
let rnnMSE = train("tanh RNN", rnn, settings: settings, generator: &generator)
print("final test MSE: LSTM \(lstmMSE), tanh RNN \(rnnMSE) (predicting 1 scores 0.167)")
