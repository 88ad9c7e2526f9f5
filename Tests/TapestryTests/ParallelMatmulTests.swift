import Synchronization
import Testing

@testable import Tapestry

/// One raw kernel call to split: `op(A)` is `[m, k]`, `op(B)` is `[k, n]`; `forced` splits it
/// whatever its size (`splitAtAnySize`), otherwise only if it is above the thresholds.
struct SplitShape: CustomTestStringConvertible, Sendable {
  let m: Int
  let k: Int
  let n: Int
  let forced: Bool
  /// The register tile (the target's own unless a test asks for the other).
  var tile = RegisterTile.native

  var testDescription: String {
    "\(m)×\(k) · \(k)×\(n)\(forced ? ", forced" : ""), \(tile) tiles"
  }
}

/// Every row count from 1 to 70, forced to split (kept small: the tests run unoptimised): columns
/// split (40 columns: two tiles of 32 Floats, three of 16 Doubles), and the swapped `A·Bᵀ` up to
/// 64 rows, split by its columns (the original rows) once they fill two tiles; then one-row
/// products split by columns, rows split (from 256 rows), a depth across a block, and depth one
/// (never split).
private let splitShapes: [SplitShape] =
  (1...70).map { SplitShape(m: $0, k: 8, n: 40, forced: true) }
  + [
    SplitShape(m: 1, k: 40, n: 200, forced: true), SplitShape(m: 1, k: 33, n: 129, forced: true),
    SplitShape(m: 300, k: 20, n: 70, forced: true), SplitShape(m: 260, k: 10, n: 40, forced: true),
    SplitShape(m: 20, k: 260, n: 40, forced: true), SplitShape(m: 5, k: 1, n: 80, forced: true),
  ]
  + otherTileSplitShapes

/// Rows around the other register tile's edges, split, and its row split (see `otherTileShapes`).
private let otherTileSplitShapes: [SplitShape] = {
  let other = RegisterTile.native == .wide ? RegisterTile.narrow : .wide
  return
    ((1...26).map { SplitShape(m: $0, k: 8, n: 40, forced: true) }
    + [
      SplitShape(m: 300, k: 20, n: 70, forced: true),
      SplitShape(m: 200, k: 10, n: 40, forced: true),
    ])
    .map { shape in
      var shape = shape
      shape.tile = other
      return shape
    }
}()

/// The products of an LSTM step at B = 32, H = 128 at their real size (split by the thresholds,
/// not forced), with the transposes they are called with: forward `h·W_hhᵀ`, backward `g·W_hh`,
/// weight gradient `gᵀ·h`, and a one-row `h·Wᵀ` with a 600 × 512 W.
private let recurrentProducts: [(shape: SplitShape, transposeA: Bool, transposeB: Bool)] = [
  (SplitShape(m: 32, k: 128, n: 512, forced: false), false, true),
  (SplitShape(m: 32, k: 512, n: 128, forced: false), false, false),
  (SplitShape(m: 512, k: 32, n: 128, forced: false), true, false),
  (SplitShape(m: 1, k: 512, n: 600, forced: false), false, true),
]

/// A product's operands: A, B and the C it starts from, in Double (converted per test).
private struct Operands {
  let a: [Double]
  let b: [Double]
  let c: [Double]

  init(_ shape: SplitShape, seed: UInt64) {
    var generator = SeededGenerator(seed: seed)
    func values(_ count: Int) -> [Double] {
      (0..<count).map { _ in Double.random(in: -1..<1, using: &generator) }
    }
    (a, b, c) = (values(shape.m * shape.k), values(shape.k * shape.n), values(shape.m * shape.n))
  }
}

/// `Kernels.matmul` of `shape` on `threads` threads into a copy of `operands.c`.
private func kernelProduct<Scalar: TensorScalar>(
  _: Scalar.Type, _ shape: SplitShape, _ operands: Operands, transposeA: Bool, transposeB: Bool,
  accumulate: Bool, threads: Int, forced: Bool
) -> [Scalar] {
  let (a, b) = (operands.a.map { Scalar($0) }, operands.b.map { Scalar($0) })
  var c = operands.c.map { Scalar($0) }
  c.withUnsafeMutableBufferPointer { pc in
    guard let baseC = pc.baseAddress else { return }
    Kernels.matmul(
      a, b, into: baseC, m: shape.m, n: shape.n, k: shape.k, transposeA: transposeA,
      transposeB: transposeB, accumulate: accumulate, threads: threads, splitAtAnySize: forced,
      tile: shape.tile)
  }
  return c
}

