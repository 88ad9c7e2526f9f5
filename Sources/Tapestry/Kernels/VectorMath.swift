// Vectorised e^x, tanh and the logistic sigmoid over whole `Scalar.Vector`s.
//
// Library `exp` is a call per element; these run 16 Float (8 Double) lanes per instruction.
// `exp` reduces x = k·ln2 + r with |r| ≤ ln2/2 (Cody–Waite: ln2 split in two so that k·ln2_hi is
// exact), approximates e^r on that interval, and scales by 2^k built from its bits. `tanh` and
// `sigmoid` are written in terms of it. Accuracy, measured in VectorMathTests against Foundation:
// within a few ulp in both Float and Double, including subnormal results and ±inf and NaN inputs.
//
// Only `+ - * /` are used, never `addingProduct`: on the generic x86-64 target a SIMD fused
// multiply-add is a library call per lane (see PERFORMANCE.md), and plain arithmetic also makes
// debug and release builds give bit-identical results.

extension Kernels {
  /// Namespace for the vectorised elementary functions.
  @usableFromInline
  internal enum VectorMath {}

  /// A function of one vector, applied lane by lane, for ``mapVectors(_:_:)``.
  @usableFromInline
  protocol LanewiseFunction {
    /// The element type.
    associatedtype Scalar: TensorScalar
    /// The function applied to every lane of `x`.
    func callAsFunction(_ x: Scalar.Vector) -> Scalar.Vector
  }

  /// `result[i] = f(x[i])`, whole vectors at a time. The tail is padded with zeros and goes
  /// through the vector code too, so an element's value never depends on where it sits.
  ///
  /// `f` is a value of a concrete type rather than a closure so that it is inlined into the
  /// loop: a closure was not, and across that call a `SIMD16<Float>` travels split into four
  /// 128-bit parts and `replacing(with:where:)` rebuilds its mask part by part (measured 5x
  /// slower for `exp`).
  @inlinable @inline(__always)
  static func mapVectors<F: LanewiseFunction>(_ x: [F.Scalar], _ f: F) -> [F.Scalar] {
    typealias Scalar = F.Scalar
    let n = x.count
    let width = Scalar.Vector.scalarCount
    let stride = MemoryLayout<Scalar>.stride
    return array(count: n) { out in
      x.withUnsafeBufferPointer { input in
        guard let source = input.baseAddress, let destination = out.baseAddress else { return }
        let rawSource = UnsafeRawPointer(source)
        let rawDestination = UnsafeMutableRawPointer(destination)
        // One part, or two on two threads; `@inline(__always)` keeps `f` inlined into the loop
        // either way.
        @inline(__always) func apply(_ part: Range<Int>) {
          var i = part.lowerBound
          while i + width <= part.upperBound {
            let lanes = rawSource.loadUnaligned(
              fromByteOffset: i * stride, as: Scalar.Vector.self)
            rawDestination.storeBytes(
              of: f(lanes), toByteOffset: i * stride, as: Scalar.Vector.self)
            i += width
          }
          if i < part.upperBound {
            var lanes = Scalar.Vector()
            for lane in 0..<(part.upperBound - i) { lanes[lane] = source[i + lane] }
            let result = f(lanes)
            for lane in 0..<(part.upperBound - i) { destination[i + lane] = result[lane] }
          }
        }
        if splitsElementwise(count: n, threshold: splitThresholdTranscendental) {
          forEachHalf(count: n, alignment: width) { apply($0) }
        } else {
          apply(0..<n)
        }
      }
    }
  }
}

// MARK: - Generic entry points

extension Kernels.VectorMath {
  /// e^x, for ``Kernels/mapVectors(_:_:)``.
  @usableFromInline
  struct Exp<Scalar: TensorScalar>: Kernels.LanewiseFunction {
    @inlinable init() {}

    @inlinable @inline(__always)
    func callAsFunction(_ x: Scalar.Vector) -> Scalar.Vector { Kernels.VectorMath.exp(x) }
  }

