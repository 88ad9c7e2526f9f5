/// Weight gradients of shallow matrix products, gathered during one backward pass and added to
/// their totals as one deep product.
///
/// A recurrent weight W is multiplied at every time step, so its gradient total receives one
/// product `gᵀ·x` per step, whose depth is the batch. At batch one each is an outer product: it
/// reads and writes all of W's `[4H, H]` total for 4H·H multiply-adds, with none of the depth
/// the kernel's register tile works along (~3,300 instructions per step for an LSTM at H = 32).
/// Deferred, the factors of the steps are stacked along the depth when the backward pass reaches
/// W (or when they reach ``flushDepth``), and the total receives one product of depth T·B: it is
/// read and written once, by the blocked kernel.
///
/// The sum of the steps' products is formed in a different order than step by step, so the
/// total rounds differently, as any reordered sum does. Only products whose factors and total
/// are unrecorded are deferred: a backward pass that creates a graph makes no such store.
@usableFromInline
final class DeferredProducts<Scalar: TensorScalar> {
  /// Products of at most this depth are deferred; deeper ones already run at the kernel's speed.
  @inlinable static var deepestDeferred: Int { 8 }
  /// Pending products of one total are multiplied once their depths add up to this, which bounds
  /// the memory they hold on to.
  @inlinable static var flushDepth: Int { 256 }

  /// The factors of the products pending for the total of one tape position: `left[i]ᵀ·right[i]`
  /// with `left[i]` `[d_i, rows]` and `right[i]` `[d_i, columns]`.
  @usableFromInline
  struct Pending {
    @usableFromInline let position: Int
    @usableFromInline let rows: Int
    @usableFromInline let columns: Int
    @usableFromInline var left: [Tensor<Scalar>] = []
    @usableFromInline var right: [Tensor<Scalar>] = []
    @usableFromInline var depth = 0

    @inlinable
    init(position: Int, rows: Int, columns: Int) {
      self.position = position
      self.rows = rows
      self.columns = columns
    }
  }

  // Both properties skip the run-time exclusivity check that a class's mutable property pays on
  // every access (the pass reads `highestPosition` at every position): one backward pass uses
  // the store, on one thread, and never holds an access across a call that could reenter it.

  /// One entry per total with products pending: a weight or two, so a search beats hashing.
  @exclusivity(unchecked) @usableFromInline var pending: [Pending] = []

  /// The highest tape position with products pending, −1 when there are none. The backward pass,
  /// walking down the tape, compares each position with it and looks nothing up before then.
  @exclusivity(unchecked) @usableFromInline var highestPosition = -1

  @inlinable init() {}

  /// Whether `aᵀ·b` is deferred rather than multiplied now: both unrecorded matrices sharing a
  /// leading axis of at most ``deepestDeferred``, for an unrecorded total of the product's shape.
  @inlinable
  func defers(
    _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, total: Tensor<Scalar>?, shape: TensorShape
  ) -> Bool {
    a.node == nil && b.node == nil && a.rank == 2 && b.rank == 2 && total?.node == nil
      && a.shape[0] == b.shape[0] && a.shape[0] <= Self.deepestDeferred && shape.count == 2
      && shape[0] == a.shape[1] && shape[1] == b.shape[1]
  }

  /// Keeps `aᵀ·b` (see ``defers(_:_:total:shape:)``) for the total at `position`, `total`, into which
  /// the pending products are multiplied when they reach ``flushDepth``.
  @inlinable
  func add(
    _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, at position: Int, into total: inout Tensor<Scalar>?
  ) {
    let slot =
      pending.firstIndex { $0.position == position }
      ?? {
        pending.append(Pending(position: position, rows: a.shape[1], columns: b.shape[1]))
        highestPosition = max(highestPosition, position)
        return pending.count - 1
      }()
    pending[slot].left.append(a)
    pending[slot].right.append(b)
    pending[slot].depth += a.shape[0]
    if pending[slot].depth >= Self.flushDepth {
      multiply(pending[slot], into: &total)
      pending[slot].left.removeAll(keepingCapacity: true)
      pending[slot].right.removeAll(keepingCapacity: true)
      pending[slot].depth = 0
    }
  }

  /// Adds the products pending for `position`, if any, into `total`, the gradient total of that
  /// position; the backward pass calls it when it reaches the position, before reading it.
  @inlinable
  func flush(at position: Int, into total: inout Tensor<Scalar>?) {
    guard let slot = pending.firstIndex(where: { $0.position == position }) else { return }
    let products = pending.remove(at: slot)
    highestPosition = pending.reduce(-1) { max($0, $1.position) }
    if products.depth > 0 { multiply(products, into: &total) }
  }

  /// `total += Σ left[i]ᵀ·right[i]`, as one product of the factors stacked along their depth.
  @inlinable
  func multiply(_ products: Pending, into total: inout Tensor<Scalar>?) {
    accumulateProduct(
      Self.stacked(products.left, width: products.rows),
      Self.stacked(products.right, width: products.columns), transposeA: true,
      transposeB: false, into: &total, shape: [products.rows, products.columns])
  }

  /// Matrices of `width` columns, their rows one after the other: `concatenate` along the first
  /// axis without the op's checks and recording, which cost three times the copy for a hundred
  /// one-row factors.
  @inlinable
  static func stacked(_ parts: [Tensor<Scalar>], width: Int) -> Tensor<Scalar> {
    let runLengths = parts.map(\.count)
    return Tensor(
      uncheckedShape: [runLengths.reduce(0, +) / width, width],
      scalars: Kernels.interleave(parts.map(\.scalars), runLengths: runLengths, runs: 1))
  }
}
