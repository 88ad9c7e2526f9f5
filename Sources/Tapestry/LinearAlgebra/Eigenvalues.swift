// Eigenvalues of a general real matrix: balance, reduce to upper Hessenberg form with Householder
// reflections, then run Francis's implicit double-shift QR algorithm (EISPACK's hqr, as in
// Numerical Recipes §11.6 and Golub & Van Loan §7.5). Everything is Double.
//
// Echo state networks need the spectral radius of a non-symmetric reservoir, whose dominant
// eigenvalues are often a complex pair: power iteration then oscillates instead of converging,
// so only a method that finds every eigenvalue is trustworthy.

/// A complex eigenvalue λ = real + i·imaginary of a real matrix.
public struct Eigenvalue: Sendable, Hashable, CustomStringConvertible {
  /// The real part.
  public var real: Double
  /// The imaginary part; non-real eigenvalues of a real matrix come in conjugate pairs.
  public var imaginary: Double

  /// The eigenvalue `real + i·imaginary`.
  public init(real: Double, imaginary: Double = 0) {
    self.real = real
    self.imaginary = imaginary
  }

  /// |λ| = √(real² + imaginary²), computed without overflow or underflow in the squares.
  public var modulus: Double {
    let (large, small) = (
      Swift.max(abs(real), abs(imaginary)), Swift.min(abs(real), abs(imaginary))
    )
    guard large > 0 else { return 0 }
    let ratio = small / large
    return large * (1 + ratio * ratio).squareRoot()
  }

  /// `a+bi` or `a-bi`, or just `a` when the imaginary part is zero.
  public var description: String {
    imaginary == 0 ? "\(real)" : "\(real)\(imaginary < 0 ? "-" : "+")\(abs(imaginary))i"
  }
}

/// All n eigenvalues of a real n×n matrix, with multiplicity, computed in Double.
///
/// The matrix is balanced (rows and columns scaled by powers of two, which is exact), reduced to
/// upper Hessenberg form by Householder reflections, and its eigenvalues found by Francis's
/// implicit double-shift QR algorithm, which keeps the arithmetic real even for complex pairs.
/// This is what LAPACK's `dgeev` (behind `numpy.linalg.eigvals`) does, so results agree with NumPy
/// to about ε‖A‖ divided by each eigenvalue's condition: 1e-13 relative on random reservoirs.
///
/// Order: as the algorithm deflates them (roughly from the bottom of the matrix up), not sorted;
/// a complex conjugate pair is adjacent, positive imaginary part first. Cost O(n³), about 10n³
/// flops. Caveats: a defective eigenvalue (a Jordan block of size k) is only determined to about
/// ε^(1/k), as with any method.
///
/// Traps when `matrix` is not square, has a non-finite element, or (never seen in practice) the
/// iteration fails to converge within 60 steps for some eigenvalue.
public func eigenvalues<Scalar>(of matrix: Tensor<Scalar>) -> [Eigenvalue] {
  precondition(
    matrix.rank == 2 && matrix.shape[0] == matrix.shape[1],
    "eigenvalues(of:): shape \(matrix.shape) is not a square matrix")
  precondition(matrix.isFinite, "eigenvalues(of:): matrix of shape \(matrix.shape) is not finite")
  let n = matrix.shape[0]
  var elements = matrix.scalars.map { Double($0) }
  return elements.withUnsafeMutableBufferPointer { buffer in
    guard let base = buffer.baseAddress else { return [] }
    let a = SquareMatrixView(base: base, n: n)
    balance(a)
    reduceToHessenberg(a)
    return hessenbergEigenvalues(a)
  }
}

/// The spectral radius max |λᵢ| of a real square matrix: the largest eigenvalue modulus, found
/// from all the eigenvalues (see ``eigenvalues(of:)``), so it is right when the dominant
/// eigenvalues are a complex pair, where power iteration fails. 0 for a 0×0 matrix.
///
/// An echo state network's reservoir is scaled to a chosen spectral radius (below 1, usually)
/// for its echo state property; see ``Tensor/scaledToSpectralRadius(_:)``.
/// Traps like ``eigenvalues(of:)``.
public func spectralRadius<Scalar>(of matrix: Tensor<Scalar>) -> Double {
  eigenvalues(of: matrix).reduce(0) { Swift.max($0, $1.modulus) }
}