/// Expects the product of `shape` on `threads` threads to equal the one-thread product exactly,
/// in every transpose combination (or those given): a split moves whole tiles (or, for one row,
/// whole groups of columns) to the other thread, so each element is summed in the same order
/// either way.
private func expectSplitEqualsOneThread<Scalar: TensorScalar>(
  _ type: Scalar.Type, _ shape: SplitShape, accumulate: Bool, threads: Int = 2,
  transposes: [(a: Bool, b: Bool)] = [(false, false), (false, true), (true, false), (true, true)]
) {
  let operands = Operands(shape, seed: UInt64(shape.m * 1_000 + shape.n))
  for (transposeA, transposeB) in transposes {
    let serial = kernelProduct(
      type, shape, operands, transposeA: transposeA, transposeB: transposeB,
      accumulate: accumulate, threads: 1, forced: false)
    let split = kernelProduct(
      type, shape, operands, transposeA: transposeA, transposeB: transposeB,
      accumulate: accumulate, threads: threads, forced: shape.forced)
    let differing = zip(serial, split).filter { $0 != $1 }.count
    #expect(
      differing == 0,
      "transposeA \(transposeA), transposeB \(transposeB): \(differing) elements differ")
  }
}

@Suite struct ParallelMatmulTests {
  @Test(
    "two threads give exactly the one-thread product (Float)", arguments: splitShapes,
    [false, true])
  func twoThreadsFloat(_ shape: SplitShape, accumulate: Bool) {
    expectSplitEqualsOneThread(Float.self, shape, accumulate: accumulate)
  }

  @Test(
    "two threads give exactly the one-thread product (Double)", arguments: splitShapes,
    [false, true])
  func twoThreadsDouble(_ shape: SplitShape, accumulate: Bool) {
    expectSplitEqualsOneThread(Double.self, shape, accumulate: accumulate)
  }

  @Test("a recurrent step's products on two threads equal the one-thread ones")
  func recurrentStepProducts() {
    for product in recurrentProducts {
      expectSplitEqualsOneThread(
        Float.self, product.shape, accumulate: true,
        transposes: [(product.transposeA, product.transposeB)])
    }
  }

  /// More than two threads still split through `concurrentPerform`.
  @Test(arguments: [
    SplitShape(m: 48, k: 20, n: 200, forced: true), SplitShape(m: 520, k: 10, n: 30, forced: true),
  ])
  func moreThreadsGiveTheOneThreadProduct(_ shape: SplitShape) {
    expectSplitEqualsOneThread(Float.self, shape, accumulate: true, threads: 3)
  }

  /// Products run from both parts of a job on the shared worker (so also on the worker's own
  /// thread, while the worker is busy with the job) fall back to one thread each, without waiting
  /// for the worker, and give the one-thread results.
  @Test func productsInsideTheWorkersPartsRunOnTheirThread() {
    let shapes = [
      SplitShape(m: 16, k: 24, n: 40, forced: true), SplitShape(m: 1, k: 24, n: 300, forced: true),
    ]
    let operands = shapes.map { Operands($0, seed: 5) }
    let expected = zip(shapes, operands).map { shape, operands in
      kernelProduct(
        Float.self, shape, operands, transposeA: false, transposeB: true, accumulate: false,
        threads: 1, forced: false)
    }
    let results = PartResults()
    for _ in 0..<20 {
      Kernels.StepWorker.shared.run { part in
        let products = zip(shapes, operands).map { shape, operands in
          kernelProduct(
            Float.self, shape, operands, transposeA: false, transposeB: true, accumulate: false,
            threads: 2, forced: true)
        }
        results.record(products == expected, part: part)
      }
    }
    #expect(results.counts == [20, 20])
    #expect(results.mismatches == 0)
  }

  /// Several threads multiplying at once: one of them gets the worker at a time, the others run
  /// both halves themselves; all results are the one-thread ones.
  @Test func concurrentProductsGiveTheOneThreadResults() async {
    let shape = SplitShape(m: 20, k: 30, n: 50, forced: true)
    let operands = Operands(shape, seed: 9)
    let expected = kernelProduct(
      Double.self, shape, operands, transposeA: true, transposeB: false, accumulate: true,
      threads: 1, forced: false)
    await withTaskGroup(of: Int.self) { group in
      for _ in 0..<4 {
        group.addTask {
          var mismatches = 0
          for _ in 0..<50 {
            let product = kernelProduct(
              Double.self, shape, operands, transposeA: true, transposeB: false,
              accumulate: true, threads: 2, forced: true)
            if product != expected { mismatches += 1 }
          }
          return mismatches
        }
      }
      for await mismatches in group { #expect(mismatches == 0) }
    }
  }
}

/// Which parts of the jobs ran, and how many of them saw a wrong product.
private final class PartResults: Sendable {
  private let state = Mutex((counts: [0, 0], mismatches: 0))

  func record(_ correct: Bool, part: Int) {
    state.withLock {
      $0.counts[part] += 1
      if !correct { $0.mismatches += 1 }
    }
  }

  var counts: [Int] { state.withLock { $0.counts } }
  var mismatches: Int { state.withLock { $0.mismatches } }
}
