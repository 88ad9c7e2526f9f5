import Foundation
import Testing

@testable import Tapestry

/// The vectorised kernels under test, with their reference functions.
enum VectorFunction: String, CaseIterable, Sendable {
  case exp, tanh, sigmoid

  func apply(_ x: [Float]) -> [Float] {
    switch self {
    case .exp: Kernels.mapVectors(x, Kernels.VectorMath.Exp())
    case .tanh: Kernels.mapVectors(x, Kernels.VectorMath.Tanh())
    case .sigmoid: Kernels.mapVectors(x, Kernels.VectorMath.Sigmoid())
    }
  }

  func apply(_ x: [Double]) -> [Double] {
    switch self {
    case .exp: Kernels.mapVectors(x, Kernels.VectorMath.Exp())
    case .tanh: Kernels.mapVectors(x, Kernels.VectorMath.Tanh())
    case .sigmoid: Kernels.mapVectors(x, Kernels.VectorMath.Sigmoid())
    }
  }

  /// The value in Double: a reference for Float, whose ulp is 2^29 times coarser.
  func reference(_ x: Double) -> Double {
    switch self {
    case .exp: Foundation.exp(x)
    case .tanh: Foundation.tanh(x)
    case .sigmoid:
      x < 0 ? Foundation.exp(x) / (1 + Foundation.exp(x)) : 1 / (1 + Foundation.exp(-x))
    }
  }

  #if arch(x86_64) && !os(Windows)
    /// The value in 80-bit extended precision: a reference for Double, 2^11 times finer.
    func extendedReference(_ x: Double) -> Double {
      let e = Float80(x)
      let value: Float80
      switch self {
      case .exp: value = Foundation.exp(e)
      case .tanh: value = Foundation.tanh(e)
      case .sigmoid:
        value = e < 0 ? Foundation.exp(e) / (1 + Foundation.exp(e)) : 1 / (1 + Foundation.exp(-e))
      }
      return Double(value)
    }
  #endif
}

/// Edge cases and dense sweeps: zeros, tiny and huge values, infinities, NaN, exp's overflow and
/// underflow thresholds, the tanh branch point, and multiples of ln2/2 where the reduction's k
/// changes.
func sweep<Scalar: TensorScalar>(
  _: Scalar.Type, range: Double, thresholds: [Scalar], steps: Int
) -> [Scalar] {
  var values: [Scalar] = [
    0, -0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude,
    -.leastNormalMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .infinity,
    -.infinity, .nan, 1e-30, -1e-30, 1000, -1000,
  ]
  for step in 0...steps {
    values.append(Scalar(-range + 2 * range * Double(step) / Double(steps)))
  }
  // Log-spaced magnitudes from the smallest subnormal to the largest finite value.
  let lowest = Double(Scalar.leastNonzeroMagnitude).exponent
  let highest = Double(Scalar.greatestFiniteMagnitude).exponent
  for exponent in stride(from: Double(lowest), through: Double(highest), by: 0.25) {
    let magnitude = Scalar(Foundation.exp2(exponent))
    values += [magnitude, -magnitude]
  }
  let ln2 = Scalar(M_LN2)
  for point in thresholds + (-40...40).map({ Scalar($0) * ln2 / 2 }) {
    var up = point
    var down = point
    for _ in 0..<20 {
      values += [up, down]
      up = up.nextUp
      down = down.nextDown
    }
  }
  return values
}

/// |actual − expected| in units in the last place of `expected` rounded to `Scalar`; 0 when both
/// are the same infinity or both NaN, infinite when only one is.
func ulpError<Scalar: TensorScalar>(_ actual: Scalar, expected: Double) -> Double {
  if expected.isNaN || actual.isNaN { return expected.isNaN && actual.isNaN ? 0 : .infinity }
  let rounded = Scalar(expected)
  if rounded.isInfinite || actual.isInfinite {
    if actual == rounded { return 0 }
    // A finite result one step short of an infinite reference is a 1-ulp error.
    return actual.magnitude == .greatestFiniteMagnitude && rounded.isInfinite ? 1 : .infinity
  }
  return (Double(actual) - expected).magnitude / Double(rounded.ulp)
}