/// The largest singular value σ₁ = ‖A‖₂ (the spectral norm) of an m×n matrix, in Double:
/// NumPy's `np.linalg.norm(A, 2)`. 0 for an empty matrix.
///
/// Computed as √λ_max of the smaller Gram matrix, AᵀA (n×n) or AAᵀ (m×m), whose eigenvalues are
/// real and non-negative. Squaring loses the small singular values, not the largest: σ₁ comes out
/// to about ε relative. The gradient-flow diagnostics use it to bound how much one step of a
/// recurrence can stretch a gradient (‖∂hₜ/∂hₜ₋₁‖ ≤ σ₁ of the recurrent weight times the
/// activation's slope).
///
/// Traps unless `matrix` is 2-D and finite.
public func largestSingularValue<Scalar>(of matrix: Tensor<Scalar>) -> Double {
  precondition(
    matrix.rank == 2, "largestSingularValue(of:): shape \(matrix.shape) is not a matrix")
  precondition(
    matrix.isFinite, "largestSingularValue(of:): matrix of shape \(matrix.shape) is not finite")
  guard matrix.count > 0 else { return 0 }
  let a = matrix.converted(to: Double.self)
  let gram =
    a.shape[0] >= a.shape[1] ? matmul(a, a, transposeA: true) : matmul(a, a, transposeB: true)
  return spectralRadius(of: gram).squareRoot()
}

/// Row-major n×n storage seen through `[row, column]` subscripts, without Array's copy-on-write
/// checks in the O(n³) loops (they dominate in debug builds, which the tests use).
private struct SquareMatrixView {
  let base: UnsafeMutablePointer<Double>
  let n: Int

  subscript(row: Int, column: Int) -> Double {
    get { base[row * n + column] }
    nonmutating set { base[row * n + column] = newValue }
  }
}

/// Scales row i by 1/dᵢ and column i by dᵢ (a similarity, so eigenvalues are unchanged) until
/// each row and column have comparable norms: Parlett & Reinsch's balancing, as in EISPACK's
/// balanc. Powers of two keep it exact; it shrinks ‖A‖ and so the rounding errors of what follows.
private func balance(_ a: SquareMatrixView) {
  let n = a.n
  var done = false
  while !done {
    done = true
    for i in 0..<n {
      var (columnNorm, rowNorm) = (0.0, 0.0)
      for j in 0..<n where j != i {
        columnNorm += abs(a[j, i])
        rowNorm += abs(a[i, j])
      }
      guard columnNorm != 0 && rowNorm != 0 else { continue }
      let sum = columnNorm + rowNorm
      var factor = 1.0
      while columnNorm < rowNorm / 2 {
        factor *= 2
        columnNorm *= 4
      }
      while columnNorm > rowNorm * 2 {
        factor /= 2
        columnNorm /= 4
      }
      if (columnNorm + rowNorm) / factor < 0.95 * sum {
        done = false
        for j in 0..<n { a[i, j] /= factor }
        for j in 0..<n { a[j, i] *= factor }
      }
    }
  }
}

/// Reduces `a` in place to upper Hessenberg form (zero below the first subdiagonal) by the
/// similarity A ← HAH with one Householder reflection H per column, as EISPACK's orthes.
private func reduceToHessenberg(_ a: SquareMatrixView) {
  let n = a.n
  guard n > 2 else { return }
  for k in 0..<(n - 2) {
    var v = ((k + 1)..<n).map { a[$0, k] }
    guard let alpha = makeHouseholderVector(&v) else { continue }
    // Left: rows k+1..<n; columns before k are already zero there.
    for j in k..<n {
      var dot = 0.0
      for i in v.indices { dot += v[i] * a[k + 1 + i, j] }
      for i in v.indices { a[k + 1 + i, j] -= 2 * dot * v[i] }
    }
    // Right: columns k+1..<n of every row.
    for row in 0..<n {
      var dot = 0.0
      for j in v.indices { dot += a[row, k + 1 + j] * v[j] }
      for j in v.indices { a[row, k + 1 + j] -= 2 * dot * v[j] }
    }
    a[k + 1, k] = alpha
    for i in (k + 2)..<n { a[i, k] = 0 }
  }
}

/// `magnitude` with the sign of `sign` (Fortran's SIGN).
private func withSign(_ magnitude: Double, of sign: Double) -> Double {
  sign >= 0 ? abs(magnitude) : -abs(magnitude)
}