  /// tanh x, for ``Kernels/mapVectors(_:_:)``.
  @usableFromInline
  struct Tanh<Scalar: TensorScalar>: Kernels.LanewiseFunction {
    @inlinable init() {}

    @inlinable @inline(__always)
    func callAsFunction(_ x: Scalar.Vector) -> Scalar.Vector { Kernels.VectorMath.tanh(x) }
  }

  /// 1 / (1 + e^−x), for ``Kernels/mapVectors(_:_:)``.
  @usableFromInline
  struct Sigmoid<Scalar: TensorScalar>: Kernels.LanewiseFunction {
    @inlinable init() {}

    @inlinable @inline(__always)
    func callAsFunction(_ x: Scalar.Vector) -> Scalar.Vector { Kernels.VectorMath.sigmoid(x) }
  }
}

extension Kernels.VectorMath {
  /// e^x lane by lane; the specialised kernels for `SIMD16<Float>` and `SIMD8<Double>`, a library
  /// call per lane for any other vector type.
  @inlinable @inline(__always)
  static func exp<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar {
    if V.self == SIMD16<Float>.self {
      return unsafeBitCast(exp(unsafeBitCast(x, to: SIMD16<Float>.self)), to: V.self)
    }
    if V.self == SIMD8<Double>.self {
      return unsafeBitCast(exp(unsafeBitCast(x, to: SIMD8<Double>.self)), to: V.self)
    }
    var result = x
    for lane in x.indices { result[lane] = V.Scalar.exp(x[lane]) }
    return result
  }

  /// tanh x lane by lane, dispatched like ``exp(_:)-generic``.
  @inlinable @inline(__always)
  static func tanh<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar {
    if V.self == SIMD16<Float>.self {
      return unsafeBitCast(tanh(unsafeBitCast(x, to: SIMD16<Float>.self)), to: V.self)
    }
    if V.self == SIMD8<Double>.self {
      return unsafeBitCast(tanh(unsafeBitCast(x, to: SIMD8<Double>.self)), to: V.self)
    }
    var result = x
    for lane in x.indices { result[lane] = V.Scalar.tanh(x[lane]) }
    return result
  }

  /// 1 / (1 + e^−x) lane by lane, dispatched like ``exp(_:)-generic``.
  @inlinable @inline(__always)
  static func sigmoid<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar {
    if V.self == SIMD16<Float>.self {
      return unsafeBitCast(sigmoid(unsafeBitCast(x, to: SIMD16<Float>.self)), to: V.self)
    }
    if V.self == SIMD8<Double>.self {
      return unsafeBitCast(sigmoid(unsafeBitCast(x, to: SIMD8<Double>.self)), to: V.self)
    }
    var result = x
    for lane in x.indices {
      // e^−|x| never overflows, so neither branch can produce inf / inf.
      let t = V.Scalar.exp(-x[lane].magnitude)
      result[lane] = (x[lane] < 0 ? t : 1) / (1 + t)
    }
    return result
  }
}

// MARK: - Float

