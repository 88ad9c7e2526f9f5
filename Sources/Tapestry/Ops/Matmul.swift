// Matrix product. The pullback is itself made of matrix products, with transpose flags instead of
// transposed copies, so that gradients of gradients work and cost no extra memory traffic.

/// The matrix product `op(a) · op(b)`, where `op` transposes the last two axes of an operand whose
/// flag is set (without copying it).
///
/// Shapes, with `op(a)` of shape `[..., M, K]` and `op(b)` of shape `[..., K, N]`:
/// - `[M, K] · [K, N] → [M, N]`;
/// - batched, `[B, M, K] · [B, K, N] → [B, M, N]`, one product per batch element;
/// - broadcast, `[B, M, K] · [K, N]` and `[M, K] · [B, K, N] → [B, M, N]`: the 2-D operand is
///   shared by every batch element (a layer's weights applied to every sequence).
///
/// The transpose flags spare the copy of a transposed operand: `matmul(x, w, transposeB: true)`
/// multiplies by `wᵀ` reading `w` as it is stored. Traps, naming both shapes, when the inner
/// dimensions differ, when an operand is not 2-D or 3-D, or when batch sizes differ.
public func matmul<Scalar>(
  _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, transposeA: Bool = false, transposeB: Bool = false
) -> Tensor<Scalar> {
  precondition(
    (2...3).contains(a.rank) && (2...3).contains(b.rank),
    "matmul: shapes \(a.shape) and \(b.shape) are not matrices or batches of matrices (rank 2 or 3)"
  )
  let (rowsA, columnsA) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
  let (rowsB, columnsB) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
  let (m, k) = transposeA ? (columnsA, rowsA) : (rowsA, columnsA)
  let (innerB, n) = transposeB ? (columnsB, rowsB) : (rowsB, columnsB)
  let flags =
    transposeA || transposeB ? ", transposeA: \(transposeA), transposeB: \(transposeB)" : ""
  precondition(
    k == innerB,
    "matmul: shapes \(a.shape) and \(b.shape) are incompatible (inner dimensions \(k) and \(innerB)\(flags))"
  )
  let batchA = a.rank == 3 ? a.shape[0] : nil
  let batchB = b.rank == 3 ? b.shape[0] : nil
  if let batchA, let batchB {
    precondition(
      batchA == batchB,
      "matmul: shapes \(a.shape) and \(b.shape) have different batch sizes \(batchA) and \(batchB)")
  }
  if let batchA, batchB == nil, !transposeA {
    // Stacking the batch into rows gives one tall product: faster than `batchA` short ones, and
    // its gradient with respect to `b` is one product instead of a sum of `batchA`.
    return matmul(a.reshaped(to: [batchA * m, k]), b, transposeB: transposeB)
      .reshaped(to: [batchA, m, n])
  }
  let batch = batchA ?? batchB
  let count = (batch ?? 1) * m * n
  let threads = ComputeSettings.threads
  let scalars: [Scalar] = Kernels.array(count: count) { out in
    guard let baseOut = out.baseAddress else { return }
    guard let batch else {
      Kernels.matmul(
        a.scalars, b.scalars, into: baseOut, m: m, n: n, k: k, transposeA: transposeA,
        transposeB: transposeB, accumulate: false)
      return
    }
    a.scalars.withUnsafeBufferPointer { pa in
      b.scalars.withUnsafeBufferPointer { pb in
        guard let baseA = pa.baseAddress, let baseB = pb.baseAddress else {
          out.initialize(repeating: 0)
          return
        }
        for element in 0..<batch {
          Kernels.matmul(
            baseA + (batchA == nil ? 0 : element * m * k),
            baseB + (batchB == nil ? 0 : element * k * n),
            into: baseOut + element * m * n, m: m, n: n, k: k, transposeA: transposeA,
            transposeB: transposeB, accumulate: false, threads: threads)
        }
      }
    }
  }
  let shape: TensorShape = batch.map { [$0, m, n] } ?? [m, n]
  return Tensor(uncheckedShape: shape, scalars: scalars)
    .recorded(
      as: "matmul", a, b,
      saving: SavedValues(a, b, options: (transposeA ? 1 : 0) | (transposeB ? 2 : 0))
    ) { g, first, second, inputs, saved in
      // With C = op(A)·op(B): ∂op(A) = G·op(B)ᵀ and ∂op(B) = op(A)ᵀ·G; a transposed operand
      // takes the transpose of that, which is the same product with the factors swapped. A 2-D
      // operand broadcast over a batch receives one gradient per batch element, summed to its shape.
      let (a, b) = (saved.first, saved.second)
      let (transposeA, transposeB) = (saved.options & 1 != 0, saved.options & 2 != 0)
      if saved.firstNeedsGradient {
        if transposeA {
          accumulateProduct(
            b, g, transposeA: transposeB, transposeB: true, into: &first, shape: inputs.firstShape)
        } else {
          accumulateProduct(
            g, b, transposeA: false, transposeB: !transposeB, into: &first,
            shape: inputs.firstShape)
        }
      }
      if saved.secondNeedsGradient {
        if transposeB {
          accumulateProduct(
            g, a, transposeA: true, transposeB: transposeA, into: &second,
            shape: inputs.secondShape, deferringTo: inputs.deferredProducts,
            at: inputs.secondPosition)
        } else {
          accumulateProduct(
            a, g, transposeA: !transposeA, transposeB: false, into: &second,
            shape: inputs.secondShape, deferringTo: inputs.deferredProducts,
            at: inputs.secondPosition)
        }
      }
    }
}

