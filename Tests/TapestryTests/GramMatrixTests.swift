import Testing

@testable import Tapestry

/// ``LowerGramAccumulator`` (the ridge readout's XᵀX kernel) against a plain triple loop in
/// Double, for widths and row counts around its tile (8×16), depth block (512), row block (128)
/// and chunk (1,024 rows) sizes.
@Suite struct GramMatrixTests {
  /// Rows `[rows, width + padding]` of reproducible values with a common offset (as a reservoir's
  /// states have), and a shift of `width` values.
  private static func data(rows: Int, width: Int, padding: Int) -> (x: [Double], shift: [Double]) {
    let x = Tensor<Double>.normal([rows, width + padding], seed: UInt64(rows * 1000 + width))
      .scalars.map { $0 + 3 }
    let shift = (0..<width).map { 3 + 0.01 * Double($0 % 7) }
    return (x, shift)
  }

  /// Σₜ (xₜ − s)(xₜ − s)ᵀ by the definition, row-major, lower triangle (the rest zero).
  private static func reference(
    _ x: [Double], rows: Int, width: Int, stride: Int, shift: [Double]
  ) -> [Double] {
    var c = [Double](repeating: 0, count: width * width)
    for t in 0..<rows {
      for i in 0..<width {
        let a = x[t * stride + i] - shift[i]
        for j in 0...i { c[i * width + j] += a * (x[t * stride + j] - shift[j]) }
      }
    }
    return c
  }

  /// The lower triangle of `gram` minus `scale`·v·vᵀ, row-major, the rest zero.
  private static func lowerTriangle(
    _ gram: LowerGramAccumulator, minus scale: Double = 0, outer v: [Double]? = nil
  ) -> [Double] {
    let v = v ?? [Double](repeating: 0, count: gram.width)
    var c = [Double](repeating: 0, count: gram.width * gram.width)
    c.withUnsafeMutableBufferPointer { c in
      v.withUnsafeBufferPointer { v in
        if let base = c.baseAddress, let v = v.baseAddress {
          gram.writeLowerTriangle(into: base, minus: scale, outer: v)
        }
      }
    }
    return c
  }

  /// Whether every entry agrees to the rounding of sums of `rows` products.
  private static func close(_ a: [Double], _ b: [Double], rows: Int) -> Bool {
    let scale = b.map(abs).max() ?? 1
    return zip(a, b).allSatisfy { abs($0 - $1) <= 1e-13 * Double(rows) * Swift.max(1, scale) }
  }

  /// Both tile kernels on one and two threads: each target builds with one of them as its own
  /// (`RegisterTile.native`), so the other is checked by asking for it.
  @Test(
    arguments: [
      (1, 1), (3, 7), (5, 8), (9, 9), (16, 16), (40, 17), (33, 31), (600, 130), (1100, 257),
    ], [(1, RegisterTile.wide), (2, .wide), (1, .narrow), (2, .narrow)])
  func matchesTheDefinition(shape: (rows: Int, width: Int), run: (threads: Int, tile: RegisterTile))
  {
    let (rows, width) = shape
    // A row stride longer than the width: the kernel reads only the first `width` columns.
    let padding = 3
    let (x, shift) = Self.data(rows: rows, width: width, padding: padding)
    var gram = LowerGramAccumulator(width: width)
    x.withUnsafeBufferPointer { x in
      shift.withUnsafeBufferPointer { shift in
        gram.add(
          rows: rows, of: x.baseAddress!, stride: width + padding, shift: shift.baseAddress!,
          threads: run.threads, tile: run.tile)
      }
    }
    let expected = Self.reference(
      x, rows: rows, width: width, stride: width + padding, shift: shift)
    #expect(Self.close(Self.lowerTriangle(gram), expected, rows: rows))
  }

