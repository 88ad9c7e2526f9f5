extension Kernels {
  /// The longest run a reduction folds in one set of vector lanes before combining pairwise:
  /// 16 Float vectors, so each lane adds at most 16 values in sequence.
  @usableFromInline
  static let pairwiseLeaf = 256

  /// Reduces the middle axis of `x` viewed as `[outer, length, inner]`: result `[outer, inner]`,
  /// `result[o, k] = combine over r of x[o, r, k]`, starting from `initial`.
  ///
  /// Any reduction over one contiguous block of axes has this form. With `inner > 1` the vector
  /// loop runs along `inner`, adding whole rows; with `inner == 1` it runs along the reduced axis
  /// with `Scalar.Vector` partial results over runs of `pairwiseLeaf` elements, whose results
  /// are combined pairwise.
  @inlinable @inline(__always)
  static func reduce<Scalar: TensorScalar>(
    _ x: [Scalar], outer: Int, length: Int, inner: Int, initial: Scalar,
    scalar combine: (Scalar, Scalar) -> Scalar,
    vector vcombine: (Scalar.Vector, Scalar.Vector) -> Scalar.Vector
  ) -> [Scalar] {
    let width = Scalar.Vector.scalarCount
    return array(count: outer * inner) { out in
      x.withUnsafeBufferPointer { input in
        // Combines `count` contiguous elements from `start`: runs of up to `pairwiseLeaf`
        // elements in `Scalar.Vector` lanes, and the runs' results pairwise. A sum's rounding
        // error then grows with the logarithm of the length rather than with the length itself
        // (the Float mean of the 1.6M squared errors of W1 L was 1.5e-5 off when one set of
        // lanes took every element; NumPy sums pairwise for the same reason).
        func pairwise(_ start: Int, _ count: Int) -> Scalar {
          if count > pairwiseLeaf {
            let half = (count / 2 + width - 1) / width * width
            return combine(pairwise(start, half), pairwise(start + half, count - half))
          }
          var lanes = Scalar.Vector(repeating: initial)
          var r = 0
          while r + width <= count {
            lanes = vcombine(lanes, Scalar.Vector.loadUnaligned(from: input, at: start + r))
            r += width
          }
          var total = initial
          for lane in 0..<width { total = combine(total, lanes[lane]) }
          while r < count {
            total = combine(total, input[start + r])
            r += 1
          }
          return total
        }
        for o in 0..<outer {
          let base = o * length * inner
          if inner == 1 {
            out[o] = pairwise(base, length)
          } else {
            let row = UnsafeMutableBufferPointer(rebasing: out[(o * inner)..<((o + 1) * inner)])
            for k in 0..<inner { row[k] = initial }
            for r in 0..<length {
              let offset = base + r * inner
              var k = 0
              while k + width <= inner {
                vcombine(
                  Scalar.Vector.loadUnaligned(from: row, at: k),
                  Scalar.Vector.loadUnaligned(from: input, at: offset + k)
                ).storeUnaligned(to: row, at: k)
                k += width
              }
              while k < inner {
                row[k] = combine(row[k], input[offset + k])
                k += 1
              }
            }
          }
        }
      }
    }
  }
}

extension Kernels {
  /// `total[k] += Σ_r a[r·w + k]`, or `Σ_r a[r·w + k]·b[r·w + k]` when `b` is given, over the
  /// `a.count / w` rows of `w = total.count` elements: the gradient of a block that was repeated
  /// along leading axes (a bias or a peephole added to every row of a batch), added to its
  /// running total; with one row, a gradient (or a product's) added to a total of its own shape.
  ///
  /// The rows are summed first and the sum added to the total last, the order of a separate
  /// sum and add, so the fast path and the general one round alike. The rows are read in order,
  /// one sequential stream: down the columns, a row stride apart, the reads would reach a new
  /// page every row or two, where the hardware prefetcher does not follow.
  @inlinable
  static func addRowSums<Scalar: TensorScalar>(
    _ a: UnsafeBufferPointer<Scalar>, times b: UnsafeBufferPointer<Scalar>?,
    into total: UnsafeMutableBufferPointer<Scalar>
  ) {
    let columns = total.count
    guard columns > 0 else { return }
    let rows = a.count / columns
    guard rows > 1 else { return addRow(a, times: b, at: 0, into: total) }
    withUnsafeTemporaryAllocation(of: Scalar.self, capacity: columns) { sum in
      sum.initialize(repeating: 0)
      for r in 0..<rows { addRow(a, times: b, at: r * columns, into: sum) }
      addRow(UnsafeBufferPointer(sum), times: nil, at: 0, into: total)
    }
  }

  /// `total[k] += a[offset + k]`, or `a[offset + k]·b[offset + k]`, for every `k` of `total`.
  @inlinable @inline(__always)
  static func addRow<Scalar: TensorScalar>(
    _ a: UnsafeBufferPointer<Scalar>, times b: UnsafeBufferPointer<Scalar>?, at offset: Int,
    into total: UnsafeMutableBufferPointer<Scalar>
  ) {
    typealias V = Scalar.Vector
    let width = V.scalarCount
    let n = total.count
    if let b {
      var k = 0
      while k + width <= n {
        let term =
          V.loadUnaligned(from: a, at: offset + k) * V.loadUnaligned(from: b, at: offset + k)
        (V.loadUnaligned(from: total, at: k) + term).storeUnaligned(to: total, at: k)
        k += width
      }
      while k < n {
        total[k] += a[offset + k] * b[offset + k]
        k += 1
      }
    } else {
      addRun(UnsafeBufferPointer(rebasing: a[offset..<(offset + n)]), into: total)
    }
  }
}