/// The eigenvalues of an upper Hessenberg matrix by Francis's implicit double-shift QR algorithm
/// (EISPACK hqr; Numerical Recipes' 0-based version). Destroys `a`.
///
/// Each iteration works on the unreduced block rows/columns l...nn at the bottom: it chases a bulge
/// started by (A − σ₁)(A − σ₂)e₁, with σ₁, σ₂ the eigenvalues of the trailing 2×2 block, down the
/// subdiagonal with 3×3 reflections. A negligible subdiagonal element (≤ ε times its diagonal
/// neighbours) splits the matrix; a 1×1 block is a real eigenvalue, a 2×2 block a real or complex
/// pair. After 10, 20, … iterations without deflation an exceptional shift breaks cycles.
private func hessenbergEigenvalues(_ a: SquareMatrixView) -> [Eigenvalue] {
  let n = a.n
  let maximumIterations = 60
  var result = [Eigenvalue](repeating: Eigenvalue(real: 0), count: n)
  var norm = 0.0
  for i in 0..<n {
    for j in Swift.max(i - 1, 0)..<n { norm += abs(a[i, j]) }
  }
  let epsilon = Double.ulpOfOne
  var nn = n - 1
  // Exceptional shifts are subtracted from the diagonal; their sum is added back to eigenvalues.
  var shift = 0.0
  while nn >= 0 {
    var iterations = 0
    while true {
      var l = nn
      while l > 0 {
        var s = abs(a[l - 1, l - 1]) + abs(a[l, l])
        if s == 0 { s = norm }
        if abs(a[l, l - 1]) <= epsilon * s {
          a[l, l - 1] = 0
          break
        }
        l -= 1
      }
      var x = a[nn, nn]
      if l == nn {
        result[nn] = Eigenvalue(real: x + shift)
        nn -= 1
        break
      }
      var y = a[nn - 1, nn - 1]
      var w = a[nn, nn - 1] * a[nn - 1, nn]
      if l == nn - 1 {
        let p = 0.5 * (y - x)
        let q = p * p + w
        let root = abs(q).squareRoot()
        x += shift
        if q >= 0 {
          // Real pair; the larger root first, the smaller from the product, avoiding cancellation.
          let z = p + withSign(root, of: p)
          result[nn - 1] = Eigenvalue(real: x + z)
          result[nn] = Eigenvalue(real: z != 0 ? x - w / z : x + z)
        } else {
          result[nn - 1] = Eigenvalue(real: x + p, imaginary: root)
          result[nn] = Eigenvalue(real: x + p, imaginary: -root)
        }
        nn -= 2
        break
      }
      precondition(
        iterations < maximumIterations,
        "eigenvalues(of:): QR iteration did not converge for a \(n)×\(n) matrix")
      if iterations > 0 && iterations % 10 == 0 {
        shift += x
        for i in 0...nn { a[i, i] -= x }
        let s = abs(a[nn, nn - 1]) + abs(a[nn - 1, nn - 2])
        x = 0.75 * s
        y = x
        w = -0.4375 * s * s
      }
      iterations += 1
      // Start the bulge at the lowest m where two small consecutive subdiagonals allow it.
      var m = nn - 2
      var (p, q, r, z) = (0.0, 0.0, 0.0, 0.0)
      while true {
        z = a[m, m]
        r = x - z
        var s = y - z
        p = (r * s - w) / a[m + 1, m] + a[m, m + 1]
        q = a[m + 1, m + 1] - z - r - s
        r = a[m + 2, m + 1]
        s = abs(p) + abs(q) + abs(r)
        p /= s
        q /= s
        r /= s
        if m == l { break }
        let u = abs(a[m, m - 1]) * (abs(q) + abs(r))
        let v = abs(p) * (abs(a[m - 1, m - 1]) + abs(z) + abs(a[m + 1, m + 1]))
        if u <= epsilon * v { break }
        m -= 1
      }
      for i in m..<(nn - 1) {
        a[i + 2, i] = 0
        if i != m { a[i + 2, i - 1] = 0 }
      }
      for k in m..<nn {
        if k != m {
          p = a[k, k - 1]
          q = a[k + 1, k - 1]
          r = k + 1 != nn ? a[k + 2, k - 1] : 0
          x = abs(p) + abs(q) + abs(r)
          if x != 0 {
            p /= x
            q /= x
            r /= x
          }
        }
        let s = withSign((p * p + q * q + r * r).squareRoot(), of: p)
        guard s != 0 else { continue }
        if k == m {
          if l != m { a[k, k - 1] = -a[k, k - 1] }
        } else {
          a[k, k - 1] = -s * x
        }
        p += s
        x = p / s
        y = q / s
        z = r / s
        q /= p
        r /= p
        for j in k...nn {
          p = a[k, j] + q * a[k + 1, j]
          if k + 1 != nn {
            p += r * a[k + 2, j]
            a[k + 2, j] -= p * z
          }
          a[k + 1, j] -= p * y
          a[k, j] -= p * x
        }
        for i in l...Swift.min(nn, k + 3) {
          p = x * a[i, k] + y * a[i, k + 1]
          if k + 1 != nn {
            p += z * a[i, k + 2]
            a[i, k + 2] -= p * r
          }
          a[i, k + 1] -= p * q
          a[i, k] -= p
        }
      }
    }
  }
  return result
}
