// The spectral radius of a large sparse matrix by the Arnoldi process. The dense QR algorithm of
// `eigenvalues(of:)` costs about 10n³ flops (a minute for n = 2,000); a Krylov subspace of a few
// hundred dimensions built from sparse products finds the eigenvalue of largest modulus to 1e-12
// in well under a second. ARPACK (behind SciPy's `eigs`) restarts to bound memory; here the
// basis simply grows (400 vectors of 2,000 Doubles is 6 MB), which is simpler and, measured on
// random reservoirs, converges by m ≈ 200 (n = 500) to 400 (n = 2,000).

/// The spectral radius max |λᵢ| of a square sparse matrix, in Double: the largest eigenvalue
/// modulus, as SciPy's `abs(eigs(A, k=1, which="LM"))`.
///
/// Up to `denseLimit` rows (256 by default) the matrix is made dense and all its eigenvalues computed
/// (``eigenvalues(of:)``). Larger matrices use the Arnoldi process from the start vector of ones
/// (ARPACK's `v0` in the W5 benchmark) with two passes of classical Gram–Schmidt per step: every
/// 30 steps the largest Ritz value modulus (from the eigenvalues of the small Hessenberg matrix)
/// is compared with the previous one, and the iteration stops when they agree to `tolerance`
/// relative, or when the Krylov space is invariant (then the Ritz values are exact). A complex
/// dominant pair, the usual case for a random reservoir, is found like a real eigenvalue.
/// If 1,000 steps do not converge, the dense method is used.
///
/// Traps, naming the shape, unless the matrix is square.
public func spectralRadius<Scalar>(
  of matrix: SparseMatrix<Scalar>, tolerance: Double = 1e-12, denseLimit: Int = 256
) -> Double {
  precondition(
    matrix.rows == matrix.columns,
    "spectralRadius: sparse matrix [\(matrix.rows), \(matrix.columns)] is not square")
  let n = matrix.rows
  if n <= denseLimit || n == 0 { return spectralRadius(of: matrix.dense()) }
  let a = SparseMatrix<Double>(
    rows: n, columns: n, rowStarts: matrix.rowStarts, columnIndices: matrix.columnIndices,
    values: matrix.values.map { Double($0) })
  let limit = Swift.min(n, 1000)
  var basis = [Double](repeating: 1 / Double(n).squareRoot(), count: n)
  basis.reserveCapacity(n * (limit + 1))
  // Column-major (m + 1) × m upper Hessenberg matrix, stored with `limit + 1` rows.
  var hessenberg = [Double](repeating: 0, count: (limit + 1) * limit)
  var previous: Double? = nil
  var w = [Double](repeating: 0, count: n)
  var coefficients = [Double](repeating: 0, count: limit + 1)
  for step in 0..<limit {
    basis.withUnsafeBufferPointer { v in
      let current = UnsafeBufferPointer(rebasing: v[(step * n)..<((step + 1) * n)])
      a.withUnsafeStorage { storage in
        for row in 0..<n { w[row] = storage.rowDot(row, current) }
      }
      for _ in 0..<2 {
        w.withUnsafeMutableBufferPointer { w in
          for j in 0...step {
            let column = UnsafeBufferPointer(rebasing: v[(j * n)..<((j + 1) * n)])
            coefficients[j] = dot(column, UnsafeBufferPointer(w))
          }
          for j in 0...step {
            let c = coefficients[j]
            let base = j * n
            for i in 0..<n { w[i] -= c * v[base + i] }
            hessenberg[step * (limit + 1) + j] += c
          }
        }
      }
    }
    let norm = w.withUnsafeBufferPointer { dot($0, $0) }.squareRoot()
    hessenberg[step * (limit + 1) + step + 1] = norm
    let size = step + 1
    let invariant = norm <= 1e-13 * frobeniusNormOfColumn(hessenberg, step, limit + 1)
    if invariant || size == limit || (size >= 60 && size % 30 == 0) {
      var square = [Double](repeating: 0, count: size * size)
      for column in 0..<size {
        for row in 0..<Swift.min(size, column + 2) {
          square[row * size + column] = hessenberg[column * (limit + 1) + row]
        }
      }
      let radius = spectralRadius(of: Tensor(shape: [size, size], scalars: square))
      if invariant { return radius }
      if let previous, abs(radius - previous) <= tolerance * radius { return radius }
      previous = radius
    }
    basis.append(contentsOf: w.map { $0 / norm })
  }
  return spectralRadius(of: a.dense())
}

/// The Euclidean norm of column `column` of a column-major matrix with `stride` rows, used as
/// the scale against which a breakdown of the Arnoldi process is judged.
private func frobeniusNormOfColumn(_ matrix: [Double], _ column: Int, _ stride: Int) -> Double {
  var sum = 0.0
  for row in 0...column { sum += matrix[column * stride + row] * matrix[column * stride + row] }
  return sum.squareRoot()
}

/// Σ xᵢ·yᵢ with four partial sums (a single accumulator is a chain of dependent additions).
func dot(_ x: UnsafeBufferPointer<Double>, _ y: UnsafeBufferPointer<Double>) -> Double {
  let n = Swift.min(x.count, y.count)
  var (s0, s1, s2, s3) = (0.0, 0.0, 0.0, 0.0)
  var i = 0
  while i + 4 <= n {
    s0 += x[i] * y[i]
    s1 += x[i + 1] * y[i + 1]
    s2 += x[i + 2] * y[i + 2]
    s3 += x[i + 3] * y[i + 3]
    i += 4
  }
  while i < n {
    s0 += x[i] * y[i]
    i += 1
  }
  return (s0 + s1) + (s2 + s3)
}
