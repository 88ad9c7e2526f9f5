import Foundation
import Tapestry
import TapestryTestSupport
import Testing

/// A reduction to test: an input shape, the axes to reduce, and whether they are kept.
struct AxesCase: Sendable, CustomTestStringConvertible {
  let shape: TensorShape
  let axes: [Int]
  let keepingDims: Bool

  var testDescription: String { "\(shape) axes \(axes) keepingDims \(keepingDims)" }
}

private let axesCases: [AxesCase] = [
  AxesCase(shape: [5], axes: [0], keepingDims: false),
  AxesCase(shape: [3, 4], axes: [1], keepingDims: true),
  AxesCase(shape: [3, 4], axes: [0], keepingDims: false),
  AxesCase(shape: [2, 3, 4], axes: [1], keepingDims: true),
  AxesCase(shape: [2, 3, 4], axes: [0, 2], keepingDims: false),
  AxesCase(shape: [2, 3, 4], axes: [-1, -2], keepingDims: true),
  AxesCase(shape: [2, 3, 4], axes: [0, 1, 2], keepingDims: false),
  // Longer than a vector in both layouts, so the vector loops of the kernel run too.
  AxesCase(shape: [2, 3, 19], axes: [-1], keepingDims: false),
  AxesCase(shape: [2, 19, 11], axes: [1], keepingDims: true),
]

/// Reduces `x` over `axes` element by element: the slow, obviously correct reference.
private func naiveReduction(
  _ x: Tensor<Double>, axes: [Int], keepingDims: Bool, initial: Double,
  _ combine: (Double, Double) -> Double
) -> Tensor<Double> {
  let axes = Set(axes.map { $0 < 0 ? $0 + x.rank : $0 })
  let kept = x.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
  var result = [Double](repeating: initial, count: kept.reduce(1, *))
  for flat in 0..<x.count {
    var remainder = flat
    var target = 0
    var step = 1
    for axis in stride(from: x.rank - 1, through: 0, by: -1) {
      let index = remainder % x.shape[axis]
      remainder /= x.shape[axis]
      if !axes.contains(axis) { target += index * step }
      step *= kept[axis]
    }
    result[target] = combine(result[target], x.scalars[flat])
  }
  let shape =
    keepingDims
    ? kept
    : x.shape.enumerated().filter { !axes.contains($0.offset) }
      .map(\.element)
  return Tensor(shape: TensorShape(shape), scalars: result)
}

@Suite struct ReductionOpTests {
  @Test func wholeTensorReductionsOfAKnownMatrix() {
    let x = Tensor<Double>([[1, -2, 3], [4, 5, -6]])
    expectClose(x.mean(), Tensor(5.0 / 6))
    #expect(x.max() == Tensor(5.0))
    #expect(x.min() == Tensor(-6.0))
    #expect(x.mean(alongAxis: 0) == Tensor([2.5, 1.5, -1.5]))
    #expect(x.mean(alongAxis: -1, keepingDims: true) == Tensor([[2.0 / 3], [1]]))
    #expect(x.max(alongAxis: 1) == Tensor([3, 5]))
    #expect(x.min(alongAxis: 0, keepingDims: true) == Tensor([[1, -2, -6]]))
  }

  @Test(arguments: axesCases)
  func forwardMatchesElementByElementReference(_ c: AxesCase) {
    let x = randomTensor(c.shape, seed: 7)
    let count = Double(c.axes.reduce(1) { $0 * c.shape[$1 < 0 ? $1 + c.shape.count : $1] })
    let sum = naiveReduction(x, axes: c.axes, keepingDims: c.keepingDims, initial: 0, +)
    expectClose(x.mean(alongAxes: c.axes, keepingDims: c.keepingDims), sum / count)
    expectClose(
      x.max(alongAxes: c.axes, keepingDims: c.keepingDims),
      naiveReduction(x, axes: c.axes, keepingDims: c.keepingDims, initial: -.infinity, Swift.max))
    expectClose(
      x.min(alongAxes: c.axes, keepingDims: c.keepingDims),
      naiveReduction(x, axes: c.axes, keepingDims: c.keepingDims, initial: .infinity, Swift.min))
  }

  @Test(arguments: axesCases)
  func gradientsMatchFiniteDifferences(_ c: AxesCase) {
    let x = randomTensor(c.shape, seed: 11)
    expectGradientsMatchFiniteDifferences(at: [x]) {
      $0[0].mean(alongAxes: c.axes, keepingDims: c.keepingDims)
    }
    expectGradientsMatchFiniteDifferences(at: [x]) {
      $0[0].max(alongAxes: c.axes, keepingDims: c.keepingDims)
    }
    expectGradientsMatchFiniteDifferences(at: [x]) {
      $0[0].min(alongAxes: c.axes, keepingDims: c.keepingDims)
    }
  }

