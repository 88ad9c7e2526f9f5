import Foundation
import Tapestry
import TapestryTestSupport
import Testing

/// Every elementwise op with a scalar reference and the input domain its checks use: inside the
/// op's domain, and away from its kinks, where finite differences straddle two slopes.
enum ElementwiseOp: String, CaseIterable, Sendable {
  case add, subtract, multiply, divide, power
  case negate, addScalar, scalarMinus, multiplyByScalar, divideByScalar, scalarOver
  case powerOfScalar, powerTwo, powerThree
  case exp, log, sqrt, abs, square, squaredMethod, tanh
  case sigmoid, relu, leakyRelu, softplus, elu, eluHalf, clamp

  static let binary: [ElementwiseOp] = [.add, .subtract, .multiply, .divide, .power]

  /// Per input: the range values are drawn from, and points they keep 0.05 away from.
  var domains: [(range: Range<Double>, kinks: [Double])] {
    switch self {
    case .add, .subtract, .multiply: [(-2..<2, []), (-2..<2, [])]
    case .divide: [(-2..<2, []), (0.5..<2, [])]
    case .power: [(0.5..<2, []), (-2..<2, [])]
    case .scalarOver, .powerOfScalar, .log, .sqrt: [(0.2..<3, [])]
    case .abs, .relu, .leakyRelu, .eluHalf: [(-2..<2, [0])]
    case .clamp: [(-2..<2, [-0.5, 1])]
    case .sigmoid, .softplus: [(-6..<6, [])]
    default: [(-3..<3, [])]
    }
  }

  func apply<Scalar: TensorScalar>(_ x: [Tensor<Scalar>]) -> Tensor<Scalar> {
    switch self {
    case .add: x[0] + x[1]
    case .subtract: x[0] - x[1]
    case .multiply: x[0] * x[1]
    case .divide: x[0] / x[1]
    case .power: pow(x[0], x[1])
    case .negate: -x[0]
    case .addScalar: x[0] + 0.5
    case .scalarMinus: 0.5 - x[0]
    case .multiplyByScalar: x[0] * 3
    case .divideByScalar: x[0] / 4
    case .scalarOver: 3 / x[0]
    case .powerOfScalar: pow(x[0], 2.5)
    case .powerTwo: pow(x[0], 2)
    case .powerThree: pow(x[0], 3)
    case .exp: Tapestry.exp(x[0])
    case .log: Tapestry.log(x[0])
    case .sqrt: Tapestry.sqrt(x[0])
    case .abs: Tapestry.abs(x[0])
    case .square: Tapestry.square(x[0])
    case .squaredMethod: x[0].squared()
    case .tanh: Tapestry.tanh(x[0])
    case .sigmoid: Tapestry.sigmoid(x[0])
    case .relu: Tapestry.relu(x[0])
    case .leakyRelu: Tapestry.leakyRelu(x[0], negativeSlope: 0.1)
    case .softplus: Tapestry.softplus(x[0])
    case .elu: Tapestry.elu(x[0])
    case .eluHalf: Tapestry.elu(x[0], alpha: 0.5)
    case .clamp: Tapestry.clamp(x[0], min: -0.5, max: 1)
    }
  }

