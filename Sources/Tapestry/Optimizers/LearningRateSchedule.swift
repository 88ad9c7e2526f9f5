import Foundation

/// A learning rate as a function of the step (or epoch) count, in closed form.
///
/// PyTorch's schedulers mutate the optimiser's rate step by step; these are the closed forms of
/// the same schedules (`StepLR`, `ExponentialLR`, `CosineAnnealingLR`, `LinearLR` followed by
/// another through `SequentialLR`), so a rate can be asked for at any step, in any order, and a
/// resumed run needs no scheduler state. Apply one with ``Optimizer/follow(_:)`` before each
/// update, or set ``Optimizer/learningRate`` yourself.
public protocol LearningRateSchedule: Sendable {
  /// The learning rate for step `step` (counting from 0).
  func learningRate(at step: Int) -> Double
}

extension Optimizer {
  /// Sets ``learningRate`` to `schedule`'s rate at the current ``step``: call it before each
  /// ``update(_:)`` (PyTorch's `scheduler.step()` after the update is the same thing).
  public func follow(_ schedule: some LearningRateSchedule) {
    learningRate = schedule.learningRate(at: step)
  }
}

/// One learning rate for every step: what ``LinearWarmup`` warms up to when nothing follows.
public struct ConstantLearningRate: LearningRateSchedule {
  /// The rate.
  public let value: Double

  /// A constant schedule. Traps on a negative rate.
  public init(_ value: Double) {
    checkNonNegative(value, "learning rate", in: "ConstantLearningRate")
    self.value = value
  }

  /// `value`, whatever the step.
  public func learningRate(at step: Int) -> Double { value }
}

/// Decay by `gamma` every `stepSize` steps: γ₀ · gamma^⌊step / stepSize⌋ (PyTorch's `StepLR`,
/// default gamma 0.1).
public struct StepDecay: LearningRateSchedule {
  /// γ₀, the rate at step 0.
  public let initial: Double
  /// The number of steps between decays.
  public let stepSize: Int
  /// The factor applied at each decay.
  public let gamma: Double

  /// A step schedule. Traps unless `initial` and `gamma` are non-negative and `stepSize` is
  /// positive.
  public init(initial: Double, stepSize: Int, gamma: Double = 0.1) {
    checkNonNegative(initial, "initial learning rate", in: "StepDecay")
    checkNonNegative(gamma, "gamma", in: "StepDecay")
    precondition(stepSize > 0, "StepDecay: step size \(stepSize) must be positive")
    self.initial = initial
    self.stepSize = stepSize
    self.gamma = gamma
  }

  /// γ₀ · gamma^⌊step / stepSize⌋.
  public func learningRate(at step: Int) -> Double {
    initial * Foundation.pow(gamma, Double(step / stepSize))
  }
}

/// Decay by `gamma` every step: γ₀ · gamma^step (PyTorch's `ExponentialLR`).
public struct ExponentialDecay: LearningRateSchedule {
  /// γ₀, the rate at step 0.
  public let initial: Double
  /// The factor applied each step.
  public let gamma: Double

  /// An exponential schedule. Traps on a negative `initial` or `gamma`.
  public init(initial: Double, gamma: Double) {
    checkNonNegative(initial, "initial learning rate", in: "ExponentialDecay")
    checkNonNegative(gamma, "gamma", in: "ExponentialDecay")
    self.initial = initial
    self.gamma = gamma
  }

  /// γ₀ · gamma^step.
  public func learningRate(at step: Int) -> Double {
    initial * Foundation.pow(gamma, Double(step))
  }
}

/// Half a cosine from γ₀ down to `etaMin` over `tMax` steps, without restarts:
/// etaMin + (γ₀ − etaMin)(1 + cos(π · step / tMax)) / 2 (PyTorch's `CosineAnnealingLR`, default
/// etaMin 0).
///
/// Past `tMax` the formula keeps going, climbing back up as PyTorch's does; stop training at
/// `tMax` or wrap the step yourself if that is not what you want.
public struct CosineAnnealing: LearningRateSchedule {
  /// γ₀, the rate at step 0.
  public let initial: Double
  /// The number of steps to reach `etaMin`.
  public let tMax: Int
  /// The lowest rate.
  public let etaMin: Double

  /// A cosine schedule. Traps unless the rates are non-negative and `tMax` is positive.
  public init(initial: Double, tMax: Int, etaMin: Double = 0) {
    checkNonNegative(initial, "initial learning rate", in: "CosineAnnealing")
    checkNonNegative(etaMin, "etaMin", in: "CosineAnnealing")
    precondition(tMax > 0, "CosineAnnealing: tMax \(tMax) must be positive")
    self.initial = initial
    self.tMax = tMax
    self.etaMin = etaMin
  }

  /// etaMin + (γ₀ − etaMin)(1 + cos(π · step / tMax)) / 2.
  public func learningRate(at step: Int) -> Double {
    etaMin + (initial - etaMin) * (1 + Foundation.cos(Double.pi * Double(step) / Double(tMax))) / 2
  }
}

/// A linear ramp over the first `warmupSteps` steps up to the rate where `then` starts, followed
/// by `then` (restarted at its step 0): PyTorch's `LinearLR(start_factor, 1, warmupSteps)` and
/// then another scheduler through `SequentialLR(milestones: [warmupSteps])`.
///
/// During the ramp the rate is γ₀ · (s + (1 − s) · step / warmupSteps), where γ₀ is `then`'s rate
/// at its step 0 and s the start factor (PyTorch's default 1/3). Warm-up keeps the first updates
/// small while adaptive optimisers' statistics are still noisy.
public struct LinearWarmup: LearningRateSchedule {
  /// The number of steps of the ramp.
  public let warmupSteps: Int
  /// The fraction of the target rate used at step 0.
  public let startFactor: Double
  /// The schedule after the ramp.
  public let then: any LearningRateSchedule

  /// A warm-up into `then`. Traps unless `warmupSteps` is positive and `startFactor` in (0, 1]
  /// (PyTorch's bounds).
  public init(warmupSteps: Int, startFactor: Double = 1.0 / 3, then: any LearningRateSchedule) {
    precondition(warmupSteps > 0, "LinearWarmup: warmupSteps \(warmupSteps) must be positive")
    precondition(
      startFactor > 0 && startFactor <= 1,
      "LinearWarmup: start factor \(startFactor) must be in (0, 1]")
    self.warmupSteps = warmupSteps
    self.startFactor = startFactor
    self.then = then
  }

  /// The ramp's value before `warmupSteps`, `then`'s rate at `step − warmupSteps` after.
  public func learningRate(at step: Int) -> Double {
    guard step < warmupSteps else { return then.learningRate(at: step - warmupSteps) }
    let target = then.learningRate(at: 0)
    return target * (startFactor + (1 - startFactor) * Double(step) / Double(warmupSteps))
  }
}
