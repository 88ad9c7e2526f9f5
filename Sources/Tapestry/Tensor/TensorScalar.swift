import Foundation

/// The element types a ``Tensor`` can hold: `Float` (for speed) and `Double` (for gradient checks).
///
/// The protocol gathers what the kernels need beyond `BinaryFloatingPoint`: the elementary
/// functions (which Foundation provides per concrete type, not generically) and a SIMD vector type
/// wide enough to fill a 512-bit register.
public protocol TensorScalar: BinaryFloatingPoint, Codable, Sendable, CustomStringConvertible
where Self.RawSignificand: FixedWidthInteger {
  /// The SIMD vector the elementwise kernels and reductions process at a time.
  associatedtype Vector: SIMD where Vector.Scalar == Self

  /// The name used in file formats and printouts: `"float32"` or `"float64"`.
  static var dtypeName: String { get }

  /// e^x.
  static func exp(_ x: Self) -> Self
  /// Natural logarithm; `-inf` at 0, NaN below.
  static func log(_ x: Self) -> Self
  /// log(1 + x), accurate for small x.
  static func log1p(_ x: Self) -> Self
  /// e^x − 1, accurate for small x.
  static func expm1(_ x: Self) -> Self
  /// Hyperbolic tangent.
  static func tanh(_ x: Self) -> Self
  /// x^y for real arguments (NaN for a negative base with a non-integer exponent).
  static func pow(_ x: Self, _ y: Self) -> Self
  /// The sum of the lanes of `vector`, added as a tree: halves, then quarters, and so on.
  ///
  /// `SIMD.sum()` adds the lanes one after another, a chain of 15 dependent additions for
  /// sixteen Floats (seen in the disassembly); the tree is 4 vector additions deep, which is what
  /// a dot product's final reduction needs.
  static func lanesSum(_ vector: Vector) -> Self
}

extension Float: TensorScalar {
  /// Sixteen lanes: one AVX-512 register, two AVX2 registers, four NEON registers.
  public typealias Vector = SIMD16<Float>
  /// `"float32"`.
  public static var dtypeName: String { "float32" }
  /// e^x.
  @inlinable public static func exp(_ x: Float) -> Float { Foundation.exp(x) }
  /// Natural logarithm.
  @inlinable public static func log(_ x: Float) -> Float { Foundation.log(x) }
  /// log(1 + x).
  @inlinable public static func log1p(_ x: Float) -> Float { Foundation.log1p(x) }
  /// e^x − 1.
  @inlinable public static func expm1(_ x: Float) -> Float { Foundation.expm1(x) }
  /// Hyperbolic tangent.
  @inlinable public static func tanh(_ x: Float) -> Float { Foundation.tanh(x) }
  /// x^y.
  @inlinable public static func pow(_ x: Float, _ y: Float) -> Float { Foundation.pow(x, y) }
  /// The sum of the sixteen lanes, as a tree.
  @inlinable @inline(__always)
  public static func lanesSum(_ vector: SIMD16<Float>) -> Float {
    let eight = vector.lowHalf + vector.highHalf
    let four = eight.lowHalf + eight.highHalf
    let two = four.lowHalf + four.highHalf
    return two[0] + two[1]
  }
}

extension Double: TensorScalar {
  /// Eight lanes: one AVX-512 register, two AVX2 registers, four NEON registers.
  public typealias Vector = SIMD8<Double>
  /// `"float64"`.
  public static var dtypeName: String { "float64" }
  /// e^x.
  @inlinable public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
  /// Natural logarithm.
  @inlinable public static func log(_ x: Double) -> Double { Foundation.log(x) }
  /// log(1 + x).
  @inlinable public static func log1p(_ x: Double) -> Double { Foundation.log1p(x) }
  /// e^x − 1.
  @inlinable public static func expm1(_ x: Double) -> Double { Foundation.expm1(x) }
  /// Hyperbolic tangent.
  @inlinable public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
  /// x^y.
  @inlinable public static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
  /// The sum of the eight lanes, as a tree.
  @inlinable @inline(__always)
  public static func lanesSum(_ vector: SIMD8<Double>) -> Double {
    let four = vector.lowHalf + vector.highHalf
    let two = four.lowHalf + four.highHalf
    return two[0] + two[1]
  }
}

extension SIMD where Scalar: TensorScalar {
  /// The lanes `buffer[offset..<offset + scalarCount]`, read as one vector.
  ///
  /// `Self(buffer[offset..<offset + scalarCount])` goes through the generic `Sequence`
  /// initialiser, which the compiler turns into one scalar load and one stack store per lane
  /// (seen in `perf annotate`: most of the time of a 32-element op's pullback); this is one
  /// unaligned vector load.
  @inlinable @inline(__always)
  static func loadUnaligned(from buffer: UnsafeBufferPointer<Scalar>, at offset: Int) -> Self {
    UnsafeRawBufferPointer(buffer).loadUnaligned(
      fromByteOffset: offset * MemoryLayout<Scalar>.stride, as: Self.self)
  }

  /// ``loadUnaligned(from:at:)`` from a mutable buffer.
  @inlinable @inline(__always)
  static func loadUnaligned(from buffer: UnsafeMutableBufferPointer<Scalar>, at offset: Int) -> Self
  {
    loadUnaligned(from: UnsafeBufferPointer(buffer), at: offset)
  }
}
