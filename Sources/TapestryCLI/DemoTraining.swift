// The training runs of the demo's report: the adding problem with a cell and a linear readout,
// recording everything the figures need (losses, test error, gradient flow, spectral radius) as
// it goes, and a delayed-echo stream for truncated against full backpropagation through time.

import Tapestry

/// A cell run over the sequence and read out by a linear layer on its last output.
struct LastStepRegressor<Cell: RecurrentCell> {
  let cell: Cell
  let readout: Linear<Cell.Scalar>

  /// The prediction `[B, 1]` for `inputs` `[T, B, inputSize]`; with `probed`, every state is
  /// probed so a listening recorder reads ‖∂L/∂h_t‖.
  func callAsFunction(_ inputs: Tensor<Cell.Scalar>, probed: Bool = false) -> Tensor<Cell.Scalar>
  where Cell.State: ProbedState, Cell.State.Scalar == Cell.Scalar {
    let sequence = unroll(cell, inputs: inputs)
    if probed { probeStates(of: sequence) }
    return readout(sequence.outputs.select(sequence.outputs.shape[0] - 1, alongAxis: 0))
  }
}

/// What a training run on the adding problem recorded.
struct AddingRun {
  /// The batch loss of every iteration (NaN where it was not finite and the update skipped).
  var losses: [Double] = []
  /// The iterations at which the test error was measured, and the errors.
  var testIterations: [Double] = []
  var testErrors: [Double] = []
  /// The iterations at which ‖∂L/∂h_t‖ was kept, and the norms (one row of T per iteration).
  var flowIterations: [Double] = []
  var flows: [[Double]] = []
  /// The spectral radius of `cell.weight_hh` after every iteration.
  var spectralRadii: [Double] = []

  /// The last test error.
  var finalTestError: Double { testErrors.last ?? .nan }

  /// The losses averaged over windows of `window` iterations (NaN if any in the window was):
  /// the x and y of a readable loss curve.
  func smoothedLosses(window: Int) -> (x: [Double], y: [Double]) {
    let starts = Array(stride(from: 0, to: losses.count, by: window))
    let means = starts.map { start -> Double in
      let slice = losses[start..<Swift.min(start + window, losses.count)]
      return slice.reduce(0, +) / Double(slice.count)
    }
    return (starts.map { Double(Swift.min($0 + window, losses.count)) }, means)
  }
}

/// How to train on the adding problem.
struct AddingTraining {
  var length: Int
  var iterations: Int
  var batchSize = 32
  /// Clip the global gradient norm to this before each update, or not at all.
  var clipNorm: Float? = 1
  /// The weight λ of an L2 penalty λ Σ W_hh² on the recurrent weight, or none.
  var recurrentPenalty: Float?
  /// Measure the test error every this many iterations.
  var testEvery = 25
  /// Keep ‖∂L/∂h_t‖ every this many iterations (it is measured on every one).
  var flowEvery = 10
  /// Whether to diagnose `cell.weight_hh` after every iteration (an eigenvalue problem each).
  var tracksSpectralRadius = false
  var seed: UInt64 = 1

