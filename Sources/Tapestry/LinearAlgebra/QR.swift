// Householder QR, in Double whatever the caller's scalar type: the initialisers that use it
// (orthogonal) need orthogonality to working precision, and a Float QR would only give 1e-7.

/// The reduced QR decomposition A = QR of an m×n matrix, by Householder reflections.
///
/// With k = min(m, n), `q` is m×k with orthonormal columns (QᵀQ = I) and `r` is k×n and upper
/// triangular (upper trapezoidal when n > m), with a non-negative diagonal. That sign convention
/// makes the decomposition unique for a matrix of full rank, and it is what makes
/// ``Initializer/orthogonal(gain:)`` uniformly (Haar) distributed: the Q of a Gaussian matrix is
/// Haar only once diag(R) ≥ 0 is imposed, because the raw Householder signs depend on the matrix.
/// This is `torch.linalg.qr(A)` (mode "reduced") followed by the sign fix of
/// `torch.nn.init.orthogonal_`.
///
/// The work is done in Double for either scalar type and the factors are returned in Double.
/// Cost O(mnk); backward stable, so ‖QR − A‖ is a small multiple of ε‖A‖ even for a rank-deficient
/// A (whose R then has zeros on its diagonal and whose Q is still orthonormal).
///
/// Traps unless `matrix` is 2-D.
public func qrDecomposition<Scalar>(of matrix: Tensor<Scalar>) -> (
  q: Tensor<Double>, r: Tensor<Double>
) {
  precondition(matrix.rank == 2, "qrDecomposition(of:): shape \(matrix.shape) is not a matrix")
  let (m, n) = (matrix.shape[0], matrix.shape[1])
  let k = Swift.min(m, n)
  var a = matrix.scalars.map { Double($0) }
  var reflectors: [[Double]] = []
  a.withUnsafeMutableBufferPointer { a in
    for j in 0..<k {
      var column = (j..<m).map { a[$0 * n + j] }
      guard let alpha = makeHouseholderVector(&column) else {
        // Already zero below and on the diagonal: nothing to annihilate.
        reflectors.append([])
        continue
      }
      for c in (j + 1)..<n {
        var dot = 0.0
        for i in 0..<column.count { dot += column[i] * a[(j + i) * n + c] }
        for i in 0..<column.count { a[(j + i) * n + c] -= 2 * dot * column[i] }
      }
      a[j * n + j] = alpha
      for i in (j + 1)..<m { a[i * n + j] = 0 }
      reflectors.append(column)
    }
  }
  var r = [Double](repeating: 0, count: k * n)
  for i in 0..<k {
    for c in i..<n { r[i * n + c] = a[i * n + c] }
  }
  // Q = H₀H₁…H₍ₖ₋₁₎ applied to the first k columns of the identity, last reflector first: H_j
  // touches rows j..<m only, where the partial product is still zero outside columns j..<k.
  var q = [Double](repeating: 0, count: m * k)
  for i in 0..<k { q[i * k + i] = 1 }
  for j in stride(from: k - 1, through: 0, by: -1) where !reflectors[j].isEmpty {
    let v = reflectors[j]
    for c in j..<k {
      var dot = 0.0
      for i in 0..<v.count { dot += v[i] * q[(j + i) * k + c] }
      for i in 0..<v.count { q[(j + i) * k + c] -= 2 * dot * v[i] }
    }
  }
  for i in 0..<k where r[i * n + i] < 0 {
    for c in i..<n { r[i * n + c] = -r[i * n + c] }
    for row in 0..<m { q[row * k + i] = -q[row * k + i] }
  }
  return (Tensor(uncheckedShape: [m, k], scalars: q), Tensor(uncheckedShape: [k, n], scalars: r))
}

/// Turns `x` into the unit vector v of the Householder reflection H = I − 2vvᵀ that maps x to
/// (α, 0, …, 0), and returns α; returns `nil`, leaving `x` alone, when x is zero.
///
/// α = −sign(x₀)‖x‖, the sign that avoids cancellation in x₀ − α. Works on x / max|xᵢ| so that
/// squaring neither overflows nor underflows.
func makeHouseholderVector(_ x: inout [Double]) -> Double? {
  let scale = x.reduce(0) { Swift.max($0, abs($1)) }
  guard scale > 0 else { return nil }
  for i in x.indices { x[i] /= scale }
  let norm = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
  let alpha = x[0] >= 0 ? -norm : norm
  x[0] -= alpha
  let length = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
  for i in x.indices { x[i] /= length }
  return alpha * scale
}
