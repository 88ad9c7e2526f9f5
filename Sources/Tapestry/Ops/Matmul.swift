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
  let (m, k, n) = productDimensions(a, b, transposeA: transposeA, transposeB: transposeB)
  let batchA = a.rank == 3 ? a.shape[0] : nil
  let batchB = b.rank == 3 ? b.shape[0] : nil
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
  let shape: TensorShape = batch.map { [$0, m, n] } ?? .matrix(m, n)
  return Tensor(uncheckedShape: shape, scalars: scalars)
    .recorded(
      as: "matmul", a, b, saving: matmulSavedValues(a, b, transposeA, transposeB)
    ) { g, first, second, inputs, saved in
      accumulateMatmulGradients(g, into: &first, &second, inputs: inputs, saved: saved)
    }
}

/// `c + op(a)·op(b)` in one buffer: the product's tiles are added to `c` as they are stored
/// (PyTorch's `addmm`, mlx's `addMM`). Same shapes, broadcasting and traps as
/// `c + matmul(a, b, transposeA:transposeB:)`, and the same value up to rounding.
///
/// Why: a recurrent step adds `h·W_hhᵀ` to its projected input, and a linear layer adds its
/// bias to `x·Wᵀ`. Written apart, each is a product into a fresh buffer, then a second pass that
/// reads it back with `c` into another; here the kernel reads `c` where its tiles would read the
/// output to accumulate, so the output is written once (products that do not run tiled, such as
/// one row, copy `c` into the output first). It is recorded as the `matmul` and `add` entries
/// the unfused expression makes, so gradients, the printed tape and higher derivatives are those
/// of `c + matmul(a, b)`; only the product's own value is never formed.
///
/// Fused when `a` and `b` are matrices (or `a` a batch `[B, M, K]` of rows, untransposed, with
/// a 2-D `b`) and `c` is `[M, N]`, `[N]` or `[1, N]`; any other case, and anomaly detection
/// (which checks each entry's own value), computes `c + matmul(a, b)`.
public func addmm<Scalar>(
  _ c: Tensor<Scalar>, _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, transposeA: Bool = false,
  transposeB: Bool = false
) -> Tensor<Scalar> {
  func unfused() -> Tensor<Scalar> {
    c + matmul(a, b, transposeA: transposeA, transposeB: transposeB)
  }
  guard b.rank == 2, a.rank == 2 || (a.rank == 3 && !transposeA) else { return unfused() }
  let (m, k, n) = productDimensions(a, b, transposeA: transposeA, transposeB: transposeB)
  let repeatsRow = c.shape == .vector(n) || c.shape == .matrix(1, n)
  if a.rank == 3 {
    // As `matmul` does, a batch of rows times one matrix is one tall product; `c` must then be
    // a row repeated over the batch as well.
    guard repeatsRow else { return unfused() }
    let batch = a.shape[0]
    return addmm(c, a.reshaped(to: [batch * m, k]), b, transposeB: transposeB)
      .reshaped(to: [batch, m, n])
  }
  guard repeatsRow || c.shape == .matrix(m, n) else { return unfused() }
  // The kernel reads `c` where its tiles would read the output to add to, so the output is
  // written once rather than filled with `c` and then read back.
  let scalars: [Scalar] = Kernels.array(count: m * n) { out in
    guard let baseOut = out.baseAddress else { return }
    Kernels.matmul(
      a.scalars, b.scalars, into: baseOut, m: m, n: n, k: k, transposeA: transposeA,
      transposeB: transposeB, accumulate: false, addend: c.scalars,
      addendRowStride: repeatsRow ? 0 : n)
  }
  let shape = TensorShape.matrix(m, n)
  return Tensor(uncheckedShape: shape, scalars: scalars).recordedSum(
    c, unformed: "matmul", shape: shape, of: a, b,
    saving: matmulSavedValues(a, b, transposeA, transposeB)
  ) { g, first, second, inputs, saved in
    accumulateMatmulGradients(g, into: &first, &second, inputs: inputs, saved: saved)
  } ?? unfused()
}

