import Foundation
import Tapestry
import TapestryTestSupport
import Testing

/// Applies `reduction` to plain per-sample values, as the reference for a loss's result.
private func reference(_ losses: [Double], shape: TensorShape, _ reduction: Reduction) -> Tensor<Double> {
  switch reduction {
  case .mean: Tensor(losses.reduce(0, +) / Double(losses.count))
  case .sum: Tensor(losses.reduce(0, +))
  case .none: Tensor(shape: shape, scalars: losses)
  }
}

/// `−log softmax(row)[label]` with Foundation math, the textbook way (fine for small logits).
private func crossEntropyReference(_ row: [Double], label: Int) -> Double {
  -Foundation.log(Foundation.exp(row[label]) / row.map { Foundation.exp($0) }.reduce(0, +))
}

/// `−y log σ(x) − (1 − y) log(1 − σ(x))` with Foundation math (fine for small logits).
private func binaryCrossEntropyReference(_ x: Double, _ y: Double) -> Double {
  let sigmoid = 1 / (1 + Foundation.exp(-x))
  return -y * Foundation.log(sigmoid) - (1 - y) * Foundation.log(1 - sigmoid)
}

@Suite struct LossTests {
  @Test(arguments: Reduction.allCases)
  func meanSquaredErrorOfKnownValues(reduction: Reduction) {
    let predicted = Tensor<Double>([[1, 2], [3, 4]])
    let expected = Tensor<Double>([[0, 2], [5, 1]])
    expectClose(
      meanSquaredError(predicted: predicted, expected: expected, reduction: reduction),
      reference([1, 0, 4, 9], shape: [2, 2], reduction))
  }

  @Test(arguments: Reduction.allCases)
  func meanSquaredErrorGradientsMatchFiniteDifferences(reduction: Reduction) {
    let points = [randomTensor([3, 4], seed: 31), randomTensor([3, 4], seed: 32)]
    expectGradientsMatchFiniteDifferences(at: points) {
      meanSquaredError(predicted: $0[0], expected: $0[1], reduction: reduction)
    }
    expectSecondDerivativesMatchFiniteDifferences(at: points) {
      meanSquaredError(predicted: tanh($0[0]), expected: $0[1], reduction: reduction)
    }
  }