extension Kernels.VectorMath {
  /// e^x for 16 Floats: within 2 ulp of the correctly rounded value.
  ///
  /// The polynomial is Cephes' `expf` (degree 7 on |r| ≤ ln2/2). Inputs are clamped to
  /// [−104, 89] first: outside it e^x is 0 or inf in Float anyway, and inside it k ∈ [−150, 128],
  /// so 2^k, applied as two halves 2^(k/2) each with a normal exponent, needs no special cases
  /// for results near overflow or in the subnormal range.
  @inlinable @inline(__always)
  static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
    typealias V = SIMD16<Float>
    // NaN fails both comparisons, so it flows through the arithmetic and comes out NaN.
    var x = x.replacing(with: 89, where: x .> 89)
    x = x.replacing(with: -104, where: x .< -104)
    // Adding 1.5·2^23 rounds x/ln2 to an integer k and leaves k in the low mantissa bits.
    let shifter = V(repeating: 12_582_912)
    let shifted = x * V(repeating: 1.442_695_04) + shifter
    let k = shifted - shifter
    // ln2_hi has 9 significant bits, so k·ln2_hi is exact.
    let r = (x - k * V(repeating: 0.693_359_375)) - k * V(repeating: -2.121_944_4e-4)
    let r2 = r * r
    var p = V(repeating: 1.987_569_15e-4) * r + V(repeating: 1.398_199_950_7e-3)
    p = p * r + V(repeating: 8.333_451_907_3e-3)
    p = p * r + V(repeating: 4.166_579_589_4e-2)
    p = p * r + V(repeating: 1.666_666_545_9e-1)
    p = p * r + V(repeating: 5.000_000_120_1e-1)
    p = (p * r2 + r) + 1
    let bits =
      unsafeBitCast(shifted, to: SIMD16<Int32>.self)
      &- unsafeBitCast(shifter, to: SIMD16<Int32>.self)
    let half = bits &>> 1
    let scale1 = unsafeBitCast((half &+ 127) &<< 23, to: V.self)
    let scale2 = unsafeBitCast((bits &- half &+ 127) &<< 23, to: V.self)
    return p * scale1 * scale2
  }

  /// tanh x for 16 Floats: within 3 ulp.
  ///
  /// For |x| < 0.625 an odd polynomial (Cephes' `tanhf`), exact for tiny x; above,
  /// 1 − 2 / (e^{2|x|} + 1), which has no cancellation there and tends to exactly 1 (e^{2|x|}
  /// overflowing to inf is fine: 2 / inf = 0). The sign is copied from x at the end.
  @inlinable @inline(__always)
  static func tanh(_ x: SIMD16<Float>) -> SIMD16<Float> {
    typealias V = SIMD16<Float>
    let signMask = SIMD16<UInt32>(repeating: 0x8000_0000)
    let bits = unsafeBitCast(x, to: SIMD16<UInt32>.self)
    let a = unsafeBitCast(bits & ~signMask, to: V.self)
    let s = a * a
    var p = V(repeating: -5.704_988_727_45e-3) * s + V(repeating: 2.063_908_879_54e-2)
    p = p * s + V(repeating: -5.373_971_555_31e-2)
    p = p * s + V(repeating: 1.333_144_220_36e-1)
    p = p * s + V(repeating: -3.333_328_194_22e-1)
    let small = a + a * (s * p)
    let large = 1 - 2 / (exp(a + a) + 1)
    let magnitude = large.replacing(with: small, where: .!(a .> 0.625))
    return unsafeBitCast(
      unsafeBitCast(magnitude, to: SIMD16<UInt32>.self) | (bits & signMask), to: V.self)
  }

  /// 1 / (1 + e^−x) for 16 Floats: within 3 ulp, finite for every finite input.
  ///
  /// Computed from t = e^−|x| ∈ (0, 1] as 1 / (1 + t) for x ≥ 0 and t / (1 + t) for x < 0, so no
  /// lane ever forms inf / inf, and tiny results for very negative x keep their relative accuracy.
  @inlinable @inline(__always)
  static func sigmoid(_ x: SIMD16<Float>) -> SIMD16<Float> {
    typealias V = SIMD16<Float>
    let magnitude = unsafeBitCast(
      unsafeBitCast(x, to: SIMD16<UInt32>.self) & SIMD16<UInt32>(repeating: 0x7FFF_FFFF), to: V.self
    )
    let t = exp(-magnitude)
    return V(repeating: 1).replacing(with: t, where: x .< 0) / (1 + t)
  }
}

// MARK: - Double