  /// The value by hand or from Foundation; `b` is unused by unary ops.
  func reference(_ a: Double, _ b: Double) -> Double {
    switch self {
    case .add: a + b
    case .subtract: a - b
    case .multiply: a * b
    case .divide: a / b
    case .power: Foundation.pow(a, b)
    case .negate: -a
    case .addScalar: a + 0.5
    case .scalarMinus: 0.5 - a
    case .multiplyByScalar: a * 3
    case .divideByScalar: a / 4
    case .scalarOver: 3 / a
    case .powerOfScalar: Foundation.pow(a, 2.5)
    case .powerTwo, .square, .squaredMethod: a * a
    case .powerThree: a * a * a
    case .exp: Foundation.exp(a)
    case .log: Foundation.log(a)
    case .sqrt: Foundation.sqrt(a)
    case .abs: Swift.abs(a)
    case .tanh: Foundation.tanh(a)
    case .sigmoid: 1 / (1 + Foundation.exp(-a))
    case .relu: Swift.max(a, 0)
    case .leakyRelu: a > 0 ? a : 0.1 * a
    case .softplus: Foundation.log1p(Foundation.exp(a))
    case .elu: a > 0 ? a : Foundation.expm1(a)
    case .eluHalf: a > 0 ? a : 0.5 * Foundation.expm1(a)
    case .clamp: Swift.min(Swift.max(a, -0.5), 1)
    }
  }

  /// Seeded inputs of the given shapes (one per operand) drawn from ``domains``.
  func inputs(_ shapes: [TensorShape]? = nil) -> [Tensor<Double>] {
    zip(domains, shapes ?? domains.map { _ in [3, 4] }).enumerated().map { which, pair in
      let (domain, shape) = pair
      let drawn = randomTensor(shape, in: domain.range, seed: 7 + UInt64(which))
      let nudged = drawn.scalars.map { value in
        domain.kinks.reduce(value) { v, kink in
          Swift.abs(v - kink) < 0.05 ? kink + (v < kink ? -0.05 : 0.05) : v
        }
      }
      return Tensor(shape: shape, scalars: nudged)
    }
  }
}

/// `t`'s elements repeated to `shape` by NumPy's rule, computed index by index: an independent
/// check of the library's broadcasting.
func broadcastReference(_ t: Tensor<Double>, to shape: TensorShape) -> [Double] {
  let offset = shape.count - t.shape.count
  return (0..<shape.reduce(1, *)).map { flat in
    var rest = flat
    var index = [Int](repeating: 0, count: shape.count)
    for axis in stride(from: shape.count - 1, through: 0, by: -1) {
      index[axis] = rest % shape[axis]
      rest /= shape[axis]
    }
    var source = 0
    for axis in 0..<t.shape.count {
      source = source * t.shape[axis] + (t.shape[axis] == 1 ? 0 : index[axis + offset])
    }
    return t.scalars[source]
  }
}

/// Two operand shapes and the shape they broadcast to.
struct ShapePair: Sendable, CustomTestStringConvertible {
  let lhs: TensorShape
  let rhs: TensorShape
  let result: TensorShape

  var testDescription: String { "\(lhs) with \(rhs)" }

  static let all = [
    ShapePair(lhs: [3, 4], rhs: [4], result: [3, 4]),
    ShapePair(lhs: [3, 1], rhs: [1, 4], result: [3, 4]),
    ShapePair(lhs: [2, 3, 4], rhs: [3, 1], result: [2, 3, 4]),
    ShapePair(lhs: [4], rhs: [3, 4], result: [3, 4]),
    ShapePair(lhs: [], rhs: [2, 3], result: [2, 3]),
    ShapePair(lhs: [2, 1, 3], rhs: [4, 1], result: [2, 4, 3]),
    // Rows long enough for the vector loops and a tail, repeated along leading axes (a bias or
    // peephole against a batch: zipped, and its gradient summed, row by row).
    ShapePair(lhs: [5, 37], rhs: [37], result: [5, 37]),
    ShapePair(lhs: [1, 37], rhs: [2, 3, 37], result: [2, 3, 37]),
  ]
}

@Suite struct ElementwiseOpTests {
  /// The op's result and the reference applied to the (broadcast) inputs.
  static func expected(_ op: ElementwiseOp, _ inputs: [Tensor<Double>], shape: TensorShape)
    -> Tensor<Double>
  {
    let a = broadcastReference(inputs[0], to: shape)
    let b = inputs.count > 1 ? broadcastReference(inputs[1], to: shape) : a
    return Tensor(shape: shape, scalars: zip(a, b).map { op.reference($0, $1) })
  }

