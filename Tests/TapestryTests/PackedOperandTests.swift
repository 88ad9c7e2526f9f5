import Testing

@testable import Tapestry

/// A product that packs all of B, and how it is run.
struct PackedProduct: CustomTestStringConvertible, Sendable {
  let m: Int
  let k: Int
  let n: Int
  let transposeB: Bool
  let threads: Int
  var tile = RegisterTile.native

  var testDescription: String {
    "\(m)×\(k) · \(k)×\(n)\(transposeB ? " (B transposed)" : ""), \(threads) thread(s), \(tile)"
  }

  func problem(accumulate: Bool = false) -> MatmulProblem {
    MatmulProblem(
      m: m, n: n, k: k, transposeA: false, transposeB: transposeB, accumulate: accumulate,
      threads: threads, splitAtAnySize: threads > 1, tile: tile)
  }
}

/// Depths across two blocks, columns across a partial panel and (Float, 600 columns) two column
/// blocks, rows that split by columns (70) and by rows (300) on two threads, both register tiles;
/// and the products that, without B packed ahead, read it in place (an untransposed B under 512
/// KiB with up to 64 rows: the LSTM M step's `g·W`) or run with the operands swapped (a
/// transposed B with up to 64 rows: its `h·Wᵀ`).
private let packedProducts: [PackedProduct] = {
  let other = RegisterTile.native == .wide ? RegisterTile.narrow : .wide
  let shapes = [(70, 300, 90), (300, 40, 70), (8, 300, 600), (100, 20, 33), (32, 128, 512)]
  return shapes.flatMap { m, k, n in
    [false, true].flatMap { transposeB in
      [1, 2].flatMap { threads in
        [RegisterTile.native, other].map { tile in
          PackedProduct(m: m, k: k, n: n, transposeB: transposeB, threads: threads, tile: tile)
        }
      }
    }
  }
}()

/// Values in [-1, 1) from `seed`.
private func values<Scalar: TensorScalar>(_: Scalar.Type, _ count: Int, seed: UInt64) -> [Scalar] {
  var generator = SeededGenerator(seed: seed)
  return (0..<count).map { _ in Scalar(Double.random(in: -1..<1, using: &generator)) }
}

/// `op(A)·op(B)` added to `c`, with B packed by the kernel or taken from `packedB`.
private func product<Scalar: TensorScalar>(
  _ shape: PackedProduct, _ a: [Scalar], _ b: [Scalar], _ c: [Scalar],
  packedB: UnsafePointer<Scalar>?
) -> [Scalar] {
  var c = c
  c.withUnsafeMutableBufferPointer { pc in
    guard let baseC = pc.baseAddress else { return }
    Kernels.matmul(
      a, b, into: baseC, m: shape.m, n: shape.n, k: shape.k, transposeA: false,
      transposeB: shape.transposeB, accumulate: true, threads: shape.threads,
      splitAtAnySize: shape.threads > 1, tile: shape.tile, packedB: packedB)
  }
  return c
}

/// Expects the product reading B packed ahead to equal the one packing B as it goes: to the last
/// bit on the same path (the same blocks, panels and order of additions), to rounding when the
/// latter runs with the operands swapped (its depth blocks may differ).
private func expectPackedEqualsUnpacked<Scalar: TensorScalar>(
  _ type: Scalar.Type, _ shape: PackedProduct
) {
  let problem = shape.problem(accumulate: true)
  #expect(problem.runsTiled)
  let a = values(type, shape.m * shape.k, seed: 1)
  let b = values(type, shape.k * shape.n, seed: 2)
  let c = values(type, shape.m * shape.n, seed: 3)
  let packed = UnsafeMutablePointer<Scalar>.allocate(capacity: problem.wholePackedBCount(type))
  defer { packed.deallocate() }
  b.withUnsafeBufferPointer { pb in
    guard let baseB = pb.baseAddress else { return }
    problem.packWholeB(baseB, into: packed)
  }
  let ahead = product(shape, a, b, c, packedB: packed)
  let asItGoes = product(shape, a, b, c, packedB: nil)
  guard problem.swapsOperands else {
    #expect(ahead == asItGoes)
    return
  }
  let tolerance = Scalar(8 * shape.k) * Scalar.ulpOfOne
  #expect(zip(ahead, asItGoes).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) })
}

