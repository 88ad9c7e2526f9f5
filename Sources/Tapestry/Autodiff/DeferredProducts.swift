/// Weight gradients of shallow matrix products, gathered during one backward pass and added to
/// their totals as one deep product.
///
/// A recurrent weight W is multiplied at every time step, so its gradient total receives one
/// product `gᵀ·x` per step, whose depth is the batch. At batch one each is an outer product: it
/// reads and writes all of W's `[4H, H]` total for 4H·H multiply-adds, with none of the depth
/// the kernel's register tile works along (~3,300 instructions per step for an LSTM at H = 32).
/// At a batch of 16 to 64 (the M and L sizes, and a batch in shards) each is a product only
/// that deep: the kernel reads and writes the whole total for every 16 to 64 steps of depth,
/// where a deep product does so once per depth block of 256. Deferred, the factors of the steps
/// are stacked along the depth as they arrive, and the total receives one product of depth T·B
/// (in pieces of ``flushDepth``) when the backward pass reaches W: it is read and written once
/// per piece, by the blocked kernel.
///
/// The sum of the steps' products is formed in a different order than step by step, so the
/// total rounds differently, as any reordered sum does. Only products whose factors and total
/// are unrecorded are deferred: a backward pass that creates a graph makes no such store.
@usableFromInline
final class DeferredProducts<Scalar: TensorScalar> {
  /// Products of at most this depth are deferred; deeper ones already run at the kernel's speed.
  @inlinable static var deepestDeferred: Int { 64 }
  /// Pending products of one total are multiplied once their depths add up to this, which bounds
  /// the memory they hold on to: one depth block of the kernel (``MatmulBlocking/depthBlock``),
  /// so that the total is read and written once per block, as in one deep product.
  @inlinable static var flushDepth: Int { 256 }

  /// The products pending for the total of one tape position, `leftᵀ·right`, their factors
  /// stacked along the depth as they arrive: `left` `[depth, rows]` and `right`
  /// `[depth, columns]`, row-major.
  ///
  /// Copied in when each product arrives, while its factors are still in the cache, rather than
  /// kept as tensors and stacked at the flush: the factors are then read back once, from the
  /// cache, and the store holds `flushDepth` rows, not the tensors of every pending step.
  @usableFromInline
  struct Pending {
    @usableFromInline let position: Int
    @usableFromInline let rows: Int
    @usableFromInline let columns: Int
    @usableFromInline var left: [Scalar]
    @usableFromInline var right: [Scalar]
    @usableFromInline var depth = 0

    @inlinable
    init(position: Int, rows: Int, columns: Int) {
      self.position = position
      self.rows = rows
      self.columns = columns
      left = []
      right = []
      left.reserveCapacity(DeferredProducts.flushDepth * rows)
      right.reserveCapacity(DeferredProducts.flushDepth * columns)
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
    pending[slot].left.append(contentsOf: a.scalars)
    pending[slot].right.append(contentsOf: b.scalars)
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

  /// `total += leftᵀ·right`: the pending products as one product of their stacked factors.
  @inlinable
  func multiply(_ products: Pending, into total: inout Tensor<Scalar>?) {
    accumulateProduct(
      Tensor(uncheckedShape: [products.depth, products.rows], scalars: products.left),
      Tensor(uncheckedShape: [products.depth, products.columns], scalars: products.right),
      transposeA: true, transposeB: false, into: &total, shape: [products.rows, products.columns])
  }
}