  @Test(arguments: ElementwiseOp.allCases)
  func forwardDouble(op: ElementwiseOp) {
    let inputs = op.inputs()
    expectClose(
      op.apply(inputs), Self.expected(op, inputs, shape: [3, 4]), relativeTolerance: 1e-14,
      absoluteTolerance: 1e-15)
  }

  @Test(arguments: ElementwiseOp.allCases)
  func forwardFloat(op: ElementwiseOp) {
    let inputs = op.inputs()
    let expected = Self.expected(op, inputs, shape: [3, 4]).converted(to: Float.self)
    expectClose(
      op.apply(inputs.map { $0.converted(to: Float.self) }), expected, relativeTolerance: 1e-6,
      absoluteTolerance: 1e-7)
  }

  @Test(arguments: ElementwiseOp.allCases)
  func gradientMatchesFiniteDifferences(op: ElementwiseOp) {
    expectGradientsMatchFiniteDifferences(at: op.inputs()) { op.apply($0) }
  }

  @Test(arguments: ElementwiseOp.allCases)
  func secondDerivativesMatchFiniteDifferences(op: ElementwiseOp) {
    expectSecondDerivativesMatchFiniteDifferences(at: op.inputs()) { op.apply($0) }
  }

  @Test(arguments: ElementwiseOp.binary, ShapePair.all)
  func broadcasting(op: ElementwiseOp, shapes: ShapePair) {
    let inputs = op.inputs([shapes.lhs, shapes.rhs])
    expectClose(
      op.apply(inputs), Self.expected(op, inputs, shape: shapes.result), relativeTolerance: 1e-14,
      absoluteTolerance: 1e-15)
    expectGradientsMatchFiniteDifferences(at: inputs) { op.apply($0) }
  }

  /// A batch factor `c` times a row `w` repeated along its leading axes (a peephole), with `c`
  /// also used by another product, before or after: its gradient through `w ⊙ c` is then the
  /// first to arrive, or is added into the other's, in place, in either order of the factors.
  @Test(arguments: [[1, 37], [3, 37]] as [TensorShape], [false, true])
  func repeatedFactorGradientJoinsAnotherUse(batchShape: TensorShape, rowFirst: Bool) {
    let points = [
      randomTensor(batchShape, in: -1..<1, seed: 11), randomTensor([37], in: -1..<1, seed: 12),
      randomTensor(batchShape, in: -1..<1, seed: 13),
    ]
    for otherUseFirst in [false, true] {
      expectGradientsMatchFiniteDifferences(at: points) { inputs in
        let (c, w, v) = (inputs[0], inputs[1], inputs[2])
        let earlier = otherUseFirst ? c * v : v
        let product = rowFirst ? w * c : c * w
        return otherUseFirst ? product + earlier : product + c * v
      }
    }
  }