  /// Trains `model` in place with `optimizer` on fresh batches and returns what it recorded.
  func run<Cell: RecurrentCell, Opt: Optimizer>(
    _ model: LastStepRegressor<Cell>, optimizer: Opt, label: String
  ) -> AddingRun
  where
    Cell.Scalar == Float, Opt.Scalar == Float, Cell.State: ProbedState,
    Cell.State.Scalar == Float
  {
    let task = AddingProblem(length: length)
    let test = task.batch(size: 256, seed: 12_345, as: Float.self)
    var generator = SeededGenerator(seed: seed)
    let recurrent =
      tracksSpectralRadius
      ? namedParameters(of: model, as: Float.self).first { $0.name == "cell.weight_hh" }?.parameter
      : nil
    var run = AddingRun()
    var progress = Progress(label, total: iterations)
    func measureTest(at iteration: Int) {
      let error = withoutRecording {
        meanSquaredError(predicted: model(test.inputs), expected: test.targets).scalar
      }
      run.testIterations.append(Double(iteration))
      run.testErrors.append(Double(error))
    }
    measureTest(at: 0)
    for iteration in 1...iterations {
      let batch = task.batch(size: batchSize, using: &generator, as: Float.self)
      var (value, gradients, flow) = valueWithGradientFlow(at: model) { model in
        let error = meanSquaredError(
          predicted: model(batch.inputs, probed: true), expected: batch.targets)
        guard let recurrentPenalty else { return error }
        return error + l2Penalty(of: model, weight: recurrentPenalty, only: ["cell.weight_hh"])
      }
      let loss = Double(value.scalar)
      if loss.isFinite {
        if let clipNorm { _ = gradients.clipGlobalNorm(to: clipNorm) }
        optimizer.update(gradients)
      }
      run.losses.append(loss.isFinite ? loss : .nan)
      if iteration % flowEvery == 0 || iteration == 1 {
        run.flowIterations.append(Double(iteration))
        run.flows.append(flow.hidden)
      }
      if let recurrent, recurrent.value.isFinite {
        run.spectralRadii.append(RecurrentWeightDiagnosis(of: recurrent.value).spectralRadius)
      }
      if iteration % testEvery == 0 || iteration == iterations { measureTest(at: iteration) }
      progress.update(iteration, detail: String(format: "loss %.4f", loss))
    }
    progress.finish(String(format: "test MSE %.4f", run.finalTestError))
    return run
  }
}

/// The delayed-echo stream: the target at step t is the input at step t − `delay` (0 before),
/// so a model must remember `delay` steps, and can only learn to if its gradient reaches that
/// far back.
struct DelayedEcho {
  var delay: Int
  var length: Int
  var batchSize = 16

  /// A batch of streams: inputs `[length, B, 1]` from U(−1, 1) and targets `[length, B, 1]`.
  func batch(using generator: inout SeededGenerator) -> (
    inputs: Tensor<Float>, targets: Tensor<Float>
  ) {
    let inputs = Tensor<Float>.uniform([length, batchSize, 1], in: -1..<1, using: &generator)
    let padding = Tensor<Float>.zeros([delay, batchSize, 1])
    let targets = concatenate(
      [padding, inputs.slice(alongAxis: 0, 0..<(length - delay))], alongAxis: 0)
    return (inputs, targets)
  }
}

/// A cell whose every output is read out by a linear layer: a sequence-to-sequence regressor.
struct StepRegressor {
  let cell: LSTMCell<Float>
  let readout: Linear<Float>
}

/// Trains a fresh LSTM of `hidden` units on the delayed echo with truncated BPTT windows of `k`
/// steps (`k` equal to the stream length is full BPTT) and returns the mean loss of each batch.
func trainDelayedEcho(
  _ task: DelayedEcho, k: Int, hidden: Int, batches: Int, label: String, seed: UInt64
) -> [Double] {
  var generator = SeededGenerator(seed: seed)
  let model = StepRegressor(
    cell: LSTMCell(inputSize: 1, hiddenSize: hidden, forgetGateBias: 1, using: &generator),
    readout: Linear(inputSize: hidden, outputSize: 1, using: &generator))
  let optimizer = Adam<Float>(learningRate: 0.01)
  let schedule = TruncatedBPTT(k1: k)
  var losses: [Double] = []
  var progress = Progress(label, total: batches)
  for number in 1...batches {
    let batch = task.batch(using: &generator)
    var sum = 0.0
    var chunks = 0
    _ = schedule.train(
      model, inputs: batch.inputs, targets: batch.targets,
      from: TruncatedBPTT.Carry(model.cell.zeroState(batchSize: task.batchSize)),
      step: { model, input, state in
        let step = model.cell(input, state)
        return (model.readout(step.output), step.state)
      },
      loss: { meanSquaredError(predicted: $0, expected: $1) },
      update: { update in
        var gradients = update.gradients
        _ = gradients.clipGlobalNorm(to: 1)
        optimizer.update(gradients)
        sum += Double(update.loss)
        chunks += 1
      })
    losses.append(sum / Double(Swift.max(chunks, 1)))
    progress.update(number, detail: String(format: "loss %.4f", losses.last ?? .nan))
  }
  progress.finish(String(format: "final loss %.4f", losses.suffix(10).reduce(0, +) / 10))
  return losses
}