  /// Two calls sum like one; a copy taken between them keeps the first call's sums (copy on
  /// write of the tiles).
  @Test func accumulatesAcrossCallsAndCopiesOnWrite() {
    let (rows, width) = (300, 45)
    let (x, shift) = Self.data(rows: rows, width: width, padding: 0)
    var gram = LowerGramAccumulator(width: width)
    var snapshot = gram
    x.withUnsafeBufferPointer { x in
      shift.withUnsafeBufferPointer { shift in
        gram.add(
          rows: 100, of: x.baseAddress!, stride: width, shift: shift.baseAddress!, threads: 2)
        snapshot = gram
        gram.add(
          rows: rows - 100, of: x.baseAddress! + 100 * width, stride: width,
          shift: shift.baseAddress!, threads: 1)
      }
    }
    #expect(
      Self.close(
        Self.lowerTriangle(gram),
        Self.reference(x, rows: rows, width: width, stride: width, shift: shift), rows: rows))
    #expect(
      Self.close(
        Self.lowerTriangle(snapshot),
        Self.reference(x, rows: 100, width: width, stride: width, shift: shift), rows: 100))
  }

  /// The upper triangle of the destination is not written.
  @Test func leavesTheUpperTriangleAlone() {
    let (x, shift) = Self.data(rows: 20, width: 19, padding: 0)
    var gram = LowerGramAccumulator(width: 19)
    x.withUnsafeBufferPointer { x in
      shift.withUnsafeBufferPointer { shift in
        gram.add(rows: 20, of: x.baseAddress!, stride: 19, shift: shift.baseAddress!, threads: 1)
      }
    }
    var c = [Double](repeating: -7, count: 19 * 19)
    let v = [Double](repeating: 1, count: 19)
    c.withUnsafeMutableBufferPointer { c in
      if let base = c.baseAddress { gram.writeLowerTriangle(into: base, minus: 2, outer: v) }
    }
    for i in 0..<19 {
      for j in (i + 1)..<19 { #expect(c[i * 19 + j] == -7) }
    }
  }

  /// The centring written with the triangle, and the first-order sums added while packing: Σₜ
  /// (xₜ − s) and Σₜ wₜₖ·(xₜ − s) for two weight columns, against plain loops.
  @Test(arguments: [(7, 1), (45, 2), (1030, 21)])
  func centresAndAddsFirstOrderSums(shape: (rows: Int, width: Int)) {
    let (rows, width) = shape
    let (x, shift) = Self.data(rows: rows, width: width, padding: 0)
    let weights = (0..<(2 * rows)).map { Double($0 % 5) - 1.5 }
    var total = [Double](repeating: 0.5, count: width)
    var weighted = [Double](repeating: 0, count: 2 * width)
    var gram = LowerGramAccumulator(width: width)
    x.withUnsafeBufferPointer { x in
      shift.withUnsafeBufferPointer { shift in
        weights.withUnsafeBufferPointer { weights in
          total.withUnsafeMutableBufferPointer { total in
            weighted.withUnsafeMutableBufferPointer { weighted in
              guard let x = x.baseAddress, let shift = shift.baseAddress,
                let weights = weights.baseAddress, let total = total.baseAddress,
                let weighted = weighted.baseAddress
              else { return }
              gram.add(
                rows: rows, of: x, stride: width, shift: shift,
                sums: FirstOrderSums(total: total, weights: weights, count: 2, weighted: weighted),
                threads: 2)
            }
          }
        }
      }
    }
    var expectedTotal = [Double](repeating: 0.5, count: width)
    var expectedWeighted = [Double](repeating: 0, count: 2 * width)
    for t in 0..<rows {
      for i in 0..<width {
        let value = x[t * width + i] - shift[i]
        expectedTotal[i] += value
        for k in 0..<2 { expectedWeighted[k * width + i] += value * weights[t * 2 + k] }
      }
    }
    // Each sum is taken in row order, as the loops above take it: exactly equal.
    #expect(total == expectedTotal)
    #expect(weighted == expectedWeighted)
    let v = (0..<width).map { 0.1 * Double($0) }
    var expected = Self.reference(x, rows: rows, width: width, stride: width, shift: shift)
    for i in 0..<width {
      for j in 0...i { expected[i * width + j] -= 3 * v[i] * v[j] }
    }
    #expect(Self.close(Self.lowerTriangle(gram, minus: 3, outer: v), expected, rows: rows))
  }
}
