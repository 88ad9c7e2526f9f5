extension Kernels {
  /// Reduces the middle axis of `x` viewed as `[outer, length, inner]`: result `[outer, inner]`,
  /// `result[o, k] = combine over r of x[o, r, k]`, starting from `initial`.
  ///
  /// Any reduction over one contiguous block of axes has this form. With `inner > 1` the vector
  /// loop runs along `inner`, adding whole rows; with `inner == 1` it runs along the reduced axis
  /// with `Scalar.Vector` partial results, folded at the end.
  @inlinable
  static func reduce<Scalar: TensorScalar>(
    _ x: [Scalar], outer: Int, length: Int, inner: Int, initial: Scalar,
    scalar combine: (Scalar, Scalar) -> Scalar,
    vector vcombine: (Scalar.Vector, Scalar.Vector) -> Scalar.Vector
  ) -> [Scalar] {
    let width = Scalar.Vector.scalarCount
    return array(count: outer * inner) { out in
      x.withUnsafeBufferPointer { input in
        for o in 0..<outer {
          let base = o * length * inner
          if inner == 1 {
            var lanes = Scalar.Vector(repeating: initial)
            var r = 0
            while r + width <= length {
              lanes = vcombine(lanes, Scalar.Vector(input[(base + r)..<(base + r + width)]))
              r += width
            }
            var total = initial
            for lane in 0..<width { total = combine(total, lanes[lane]) }
            while r < length {
              total = combine(total, input[base + r])
              r += 1
            }
            out[o] = total
          } else {
            let row = UnsafeMutableBufferPointer(rebasing: out[(o * inner)..<((o + 1) * inner)])
            for k in 0..<inner { row[k] = initial }
            for r in 0..<length {
              let offset = base + r * inner
              var k = 0
              while k + width <= inner {
                vcombine(
                  Scalar.Vector(row[k..<(k + width)]),
                  Scalar.Vector(input[(offset + k)..<(offset + k + width)])
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