  @Test func addingIncompatibleShapesTraps() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = Tensor<Double>.zeros([2, 3]) + Tensor<Double>.zeros([4])
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("add: shapes [2, 3] and [4] cannot be broadcast together"))
  }

  @Test func clampWithMinAboveMaxTraps() async {
    await #expect(processExitsWith: .failure) {
      _ = clamp(Tensor<Double>([1, 2]), min: 2, max: 1)
    }
  }

  @Test func extremeInputsStayFinite() {
    let double = Tensor<Double>([1000, -1000])
    let float = Tensor<Float>([1000, -1000])
    #expect(softplus(double).scalars == [1000, 0])
    #expect(softplus(float).scalars == [1000, 0])
    #expect(sigmoid(double).scalars == [1, 0])
    #expect(sigmoid(float).scalars == [1, 0])
    #expect(tanh(double).scalars == [1, -1])
    #expect(tanh(float).scalars == [1, -1])
    #expect(gradient(at: double) { softplus($0).sum() }.scalars == [1, 0])
    #expect(gradient(at: float) { sigmoid($0).sum() }.scalars == [0, 0])
    #expect(gradient(at: double) { tanh($0).sum() }.scalars == [0, 0])
    #expect(gradient(at: float) { elu($0).sum() }.scalars == [1, 0])
  }

  /// Derivatives at kinks follow PyTorch: abs and relu 0, leakyRelu its slope, elu alpha, clamp 1
  /// on a bound and 0 beyond it.
  @Test func subgradientsAtKinks() {
    let zero = Tensor<Double>([0])
    #expect(gradient(at: zero) { abs($0).sum() }.scalars == [0])
    #expect(gradient(at: zero) { relu($0).sum() }.scalars == [0])
    #expect(gradient(at: zero) { leakyRelu($0, negativeSlope: 0.2).sum() }.scalars == [0.2])
    #expect(gradient(at: zero) { elu($0, alpha: 0.5).sum() }.scalars == [0.5])
    let x = Tensor<Double>([-2, -1, 0, 1, 2])
    #expect(gradient(at: x) { clamp($0, min: -1, max: 1).sum() }.scalars == [0, 1, 1, 1, 0])
    #expect(gradient(at: x) { clamp($0, min: 0).sum() }.scalars == [0, 0, 1, 1, 1])
    #expect(clamp(x, max: 0).scalars == [-2, -1, 0, 0, 0])
  }

  /// 0^0 and 0^y have no NaN in their gradients: the limits PyTorch also uses.
  @Test func powerGradientsAtZeroBase() {
    let zero = Tensor<Double>([0, 0])
    let exponents = Tensor<Double>([0, 2])
    let (dBase, dExponent) = gradient(at: zero, exponents) { pow($0, $1).sum() }
    #expect(dBase.scalars == [0, 0])
    #expect(dExponent.scalars == [0, 0])
    #expect(gradient(at: zero) { pow($0, 0).sum() }.scalars == [0, 0])
    #expect(gradient(at: Tensor<Double>([-2])) { pow($0, 3).sum() }.scalars == [12])
  }

  @Test func absMapsNegativeZeroToPositiveZero() {
    let values = abs(Tensor<Float>([Float](repeating: -0.0, count: 20))).scalars
    #expect(values.allSatisfy { $0.sign == .plus })
  }
}

/// Ops over enough elements to be split between two threads give the one-thread values exactly:
/// the halves meet at a whole vector, so every element goes through the same code.
@Suite struct ElementwiseSplitTests {
  /// 40,003 elements: past both split thresholds, and not a whole number of vectors, so the
  /// second half ends in a tail.
  private static let count = 40_003

  @Test(
    arguments: [
      "sigmoid", "tanh", "exp", "add", "mul", "sigmoid pullback",
    ])
  func twoThreadsGiveTheOneThreadValues(_ op: String) {
    let x = Tensor<Float>.normal([Self.count], seed: 21)
    let y = Tensor<Float>.normal([Self.count], seed: 22)
    func compute() -> Tensor<Float> {
      switch op {
      case "sigmoid": return sigmoid(x)
      case "tanh": return tanh(x)
      case "exp": return exp(x)
      case "add": return x + y
      case "mul": return x * y
      default: return gradient(at: x) { x in (sigmoid(x) * y).sum() }
      }
    }
    let previous = ComputeSettings.threads
    defer { ComputeSettings.threads = previous }
    ComputeSettings.threads = 1
    let serial = compute()
    ComputeSettings.threads = 2
    let split = compute()
    #expect(serial.shape == split.shape)
    #expect(zip(serial.scalars, split.scalars).allSatisfy { $0 == $1 })
  }
}

/// The shapes of one `addcmul(c, a, b)`.
struct AddcmulShapes: CustomTestStringConvertible, Sendable {
  let c: TensorShape
  let a: TensorShape
  let b: TensorShape

