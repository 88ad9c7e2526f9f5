// Cholesky factorisation of a symmetric matrix, blocked so that almost all of the n³/3
// multiply-adds run in the matrix-product kernel, in its square-root-free form A = L·D·Lᵀ.
//
// Why root-free: the ridge readout of an echo state network solves (XᵀX + λI)·W = XᵀY with λ as
// small as 1e-10, below the rounding error of the Gram matrix itself (about n·ε·‖XᵀX‖, 4e-7 for
// 2,000 units). The computed matrix then has eigenvalues down to −5e-10, and LLᵀ stops at the first
// non-positive pivot. LDLᵀ carries on through those pivots, and the tiny directions it keeps carry
// most of the fit (measured: dropping them instead costs 4× in one-step error); on a positive
// definite matrix it is exactly Cholesky, L·√D being the usual factor.

/// The factorisation A = L·D·Lᵀ of a symmetric n×n matrix (unit lower triangular L, diagonal D):
/// the square-root-free Cholesky factorisation, for solving symmetric systems in Double.
///
/// Only the lower triangle of A is read. The matrix is processed in column blocks of 128: each
/// diagonal block is factored directly, the panel below it by triangular solves, and the trailing
/// matrix updated with one matrix product (``matmul(_:_:transposeA:transposeB:)``, parallel and
/// vectorised), so the cost is that of about n³/3 multiply-adds at matrix-product speed.
///
/// No pivoting: the factorisation is stable for positive definite matrices and, as for Cholesky,
/// for the nearly semidefinite Gram matrices of a ridge regression; it traps on an exactly zero
/// or non-finite pivot (a singular or corrupt matrix).
public struct CholeskyFactorization: Sendable {
  /// n, the order of the matrix.
  public let size: Int
  /// L row-major, n×n; the strict lower triangle holds the factor, the rest is not read.
  let lower: [Double]
  /// The diagonal of D, n values; all positive exactly when A is (numerically) positive
  /// definite.
  public let pivots: [Double]

  /// Factors the symmetric matrix `matrix` `[n, n]`, reading its lower triangle.
  ///
  /// Traps, naming the shape, unless `matrix` is square; traps, naming the column, on a zero or
  /// non-finite pivot.
  public init(_ matrix: Tensor<Double>) {
    precondition(
      matrix.rank == 2 && matrix.shape[0] == matrix.shape[1],
      "CholeskyFactorization: shape \(matrix.shape) is not a square matrix")
    let n = matrix.shape[0]
    var a = matrix.scalars
    var d = [Double](repeating: 0, count: n)
    let blockSize = 128
    var start = 0
    while start < n {
      let end = Swift.min(n, start + blockSize)
      factorDiagonalBlock(&a, &d, n: n, block: start..<end)
      if end < n {
        let panel = solvePanel(&a, d, n: n, block: start..<end)
        let rest = n - end
        // A22 −= L21·D1·L21ᵀ = W21·L21ᵀ, with W21 = L21·D1 kept from the panel solve.
        let update = matmul(panel.scaled, panel.unit, transposeB: true).scalars
        a.withUnsafeMutableBufferPointer { a in
          for i in 0..<rest {
            let row = (end + i) * n + end
            for j in 0...i { a[row + j] -= update[i * rest + j] }
          }
        }
      }
      start = end
    }
    size = n
    lower = a
    pivots = d
  }

  /// The solution X of A·X = B for `rhs` B `[n]` or `[n, k]` (k right-hand sides at once),
  /// shaped like `rhs`.
  ///
  /// Traps, naming both shapes, when `rhs` does not have n rows.
  public func solve(_ rhs: Tensor<Double>) -> Tensor<Double> {
    precondition(
      (rhs.rank == 1 || rhs.rank == 2) && rhs.shape[0] == size,
      "CholeskyFactorization.solve: matrix [\(size), \(size)] and right-hand side \(rhs.shape) "
        + "are incompatible")
    let k = rhs.rank == 2 ? rhs.shape[1] : 1
    let n = size
    var x = rhs.scalars
    lower.withUnsafeBufferPointer { l in
      x.withUnsafeMutableBufferPointer { x in
        for i in 0..<n {
          for j in 0..<i {
            let factor = l[i * n + j]
            for c in 0..<k { x[i * k + c] -= factor * x[j * k + c] }
          }
        }
        for i in 0..<n {
          for c in 0..<k { x[i * k + c] /= pivots[i] }
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
          for j in (i + 1)..<n {
            let factor = l[j * n + i]
            for c in 0..<k { x[i * k + c] -= factor * x[j * k + c] }
          }
        }
      }
    }
    return Tensor(shape: rhs.shape, scalars: x)
  }
}

/// The solution X of the symmetric system A·X = B, by ``CholeskyFactorization``: `a` `[n, n]`
/// (its lower triangle is read), `b` `[n]` or `[n, k]`.
public func solveSymmetric(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Tensor<Double> {
  CholeskyFactorization(a).solve(b)
}

/// Factors the diagonal block `block` of `a` in place (its lower triangle becomes L11, `d` gets
/// D1), the earlier blocks' updates having already been applied.
private func factorDiagonalBlock(
  _ a: inout [Double], _ d: inout [Double], n: Int, block: Range<Int>
) {
  a.withUnsafeMutableBufferPointer { a in
    for j in block {
      // w_k = L_jk·d_k for the columns of this block before j.
      var pivot = a[j * n + j]
      for k in block.lowerBound..<j { pivot -= a[j * n + k] * a[j * n + k] * d[k] }
      precondition(
        pivot != 0 && pivot.isFinite,
        "CholeskyFactorization: pivot \(pivot) in column \(j) (singular or non-finite matrix)")
      d[j] = pivot
      for i in (j + 1)..<Swift.max(j + 1, block.upperBound) {
        var value = a[i * n + j]
        for k in block.lowerBound..<j { value -= a[i * n + k] * a[j * n + k] * d[k] }
        a[i * n + j] = value / pivot
      }
    }
  }
}

/// Solves for the panel below the diagonal block: L21 = A21·L11⁻ᵀ·D1⁻¹, written into `a`, and
/// returns it twice as tensors `[rest, blockSize]`: `unit` (L21) and `scaled` (L21·D1).
private func solvePanel(_ a: inout [Double], _ d: [Double], n: Int, block: Range<Int>)
  -> (unit: Tensor<Double>, scaled: Tensor<Double>)
{
  let width = block.count
  let first = block.upperBound
  let rest = n - first
  var scaled = [Double](repeating: 0, count: rest * width)
  var unit = [Double](repeating: 0, count: rest * width)
  let base = block.lowerBound
  a.withUnsafeMutableBufferPointer { a in
    scaled.withUnsafeMutableBufferPointer { scaled in
      unit.withUnsafeMutableBufferPointer { unit in
        for i in 0..<rest {
          let row = (first + i) * n + base
          let out = i * width
          // Forward substitution along the row: w·L11ᵀ = a, one column of L11 at a time.
          for j in 0..<width {
            let diagonalRow = (base + j) * n + base
            var value = a[row + j]
            for k in 0..<j { value -= scaled[out + k] * a[diagonalRow + k] }
            scaled[out + j] = value
            let l = value / d[base + j]
            unit[out + j] = l
            a[row + j] = l
          }
        }
      }
    }
  }
  return (
    Tensor(shape: [rest, width], scalars: unit), Tensor(shape: [rest, width], scalars: scaled)
  )
}
