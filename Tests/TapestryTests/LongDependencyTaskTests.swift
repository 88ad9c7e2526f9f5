import Foundation
import Tapestry
import TapestryTestSupport
import Testing

/// An LSTM read out by a linear layer on its last output: the adding-problem model, small.
private struct LastStepRegressor {
  let cell: LSTMCell<Float>
  let readout: Linear<Float>

  func callAsFunction(_ inputs: Tensor<Float>) -> Tensor<Float> {
    let outputs = unroll(cell, inputs: inputs).outputs
    return readout(outputs.select(outputs.shape[0] - 1, alongAxis: 0))
  }
}

@Suite("Long-dependency tasks")
struct LongDependencyTaskTests {
  @Test("adding problem: shapes, two markers per sequence, one in each half, target their sum")
  func addingLayout() {
    let task = AddingProblem(length: 9)
    let (inputs, targets) = task.batch(size: 50, seed: 3, as: Double.self)
    #expect(inputs.shape == [9, 50, 2])
    #expect(targets.shape == [50, 1])
    for sample in 0..<50 {
      let markers = (0..<9).filter { inputs.scalars[($0 * 50 + sample) * 2 + 1] == 1 }
      #expect(markers.count == 2)
      #expect(markers[0] < 4 && markers[1] >= 4)
      let sum = markers.map { inputs.scalars[($0 * 50 + sample) * 2] }.reduce(0, +)
      expectClose(targets.scalars[sample], sum)
    }
    let markerValues = Set(stride(from: 1, to: inputs.count, by: 2).map { inputs.scalars[$0] })
    #expect(markerValues == [0, 1])
    #expect(
      inputs.scalars.enumerated().allSatisfy { $0.offset % 2 == 1 || (0..<1).contains($0.element) })
  }

  @Test("adding problem: predicting 1 scores an MSE of about 1/6")
  func addingBaseline() {
    let (_, targets) = AddingProblem(length: 4).batch(size: 20_000, seed: 1, as: Double.self)
    let mse = meanSquaredError(predicted: Tensor.filled([20_000, 1], with: 1), expected: targets)
    // The squared error has standard deviation about 0.19, so 20,000 samples pin the mean to
    // within 0.0015 (one standard error); 0.006 is four of them.
    #expect(abs(mse.scalar - AddingProblem.constantBaselineMSE) < 0.006)
  }

  @Test("adding problem: the same seed gives the same batch, another seed another")
  func addingSeeded() {
    let task = AddingProblem(length: 6)
    let a = task.batch(size: 4, seed: 7, as: Float.self)
    let b = task.batch(size: 4, seed: 7, as: Float.self)
    let c = task.batch(size: 4, seed: 8, as: Float.self)
    #expect(a.inputs.scalars == b.inputs.scalars && a.targets.scalars == b.targets.scalars)
    #expect(a.inputs.scalars != c.inputs.scalars)
  }

  @Test("copy memory: symbols, blanks, delimiter and targets where Arjovsky et al. put them")
  func copyLayout() {
    let task = CopyMemoryTask(delay: 5)
    #expect(task.length == 25)
    let (inputs, labels) = task.batch(size: 3, seed: 2, as: Double.self)
    #expect(inputs.shape == [25, 3, 10])
    #expect(labels.count == 25 * 3)
    for sample in 0..<3 {
      let categories = (0..<25).map { step -> Int in
        let row = Array(
          inputs.scalars[((step * 3 + sample) * 10)..<((step * 3 + sample) * 10 + 10)])
        #expect(row.reduce(0, +) == 1)
        return row.firstIndex(of: 1) ?? -1
      }
      let symbols = Array(categories[0..<10])
      #expect(symbols.allSatisfy { (1...8).contains($0) })
      #expect(categories[10..<14].allSatisfy { $0 == CopyMemoryTask.blank })
      #expect(categories[14] == CopyMemoryTask.delimiter)
      #expect(categories[15..<25].allSatisfy { $0 == CopyMemoryTask.blank })
      let targets = (0..<25).map { labels[$0 * 3 + sample] }
      #expect(targets[0..<15].allSatisfy { $0 == CopyMemoryTask.blank })
      #expect(Array(targets[15..<25]) == symbols)
    }
  }

  @Test("copy memory: the memoryless strategy scores 10·log 8 / (T + 20)")
  func copyBaseline() {
    let task = CopyMemoryTask(delay: 30)
    expectClose(task.memorylessBaselineCrossEntropy, 10 * log(8) / 50)
    // Blanks for certain, then a uniform guess over the symbols: its actual cross-entropy.
    let (_, labels) = task.batch(size: 2, seed: 4, as: Double.self)
    var logits = [Double](repeating: -1e9, count: labels.count * 10)
    for row in 0..<labels.count {
      if row / 2 < task.length - 10 {
        logits[row * 10] = 0
      } else {
        for symbol in 1...8 { logits[row * 10 + symbol] = 0 }
      }
    }
    let loss = crossEntropy(
      logits: Tensor(shape: [labels.count, 10], scalars: logits), labels: labels)
    expectClose(loss.scalar, task.memorylessBaselineCrossEntropy, relativeTolerance: 1e-12)
  }

  // Debug builds run the SIMD kernels unspecialised, about 200 times slower than release, so
  // this run is kept tiny: T = 5, 8 units, 80 steps (0.1 s in release).
  @Test("a small LSTM learns the adding problem at T = 5 well below the 0.167 baseline")
  func lstmLearnsAdding() {
    let task = AddingProblem(length: 5)
    var generator = SeededGenerator(seed: 5)
    let model = LastStepRegressor(
      cell: LSTMCell(inputSize: 2, hiddenSize: 8, forgetGateBias: 1, using: &generator),
      readout: Linear(inputSize: 8, outputSize: 1, using: &generator))
    let optimizer = Adam<Float>(learningRate: 0.03)
    for _ in 0..<80 {
      let batch = task.batch(size: 32, using: &generator, as: Float.self)
      var (_, gradients) = valueWithGradient(at: model) { model in
        meanSquaredError(predicted: model(batch.inputs), expected: batch.targets)
      }
      _ = gradients.clipGlobalNorm(to: 1)
      optimizer.update(gradients)
    }
    let test = task.batch(size: 500, seed: 99, as: Float.self)
    let mse = meanSquaredError(predicted: model(test.inputs), expected: test.targets).scalar
    #expect(mse < 0.08, "test MSE \(mse), baseline \(AddingProblem.constantBaselineMSE)")
  }
}