  @Test func wholeTensorGradientsMatchFiniteDifferences() {
    let x = randomTensor([2, 3, 4], seed: 12)
    expectGradientsMatchFiniteDifferences(at: [x]) { $0[0].mean() }
    expectGradientsMatchFiniteDifferences(at: [x]) { $0[0].max() }
    expectGradientsMatchFiniteDifferences(at: [x]) { $0[0].min() }
  }

  @Test func secondDerivativesMatchFiniteDifferences() {
    let x = randomTensor([2, 3, 4], seed: 13)
    expectSecondDerivativesMatchFiniteDifferences(at: [x]) {
      let squared = $0[0] * $0[0]
      return squared.mean(alongAxes: [0, 2], keepingDims: true) * squared.mean()
    }
    expectSecondDerivativesMatchFiniteDifferences(at: [x]) {
      ($0[0] * $0[0]).max(alongAxis: 1) + tanh($0[0]).min(alongAxes: [-2])
    }
  }

  @Test func maxSplitsTheGradientEvenlyAmongTies() {
    let x = Tensor<Double>([[1, 3, 3], [2, 2, 2], [0, 5, -1]])
    let rows = gradient(at: x) { $0.max(alongAxis: 1).sum() }
    expectClose(rows, Tensor([[0, 0.5, 0.5], [1.0 / 3, 1.0 / 3, 1.0 / 3], [0, 1, 0]]))
    let whole = gradient(at: Tensor<Double>([4, 1, 4, 4])) { $0.max() * 6 }
    expectClose(whole, Tensor([2, 0, 2, 2]))
  }

  @Test func minSplitsTheGradientEvenlyAmongTies() {
    let x = Tensor<Double>([[1, -3, -3, 0], [7, 7, 8, 9]])
    let columns = gradient(at: x) { $0.min(alongAxes: [1], keepingDims: true).sum() }
    expectClose(columns, Tensor([[0, 0.5, 0.5, 0], [0.5, 0.5, 0, 0]]))
  }

  @Test func extremaOfInfiniteValues() {
    let x = Tensor<Float>([-.infinity, 2, .infinity])
    #expect(x.max().scalar == .infinity)
    #expect(x.min().scalar == -.infinity)
    #expect(Tensor<Float>(repeating: -.infinity, shape: [3]).max().scalar == -.infinity)
  }

  /// A Float sum of 1.6M positive values (the size of W1 L's loss) stays within a few Float
  /// roundings of the exact sum: summed in one set of vector lanes, it was 1.5e-5 off.
  @Test(arguments: [1_600_000, 100_003])
  func longFloatSumsArePairwiseAccurate(count: Int) {
    var generator = SeededGenerator(seed: 11)
    let values = (0..<count).map { _ in Float.random(in: 0..<1, using: &generator) }
    let exact = values.reduce(0.0) { $0 + Double($1) }
    let sum = Double(Tensor(values).sum().scalars[0])
    let mean = Double(Tensor(values).mean().scalars[0])
    #expect(abs(sum - exact) / exact < 1e-6)
    #expect(abs(mean - exact / Double(count)) / (exact / Double(count)) < 1e-6)
  }

  @Test func maxWithABadAxisTraps() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = Tensor<Double>.zeros([2, 3]).max(alongAxis: 2)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("max: axis 2 is out of range for shape [2, 3]"))
  }
}

@Suite struct SoftmaxOpTests {
  @Test func softmaxOfAKnownRowMatchesTheFormula() {
    let row = [1.0, 2, 3, -0.5]
    let total = row.map { Foundation.exp($0) }.reduce(0, +)
    let x = Tensor<Double>(row)
    expectClose(softmax(x), Tensor(row.map { Foundation.exp($0) / total }))
    expectClose(logSoftmax(x), Tensor(row.map { $0 - Foundation.log(total) }))
    expectClose(logSumExp(x), Tensor(Foundation.log(total)))
  }