  @Test func meanSquaredErrorWithDifferentShapesTraps() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = meanSquaredError(
        predicted: Tensor<Double>.zeros([2, 3]), expected: Tensor<Double>.zeros([3, 2]))
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("meanSquaredError: shapes [2, 3] and [3, 2] differ"))
  }

  @Test(arguments: Reduction.allCases)
  func crossEntropyWithLabelsMatchesTheTextbookFormula(reduction: Reduction) {
    let logits = randomTensor([4, 3], in: -3..<3, seed: 33)
    let labels = [0, 2, 1, 2]
    let losses = labels.enumerated().map { sample, label in
      crossEntropyReference(
        Array(logits.scalars[(sample * 3)..<(sample * 3 + 3)]), label: label)
    }
    expectClose(
      crossEntropy(logits: logits, labels: labels, reduction: reduction),
      reference(losses, shape: [4], reduction))
  }

  @Test func crossEntropyGradientIsSoftmaxMinusOneHotOverN() {
    let logits = randomTensor([3, 4], in: -2..<2, seed: 34)
    let labels = [3, 0, 1]
    let grad = gradient(at: logits) { crossEntropy(logits: $0, labels: labels) }
    var oneHot = Tensor<Double>.zeros([3, 4])
    for (sample, label) in labels.enumerated() { oneHot[sample, label] = 1 }
    expectClose(grad, (softmax(logits) - oneHot) / 3)
  }

  @Test(arguments: Reduction.allCases)
  func crossEntropyWithLabelsGradientsMatchFiniteDifferences(reduction: Reduction) {
    let logits = randomTensor([5, 4], in: -2..<2, seed: 35)
    let labels = [1, 0, 3, 3, 2]
    expectGradientsMatchFiniteDifferences(at: [logits]) {
      crossEntropy(logits: $0[0], labels: labels, reduction: reduction)
    }
    expectSecondDerivativesMatchFiniteDifferences(at: [logits]) {
      crossEntropy(logits: $0[0], labels: labels, reduction: reduction)
    }
  }

  @Test func crossEntropyWithExtremeLogitsIsFiniteAndExactInFloat() {
    let logits = Tensor<Float>([[1000, -1000, 0], [-1000, 1000, 0]])
    let losses = crossEntropy(logits: logits, labels: [0, 2], reduction: .none)
    expectClose(losses, Tensor([0, 1000]), relativeTolerance: 1e-6)
    let grad = gradient(at: logits) { crossEntropy(logits: $0, labels: [0, 2]) }
    expectClose(grad, Tensor([[0, 0, 0], [0, 0.5, -0.5]]), absoluteTolerance: 1e-6)
    let soft = crossEntropy(logits: logits, probabilities: Tensor([[0, 0, 1], [0.5, 0.5, 0]]))
    expectClose(soft, Tensor((1000 + 1000) / 2), relativeTolerance: 1e-6)
  }

  @Test func crossEntropyWithALabelOutOfRangeTraps() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = crossEntropy(logits: Tensor<Double>.zeros([2, 3]), labels: [1, 3])
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("crossEntropy: label 3 of sample 1 is out of range 0..<3"))
  }

  @Test func crossEntropyWithTooFewLabelsTraps() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = crossEntropy(logits: Tensor<Double>.zeros([2, 3]), labels: [1])
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("crossEntropy: 1 labels for logits of shape [2, 3]"))
  }

  @Test(arguments: Reduction.allCases)
  func crossEntropyWithProbabilitiesMatchesTheTextbookFormula(reduction: Reduction) {
    let logits = randomTensor([3, 4], in: -3..<3, seed: 36)
    let raw = randomTensor([3, 4], in: 0..<1, seed: 37)
    let probabilities = raw / raw.sum(alongAxis: 1, keepingDims: true)
    let losses = (0..<3).map { sample in
      (0..<4).map { label in
        probabilities[sample, label]
          * crossEntropyReference(
            Array(logits.scalars[(sample * 4)..<(sample * 4 + 4)]), label: label)
      }.reduce(0, +)
    }
    expectClose(
      crossEntropy(logits: logits, probabilities: probabilities, reduction: reduction),
      reference(losses, shape: [3], reduction))
  }

  @Test func crossEntropyWithOneHotProbabilitiesEqualsLabels() {
    let logits = randomTensor([3, 4], seed: 38)
    let oneHot = Tensor<Double>([[0, 1, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]])
    expectClose(
      crossEntropy(logits: logits, probabilities: oneHot),
      crossEntropy(logits: logits, labels: [1, 3, 0]))
  }

  @Test func crossEntropyWithProbabilitiesGradientsMatchFiniteDifferences() {
    let points = [
      randomTensor([2, 3, 4], seed: 39), randomTensor([2, 3, 4], in: 0..<1, seed: 40),
    ]
    expectGradientsMatchFiniteDifferences(at: points) {
      crossEntropy(logits: $0[0], probabilities: $0[1], reduction: .none)
    }
    expectSecondDerivativesMatchFiniteDifferences(at: points) {
      crossEntropy(logits: $0[0], probabilities: $0[1])
    }
  }

  @Test(arguments: Reduction.allCases)
  func binaryCrossEntropyMatchesTheTextbookFormula(reduction: Reduction) {
    let logits: [Double] = [-2, 0, 3, 0.5, -0.25, 7]
    let labels: [Double] = [0, 1, 1, 0.3, 1, 0]
    let losses = zip(logits, labels).map(binaryCrossEntropyReference)
    expectClose(
      binaryCrossEntropy(
        logits: Tensor(shape: [2, 3], scalars: logits),
        labels: Tensor(shape: [2, 3], scalars: labels), reduction: reduction),
      reference(losses, shape: [2, 3], reduction), relativeTolerance: 1e-12)
  }

  @Test func binaryCrossEntropyWithExtremeLogitsIsFiniteAndExactInFloat() {
    let logits = Tensor<Float>([1000, -1000, 1000, -1000])
    let labels = Tensor<Float>([1, 0, 0, 1])
    expectClose(
      binaryCrossEntropy(logits: logits, labels: labels, reduction: .none),
      Tensor([0, 0, 1000, 1000]))
    let grad = gradient(at: logits) { binaryCrossEntropy(logits: $0, labels: labels) }
    expectClose(grad, Tensor([0, 0, 0.25, -0.25]))
    let hessianDiagonal = gradient(at: logits) {
      gradient(at: $0) { binaryCrossEntropy(logits: $0, labels: labels) }.sum()
    }
    #expect(hessianDiagonal.isFinite)
  }

  @Test(arguments: Reduction.allCases)
  func binaryCrossEntropyGradientsMatchFiniteDifferences(reduction: Reduction) {
    let points = [randomTensor([3, 4], in: -3..<3, seed: 41), randomTensor([3, 4], in: 0..<1)]
    expectGradientsMatchFiniteDifferences(at: points) {
      binaryCrossEntropy(logits: $0[0], labels: $0[1], reduction: reduction)
    }
    expectSecondDerivativesMatchFiniteDifferences(at: points) {
      binaryCrossEntropy(logits: $0[0], labels: $0[1], reduction: reduction)
    }
  }

  @Test func binaryCrossEntropyWithDifferentShapesTraps() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = binaryCrossEntropy(logits: Tensor<Float>.zeros([4]), labels: Tensor<Float>.zeros([4, 1]))
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("binaryCrossEntropy: shapes [4] and [4, 1] differ"))
  }

  @Test(arguments: Reduction.allCases)
  func huberLossOfKnownValues(reduction: Reduction) {
    // Errors 0.5 (quadratic: 0.125), −2 (linear: 2 − 0.5 = 1.5), 1 (boundary: 0.5), 0.
    let predicted = Tensor<Double>([0.5, -2, 1, 3])
    let expected = Tensor<Double>([0, 0, 0, 3])
    expectClose(
      huberLoss(predicted: predicted, expected: expected, reduction: reduction),
      reference([0.125, 1.5, 0.5, 0], shape: [4], reduction))
    // With δ = 2: 0.125, 2 (still quadratic), 0.5, 0.
    expectClose(
      huberLoss(predicted: predicted, expected: expected, delta: 2, reduction: .sum),
      Tensor(2.625))
  }

  @Test(arguments: Reduction.allCases)
  func huberLossGradientsMatchFiniteDifferencesAndCapOutliers(reduction: Reduction) {
    let predicted = randomTensor([3, 4], in: -3..<3, seed: 41)
    let expected = randomTensor([3, 4], seed: 42)
    expectGradientsMatchFiniteDifferences(at: [predicted, expected]) {
      huberLoss(predicted: $0[0], expected: $0[1], delta: 0.7, reduction: reduction)
    }
    let outlier = gradient(at: Tensor<Double>([100, -100, 0.25])) {
      huberLoss(predicted: $0, expected: Tensor.zeros([3]), delta: 1, reduction: .sum)
    }
    #expect(outlier == Tensor([1, -1, 0.25]))
  }

  @Test(arguments: Reduction.allCases)
  func negativeLogLikelihoodAfterLogSoftmaxIsCrossEntropy(reduction: Reduction) {
    let logits = randomTensor([4, 3], in: -3..<3, seed: 43)
    let labels = [2, 0, 1, 1]
    expectClose(
      negativeLogLikelihood(
        logProbabilities: logSoftmax(logits, alongAxis: 1), labels: labels, reduction: reduction),
      crossEntropy(logits: logits, labels: labels, reduction: reduction))
    expectGradientsMatchFiniteDifferences(at: [logits]) {
      negativeLogLikelihood(logProbabilities: $0[0], labels: labels, reduction: reduction)
    }
  }

  @Test func negativeLogLikelihoodWithALabelOutOfRangeTraps() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = negativeLogLikelihood(logProbabilities: Tensor<Double>.zeros([2, 3]), labels: [0, 3])
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(
      message.contains(
        "negativeLogLikelihood: label 3 of sample 1 is out of range 0..<3 for logProbabilities"))
  }
}
