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
    a.scalars.withUnsafeBufferPointer { pa in
      b.scalars.withUnsafeBufferPointer { pb in
        guard let baseA = pa.baseAddress, let baseB = pb.baseAddress, let baseOut = out.baseAddress
        else {
          out.initialize(repeating: 0)
          return
        }
        for element in 0..<(batch ?? 1) {
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
    ) { g, _, saved in
      // With C = op(A)·op(B): ∂op(A) = G·op(B)ᵀ and ∂op(B) = op(A)ᵀ·G; a transposed operand
      // takes the transpose of that, which is the same product with the factors swapped. A 2-D
      // operand broadcast over a batch receives one gradient per batch element; the tape sums them.
      let (a, b) = (saved.first, saved.second)
      let (transposeA, transposeB) = (saved.options & 1 != 0, saved.options & 2 != 0)
      var gradientA: Tensor<Scalar>?
      var gradientB: Tensor<Scalar>?
      if saved.firstNeedsGradient {
        gradientA =
          transposeA
          ? matmul(b, g, transposeA: transposeB, transposeB: true)
          : matmul(g, b, transposeB: !transposeB)
      }
      if saved.secondNeedsGradient {
        gradientB =
          transposeB
          ? matmul(g, a, transposeA: true, transposeB: transposeA)
          : matmul(a, g, transposeA: !transposeA)
      }
      return (gradientA, gradientB)
    }
}