/// The inner dimensions of `op(a)·op(b)` for matrices or batches of them: `(M, K, N)`.
///
/// Traps, naming both shapes, when an operand is not 2-D or 3-D, when the inner dimensions
/// differ, or when both are batches of different sizes.
@inlinable
func productDimensions<Scalar>(
  _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, transposeA: Bool, transposeB: Bool
) -> (m: Int, k: Int, n: Int) {
  precondition(
    (2...3).contains(a.rank) && (2...3).contains(b.rank),
    "matmul: shapes \(a.shape) and \(b.shape) are not matrices or batches of matrices (rank 2 or 3)"
  )
  let (rowsA, columnsA) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
  let (rowsB, columnsB) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
  let (m, k) = transposeA ? (columnsA, rowsA) : (rowsA, columnsA)
  let (innerB, n) = transposeB ? (columnsB, rowsB) : (rowsB, columnsB)
  // The message is built only on failure: formed up front, its flags string cost three
  // allocations on every product with a transposed operand (callgrind, W1 S: ~6% of a step).
  precondition(
    k == innerB,
    "matmul: shapes \(a.shape) and \(b.shape) are incompatible (inner dimensions \(k) and \(innerB)"
      + (transposeA || transposeB
        ? ", transposeA: \(transposeA), transposeB: \(transposeB))" : ")")
  )
  if a.rank == 3, b.rank == 3 {
    precondition(
      a.shape[0] == b.shape[0],
      "matmul: shapes \(a.shape) and \(b.shape) have different batch sizes \(a.shape[0]) and \(b.shape[0])"
    )
  }
  return (m, k, n)
}

/// What a product's pullback reads: both factors and the transpose flags.
@inlinable
func matmulSavedValues<Scalar>(
  _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, _ transposeA: Bool, _ transposeB: Bool
) -> SavedValues<Scalar> {
  SavedValues(a, b, options: (transposeA ? 1 : 0) | (transposeB ? 2 : 0))
}

/// The pullback of `C = op(A)·op(B)`, adding into the factors' gradient totals:
/// ∂op(A) = G·op(B)ᵀ and ∂op(B) = op(A)ᵀ·G; a transposed operand takes the transpose of that,
/// which is the same product with the factors swapped. A 2-D operand broadcast over a batch
/// receives one gradient per batch element, summed to its shape.
@inlinable
func accumulateMatmulGradients<Scalar>(
  _ g: Tensor<Scalar>, into first: inout Tensor<Scalar>?, _ second: inout Tensor<Scalar>?,
  inputs: PullbackInputs<Scalar>, saved: SavedValues<Scalar>
) {
  let (a, b) = (saved.first, saved.second)
  let (transposeA, transposeB) = (saved.options & 1 != 0, saved.options & 2 != 0)
  if saved.firstNeedsGradient {
    if transposeA {
      accumulateProduct(
        b, g, transposeA: transposeB, transposeB: true, into: &first, shape: inputs.firstShape)
    } else {
      accumulateProduct(
        g, b, transposeA: false, transposeB: !transposeB, into: &first, shape: inputs.firstShape)
    }
  }
  if saved.secondNeedsGradient {
    if transposeB {
      accumulateProduct(
        g, a, transposeA: true, transposeB: transposeA, into: &second, shape: inputs.secondShape,
        deferringTo: inputs.deferredProducts, at: inputs.secondPosition)
    } else {
      accumulateProduct(
        a, g, transposeA: !transposeA, transposeB: false, into: &second,
        shape: inputs.secondShape, deferringTo: inputs.deferredProducts,
        at: inputs.secondPosition)
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
/// the shape a weight's gradient has (depth leading in both factors) over a batch of up to
/// ``DeferredProducts/deepestDeferred`` rows is kept there instead and added later with the
/// other steps' (``DeferredProducts``).
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
