// Arithmetic: + − × ÷ and negation, tensor–tensor with NumPy broadcasting, and tensor–scalar.
// Each op is its forward kernel followed by its pullback. Pullbacks return gradients of the
// broadcast (output) shape; the tape sums them back to each input's shape. They read the values
// they need from `saved` instead of capturing them, so recording an op allocates no closure; a
// gradient nobody needs (for an input that is not recorded) is not computed.

extension Tensor {
  /// Elementwise sum with broadcasting.
  @inlinable
  public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
    Kernels.zip(lhs, rhs, op: "add", scalar: +, vector: +).recordedSum(lhs, rhs)
  }

  /// Records `self`, the sum `lhs + rhs` however it was computed, as an `add` entry.
  @inlinable
  consuming func recordedSum(_ lhs: Tensor, _ rhs: Tensor) -> Tensor {
    recorded(as: "add", lhs, rhs, saving: SavedValues()) { g, _, saved in
      Tensor.sumGradients(g, saved)
    }
  }

  /// The pullback of a sum: the gradient itself, for each input that wants one.
  @inlinable
  static func sumGradients(_ g: Tensor, _ saved: SavedValues<Scalar>) -> (Tensor?, Tensor?) {
    // A copy of the gradient handed to a constant would only be retained and dropped.
    (saved.firstNeedsGradient ? g : nil, saved.secondNeedsGradient ? g : nil)
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
    Kernels.zip(lhs, rhs, op: "mul", scalar: *, vector: *).recordedMul(lhs, rhs)
  }

  /// Records `self`, the elementwise product `lhs * rhs` however it was computed, as a `mul`
  /// entry.
  @inlinable
  consuming func recordedMul(_ lhs: Tensor, _ rhs: Tensor) -> Tensor {
    recorded(as: "mul", lhs, rhs, saving: Tensor.mulSavedValues(lhs, rhs)) {
      g, first, second, inputs, saved in
      Tensor.accumulateMulGradients(g, into: &first, &second, inputs: inputs, saved: saved)
    }
  }

  /// What the pullback of `lhs * rhs` reads: each factor is saved only for the other's
  /// gradient, so with one side a constant there is one tensor fewer to retain, release and keep
  /// alive until the backward pass.
  @inlinable
  static func mulSavedValues(_ lhs: Tensor, _ rhs: Tensor) -> SavedValues<Scalar> {
    SavedValues(rhs.isRecorded ? lhs : .placeholder, lhs.isRecorded ? rhs : .placeholder)
  }

  /// The pullback of an elementwise product, adding `g · other factor` into each factor's total.
  @inlinable
  static func accumulateMulGradients(
    _ g: consuming Tensor, into first: inout Tensor?, _ second: inout Tensor?,
    inputs: PullbackInputs<Scalar>, saved: SavedValues<Scalar>
  ) {
    if saved.firstNeedsGradient {
      accumulate(g, times: saved.second, into: &first, shape: inputs.firstShape)
    }
    if saved.secondNeedsGradient {
      accumulate(overwriting: g, times: saved.first, into: &second, shape: inputs.secondShape)
    }
  }

  /// ``accumulate(_:times:into:shape:)`` at the last use of `g`: a factor's first gradient, when
  /// it is the whole product, is written over `g`'s elements instead of into a new buffer, also
  /// when the other factor `x` was repeated along leading axes (the cell state's gradient through
  /// a peephole `w ⊙ c`, `x` being `w`).
  @inlinable
  static func accumulate(
    overwriting g: consuming Tensor, times x: Tensor, into total: inout Tensor?,
    shape: TensorShape
  ) {
    guard total == nil, g.node == nil, x.node == nil, productHasShape(g, times: x, shape)
    else {
      return accumulate(g, times: x, into: &total, shape: shape)
    }
    total = Kernels.zip(overwriting: g, x, op: "mul", scalar: *, vector: *)
  }

  /// Whether `g · x` has `shape` itself: `g` has it, and `x` too or repeated along leading axes.
  @inlinable
  static func productHasShape(_ g: Tensor, times x: Tensor, _ shape: TensorShape) -> Bool {
    g.shape == shape && (x.shape == shape || leadingRepeats(of: x.shape, in: shape) != nil)
  }

  /// Adds `g · x`, summed back to `shape`, into `total`, the running gradient of a factor of
  /// that shape (`nil`: none yet).
  ///
  /// When nothing is recorded and the factor was used whole or repeated along leading axes (a
  /// peephole `[H]` against a batch `[B, H]`), the product goes straight into the total, in one
  /// pass and without a temporary; so it does when `x` was the one repeated (the cell state's
  /// gradient through a peephole, `x` being the peephole). Otherwise it is formed with
  /// differentiable ops and added.
  @inlinable
  static func accumulate(
    _ g: Tensor, times x: Tensor, into total: inout Tensor?, shape: TensorShape
  ) {
    guard g.node == nil, x.node == nil, total?.node == nil else {
      return add(g * x, summedTo: shape, op: "mul", into: &total)
    }
    if productHasShape(g, times: x, shape) {
      // The first gradient of the factor is the product itself: no zeros to add it to.
      guard var whole = total.take() else {
        total = Kernels.zip(g, x, op: "mul", scalar: *, vector: *)
        return
      }
      g.elements.withUnsafeBufferPointer { pg in
        x.elements.withUnsafeBufferPointer { px in
          whole.elements.withUnsafeMutableBufferPointer { out in
            // `addRow` is `addProducts` for equal periods without its run arithmetic.
            if px.count == pg.count {
              Kernels.addRow(pg, times: px, at: 0, into: out)
            } else {
              Kernels.addProducts(UnsafeBufferPointer(out), pg, pg.count, px, px.count, into: out)
            }
          }
        }
      }
      total = whole
      return
    }
    if g.shape == x.shape, leadingRepeats(of: shape, in: g.shape) != nil {
      // The factor was repeated over the batch: its gradient is the rows of `g · x` summed.
      var whole = total.take() ?? Tensor.zeros(shape)
      g.elements.withUnsafeBufferPointer { pg in
        x.elements.withUnsafeBufferPointer { px in
          whole.elements.withUnsafeMutableBufferPointer { out in
            Kernels.addRowSums(pg, times: px, into: out)
          }
        }
      }
      total = whole
      return
    }
    add(g * x, summedTo: shape, op: "mul", into: &total)
  }

  /// Adds `addend`, summed back to `shape` (the shape it was broadcast from, or its own), into
  /// `total`, a running gradient of that shape (`nil`: none yet); `op` names the op whose
  /// gradient it is, for the message when the shapes do not fit.
  ///
  /// A gradient repeated along leading axes (a bias's over a batch) is summed row by row straight
  /// into the total when nothing is recorded; any other broadcast is reduced first.
  @inlinable
  static func add(
    _ addend: consuming Tensor, summedTo shape: TensorShape, op: String,
    into total: inout Tensor?
  ) {
    guard addend.shape != shape else { return add(addend, into: &total) }
    guard addend.node == nil, total?.node == nil,
      leadingRepeats(of: shape, in: addend.shape) != nil
    else { return add(addend.summed(toShape: shape, op: op), into: &total) }
    var whole = total.take() ?? Tensor.zeros(shape)
    addend.elements.withUnsafeBufferPointer { source in
      whole.elements.withUnsafeMutableBufferPointer { out in
        Kernels.addRowSums(source, times: nil, into: out)
      }
    }
    total = whole
  }

  /// Adds `addend` into `total`, a running gradient of the same shape (`nil`: none yet): in the
  /// total's buffer when neither is recorded, with a differentiable `+` when either is.
  ///
  /// Taken out of its optional, the total is the only reference to its buffer (unless a hook or
  /// the caller kept it), so adding in place does not copy. The first addend becomes the total:
  /// handed over, it is moved there, not copied (a retain and a release per entry of a backward
  /// pass otherwise).
  @inlinable
  static func add(_ addend: consuming Tensor, into total: inout Tensor?) {
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

/// `c + a * b`, elementwise, in one pass over one new buffer (PyTorch's `addcmul`). Same shapes,
/// broadcasting and traps as `c + a * b`, and the same value: the product is rounded before the
/// sum, as written out.
///
/// Why: gated cells are made of such sums, `f ⊙ c + i ⊙ g` in an LSTM, `n + z ⊙ (h − n)` in a
/// GRU, a pre-activation plus a peephole `w ⊙ c`. Written out, each is a product into a fresh
/// buffer, then a second pass and buffer for the sum. It is recorded as the `mul` and `add`
/// entries the expression makes, so gradients, the printed tape and higher derivatives are
/// those of `c + a * b`; only the product's own value is never formed.
///
/// Fused when `a` and `b` each have the shape of `c` or are repeated along its leading axes (a
/// peephole `[H]` against a batch `[B, H]`); any other case, and anomaly detection (which checks
/// each entry's own value), computes `c + a * b`.
public func addcmul<Scalar>(_ c: Tensor<Scalar>, _ a: Tensor<Scalar>, _ b: Tensor<Scalar>)
  -> Tensor<Scalar>
{
  // A factor repeats with the period of its own count; equal shapes are tested apart because
  // `leadingRepeats` leaves one-element blocks to the general paths.
  func period(of factor: Tensor<Scalar>) -> Int? {
    factor.shape == c.shape || leadingRepeats(of: factor.shape, in: c.shape) != nil
      ? factor.count : nil
  }
  guard c.count > 0, let periodA = period(of: a), let periodB = period(of: b) else {
    return c + a * b
  }
  let scalars: [Scalar] = Kernels.array(count: c.count) { out in
    c.scalars.withUnsafeBufferPointer { pc in
      a.scalars.withUnsafeBufferPointer { pa in
        b.scalars.withUnsafeBufferPointer { pb in
          Kernels.addProducts(pc, pa, periodA, pb, periodB, into: out)
        }
      }
    }
  }
  return Tensor(uncheckedShape: c.shape, scalars: scalars).recordedSum(
    c, unformed: "mul", shape: broadcastShape(a.shape, b.shape, op: "mul"), of: a, b,
    saving: Tensor.mulSavedValues(a, b)
  ) { g, first, second, inputs, saved in
    Tensor.accumulateMulGradients(g, into: &first, &second, inputs: inputs, saved: saved)
  } ?? c + a * b
}