/// Adds `op(a)·op(b)`, summed back to `shape`, into `total`, the running gradient of a matmul
/// operand of that shape (`nil`: none yet).
///
/// Why: a recurrent weight receives one gradient product per time step. Formed apart and then
/// added, each is a new `[4H, H]` buffer and one more pass over it (4 MiB per step at H = 512);
/// with nothing recorded and both factors 2-D, the kernel adds the product straight into the
/// total instead. A graph-creating backward pass, or a batch summed into a shared operand, takes
/// the differentiable route: the product, then `+`.
///
/// Given the pass's `deferred` store and the tape position of the total, a product `aᵀ·b` of
/// the shape a weight's gradient has (depth leading in both factors) over a batch of a few rows
/// is kept there instead and added later with the other steps' (``DeferredProducts``).
@inlinable
func accumulateProduct<Scalar>(
  _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, transposeA: Bool, transposeB: Bool,
  into total: inout Tensor<Scalar>?, shape: TensorShape,
  deferringTo deferred: DeferredProducts<Scalar>? = nil, at position: Int = -1
) {
  if transposeA, !transposeB, let deferred, deferred.defers(a, b, total: total, shape: shape) {
    deferred.add(a, b, at: position, into: &total)
    return
  }
  let rows = a.shape[transposeA ? a.rank - 1 : a.rank - 2]
  let depth = a.shape[transposeA ? a.rank - 2 : a.rank - 1]
  let columns = b.shape[transposeB ? b.rank - 2 : b.rank - 1]
  if a.node == nil, b.node == nil, a.rank == 2, b.rank == 2, let current = total,
    current.node == nil, current.rank == 2, current.shape[0] == rows, current.shape[1] == columns
  {
    // Dropped from `total` first, so that `whole` holds the only reference and is added to in
    // place rather than copied.
    var whole = current
    total = nil
    whole.elements.withUnsafeMutableBufferPointer { out in
      guard let baseOut = out.baseAddress else { return }
      Kernels.matmul(
        a.scalars, b.scalars, into: baseOut, m: rows, n: columns, k: depth,
        transposeA: transposeA, transposeB: transposeB, accumulate: true)
    }
    total = whole
    return
  }
  Tensor.add(
    matmul(a, b, transposeA: transposeA, transposeB: transposeB), summedTo: shape, op: "matmul",
    into: &total)
}
