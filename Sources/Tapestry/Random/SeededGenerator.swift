/// A seedable pseudo-random generator that yields the same numbers for the same seed on every
/// platform and Swift version: xoshiro256** (Blackman & Vigna), seeded through SplitMix64.
///
/// Everything random in Tapestry takes either a generator (`using: &generator`) or a seed, and
/// turns its 64-bit outputs into values with integer and IEEE arithmetic only (no `libm` call
/// whose last bit could differ between Glibc and Darwin).
public struct SeededGenerator: RandomNumberGenerator, Sendable {
  private var state: (UInt64, UInt64, UInt64, UInt64)

  /// A generator whose whole sequence is determined by `seed`.
  public init(seed: UInt64) {
    var mix = seed
    func splitMix() -> UInt64 {
      mix &+= 0x9E37_79B9_7F4A_7C15
      var z = mix
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    state = (splitMix(), splitMix(), splitMix(), splitMix())
  }

  /// A generator for the `stream`-th of many independent sequences drawn from one `seed`.
  ///
  /// A training loop that draws step `n`'s batch from `SeededGenerator(seed: seed, stream: n)`
  /// can be stopped and resumed at any step without saving a generator's state: the step number
  /// is the position in the data.
  public init(seed: UInt64, stream: UInt64) {
    var mixer = SeededGenerator(seed: stream)
    self.init(seed: seed ^ mixer.next())
  }

  /// The next 64 random bits.
  public mutating func next() -> UInt64 {
    let result = rotateLeft(state.1 &* 5, 7) &* 9
    let shifted = state.1 << 17
    state.2 ^= state.0
    state.3 ^= state.1
    state.1 ^= state.2
    state.0 ^= state.3
    state.2 ^= shifted
    state.3 = rotateLeft(state.3, 45)
    return result
  }

  private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

  /// A uniform `Double` in [0, 1) with 53 random bits.
  public mutating func nextUnitDouble() -> Double {
    Double(next() >> 11) * 0x1p-53
  }

  /// A uniform integer in `0..<bound` without modulo bias (Lemire's multiply-and-reject).
  public mutating func nextInt(below bound: Int) -> Int {
    precondition(bound > 0, "SeededGenerator.nextInt(below:): bound \(bound) must be positive")
    let range = UInt64(bound)
    var product = next().multipliedFullWidth(by: range)
    if product.low < range {
      let threshold = (0 &- range) % range
      while product.low < threshold { product = next().multipliedFullWidth(by: range) }
    }
    return Int(product.high)
  }

  /// A standard normal `Double` (Marsaglia's polar method with a portable logarithm).
  public mutating func nextStandardNormal() -> Double {
    while true {
      let u = 2 * nextUnitDouble() - 1
      let v = 2 * nextUnitDouble() - 1
      let s = u * u + v * v
      if s > 0 && s < 1 {
        return u * (-2 * PortableMath.log(s) / s).squareRoot()
      }
    }
  }

  /// A random permutation of `0..<count` (Fisher–Yates).
  public mutating func permutation(_ count: Int) -> [Int] {
    var values = Array(0..<count)
    for i in stride(from: count - 1, to: 0, by: -1) {
      values.swapAt(i, nextInt(below: i + 1))
    }
    return values
  }
}

/// Elementary functions from IEEE arithmetic alone, so results agree bit for bit across platforms.
enum PortableMath {
  /// Natural logarithm of a positive finite `x`, to about 1 ulp.
  ///
  /// Writes x = m · 2^e with m in [√½, √2), then log m = 2·atanh(s), s = (m − 1)/(m + 1),
  /// |s| ≤ 0.172, summed as an odd series to s²³ (error below 1e-17).
  static func log(_ x: Double) -> Double {
    precondition(x > 0 && x.isFinite, "PortableMath.log: \(x) is not positive and finite")
    var exponent = Double(x.exponent)
    var mantissa = x.significand
    if mantissa > 1.414_213_562_373_095_1 {
      mantissa /= 2
      exponent += 1
    }
    let s = (mantissa - 1) / (mantissa + 1)
    let s2 = s * s
    var series = 1.0 / 23
    for k in stride(from: 21, through: 1, by: -2) { series = series * s2 + 1 / Double(k) }
    return exponent * 0.693_147_180_559_945_3 + 2 * s * series
  }
}
