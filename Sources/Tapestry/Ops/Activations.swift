// Activation functions: sigmoid, relu, leakyRelu, softplus, elu, clamp (tanh is in Math.swift).
// Each op is its forward kernel followed by its pullback. At kinks the derivative is PyTorch's
// choice, stated on each op; slopes of piecewise-linear pieces are constants in the pullback,
// which is exact for second derivatives (they are 0 wherever they exist).

/// The logistic sigmoid 1 / (1 + e^−x) elementwise, any shape; values in [0, 1].
///
/// Runs the vectorised kernel (within 3 ulp), finite for every finite input: exactly 1 at
/// x = 1000 and 0 at x = −1000, never NaN. Its derivative y·(1 − y) is computed from the output,
/// in one pass unless a higher-order derivative is being recorded.
@inlinable
public func sigmoid<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  Tensor(
    uncheckedShape: x.shape,
    scalars: Kernels.mapVectors(x.scalars, Kernels.VectorMath.Sigmoid())
  ).recorded(as: "sigmoid", x, saving: SavedValues(keepingOutput: true)) { g, y, _ in
    guard g.node == nil, y.node == nil else { return (g * (y * (1 - y)), nil) }
    return (
      Kernels.zip(
        overwriting: g, y, op: "sigmoid", scalar: { g, y in g * (y * (1 - y)) },
        vector: { g, y in g * (y * (1 - y)) }), nil
    )
  }
}

/// max(x, 0) elementwise, any shape; NaN stays NaN.
///
/// The derivative is 1 for x > 0 and 0 otherwise, including at 0 (as in PyTorch).
@inlinable
public func relu<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  Tensor(
    uncheckedShape: x.shape,
    scalars: Kernels.map(x.scalars, scalar: { $0 < 0 ? 0 : $0 })
  ).recorded(as: "relu", x, saving: SavedValues(x)) { g, _, saved in
    (g * saved.first.constantMap { $0 > 0 ? 1 : 0 }, nil)
  }
}

/// x for x > 0, `negativeSlope`·x otherwise, elementwise, any shape.
///
/// Keeps a small gradient for negative inputs, so units cannot die as they can with ``relu(_:)``.
/// The derivative at 0 is `negativeSlope` (as in PyTorch).
@inlinable
public func leakyRelu<Scalar>(_ x: Tensor<Scalar>, negativeSlope: Scalar = 0.01) -> Tensor<Scalar> {
  Tensor(
    uncheckedShape: x.shape,
    scalars: Kernels.map(x.scalars, scalar: { $0 < 0 ? $0 * negativeSlope : $0 })
  ).recorded(as: "leakyRelu", from: x) { g, _ in
    [g * x.constantMap { $0 > 0 ? 1 : negativeSlope }]
  }
}

/// log(1 + e^x) elementwise, any shape: a smooth relu with values in (0, ∞).
///
/// Computed as max(x, 0) + log1p(e^−|x|), which never overflows (softplus(1000) is 1000, not
/// inf) and keeps full accuracy for very negative x. The derivative is ``sigmoid(_:)``.
@inlinable
public func softplus<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  Tensor(
    uncheckedShape: x.shape,
    scalars: Kernels.map(x.scalars) { Swift.max($0, 0) + Scalar.log1p(Scalar.exp(-$0.magnitude)) }
  ).recorded(as: "softplus", from: x) { g, _ in [g * sigmoid(x)] }
}

/// The exponential linear unit elementwise, any shape: x for x > 0, `alpha`·(e^x − 1) otherwise.
///
/// Smooth at 0 when `alpha` is 1, and saturating at −`alpha` for very negative x. The derivative
/// is 1 for x > 0 and `alpha`·e^x otherwise (`alpha` at 0, as in PyTorch).
@inlinable
public func elu<Scalar>(_ x: Tensor<Scalar>, alpha: Scalar = 1) -> Tensor<Scalar> {
  Tensor(
    uncheckedShape: x.shape,
    scalars: Kernels.map(x.scalars) { $0 > 0 ? $0 : alpha * Scalar.expm1($0) }
  ).recorded(as: "elu", from: x) { g, _ in
    // e^min(x, 0) rather than e^x: a large positive x would make inf, and inf · 0 is NaN.
    let positive = x.constantMap { $0 > 0 ? 1 : 0 }
    let negative = x.constantMap { $0 > 0 ? 0 : alpha }
    return [g * (positive + negative * exp(clamp(x, max: 0)))]
  }
}

/// Each element limited to [`min`, `max`], any shape; NaN stays NaN. Leave out a bound to
/// limit on one side only: `clamp(x, min: 0)` is ``relu(_:)`` with a different derivative at 0.
///
/// The gradient passes where `min` ≤ x ≤ `max` (bounds included, as in PyTorch) and is 0 outside.
/// Traps if `min` > `max`.
@inlinable
public func clamp<Scalar>(
  _ x: Tensor<Scalar>, min lower: Scalar = -.infinity, max upper: Scalar = .infinity
) -> Tensor<Scalar> {
  precondition(
    lower <= upper, "clamp: min \(lower) is greater than max \(upper) (input shape \(x.shape))")
  return Tensor(
    uncheckedShape: x.shape,
    scalars: Kernels.map(x.scalars, scalar: { $0 < lower ? lower : ($0 > upper ? upper : $0) })
  ).recorded(as: "clamp", from: x) { g, _ in
    [g * x.constantMap { $0 >= lower && $0 <= upper ? 1 : 0 }]
  }
}