  @Test(arguments: [0, 1, -1])
  func alongEachAxisOfARank3TensorMatchesTheNaiveFormula(axis: Int) {
    let x = randomTensor([2, 3, 4], in: -2..<2, seed: 21)
    let exponentials = exp(x)
    let total = exponentials.sum(alongAxis: axis, keepingDims: true)
    let expected = exponentials / total
    expectClose(softmax(x, alongAxis: axis), expected)
    expectClose(exp(logSoftmax(x, alongAxis: axis)), expected)
    let reducedShape = total.shape.enumerated().filter { $0.offset != (axis + 3) % 3 }
      .map(\.element)
    let lse = Tensor(shape: TensorShape(reducedShape), scalars: total.scalars.map { Foundation.log($0) })
    expectClose(logSumExp(x, alongAxis: axis), lse)
    expectClose(softmax(x, alongAxis: axis).sum(alongAxis: axis), .ones(TensorShape(reducedShape)))
  }

  @Test(arguments: axesCases)
  func logSumExpOverSeveralAxesMatchesTheNaiveFormula(_ c: AxesCase) {
    let x = randomTensor(c.shape, in: -3..<3, seed: 22)
    let total = naiveReduction(
      exp(x), axes: c.axes, keepingDims: c.keepingDims, initial: 0, +)
    expectClose(
      logSumExp(x, alongAxes: c.axes, keepingDims: c.keepingDims),
      Tensor(shape: total.shape, scalars: total.scalars.map { Foundation.log($0) }))
  }

  @Test func extremeLogitsStayFiniteAndCorrectInFloat() {
    let x = Tensor<Float>([[1000, -1000, 0], [1000, 1000, 1000], [-1000, -1000, -999]])
    let p = softmax(x)
    let logP = logSoftmax(x)
    let lse = logSumExp(x)
    #expect(p.isFinite && logP.isFinite && lse.isFinite)
    expectClose(p[0, 0], 1, relativeTolerance: 1e-6)
    #expect(p[0, 1] == 0)
    expectClose(p[1, 2], 1.0 / 3, relativeTolerance: 1e-6)
    expectClose(logP[0, 1], -2000, relativeTolerance: 1e-6)
    expectClose(logP[0, 2], -1000, relativeTolerance: 1e-6)
    let third = Float(-999 + Foundation.log(1 + 2 * Foundation.exp(-1.0)))
    expectClose(
      lse, Tensor([1000, 1000 + Float(Foundation.log(3.0)), third]), relativeTolerance: 1e-6)
    let grad = gradient(at: x) { logSoftmax($0).min() + logSumExp($0).sum() + softmax($0).max() }
    #expect(grad.isFinite)
  }

  @Test func negativeInfinityLogitsGetZeroProbability() {
    let x = Tensor<Double>([-.infinity, 0, -.infinity])
    #expect(softmax(x) == Tensor([0, 1, 0]))
    #expect(logSumExp(x).scalar == 0)
    #expect(logSumExp(Tensor<Double>(repeating: -.infinity, shape: [2])).scalar == -.infinity)
  }

  @Test(arguments: [0, 1, -1])
  func gradientsMatchFiniteDifferences(axis: Int) {
    let x = randomTensor([2, 3, 4], in: -2..<2, seed: 23)
    expectGradientsMatchFiniteDifferences(at: [x]) { softmax($0[0], alongAxis: axis) }
    expectGradientsMatchFiniteDifferences(at: [x]) { logSoftmax($0[0], alongAxis: axis) }
    expectGradientsMatchFiniteDifferences(at: [x]) {
      logSumExp($0[0], alongAxis: axis, keepingDims: axis == 1)
    }
  }

  @Test(arguments: axesCases)
  func logSumExpGradientOverSeveralAxesMatchesFiniteDifferences(_ c: AxesCase) {
    let x = randomTensor(c.shape, in: -2..<2, seed: 24)
    expectGradientsMatchFiniteDifferences(at: [x]) {
      logSumExp($0[0], alongAxes: c.axes, keepingDims: c.keepingDims)
    }
  }

  @Test(arguments: [0, -1])
  func secondDerivativesMatchFiniteDifferences(axis: Int) {
    let x = randomTensor([2, 3, 4], in: -2..<2, seed: 25)
    expectSecondDerivativesMatchFiniteDifferences(at: [x]) { softmax($0[0], alongAxis: axis) }
    expectSecondDerivativesMatchFiniteDifferences(at: [x]) { logSoftmax($0[0], alongAxis: axis) }
    expectSecondDerivativesMatchFiniteDifferences(at: [x]) {
      logSumExp($0[0], alongAxes: [axis, 1], keepingDims: axis == 0)
    }
  }

  @Test func softmaxWithABadAxisTraps() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = softmax(Tensor<Float>.zeros([2, 3]), alongAxis: -3)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("softmax: axis -3 is out of range for shape [2, 3]"))
  }
}