@Suite struct VectorMathTests {
  static let floatThresholds: [Float] = [88.722_839, -87.336_54, -103.972_08, 0.625, -0.625, 9]
  static let doubleThresholds: [Double] = [
    709.782_712_893_384, -708.396_418_532_264_1, -745.133_219_101_941_1, 0.625, -0.625, 19,
  ]

  @Test(arguments: VectorFunction.allCases)
  func floatWithinFourUlps(function: VectorFunction) {
    let inputs = sweep(
      Float.self, range: 110, thresholds: Self.floatThresholds, steps: 200_001)
    let outputs = function.apply(inputs)
    var worst = (error: 0.0, input: Float(0))
    for (x, y) in zip(inputs, outputs) {
      let error = ulpError(y, expected: function.reference(Double(x)))
      if !(error <= worst.error) { worst = (error, x) }
    }
    #expect(worst.error <= 4, "\(function) Float: \(worst.error) ulp at x = \(worst.input)")
  }

  @Test(arguments: VectorFunction.allCases)
  func doubleWithinFourUlps(function: VectorFunction) {
    let inputs = sweep(
      Double.self, range: 750, thresholds: Self.doubleThresholds, steps: 200_001)
    let outputs = function.apply(inputs)
    var worst = (error: 0.0, input: 0.0)
    for (x, y) in zip(inputs, outputs) {
      #if arch(x86_64) && !os(Windows)
        let error = ulpError(y, expected: function.extendedReference(x))
      #else
        // Without a wider type the reference is itself off by up to an ulp or two.
        let error = ulpError(y, expected: function.reference(x)) / 2
      #endif
      if !(error <= worst.error) { worst = (error, x) }
    }
    #expect(worst.error <= 4, "\(function) Double: \(worst.error) ulp at x = \(worst.input)")
  }

  @Test func specialValues() {
    let inputs: [Double] = [.infinity, -.infinity, .nan, -0.0, 1000, -1000]
    #expect(Array(VectorFunction.exp.apply(inputs).prefix(2)) == [.infinity, 0])
    #expect(Array(VectorFunction.tanh.apply(inputs).prefix(2)) == [1, -1])
    #expect(Array(VectorFunction.sigmoid.apply(inputs).prefix(2)) == [1, 0])
    for function in VectorFunction.allCases {
      let outputs = function.apply(inputs)
      #expect(outputs[2].isNaN, "\(function)(nan)")
      #expect(function.apply(inputs.map(Float.init))[2].isNaN, "\(function)(nan) in Float")
    }
    #expect(VectorFunction.tanh.apply(inputs)[3].sign == .minus, "tanh keeps the sign of −0")
    #expect(VectorFunction.tanh.apply(inputs.map(Float.init))[3].sign == .minus)
    #expect(VectorFunction.sigmoid.apply(inputs).suffix(2) == [1, 0])
    #expect(VectorFunction.sigmoid.apply([Float(1000), -1000]) == [1, 0])
  }

  @Test func otherVectorWidthsFallBackToTheLibrary() {
    // Only SIMD16<Float> and SIMD8<Double> have kernels; any other `Vector` choice still works.
    let x = SIMD4<Float>(-3, -0.5, 0.25, 20)
    for lane in x.indices {
      #expect(Kernels.VectorMath.exp(x)[lane] == Foundation.exp(x[lane]))
      #expect(Kernels.VectorMath.tanh(x)[lane] == Foundation.tanh(x[lane]))
      let t = Foundation.exp(-x[lane].magnitude)
      #expect(Kernels.VectorMath.sigmoid(x)[lane] == (x[lane] < 0 ? t : 1) / (1 + t))
    }
  }

  @Test(arguments: [0, 1, 7, 16, 17, 33])
  func tailElementsMatchVectorLanes(count: Int) {
    // Every element goes through the vector code, so its value is independent of its position.
    let inputs = (0..<count).map { Float($0) * 0.37 - 3 }
    let padded = inputs + [Float](repeating: 0, count: 64)
    let whole = VectorFunction.tanh.apply(padded)
    #expect(VectorFunction.tanh.apply(inputs) == Array(whole.prefix(count)))
  }
}
