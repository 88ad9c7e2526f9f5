// Cholesky factorisation of a symmetric matrix, blocked so that almost all of the n³/3
// multiply-adds run in the matrix-product kernel, in its square-root-free form A = L·D·Lᵀ.
//
// Why root-free: the ridge readout of an echo state network solves (XᵀX + λI)·W = XᵀY with λ as
// small as 1e-10, below the rounding error of the Gram matrix itself (about n·ε·‖XᵀX‖, 4e-7 for
// 2,000 units). The computed matrix then has eigenvalues down to −5e-10, and LLᵀ stops at the first
// non-positive pivot. LDLᵀ carries on through those pivots, and the tiny directions it keeps carry
// most of the fit (measured: dropping them instead costs 4× in one-step error); on a positive
// definite matrix it is exactly Cholesky, L·√D being the usual factor.

import Dispatch

/// The factorisation A = L·D·Lᵀ of a symmetric n×n matrix (unit lower triangular L, diagonal D):
/// the square-root-free Cholesky factorisation, for solving symmetric systems in Double.
///
/// Only the lower triangle of A is read. The matrix is processed in column blocks of 128: each
/// diagonal block is factored directly, the panel below it by triangular solves, and the lower
/// triangle of the trailing matrix updated by one register-tiled product on
/// ``ComputeSettings/threads`` threads, so the cost is that of about n³/3 multiply-adds at
/// matrix-product speed.
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
    self.init(matrix, tile: .native)
  }

  /// Factors `matrix` with the trailing updates in the register tile `tile` (the target's own,
  /// unless a test asks for the other).
  init(_ matrix: Tensor<Double>, tile: RegisterTile) {
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
        let panel = solvePanel(&a, d, n: n, block: start..<end, threads: ComputeSettings.threads)
        // A22 −= L21·D1·L21ᵀ = W21·L21ᵀ (W21 = L21·D1 from the panel solve), lower triangle.
        let rest = n - end
        let width = end - start
        panel.scaled.withUnsafeBufferPointer { scaled in
          panel.unit.withUnsafeBufferPointer { unit in
            let left = PackedPanels(
              depth: width, transposing: scaled, width: rest, stride: width, scale: -1)
            let right = PackedPanels(
              depth: width, transposing: unit, width: rest, stride: width, scale: 1)
            a.withUnsafeMutableBufferPointer { a in
              addLowerProduct(
                left, right, into: a, offset: end * n + end, stride: n,
                threads: ComputeSettings.threads, tile: tile)
            }
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
    // Both sweeps read L by rows (L's columns are n values apart: reading them missed the TLB
    // at every entry for n = 2,000): forward, row i of X minus L[i, j]·row j for j < i; backward,
    // once row j is final, L[j, i]·row j off every earlier row i.
    lower.withUnsafeBufferPointer { l in
      x.withUnsafeMutableBufferPointer { x in
        guard let l = l.baseAddress, let x = x.baseAddress else { return }
        for i in 0..<n {
          let row = l + i * n
          for j in 0..<i {
            let factor = row[j]
            for c in 0..<k { x[i &* k &+ c] -= factor * x[j &* k &+ c] }
          }
        }
        for i in 0..<n {
          for c in 0..<k { x[i &* k &+ c] /= pivots[i] }
        }
        for j in stride(from: n - 1, through: 1, by: -1) {
          let row = l + j * n
          for i in 0..<j {
            let factor = row[i]
            for c in 0..<k { x[i &* k &+ c] -= factor * x[j &* k &+ c] }
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
/// returns it twice, row-major `[rest, blockSize]`: `unit` (L21) and `scaled` (L21·D1); the rows
/// are split between up to `threads` threads.
///
/// Each row is substituted column by column, subtracting a finished column's contribution from
/// all later ones at once (a contiguous multiply-add the compiler vectorises) rather than taking a
/// dot product per entry (a chain of dependent multiply-adds).
private func solvePanel(
  _ a: inout [Double], _ d: [Double], n: Int, block: Range<Int>, threads: Int
) -> (unit: [Double], scaled: [Double]) {
  let width = block.count
  let first = block.upperBound
  let rest = n - first
  let base = block.lowerBound
  // L11ᵀ row-major: row j holds L_kj for k > j.
  var transposed = [Double](repeating: 0, count: width * width)
  for j in 0..<width {
    for k in (j + 1)..<Swift.max(j + 1, width) {
      transposed[j * width + k] = a[(base + k) * n + base + j]
    }
  }
  var scaled = [Double](repeating: 0, count: rest * width)
  var unit = [Double](repeating: 0, count: rest * width)
  a.withUnsafeMutableBufferPointer { a in
    transposed.withUnsafeBufferPointer { transposed in
      scaled.withUnsafeMutableBufferPointer { scaled in
        unit.withUnsafeMutableBufferPointer { unit in
          let buffers = PanelBuffers(a: a, transposed: transposed, scaled: scaled, unit: unit)
          // Rows are independent: split them between the threads when there is enough work
          // (about width²/2 multiply-adds per row) to pay for starting a second thread.
          let parts = rest * width * width >= 1 << 22 ? Swift.max(1, Swift.min(threads, rest)) : 1
          let work: @Sendable (Int) -> Void = { part in
            let (a, transposed, scaled, unit) = (
              buffers.a, buffers.transposed, buffers.scaled, buffers.unit
            )
            for i in (part * rest / parts)..<((part + 1) * rest / parts) {
              let row = (first + i) * n + base
              let out = i * width
              for j in 0..<width { scaled[out + j] = a[row + j] }
              for j in 0..<width {
                let value = scaled[out + j]
                let l = value / d[base + j]
                unit[out + j] = l
                a[row + j] = l
                subtractScaled(
                  transposed, from: j * width + j + 1, times: value, into: scaled,
                  at: out + j + 1, count: width - j - 1)
              }
            }
          }
          if parts == 1 {
            work(0)
          } else {
            DispatchQueue.concurrentPerform(iterations: parts, execute: work)
          }
        }
      }
    }
  }
  return (unit, scaled)
}

/// The buffers of ``solvePanel(_:_:n:block:threads:)``, shared by its threads: each writes
/// its own rows of `a`, `scaled` and `unit`, and `transposed` is only read.
private struct PanelBuffers: @unchecked Sendable {
  let a: UnsafeMutableBufferPointer<Double>
  let transposed: UnsafeBufferPointer<Double>
  let scaled: UnsafeMutableBufferPointer<Double>
  let unit: UnsafeMutableBufferPointer<Double>
}

/// `target[at + k] −= scale·source[from + k]` for k in 0..<count, 8 lanes at a time: the
/// indexed loop stays scalar because of its overflow-checked index arithmetic.
@inline(__always)
private func subtractScaled(
  _ source: UnsafeBufferPointer<Double>, from: Int, times scale: Double,
  into target: UnsafeMutableBufferPointer<Double>, at: Int, count: Int
) {
  let (input, output) = (UnsafeRawBufferPointer(source), UnsafeMutableRawBufferPointer(target))
  var k = 0
  while k &+ 8 <= count {
    let (i, o) = ((from &+ k) &* 8, (at &+ k) &* 8)
    output.storeBytes(
      of: output.loadUnaligned(fromByteOffset: o, as: SIMD8<Double>.self)
        - scale * input.loadUnaligned(fromByteOffset: i, as: SIMD8<Double>.self),
      toByteOffset: o, as: SIMD8<Double>.self)
    k &+= 8
  }
  while k < count {
    target[at &+ k] -= scale * source[from &+ k]
    k &+= 1
  }
}

// MARK: - Lower-triangle products

/// The columns of a depth×width matrix M in panels of 16, each panel depth×16 and contiguous
/// (entry (t, c) at `values[(c / 16)·depth·16 + t·16 + c % 16]`, columns past `width` zero): the
/// layout ``addLowerProduct(_:_:into:offset:stride:threads:tile:)`` streams, one row of 16 per
/// multiply-add step.
struct PackedPanels: @unchecked Sendable {
  /// The number of rows t.
  let depth: Int
  /// The number of columns c.
  let width: Int
  /// The panels, 16-column padded.
  let values: [Double]

  /// Packs the transpose of a row-major `width`×`depth` matrix (`stride` apart), times `scale`:
  /// entry (t, c) is `scale·source[c·stride + t]`.
  init(
    depth: Int, transposing source: UnsafeBufferPointer<Double>, width: Int, stride: Int,
    scale: Double
  ) {
    let panels = (width + 15) / 16
    self.depth = depth
    self.width = width
    values = [Double](unsafeUninitializedCapacity: panels * depth * 16) { out, initialized in
      out.initialize(repeating: 0)
      for c in 0..<width {
        let base = (c / 16) * depth * 16 + c % 16
        for t in 0..<depth { out[base + t * 16] = scale * source[c * stride + t] }
      }
      initialized = panels * depth * 16
    }
  }
}

/// C[i][j] += Σₜ A(t, i)·B(t, j) for every j ≤ i < width, C being row-major with rows `stride`
/// apart: the lower triangle of AᵀB, which is all a symmetric result needs, at half the cost of
/// the full product. The factorisation's trailing update, one depth block of 128 per call (a
/// ridge regression's XᵀX, over thousands of rows, has its own kernel,
/// ``LowerGramAccumulator``).
///
/// Register-tiled: each step of the inner loop broadcasts 8 values of A's row t and multiplies
/// them into B's row of 16, 16 vector accumulators for an 8×16 tile of C, so every load feeds
/// 8 to 16 multiply-adds; with `tile` ``RegisterTile/narrow`` (the default where 8 Doubles
/// take two registers) the tile is summed in smaller register blocks, ``addNarrowTile``.
/// Blocked for the caches: the depth in blocks of 512 rows and C's rows in blocks of 128, so
/// that the A strips of one row block (128 × 512 values, 512 KiB) stay in the second-level
/// cache while every B panel to their left passes once; streaming all of A per
/// panel instead ran from the third-level cache at about half the speed (measured: 20 → 25
/// billion multiply-adds per second for XᵀX at N = 2,000 over 10,000 rows, one core).
/// The threads take whole row blocks of C (disjoint outputs, no synchronisation), dealt in a
/// back-and-forth order because the blocks further down have more tiles.
func addLowerProduct(
  _ a: PackedPanels, _ b: PackedPanels, into c: UnsafeMutableBufferPointer<Double>, offset: Int,
  stride: Int, threads: Int, tile: RegisterTile = .native
) {
  precondition(a.depth == b.depth && a.width == b.width, "addLowerProduct: shapes differ")
  let width = a.width
  let depth = a.depth
  let strips = (width + 7) / 8
  let rowBlocks = (width + 127) / 128
  let parts = Swift.max(1, Swift.min(threads, rowBlocks))
  guard let base = c.baseAddress, width > 0, depth > 0 else { return }
  let output = LowerProductOutput(c: base + offset)
  a.values.withUnsafeBufferPointer { aValues in
    b.values.withUnsafeBufferPointer { bValues in
      guard let aBase = aValues.baseAddress, let bBase = bValues.baseAddress else { return }
      let operands = LowerProductOperands(a: aBase, b: bBase)
      let work: @Sendable (Int) -> Void = { part in
        var start = 0
        while start < depth {
          let count = Swift.min(512, depth - start)
          for block in 0..<rowBlocks {
            let round = block / parts
            let owner = round % 2 == 0 ? block % parts : parts - 1 - block % parts
            guard owner == part else { continue }
            let firstStrip = block * 16
            let endStrip = Swift.min(strips, firstStrip + 16)
            // The panels with a column at or left of the block's last row.
            let endPanel = (Swift.min(width, (block + 1) * 128) + 15) / 16
            for panel in 0..<endPanel {
              let bBlock = operands.b + (panel * depth + start) * 16
              for strip in Swift.max(firstStrip, 2 * panel)..<endStrip {
                lowerTile(
                  a: operands.a + ((strip / 2) * depth + start) * 16 + (strip % 2) * 8, b: bBlock,
                  depth: count, c: output.c, stride: stride, row: strip * 8, column: panel * 16,
                  width: width, tile: tile)
              }
            }
          }
          start += count
        }
      }
      if parts == 1 {
        work(0)
      } else {
        DispatchQueue.concurrentPerform(iterations: parts, execute: work)
      }
    }
  }
}

/// The packed operands of ``addLowerProduct(_:_:into:offset:stride:threads:tile:)``, read by every thread.
private struct LowerProductOperands: @unchecked Sendable {
  let a: UnsafePointer<Double>
  let b: UnsafePointer<Double>
}

/// The output of ``addLowerProduct(_:_:into:offset:stride:threads:tile:)``; threads write disjoint columns.
private struct LowerProductOutput: @unchecked Sendable {
  let c: UnsafeMutablePointer<Double>
}

/// Adds the 8×16 tile of AᵀB at (`row`, `column`) to C over `depth` rows of the packed
/// operands (`a` at the strip's 8 columns, `b` at the panel's 16, both 16 apart), writing only
/// entries with j ≤ i < `width`; in the register tile `tile`.
@inline(__always)
private func lowerTile(
  a: UnsafePointer<Double>, b: UnsafePointer<Double>, depth: Int, c: UnsafeMutablePointer<Double>,
  stride: Int, row: Int, column: Int, width: Int, tile: RegisterTile
) {
  typealias V = SIMD8<Double>
  @inline(__always) func add(_ r: Int, _ low: V, _ high: V) {
    let i = row + r
    guard i < width else { return }
    let limit = Swift.min(16, i - column + 1, width - column)
    let target = c + i * stride + column
    if limit == 16 {
      let raw = UnsafeMutableRawPointer(target)
      raw.storeBytes(of: raw.loadUnaligned(as: V.self) + low, as: V.self)
      raw.storeBytes(
        of: raw.loadUnaligned(fromByteOffset: 64, as: V.self) + high,
        toByteOffset: 64, as: V.self)
    } else {
      for j in 0..<Swift.max(0, limit) { target[j] += j < 8 ? low[j] : high[j - 8] }
    }
  }
  guard tile == .wide else {
    // The sums go through a zeroed 8×16 tile on the stack, then through the same masked add.
    withUnsafeTemporaryAllocation(of: Double.self, capacity: 128) { sums in
      guard let base = sums.baseAddress else { return }
      base.initialize(repeating: 0, count: 128)
      addNarrowTile(
        a: a, aStride: 16, low: b, high: b + 8, bStride: 16, depth: depth, into: base)
      let tile = UnsafeRawPointer(base)
      for r in 0..<8 {
        add(
          r, tile.load(fromByteOffset: r * 128, as: V.self),
          tile.load(fromByteOffset: r * 128 + 64, as: V.self))
      }
    }
    return
  }
  var (c0, d0, c1, d1, c2, d2, c3, d3) = (V(), V(), V(), V(), V(), V(), V(), V())
  var (c4, d4, c5, d5, c6, d6, c7, d7) = (V(), V(), V(), V(), V(), V(), V(), V())
  let rawB = UnsafeRawPointer(b)
  for t in 0..<depth {
    let low = rawB.loadUnaligned(fromByteOffset: t * 128, as: V.self)
    let high = rawB.loadUnaligned(fromByteOffset: t * 128 + 64, as: V.self)
    let s = a + t * 16
    c0 = multiplyAdd(c0, V(repeating: s[0]), low)
    d0 = multiplyAdd(d0, V(repeating: s[0]), high)
    c1 = multiplyAdd(c1, V(repeating: s[1]), low)
    d1 = multiplyAdd(d1, V(repeating: s[1]), high)
    c2 = multiplyAdd(c2, V(repeating: s[2]), low)
    d2 = multiplyAdd(d2, V(repeating: s[2]), high)
    c3 = multiplyAdd(c3, V(repeating: s[3]), low)
    d3 = multiplyAdd(d3, V(repeating: s[3]), high)
    c4 = multiplyAdd(c4, V(repeating: s[4]), low)
    d4 = multiplyAdd(d4, V(repeating: s[4]), high)
    c5 = multiplyAdd(c5, V(repeating: s[5]), low)
    d5 = multiplyAdd(d5, V(repeating: s[5]), high)
    c6 = multiplyAdd(c6, V(repeating: s[6]), low)
    d6 = multiplyAdd(d6, V(repeating: s[6]), high)
    c7 = multiplyAdd(c7, V(repeating: s[7]), low)
    d7 = multiplyAdd(d7, V(repeating: s[7]), high)
  }
  add(0, c0, d0)
  add(1, c1, d1)
  add(2, c2, d2)
  add(3, c3, d3)
  add(4, c4, d4)
  add(5, c5, d5)
  add(6, c6, d6)
  add(7, c7, d7)
}
