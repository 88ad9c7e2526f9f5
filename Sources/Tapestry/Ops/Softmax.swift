// Softmax, log-softmax and log-sum-exp: the normalising ops behind classification losses and
// attention. All three shift by the maximum first, so logits like ±1000 stay finite in Float, and
// each is one primitive whose pullback is written with differentiable ops (any order works).

/// The pieces every op here needs, computed on constants: the shift `m` (the maximum over `axes`,
/// kept as size 1, or 0 where that maximum is not finite so that −∞ rows do not make NaN), the
/// shifted values `x − m`, and `Σ exp(x − m)` (kept as size 1).
@inlinable
func shiftedExponentials<Scalar>(_ x: Tensor<Scalar>, alongAxes axes: [Int]) -> (
  shift: Tensor<Scalar>, shifted: Tensor<Scalar>, exponentials: Tensor<Scalar>,
  total: Tensor<Scalar>
) {
  let input = withoutDerivative(at: x)
  let maximum = input.max(alongAxes: axes, keepingDims: true)
  let shift = Tensor(
    uncheckedShape: maximum.shape,
    scalars: Kernels.map(maximum.scalars) { $0.isFinite ? $0 : 0 })
  let shifted = input - shift
  let exponentials = exp(shifted)
  return (shift, shifted, exponentials, exponentials.sum(alongAxes: axes, keepingDims: true))
}

/// The natural logarithm of a constant, elementwise; forward passes only (it has no pullback).
@inlinable
func constantLog<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  Tensor(uncheckedShape: x.shape, scalars: Kernels.map(x.scalars, scalar: Scalar.log))
}

/// log Σ exp(x) over `axes` (negative counts from the end), computed stably as
/// `m + log Σ exp(x − m)` with `m` the maximum; with `keepingDims` the reduced axes stay as size 1.
///
/// Its gradient is the softmax over the same axes: ∂/∂x = g · exp(x − lse). An all −∞ slice gives
/// −∞ (an empty sum), and a slice containing +∞ gives +∞.
@inlinable
public func logSumExp<Scalar>(
  _ x: Tensor<Scalar>, alongAxes axes: [Int], keepingDims: Bool = false
) -> Tensor<Scalar> {
  let axes = x.normalizedAxes(axes, op: "logSumExp")
  let keptShape = x.reducedShape(axes, keepingDims: true)
  let parts = shiftedExponentials(x, alongAxes: axes)
  let value = constantLog(parts.total) + parts.shift
  return Tensor(
    uncheckedShape: x.reducedShape(axes, keepingDims: keepingDims), scalars: value.scalars
  ).recorded(as: "logSumExp", from: x) { g, y in
    [g.reshaped(to: keptShape) * exp(x - y.reshaped(to: keptShape))]
  }
}

/// log Σ exp(x) over one axis (the last by default); see ``logSumExp(_:alongAxes:keepingDims:)``.
@inlinable
public func logSumExp<Scalar>(
  _ x: Tensor<Scalar>, alongAxis axis: Int = -1, keepingDims: Bool = false
) -> Tensor<Scalar> {
  logSumExp(x, alongAxes: [axis], keepingDims: keepingDims)
}

/// exp(x) normalised to sum to 1 along `axis` (the last by default): `exp(x − m) / Σ exp(x − m)`
/// with `m` the maximum, so it is the same function as `exp(x) / Σ exp(x)` without the overflow.
/// The result has the shape of `x`.
///
/// Pullback, from the output `y`: `y · (g − Σ g·y)`, the sum along `axis`.
@inlinable
public func softmax<Scalar>(_ x: Tensor<Scalar>, alongAxis axis: Int = -1) -> Tensor<Scalar> {
  let axes = x.normalizedAxes([axis], op: "softmax")
  let parts = shiftedExponentials(x, alongAxes: axes)
  return (parts.exponentials / parts.total).recorded(as: "softmax", from: x) { g, y in
    [y * (g - (g * y).sum(alongAxes: axes, keepingDims: true))]
  }
}

/// The logarithm of ``softmax(_:alongAxis:)`` along `axis` (the last by default), computed as
/// `(x − m) − log Σ exp(x − m)`: stable where `log(softmax(x))` would take the log of an
/// underflowed 0. The result has the shape of `x`.
///
/// Pullback, from the output `y`: `g − exp(y) · Σ g`, the sum along `axis` (`exp(y)` is the
/// softmax).
@inlinable
public func logSoftmax<Scalar>(_ x: Tensor<Scalar>, alongAxis axis: Int = -1) -> Tensor<Scalar> {
  let axes = x.normalizedAxes([axis], op: "logSoftmax")
  let parts = shiftedExponentials(x, alongAxes: axes)
  return (parts.shifted - constantLog(parts.total)).recorded(as: "logSoftmax", from: x) { g, y in
    [g - exp(y) * g.sum(alongAxes: axes, keepingDims: true)]
  }
}