extension Kernels.VectorMath {
  /// e^x for 8 Doubles: within 1 ulp of the correctly rounded value.
  ///
  /// The reduction and the rational approximation are fdlibm's `__ieee754_exp`: r = hi − lo is
  /// kept as two parts and e^r = 1 − ((lo − r·c / (2 − c)) − hi) with c a degree-10 even
  /// polynomial. Inputs are clamped to [−746, 710] (where e^x is 0 or inf anyway), so
  /// k ∈ [−1077, 1025] and each half of 2^k has a normal exponent, as in the Float kernel.
  @inlinable @inline(__always)
  static func exp(_ x: SIMD8<Double>) -> SIMD8<Double> {
    typealias V = SIMD8<Double>
    var x = x.replacing(with: 710, where: x .> 710)
    x = x.replacing(with: -746, where: x .< -746)
    let shifter = V(repeating: 6_755_399_441_055_744)
    let shifted = x * V(repeating: 1.442_695_040_888_963_387_00) + shifter
    let k = shifted - shifter
    // ln2_hi has 32 significant bits, so k·ln2_hi is exact and x − k·ln2_hi is too (Sterbenz).
    let hi = x - k * V(repeating: 6.931_471_803_691_238_164_90e-1)
    let lo = k * V(repeating: 1.908_214_929_270_587_700_02e-10)
    let r = hi - lo
    let t = r * r
    var p =
      V(repeating: 4.138_136_797_057_238_460_39e-8) * t
      + V(repeating: -1.653_390_220_546_525_153_90e-6)
    p = p * t + V(repeating: 6.613_756_321_437_934_361_17e-5)
    p = p * t + V(repeating: -2.777_777_777_701_559_338_42e-3)
    p = p * t + V(repeating: 1.666_666_666_666_660_190_37e-1)
    let c = r - t * p
    let y = 1 - ((lo - (r * c) / (2 - c)) - hi)
    let bits =
      unsafeBitCast(shifted, to: SIMD8<Int64>.self) &- unsafeBitCast(shifter, to: SIMD8<Int64>.self)
    let half = bits &>> 1
    let scale1 = unsafeBitCast((half &+ 1023) &<< 52, to: V.self)
    let scale2 = unsafeBitCast((bits &- half &+ 1023) &<< 52, to: V.self)
    return y * scale1 * scale2
  }

  /// tanh x for 8 Doubles: within 3 ulp.
  ///
  /// For |x| < 0.625 Cephes' rational approximation x + x³·P(x²)/Q(x²); above,
  /// 1 − 2 / (e^{2|x|} + 1), as in the Float kernel.
  @inlinable @inline(__always)
  static func tanh(_ x: SIMD8<Double>) -> SIMD8<Double> {
    typealias V = SIMD8<Double>
    let signMask = SIMD8<UInt64>(repeating: 0x8000_0000_0000_0000)
    let bits = unsafeBitCast(x, to: SIMD8<UInt64>.self)
    let a = unsafeBitCast(bits & ~signMask, to: V.self)
    let s = a * a
    var p =
      V(repeating: -9.643_991_794_250_522_386_28e-1) * s
      + V(repeating: -9.928_772_310_019_185_865_64e1)
    p = p * s + V(repeating: -1.614_687_684_417_084_479_52e3)
    var q = s + V(repeating: 1.128_116_784_916_329_314_02e2)
    q = q * s + V(repeating: 2.235_488_390_601_004_485_83e3)
    q = q * s + V(repeating: 4.844_063_053_251_254_860_48e3)
    let small = a + a * (s * (p / q))
    let large = 1 - 2 / (exp(a + a) + 1)
    let magnitude = large.replacing(with: small, where: .!(a .> 0.625))
    return unsafeBitCast(
      unsafeBitCast(magnitude, to: SIMD8<UInt64>.self) | (bits & signMask), to: V.self)
  }

  /// 1 / (1 + e^−x) for 8 Doubles: within 3 ulp, computed as in the Float kernel.
  @inlinable @inline(__always)
  static func sigmoid(_ x: SIMD8<Double>) -> SIMD8<Double> {
    typealias V = SIMD8<Double>
    let magnitude = unsafeBitCast(
      unsafeBitCast(x, to: SIMD8<UInt64>.self) & SIMD8<UInt64>(repeating: 0x7FFF_FFFF_FFFF_FFFF),
      to: V.self)
    let t = exp(-magnitude)
    return V(repeating: 1).replacing(with: t, where: x .< 0) / (1 + t)
  }
}