@Suite("B packed once for reuse")
struct PackedOperandTests {
  @Test("a product reading B packed ahead equals one packing it (Float)", arguments: packedProducts)
  func packedAheadFloat(_ shape: PackedProduct) {
    expectPackedEqualsUnpacked(Float.self, shape)
  }

  @Test(
    "a product reading B packed ahead equals one packing it (Double)", arguments: packedProducts)
  func packedAheadDouble(_ shape: PackedProduct) {
    expectPackedEqualsUnpacked(Double.self, shape)
  }

  @Test func anOperandIsPackedOnItsSecondUseAndAChangedOneIsNotServedTheOldPacking() {
    let cache = PackedOperands()
    let problem = PackedProduct(m: 70, k: 96, n: 80, transposeB: false, threads: 1).problem()
    var weights = values(Float.self, 96 * 80, seed: 4)
    #expect(cache.packed(weights, for: problem) == nil)
    let packed = cache.packed(weights, for: problem)
    #expect(packed != nil)
    #expect(cache.packed(weights, for: problem) == packed)
    // The cache shares the buffer, so this write copies it: a new address, a first use again.
    weights[0] += 1
    #expect(cache.packed(weights, for: problem) == nil)
    #expect(cache.packed(weights, for: problem) != packed)
  }

  @Test(
    "a one-row product by a transposed B reads it transposed from its second use",
    arguments: [(128, 32), (96, 32), (45, 70)])
  func oneRowProductReadsTheTransposedCopy(rows: Int, depth: Int) {
    let cache = PackedOperands()
    var weights = values(Double.self, rows * depth, seed: 6)
    let row = values(Double.self, depth, seed: 7)
    func product() -> [Double] {
      var c = [Double](repeating: 0, count: rows)
      PackedOperands.withCurrent(cache) {
        c.withUnsafeMutableBufferPointer { pc in
          Kernels.matmul(
            row, weights, into: pc.baseAddress!, m: 1, n: rows, k: depth, transposeA: false,
            transposeB: true, accumulate: false)
        }
      }
      return c
    }
    func expectMatchesDotProducts(_ c: [Double]) {
      let expected = (0..<rows).map { j in
        (0..<depth).reduce(0) { $0 + row[$1] * weights[j * depth + $1] }
      }
      let error = zip(c, expected).map { abs($0 - $1) }.max() ?? 0
      #expect(error < 1e-12, "largest difference \(error)")
    }
    expectMatchesDotProducts(product())
    expectMatchesDotProducts(product())
    let copy = cache.transposed(weights, rows: rows, columns: depth)
    #expect(copy != nil)
    if let copy {
      #expect(copy[3 * rows + 2] == weights[2 * depth + 3])
    }
    // The write copies the shared buffer: the new values are a first use, not the old copy.
    weights[0] += 1
    expectMatchesDotProducts(product())
    expectMatchesDotProducts(product())
  }

  @Test func gradientsThroughAWeightUsedAtEveryStepAreThoseOfSeparateProducts() {
    // 70 rows, so that the state's gradient `g·W` packs W (up to 64 it is read in place).
    let weights = Tensor<Float>.uniform([96, 80], in: -1..<1, seed: 5)
    let inputs = (0..<4).map { Tensor<Float>.uniform([70, 80], in: -1..<1, seed: 10 + UInt64($0)) }
    let seeds = (0..<4).map { Tensor<Float>.uniform([70, 96], in: -1..<1, seed: 20 + UInt64($0)) }
    let grads = gradients(at: inputs) { xs in
      var total = Tensor<Float>(0)
      for (x, seed) in zip(xs, seeds) {
        total = total + (matmul(x, weights, transposeB: true) * seed).sum()
      }
      return total
    }
    // Outside a backward pass nothing is cached: each product packs W itself.
    for (gradient, seed) in zip(grads, seeds) {
      #expect(gradient.scalars == matmul(seed, weights).scalars)
    }
  }
}
