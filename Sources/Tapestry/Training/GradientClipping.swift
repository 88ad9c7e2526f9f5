/// What a gradient-clipping call saw and did.
///
/// A non-finite norm (a NaN or infinite gradient somewhere) is reported here rather than spread:
/// PyTorch's `clip_grad_norm_` would multiply every gradient by max/NaN and poison the whole
/// model, whereas Tapestry leaves the gradients as they were and lets the caller decide (skip the
/// step, lower the learning rate, stop). Check ``isFinite`` before updating.
public struct ClippingReport<Scalar: TensorScalar>: Equatable, Sendable {
  /// The norm before clipping: the global or per-parameter norm, or the largest |gradient| for
  /// clipping by value. NaN if any gradient element is NaN, infinity if one is infinite.
  public let norm: Scalar
  /// Whether any gradient was changed.
  public let clipped: Bool

  /// Whether ``norm`` is finite; when it is not, nothing was clipped.
  public var isFinite: Bool { norm.isFinite }
}

extension ParameterGradients {
  /// Scales all gradients together so that their global norm is at most `maxNorm`: PyTorch's
  /// `clip_grad_norm_`, with its formula.
  ///
  /// The global norm is the `normType`-norm of the per-parameter norms (the norm of all
  /// gradients as one vector); every gradient is multiplied by `maxNorm / (norm + 1e-6)` when
  /// that is below 1. The 1e-6 keeps the division safe at zero and leaves the clipped norm just
  /// under `maxNorm`. Scaling all gradients by one factor keeps the update's direction, which
  /// is what makes this the usual remedy for exploding gradients in recurrent networks.
  ///
  /// A non-finite norm leaves every gradient unchanged; the report says so. Traps unless
  /// `maxNorm` ≥ 0 and `normType` > 0 (`.infinity` for the largest |element|; default 2).
  public mutating func clipGlobalNorm(to maxNorm: Scalar, normType: Scalar = 2)
    -> ClippingReport<Scalar>
  {
    checkClipping(maxNorm, normType: normType, in: "clipGlobalNorm(to:normType:)")
    let norms = entries.map { vectorNorm($0.gradient.scalars, normType) }
    let norm = vectorNorm(norms, normType)
    let factor = clippingFactor(norm: norm, maxNorm: maxNorm)
    if let factor {
      for index in entries.indices { entries[index].gradient = entries[index].gradient * factor }
    }
    return ClippingReport(norm: norm, clipped: factor != nil)
  }

  /// Scales each parameter's gradient on its own so that its norm is at most `maxNorm`, with
  /// ``clipGlobalNorm(to:normType:)``'s formula applied per parameter; one report per
  /// parameter, in order.
  ///
  /// Unlike global clipping this changes the update's direction, but one exploding weight
  /// matrix cannot shrink the others' steps. A parameter whose norm is not finite keeps its
  /// gradient (and its report says so); the others are still clipped. Traps unless `maxNorm` ≥ 0
  /// and `normType` > 0.
  public mutating func clipEachNorm(to maxNorm: Scalar, normType: Scalar = 2)
    -> [(name: String, report: ClippingReport<Scalar>)]
  {
    checkClipping(maxNorm, normType: normType, in: "clipEachNorm(to:normType:)")
    return entries.indices.map { index in
      let norm = vectorNorm(entries[index].gradient.scalars, normType)
      let factor = clippingFactor(norm: norm, maxNorm: maxNorm)
      if let factor { entries[index].gradient = entries[index].gradient * factor }
      return (entries[index].name, ClippingReport(norm: norm, clipped: factor != nil))
    }
  }

  /// Limits every gradient element to [−`limit`, `limit`]: PyTorch's `clip_grad_value_`.
  ///
  /// The report's norm is the largest |element| before clipping. If any element is NaN or
  /// infinite, nothing is changed (PyTorch would clamp an infinity to ±`limit`, hiding it); the
  /// report says so. Traps unless `limit` ≥ 0.
  public mutating func clipValues(to limit: Scalar) -> ClippingReport<Scalar> {
    precondition(
      limit.isFinite && limit >= 0, "clipValues(to:): invalid limit \(limit), must be ≥ 0")
    let largest = vectorNorm(entries.map { vectorNorm($0.gradient.scalars, .infinity) }, .infinity)
    guard largest.isFinite, largest > limit else {
      return ClippingReport(norm: largest, clipped: false)
    }
    for index in entries.indices {
      entries[index].gradient = clamp(entries[index].gradient, min: -limit, max: limit)
    }
    return ClippingReport(norm: largest, clipped: true)
  }
}

/// Traps unless `maxNorm` ≥ 0 and `normType` > 0 (infinity allowed), naming `function`.
private func checkClipping<Scalar: TensorScalar>(
  _ maxNorm: Scalar, normType: Scalar, in function: String
) {
  precondition(maxNorm.isFinite && maxNorm >= 0, "\(function): invalid maxNorm \(maxNorm)")
  precondition(normType > 0, "\(function): invalid normType \(normType), must be > 0")
}

/// The factor PyTorch multiplies by, `maxNorm / (norm + 1e-6)`, when it is below 1; `nil` when
/// the gradients stay as they are (already small enough, or a non-finite norm).
private func clippingFactor<Scalar: TensorScalar>(norm: Scalar, maxNorm: Scalar) -> Scalar? {
  guard norm.isFinite else { return nil }
  let factor = maxNorm / (norm + Scalar(1e-6))
  return factor < 1 ? factor : nil
}

/// The `p`-norm of `values` (largest |value| for p = ∞); NaN if any value is NaN, so a NaN can
/// never hide behind a maximum or a larger infinity.
private func vectorNorm<Scalar: TensorScalar>(_ values: [Scalar], _ p: Scalar) -> Scalar {
  if values.contains(where: \.isNaN) { return .nan }
  if p == .infinity { return values.lazy.map(\.magnitude).max() ?? 0 }
  if p == 2 { return values.reduce(0) { $0 + $1 * $1 }.squareRoot() }
  if p == 1 { return values.reduce(0) { $0 + $1.magnitude } }
  return Scalar.pow(values.reduce(0) { $0 + Scalar.pow($1.magnitude, p) }, 1 / p)
}
