// Arithmetic: + − × ÷ and negation, tensor–tensor with NumPy broadcasting, and tensor–scalar.
// Each op is its forward kernel followed by its pullback. Pullbacks return gradients of the
// broadcast (output) shape; the tape sums them back to each input's shape. They read the values
// they need from `saved` instead of capturing them, so recording an op allocates no closure; a
// gradient nobody needs (for an input that is not recorded) is not computed.

extension Tensor {
  /// Elementwise sum with broadcasting.
  @inlinable
  public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
    Kernels.zip(lhs, rhs, op: "add", scalar: +, vector: +)
      .recorded(as: "add", lhs, rhs, saving: SavedValues()) { g, _, _ in (g, g) }
  }

  /// Elementwise difference with broadcasting.
  @inlinable
  public static func - (lhs: Tensor, rhs: Tensor) -> Tensor {
    Kernels.zip(lhs, rhs, op: "sub", scalar: -, vector: -)
      .recorded(as: "sub", lhs, rhs, saving: SavedValues()) { g, _, saved in
        (g, saved.secondNeedsGradient ? -g : nil)
      }
  }

  /// Elementwise product with broadcasting.
  @inlinable
  public static func * (lhs: Tensor, rhs: Tensor) -> Tensor {
    Kernels.zip(lhs, rhs, op: "mul", scalar: *, vector: *)
      .recorded(as: "mul", lhs, rhs, saving: SavedValues(lhs, rhs)) { g, _, saved in
        (
          saved.firstNeedsGradient ? g * saved.second : nil,
          saved.secondNeedsGradient ? g * saved.first : nil
        )
      }
  }

  /// Elementwise quotient with broadcasting.
  @inlinable
  public static func / (lhs: Tensor, rhs: Tensor) -> Tensor {
    Kernels.zip(lhs, rhs, op: "div", scalar: /, vector: /)
      .recorded(as: "div", lhs, rhs, saving: SavedValues(lhs, rhs)) { g, quotient, saved in
        (
          saved.firstNeedsGradient ? g / saved.second : nil,
          saved.secondNeedsGradient ? -(g * quotient) / saved.second : nil
        )
      }
  }

  /// Elementwise negation.
  @inlinable
  public static prefix func - (x: Tensor) -> Tensor {
    Tensor(uncheckedShape: x.shape, scalars: Kernels.map(x.scalars, scalar: -, vector: -))
      .recorded(as: "neg", x, saving: SavedValues()) { g, _, _ in (-g, nil) }
  }

  /// Adds a constant to every element.
  @inlinable
  public static func + (lhs: Tensor, rhs: Scalar) -> Tensor {
    let splat = Scalar.Vector(repeating: rhs)
    return Tensor(
      uncheckedShape: lhs.shape,
      scalars: Kernels.map(lhs.scalars, scalar: { $0 + rhs }, vector: { $0 + splat })
    ).recorded(as: "add", lhs, saving: SavedValues()) { g, _, _ in (g, nil) }
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
    ).recorded(as: "scale", lhs, saving: SavedValues(scalar: rhs)) { g, _, saved in
      (g * saved.scalar, nil)
    }
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
