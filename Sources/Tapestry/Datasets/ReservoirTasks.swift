import Foundation

// The two standard benchmarks of reservoir computing, generated in Double exactly as the W5
// benchmark (Mackey-Glass) and the literature (NARMA-10) specify, so that figures compare.

/// The Mackey-Glass delay differential equation dx/dt = a·x(t−τ)/(1 + x(t−τ)ⁿ) − b·x(t), the
/// chaotic series of Jaeger & Haas (2004), with τ = 17, a = 0.2, b = 0.1, n = 10 by default.
///
/// Integration follows the W5 benchmark's `esn_defs.mackey_glass` step for step: classic RK4 with
/// step `dt` (0.1: the delay is 170 grid steps), constant history x(t) = `initialValue` (1.2) for
/// t ≤ 0, the delayed value at the half step taken as the mean of its two grid neighbours (k1 uses
/// x(t−τ), k2 and k3 the mean, k4 x(t−τ+dt)); every `subsample`-th grid value (Δt = 1) is kept and
/// the first `transient` (1,000) samples are dropped.
public struct MackeyGlass: Sendable, Hashable {
  /// The delay τ.
  public var tau = 17.0
  /// The production coefficient a.
  public var a = 0.2
  /// The decay coefficient b.
  public var b = 0.1
  /// The exponent n.
  public var exponent = 10.0
  /// The constant history x(t) for t ≤ 0.
  public var initialValue = 1.2
  /// The RK4 step.
  public var dt = 0.1
  /// Grid steps per kept sample.
  public var subsample = 10
  /// Samples dropped at the start.
  public var transient = 1000

  /// The classic τ = 17 system of the W5 benchmark.
  public init() {}

  /// `count` samples x(k·dt·subsample) for k = transient ..< transient + count.
  ///
  /// Traps on a negative count, or a τ that is not a positive multiple of `dt`.
  public func series(count: Int) -> [Double] {
    precondition(count >= 0, "MackeyGlass.series: count \(count) is negative")
    let delay = Int((tau / dt).rounded())
    precondition(
      delay > 0 && abs(Double(delay) * dt - tau) < 1e-9 * tau,
      "MackeyGlass: tau \(tau) is not a positive multiple of dt \(dt)")
    let steps = (transient + count) * subsample
    var x = [Double](repeating: initialValue, count: steps + 1 + delay)
    func f(_ value: Double, _ delayed: Double) -> Double {
      a * delayed / (1 + Foundation.pow(delayed, exponent)) - b * value
    }
    for i in delay..<(delay + steps) {
      let (current, delayed0, delayed1) = (x[i], x[i - delay], x[i - delay + 1])
      let delayedHalf = 0.5 * (delayed0 + delayed1)
      let k1 = f(current, delayed0)
      let k2 = f(current + 0.5 * dt * k1, delayedHalf)
      let k3 = f(current + 0.5 * dt * k2, delayedHalf)
      let k4 = f(current + dt * k3, delayed1)
      x[i + 1] = current + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    }
    return (0..<count).map { x[delay + (transient + $0) * subsample] }
  }

  /// The network signal u = tanh(x − 1) of Jaeger & Haas (2004): ``series(count:)`` squashed into
  /// (−1, 1) around the attractor's middle.
  public func signal(count: Int) -> [Double] {
    series(count: count).map { Foundation.tanh($0 - 1) }
  }
}

/// NARMA-10, the tenth-order nonlinear autoregressive moving average task (Atiya & Parlos 2000):
///
///     y(k+1) = 0.3·y(k) + 0.05·y(k)·Σᵢ₌₀⁹ y(k−i) + 1.5·u(k−9)·u(k) + 0.1,  u(k) ~ U[0, 0.5],
///
/// with y = 0 before the first step. The network sees u(k) and predicts y(k+1): it needs ten steps
/// of memory and a product of inputs nine steps apart.
public enum NARMA10 {
  /// `count` steps: `inputs[k]` = u(k) and `targets[k]` = y(k+1), from `generator`.
  public static func make(count: Int, using generator: inout SeededGenerator)
    -> (inputs: [Double], targets: [Double])
  {
    precondition(count >= 0, "NARMA10.make: count \(count) is negative")
    let inputs = (0..<count).map { _ in 0.5 * generator.nextUnitDouble() }
    var y = [Double](repeating: 0, count: count + 1)
    for k in 0..<count {
      var window = 0.0
      for i in 0...Swift.min(9, k) { window += y[k - i] }
      let delayedInput = k >= 9 ? inputs[k - 9] : 0
      y[k + 1] = 0.3 * y[k] + 0.05 * y[k] * window + 1.5 * delayedInput * inputs[k] + 0.1
    }
    return (inputs, Array(y.dropFirst()))
  }

  /// ``make(count:using:)`` with a generator seeded with `seed`.
  public static func make(count: Int, seed: UInt64) -> (inputs: [Double], targets: [Double]) {
    var generator = SeededGenerator(seed: seed)
    return make(count: count, using: &generator)
  }
}
