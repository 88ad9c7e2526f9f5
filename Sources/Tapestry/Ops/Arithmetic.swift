// Arithmetic: + − × ÷ and negation, tensor–tensor with NumPy broadcasting, and tensor–scalar.
// Each op is its forward kernel followed by its pullback. Pullbacks return gradients of the
// broadcast (output) shape; the tape sums them back to each input's shape.

extension Tensor {
  /// Elementwise sum with broadcasting.
  @inlinable
  public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
    Kernels.zip(lhs, rhs, op: "add", scalar: +, vector: +)
      .recorded(as: "add", from: lhs, rhs) { g, _ in [g, g] }
  }

  /// Elementwise difference with broadcasting.
  @inlinable
  public static func - (lhs: Tensor, rhs: Tensor) -> Tensor {
    Kernels.zip(lhs, rhs, op: "sub", scalar: -, vector: -)
      .recorded(as: "sub", from: lhs, rhs) { g, _ in [g, -g] }
  }

  /// Elementwise product with broadcasting.
  @inlinable
  public static func * (lhs: Tensor, rhs: Tensor) -> Tensor {
    Kernels.zip(lhs, rhs, op: "mul", scalar: *, vector: *)
      .recorded(as: "mul", from: lhs, rhs) { g, _ in [g * rhs, g * lhs] }
  }

  /// Elementwise quotient with broadcasting.
  @inlinable
  public static func / (lhs: Tensor, rhs: Tensor) -> Tensor {
    Kernels.zip(lhs, rhs, op: "div", scalar: /, vector: /)
      .recorded(as: "div", from: lhs, rhs) { g, quotient in [g / rhs, -(g * quotient) / rhs] }
  }

  /// Elementwise negation.
  @inlinable
  public static prefix func - (x: Tensor) -> Tensor {
    Tensor(uncheckedShape: x.shape, scalars: Kernels.map(x.scalars, scalar: -, vector: -))
      .recorded(as: "neg", from: x) { g, _ in [-g] }
  }

  /// Adds a constant to every element.
  @inlinable
  public static func + (lhs: Tensor, rhs: Scalar) -> Tensor {
    let splat = Scalar.Vector(repeating: rhs)
    return Tensor(
      uncheckedShape: lhs.shape,
      scalars: Kernels.map(lhs.scalars, scalar: { $0 + rhs }, vector: { $0 + splat })
    ).recorded(as: "add", from: lhs) { g, _ in [g] }
  }

  /// Adds a constant to every element.
  @inlinable
  public static func + (lhs: Scalar, rhs: Tensor) -> Tensor { rhs + lhs }

  /// Subtracts a constant from every element.
  @inlinable
  public static func - (lhs: Tensor, rhs: Scalar) -> Tensor { lhs + (-rhs) }

  /// A constant minus every element.
  @inlinable
  public static func - (lhs: Scalar, rhs: Tensor) -> Tensor { -rhs + lhs }

  /// Multiplies every element by a constant.
  @inlinable
  public static func * (lhs: Tensor, rhs: Scalar) -> Tensor {
    let splat = Scalar.Vector(repeating: rhs)
    return Tensor(
      uncheckedShape: lhs.shape,
      scalars: Kernels.map(lhs.scalars, scalar: { $0 * rhs }, vector: { $0 * splat })
    ).recorded(as: "scale", from: lhs) { g, _ in [g * rhs] }
  }

  /// Multiplies every element by a constant.
  @inlinable
  public static func * (lhs: Scalar, rhs: Tensor) -> Tensor { rhs * lhs }

  /// Divides every element by a constant.
  @inlinable
  public static func / (lhs: Tensor, rhs: Scalar) -> Tensor { lhs * (Scalar(1) / rhs) }

  /// A constant divided by every element.
  @inlinable
  public static func / (lhs: Scalar, rhs: Tensor) -> Tensor {
    Tensor(filled: lhs, like: rhs) / rhs
  }

  /// Adds `rhs` in place (the result is a new recorded value when either side is recorded).
  @inlinable
  public static func += (lhs: inout Tensor, rhs: Tensor) { lhs = lhs + rhs }

  /// Subtracts `rhs` in place.
  @inlinable
  public static func -= (lhs: inout Tensor, rhs: Tensor) { lhs = lhs - rhs }

  /// Multiplies by `rhs` in place.
  @inlinable
  public static func *= (lhs: inout Tensor, rhs: Tensor) { lhs = lhs * rhs }

  /// Divides by `rhs` in place.
  @inlinable
  public static func /= (lhs: inout Tensor, rhs: Tensor) { lhs = lhs / rhs }

  /// A constant tensor with `other`'s shape, every element `value`.
  @inlinable
  init(filled value: Scalar, like other: Tensor) {
    self.init(uncheckedShape: other.shape, scalars: [Scalar](repeating: value, count: other.count))
  }
}
