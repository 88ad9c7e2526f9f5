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
      .recorded(as: "add", lhs, rhs, saving: SavedValues()) { g, _, saved in
        // A copy of the gradient handed to a constant would only be retained and dropped.
        (saved.firstNeedsGradient ? g : nil, saved.secondNeedsGradient ? g : nil)
      }
  }

  /// Elementwise difference with broadcasting.
  @inlinable
  public static func - (lhs: Tensor, rhs: Tensor) -> Tensor {
    Kernels.zip(lhs, rhs, op: "sub", scalar: -, vector: -)
      .recorded(as: "sub", lhs, rhs, saving: SavedValues()) { g, _, saved in
        (saved.firstNeedsGradient ? g : nil, saved.secondNeedsGradient ? -g : nil)
      }
  }

  /// Elementwise product with broadcasting.
  @inlinable
  public static func * (lhs: Tensor, rhs: Tensor) -> Tensor {
    // Each factor is saved only for the other's gradient: with one side a constant, one
    // tensor fewer to retain, release and keep alive until the backward pass.
    Kernels.zip(lhs, rhs, op: "mul", scalar: *, vector: *)
      .recorded(
        as: "mul", lhs, rhs,
        saving: SavedValues(
          rhs.isRecorded ? lhs : .placeholder, lhs.isRecorded ? rhs : .placeholder)
      ) {
        g, first, second, inputs, saved in
        if saved.firstNeedsGradient {
          Tensor.accumulate(g, times: saved.second, into: &first, shape: inputs.firstShape)
        }
        if saved.secondNeedsGradient {
          Tensor.accumulate(g, times: saved.first, into: &second, shape: inputs.secondShape)
        }
      }
  }

  /// Adds `g · x`, summed back to `shape`, into `total`, the running gradient of a factor of
  /// that shape (`nil`: none yet).
  ///
  /// When nothing is recorded or broadcast the product goes straight into the total, in one
  /// pass and without a temporary; otherwise it is formed with differentiable ops and added.
  @inlinable
  static func accumulate(
    _ g: Tensor, times x: Tensor, into total: inout Tensor?, shape: TensorShape
  ) {
    if g.node == nil, x.node == nil, g.shape == shape, x.shape == shape,
      var whole = total.take()
    {
      guard whole.node == nil else {
        total = whole + g * x
        return
      }
      let width = Scalar.Vector.scalarCount
      g.elements.withUnsafeBufferPointer { pg in
        x.elements.withUnsafeBufferPointer { px in
          whole.elements.withUnsafeMutableBufferPointer { out in
            let n = out.count
            var i = 0
            while i + width <= n {
              let product =
                Scalar.Vector.loadUnaligned(from: pg, at: i)
                * Scalar.Vector.loadUnaligned(from: px, at: i)
              (Scalar.Vector.loadUnaligned(from: out, at: i) + product).storeUnaligned(
                to: out, at: i)
              i += width
            }
            while i < n {
              out[i] += pg[i] * px[i]
              i += 1
            }
          }
        }
      }
      total = whole
      return
    }
    var product = g * x
    if product.shape != shape { product = product.summed(toShape: shape, op: "mul") }
    add(product, into: &total)
  }

  /// Adds `addend` into `total`, a running gradient of the same shape (`nil`: none yet): in the
  /// total's buffer when neither is recorded, with a differentiable `+` when either is.
  ///
  /// Taken out of its optional, the total is the only reference to its buffer (unless a hook or
  /// the caller kept it), so adding in place does not copy.
  @inlinable
  static func add(_ addend: Tensor, into total: inout Tensor?) {
    guard var whole = total.take() else {
      total = addend
      return
    }
    if whole.node == nil && addend.node == nil {
      whole.add(addend)
    } else {
      whole = whole + addend
    }
    total = whole
  }

  /// Elementwise quotient with broadcasting.
  @inlinable
  public static func / (lhs: Tensor, rhs: Tensor) -> Tensor {
    Kernels.zip(lhs, rhs, op: "div", scalar: /, vector: /)
      .recorded(as: "div", lhs, rhs, saving: SavedValues(.placeholder, rhs, keepingOutput: true)) {
        g, quotient, saved in
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
