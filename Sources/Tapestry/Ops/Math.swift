// Elementwise mathematical functions: exp, log, pow, sqrt, abs, square, tanh.
// Each op is its forward kernel followed by its pullback, written with differentiable ops so that
// second derivatives work. Kinks (abs at 0) take PyTorch's subgradient.

/// e^x elementwise, any shape.
///
/// Runs the vectorised kernel (within 2 ulp in Float, 1 ulp in Double); overflows to inf above
/// about 88.7 (Float) or 709.8 (Double). The derivative is the output itself.
@inlinable
public func exp<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  Tensor(
    uncheckedShape: x.shape, scalars: Kernels.mapVectors(x.scalars, Kernels.VectorMath.Exp())
  ).recorded(as: "exp", x, saving: SavedValues(keepingOutput: true)) { g, y, _ in (g * y, nil) }
}

/// Natural logarithm elementwise, any shape: −inf at 0 and NaN for negative elements.
@inlinable
public func log<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  Tensor(uncheckedShape: x.shape, scalars: Kernels.map(x.scalars, scalar: Scalar.log))
    .recorded(as: "log", x, saving: SavedValues(x)) { g, _, saved in (g / saved.first, nil) }
}

/// Square root elementwise, any shape: NaN for negative elements.
///
/// The derivative 1 / (2√x) is computed from the output; it is inf at 0, as in PyTorch.
@inlinable
public func sqrt<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  Tensor(
    uncheckedShape: x.shape,
    scalars: Kernels.map(x.scalars, scalar: { $0.squareRoot() })
  ).recorded(as: "sqrt", x, saving: SavedValues(keepingOutput: true)) { g, y, _ in
    (g / (2 * y), nil)
  }
}

/// |x| elementwise, any shape.
///
/// The derivative is sign(x), taking 0 at x = 0 (PyTorch's subgradient), so a minimum at 0 is a
/// fixed point of gradient descent rather than a point it oscillates around.
@inlinable
public func abs<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  Tensor(
    uncheckedShape: x.shape,
    scalars: Kernels.map(x.scalars, scalar: { $0.magnitude })
  ).recorded(as: "abs", from: x) { g, _ in
    [g * x.constantMap { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }]
  }
}

/// x² elementwise, any shape.
@inlinable
public func square<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  Tensor(
    uncheckedShape: x.shape,
    scalars: Kernels.map(x.scalars, scalar: { $0 * $0 }, vector: { $0 * $0 })
  )
  .recorded(as: "square", x, saving: SavedValues(x)) { g, _, saved in (g * (2 * saved.first), nil) }
}

extension Tensor {
  /// Every element squared: the same as ``square(_:)``, reading left to right in a chain
  /// (`(y - target).squared().mean()`).
  @inlinable
  public func squared() -> Tensor { square(self) }
}

/// x^y elementwise with broadcasting: `x` and `y` may have any shapes that broadcast together.
///
/// Follows C's `pow`: a negative base with a non-integer exponent gives NaN.
///
/// Derivatives: ∂/∂x = y·x^(y−1), taken as 0 where y = 0 (so 0^0 has no NaN gradient);
/// ∂/∂y = x^y·log x, taken as 0 where x = 0 and y ≥ 0 (the limit, as in PyTorch). The exponent's
/// derivative involves log x, so it is NaN for a negative base: differentiate with respect to
/// the exponent only where the base is positive.
@inlinable
public func pow<Scalar>(_ x: Tensor<Scalar>, _ y: Tensor<Scalar>) -> Tensor<Scalar> {
  Kernels.zip(
    x, y, op: "pow", scalar: Scalar.pow,
    vector: { base, exponent in
      var result = base
      for lane in base.indices { result[lane] = Scalar.pow(base[lane], exponent[lane]) }
      return result
    }
  ).recorded(as: "pow", from: x, y) { g, z in
    // Where the derivative is defined as 0, the exponent of 0^(y−1) is shifted to 0^0 and the
    // base of log 0 to log 1: that keeps NaN (0·inf) out of the gradient and its derivatives.
    var gradients: [Tensor<Scalar>?] = [nil, nil]
    if x.isRecorded {
      let exponentIsZero = Kernels.zip(
        x, y, op: "pow", scalar: { _, b in b == 0 ? 1 : 0 },
        vector: { _, b in Scalar.Vector.zero.replacing(with: 1, where: b .== 0) })
      gradients[0] = g * (y * pow(x, y - 1 + exponentIsZero))
    }
    if y.isRecorded {
      let baseIsZero = Kernels.zip(
        x, y, op: "pow", scalar: { a, b in a == 0 && b >= 0 ? 1 : 0 },
        vector: { a, b in Scalar.Vector.zero.replacing(with: 1, where: (a .== 0) .& (b .>= 0)) })
      gradients[1] = g * (z * log(x + baseIsZero))
    }
    return gradients
  }
}

/// x^p elementwise for a constant exponent `p`, any shape.
///
/// Follows C's `pow`: a negative base with a non-integer `p` gives NaN. The derivative p·x^(p−1)
/// is 0 everywhere when `p` is 0.
@inlinable
public func pow<Scalar>(_ x: Tensor<Scalar>, _ p: Scalar) -> Tensor<Scalar> {
  // x·x is what the library's pow returns for p = 2 (both correctly rounded), only faster.
  let scalars =
    p == 2
    ? Kernels.map(x.scalars, scalar: { $0 * $0 }, vector: { $0 * $0 })
    : Kernels.map(x.scalars, scalar: { Scalar.pow($0, p) })
  return Tensor(uncheckedShape: x.shape, scalars: scalars)
    .recorded(as: "pow", from: x) { g, _ in [p == 0 ? nil : g * (p * pow(x, p - 1))] }
}

/// Hyperbolic tangent elementwise, any shape.
///
/// Runs the vectorised kernel (within 3 ulp, exact ±1 for large |x|); its derivative 1 − tanh²
/// is computed from the output, in one pass unless a higher-order derivative is being recorded.
@inlinable
public func tanh<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  Tensor(
    uncheckedShape: x.shape, scalars: Kernels.mapVectors(x.scalars, Kernels.VectorMath.Tanh())
  ).recorded(as: "tanh", x, saving: SavedValues(keepingOutput: true)) { g, y, _ in
    guard g.node == nil, y.node == nil else { return (g * (1 - y * y), nil) }
    return (
      Kernels.zip(
        overwriting: g, y, op: "tanh", scalar: { g, y in g * (1 - y * y) },
        vector: { g, y in g * (1 - y * y) }),
      nil
    )
  }
}

extension Tensor {
  /// A constant (unrecorded) tensor of this shape with `f` applied to each element: the local
  /// slopes of piecewise-linear ops. Their derivative is 0 wherever it exists, so treating them
  /// as constants in a pullback gives correct second derivatives.
  @inlinable
  func constantMap(_ f: (Scalar) -> Scalar) -> Tensor {
    Tensor(uncheckedShape: shape, scalars: Kernels.map(scalars, scalar: f))
  }
}