  var testDescription: String { "\(c) + \(a) * \(b)" }

  /// Fused (factors of `c`'s shape or repeated along its leading axes, with rows long enough for
  /// the vector loop and a tail) and not (a column, a scalar, a `c` that is itself broadcast).
  static let all = [
    AddcmulShapes(c: [3, 5], a: [3, 5], b: [3, 5]),
    AddcmulShapes(c: [4, 37], a: [37], b: [4, 37]),
    AddcmulShapes(c: [4, 37], a: [4, 37], b: [1, 37]),
    AddcmulShapes(c: [2, 3, 37], a: [37], b: [3, 37]),
    AddcmulShapes(c: [4, 37], a: [37], b: [37]),
    AddcmulShapes(c: [3, 4], a: [3, 1], b: [3, 4]),
    AddcmulShapes(c: [3, 4], a: [], b: [3, 4]),
    AddcmulShapes(c: [4], a: [3, 4], b: [3, 4]),
  ]
}

@Suite struct AddcmulTests {
  /// The product is rounded before the sum, as written out, so the values are the same bits.
  @Test(arguments: AddcmulShapes.all)
  func valuesAreThoseOfTheExpressionWrittenOut(_ shapes: AddcmulShapes) {
    let (c, a, b) = (
      randomTensor(shapes.c, seed: 1), randomTensor(shapes.a, seed: 2), randomTensor(shapes.b)
    )
    let fused = addcmul(c, a, b)
    let unfused = c + a * b
    #expect(fused.shape == unfused.shape && fused.scalars == unfused.scalars)
    let (cf, af, bf) = (
      c.converted(to: Float.self), a.converted(to: Float.self), b.converted(to: Float.self)
    )
    #expect(addcmul(cf, af, bf).scalars == (cf + af * bf).scalars)
  }

  @Test(arguments: AddcmulShapes.all)
  func gradientsMatchFiniteDifferences(_ shapes: AddcmulShapes) {
    let points = [
      randomTensor(shapes.c, seed: 4), randomTensor(shapes.a, seed: 5), randomTensor(shapes.b),
    ]
    expectGradientsMatchFiniteDifferences(at: points) { addcmul($0[0], $0[1], $0[2]) }
    expectSecondDerivativesMatchFiniteDifferences(at: points) {
      let sum = addcmul($0[0], $0[1], $0[2])
      return sum * sum
    }
  }

  /// The tape that `c + a * b` leaves, and the gradient of `c` alone when the factors are
  /// constants.
  @Test func recordsTheEntriesOfTheExpressionWrittenOut() {
    let (c, a, b) = (
      randomTensor([4, 37], seed: 1), randomTensor([37], seed: 2), randomTensor([4, 37])
    )
    let ops = expectSameEntries(
      c, a, b, fused: { addcmul($0, $1, $2) }, unfused: { $0 + $1 * $2 })
    #expect(ops == ["variable", "variable", "variable", "mul", "add"])
    let (_, gradient) = valueWithGradient(at: c) { addcmul($0, a, b).sum() }
    #expect(gradient.scalars == Tensor<Double>.ones([4, 37]).scalars)
  }

  @Test func anomalyInTheProductNamesTheProduct() {
    let tape = Tape<Float>()
    let huge = Tensor<Float>.filled([2, 3], with: 1e30)
    let anomaly = #expect(throws: AnomalyError.self) {
      try withAnomalyDetection {
        tape.record { _ = addcmul(Tensor<Float>.zeros([2, 3]), tape.watch(huge), huge) }
      }
    }
    #expect(anomaly?.op == "mul" && anomaly?.phase == .forward)
  }

  @Test func incompatibleShapesTrap() async {
    await #expect(processExitsWith: .failure) {
      _ = addcmul(
        Tensor<Float>.zeros([2, 3]), Tensor<Float>.zeros([4]), Tensor<Float>.zeros([2, 3]))
    }
  }
}
