import Tapestry
import TapestryTestSupport
import Testing

/// `op(a)·op(b)` by the textbook triple loop, in Double, batch by batch: the reference.
private func naiveMatmul(
  _ a: Tensor<Double>, _ b: Tensor<Double>, transposeA: Bool, transposeB: Bool
) -> Tensor<Double> {
  let batch = a.rank == 3 ? a.shape[0] : (b.rank == 3 ? b.shape[0] : 1)
  let (ra, ca) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
  let (rb, cb) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
  let (m, k) = transposeA ? (ca, ra) : (ra, ca)
  let n = transposeB ? rb : cb
  var result = [Double](repeating: 0, count: batch * m * n)
  for e in 0..<batch {
    let offsetA = a.rank == 3 ? e * m * k : 0
    let offsetB = b.rank == 3 ? e * k * n : 0
    for i in 0..<m {
      for j in 0..<n {
        var sum = 0.0
        for p in 0..<k {
          let x = a.scalars[offsetA + (transposeA ? p * m + i : i * k + p)]
          let y = b.scalars[offsetB + (transposeB ? j * k + p : p * n + j)]
          sum += x * y
        }
        result[e * m * n + i * n + j] = sum
      }
    }
  }
  let batched = a.rank == 3 || b.rank == 3
  return Tensor(shape: batched ? [batch, m, n] : [m, n], scalars: result)
}

/// One product to test: the stored shapes of both operands and the transpose flags.
struct MatmulCase: CustomTestStringConvertible, Sendable {
  let a: [Int]
  let b: [Int]
  let transposeA: Bool
  let transposeB: Bool

  var testDescription: String {
    "\(a)\(transposeA ? "ᵀ" : "") · \(b)\(transposeB ? "ᵀ" : "")"
  }

  /// `op(a)` is `[batchA…, m, k]`, `op(b)` is `[batchB…, k, n]`, in every transpose combination.
  static func all(batchA: [Int], batchB: [Int], m: Int, k: Int, n: Int) -> [MatmulCase] {
    [false, true].flatMap { ta in
      [false, true].map { tb in
        MatmulCase(
          a: batchA + (ta ? [k, m] : [m, k]), b: batchB + (tb ? [n, k] : [k, n]), transposeA: ta,
          transposeB: tb)
      }
    }
  }
}

/// Shapes around the tile sizes (8 rows; 32 Float or 16 Double columns; depth blocks of 256),
/// degenerate ones, skinny recurrent-net ones (one row and depth one: a batch of one sequence
/// and its weight gradient), batched and broadcast ones.
private let valueCases: [MatmulCase] =
  [
    (1, 1, 1), (3, 5, 7), (17, 33, 65), (8, 32, 32), (9, 300, 33), (32, 128, 512), (70, 40, 130),
    (2, 0, 3), (0, 4, 5), (130, 257, 47), (1, 32, 128), (1, 67, 131), (1, 300, 7),
    (37, 1, 70), (1, 1, 33),
  ].flatMap {
    MatmulCase.all(batchA: [], batchB: [], m: $0.0, k: $0.1, n: $0.2)
  }
  + MatmulCase.all(batchA: [3], batchB: [3], m: 5, k: 7, n: 9)
  + MatmulCase.all(batchA: [2], batchB: [], m: 9, k: 17, n: 33)
  + MatmulCase.all(batchA: [], batchB: [4], m: 6, k: 10, n: 18)

// Serialized: the tests set the process-wide thread count.
@Suite("matmul", .serialized) struct MatmulTests {
  @Test("values match the triple loop (Double)", arguments: valueCases, [1, 2])
  func valuesDouble(_ c: MatmulCase, threads: Int) {
    ComputeSettings.threads = threads
    let a = randomTensor(c.a, seed: 1)
    let b = randomTensor(c.b, seed: 2)
    let expected = naiveMatmul(a, b, transposeA: c.transposeA, transposeB: c.transposeB)
    let actual = matmul(a, b, transposeA: c.transposeA, transposeB: c.transposeB)
    expectClose(actual, expected, relativeTolerance: 1e-12, absoluteTolerance: 1e-12)
  }

  @Test("values match the triple loop (Float)", arguments: valueCases, [1, 2])
  func valuesFloat(_ c: MatmulCase, threads: Int) {
    ComputeSettings.threads = threads
    let a = randomTensor(c.a, seed: 1)
    let b = randomTensor(c.b, seed: 2)
    let expected = naiveMatmul(a, b, transposeA: c.transposeA, transposeB: c.transposeB)
    let actual = matmul(
      a.converted(to: Float.self), b.converted(to: Float.self), transposeA: c.transposeA,
      transposeB: c.transposeB)
    expectClose(
      actual.converted(to: Double.self), expected, relativeTolerance: 1e-4,
      absoluteTolerance: 1e-4)
  }

  @Test("a product large enough to use both threads splits rows and columns correctly")
  func parallelSplit() {
    ComputeSettings.threads = 2
    for (m, k, n) in [(300, 130, 70), (20, 200, 700)] {
      let a = randomTensor([m, k], seed: 3)
      let b = randomTensor([k, n], seed: 4)
      expectClose(
        matmul(a, b), naiveMatmul(a, b, transposeA: false, transposeB: false),
        relativeTolerance: 1e-12, absoluteTolerance: 1e-12)
    }
  }

  @Test(
    "gradients match finite differences",
    arguments: MatmulCase.all(batchA: [], batchB: [], m: 3, k: 4, n: 5)
      + MatmulCase.all(batchA: [2], batchB: [2], m: 3, k: 4, n: 2)
      + MatmulCase.all(batchA: [2], batchB: [], m: 3, k: 4, n: 2)
      + MatmulCase.all(batchA: [], batchB: [2], m: 3, k: 4, n: 2))
  func gradients(_ c: MatmulCase) {
    expectGradientsMatchFiniteDifferences(at: [randomTensor(c.a, seed: 5), randomTensor(c.b)]) {
      matmul($0[0], $0[1], transposeA: c.transposeA, transposeB: c.transposeB)
    }
  }

  @Test(
    "second derivatives match finite differences",
    arguments: MatmulCase.all(batchA: [], batchB: [], m: 3, k: 4, n: 2)
      + MatmulCase.all(batchA: [2], batchB: [], m: 2, k: 3, n: 2))
  func secondDerivatives(_ c: MatmulCase) {
    // The product of a matmul with itself is quadratic, so its second derivative is not zero.
    expectSecondDerivativesMatchFiniteDifferences(
      at: [randomTensor(c.a, seed: 6), randomTensor(c.b, seed: 7)]
    ) {
      let product = matmul($0[0], $0[1], transposeA: c.transposeA, transposeB: c.transposeB)
      return product * product
    }
  }

  @Test func incompatibleShapesTrap() async throws {
    let result = try await #require(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = matmul(Tensor<Float>.zeros([2, 3]), Tensor<Float>.zeros([4, 5]))
    }
    // Tapestry's own `precondition` keeps its message in optimised builds too.
    let message = String(decoding: result.standardErrorContent, as: UTF8.self)
    #expect(
      message.contains(
        "matmul: shapes [2, 3] and [4, 5] are incompatible (inner dimensions 3 and 4)"))
  }

  @Test func differentBatchSizesTrap() async {
    await #expect(processExitsWith: .failure) {
      _ = matmul(Tensor<Float>.zeros([2, 2, 3]), Tensor<Float>.zeros([3, 3, 5]))
    }
  }
}
