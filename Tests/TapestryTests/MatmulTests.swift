import TapestryTestSupport
import Testing

@testable import Tapestry

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
  let a: TensorShape
  let b: TensorShape
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

  /// A weight used by several products, as a recurrent weight is at every step: from the second
  /// product on, its gradient is added into the running total by the kernel itself.
  @Test(
    "gradients of a weight shared by several products match finite differences",
    arguments: [(false, false), (false, true), (true, false), (true, true)])
  func sharedWeightGradients(transposeA: Bool, transposeB: Bool) {
    let w = randomTensor([4, 4], seed: 8)
    let x = randomTensor([3, 4], seed: 9)
    expectGradientsMatchFiniteDifferences(at: [w, x]) { inputs in
      let (w, x) = (inputs[0], inputs[1])
      var h = x
      for _ in 0..<3 {
        h = tanh(matmul(h, w, transposeB: transposeB))
        h = matmul(w, h, transposeA: transposeA, transposeB: true).transposed()
      }
      return h
    }
    expectSecondDerivativesMatchFiniteDifferences(at: [w, x]) { inputs in
      matmul(matmul(inputs[1], inputs[0]), inputs[0], transposeB: transposeB)
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

  @Test(
    "the kernel matches the triple loop on every path (Double)",
    arguments: kernelShapes, [false, true])
  func kernelDouble(_ shape: KernelShape, accumulate: Bool) {
    expectKernelMatchesTripleLoop(Double.self, shape, accumulate: accumulate, tolerance: 1e-12)
  }

  @Test(
    "the kernel matches the triple loop on every path (Float)",
    arguments: kernelShapes, [false, true])
  func kernelFloat(_ shape: KernelShape, accumulate: Bool) {
    expectKernelMatchesTripleLoop(
      Float.self, shape, accumulate: accumulate, tolerance: 1e-5 * Double(shape.k).squareRoot())
  }

  /// `C = addend + op(A)·op(B)`: read by the tiles where they would read C to accumulate, or
  /// copied into C first on the paths that do not tile (one row, depth one, operands swapped).
  @Test(
    "an addend, a whole matrix or one row for all, is added on every path",
    arguments: addendShapes, [false, true])
  func kernelAddend(_ shape: KernelShape, repeatsRow: Bool) {
    expectKernelMatchesTripleLoop(
      Double.self, shape, accumulate: false, addendRepeatsRow: repeatsRow, tolerance: 1e-12)
    expectKernelMatchesTripleLoop(
      Float.self, shape, accumulate: false, addendRepeatsRow: repeatsRow,
      tolerance: 1e-5 * Double(shape.k).squareRoot())
  }

  /// `accumulate` with an addend is a programmer error: the kernel would not know which to add.
  @Test func addendWithAccumulateTraps() async throws {
    let result = try await #require(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      var c = [Float](repeating: 0, count: 4)
      c.withUnsafeMutableBufferPointer { out in
        guard let base = out.baseAddress else { return }
        Kernels.matmul(
          [Float](repeating: 1, count: 4), [Float](repeating: 1, count: 4), into: base,
          m: 2, n: 2, k: 2, transposeA: false, transposeB: false, accumulate: true,
          addend: [1, 2], addendRowStride: 0)
      }
    }
    let message = String(decoding: result.standardErrorContent, as: UTF8.self)
    #expect(message.contains("matmul: an addend was given to a product that accumulates"))
  }
}

/// One call of the raw kernel: `op(A)` is `[m, k]`, `op(B)` is `[k, n]`.
struct KernelShape: CustomTestStringConvertible, Sendable {
  let m: Int
  let k: Int
  let n: Int
  let threads: Int
  /// The register tile: the target's own, or the other one, which must give the same values.
  var tile = RegisterTile.native

  var testDescription: String { "\(m)×\(k) · \(k)×\(n), \(threads) thread(s), \(tile) tiles" }
}

/// Every row count from 1 to 70 (edge row tiles, the one-row path, the swapped `A·Bᵀ` path up to
/// 64 rows and past it), depth one, edge column tiles, depths across a block, and products large
/// enough for two threads on each path: swapped (40 rows), split by columns (48 rows) and by rows;
/// A read in place (up to 64 columns) across a depth block and on two threads.
private let kernelShapes: [KernelShape] =
  (1...70).map { KernelShape(m: $0, k: 37, n: 75, threads: 1) }
  + [
    KernelShape(m: 5, k: 1, n: 40, threads: 1), KernelShape(m: 64, k: 1, n: 3, threads: 1),
    KernelShape(m: 9, k: 300, n: 33, threads: 1), KernelShape(m: 33, k: 520, n: 65, threads: 1),
    KernelShape(m: 32, k: 128, n: 512, threads: 1), KernelShape(m: 70, k: 40, n: 20, threads: 1),
    KernelShape(m: 40, k: 200, n: 600, threads: 2), KernelShape(m: 48, k: 300, n: 300, threads: 2),
    KernelShape(m: 300, k: 130, n: 110, threads: 2), KernelShape(m: 1, k: 33, n: 70, threads: 2),
    KernelShape(m: 21, k: 600, n: 40, threads: 1), KernelShape(m: 600, k: 200, n: 40, threads: 2),
  ]
  + otherTileShapes

/// Row counts around both tiles' edges (6 and 8 rows), a depth across a block with A read in
/// place, and rows across a row block, for the other register tile: each target builds with one
/// tile (`RegisterTile.native`), so the other is checked here by asking for it (its two-thread
/// splits are in `ParallelMatmulTests`).
private let otherTileShapes: [KernelShape] = {
  let other = RegisterTile.native == .wide ? RegisterTile.narrow : .wide
  return
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 16, 17, 24, 25].map {
      KernelShape(m: $0, k: 37, n: 75, threads: 1)
    }
    + [
      KernelShape(m: 14, k: 300, n: 40, threads: 1), KernelShape(m: 200, k: 60, n: 50, threads: 1),
    ]).map { shape in
      var shape = shape
      shape.tile = other
      return shape
    }
}()

/// The row counts of ``kernelShapes``' edge tiles, and all of its other shapes: each way the
/// kernel computes a product (tiles whole and partial, A or B in place, B packed, split between
/// threads, swapped, one row, depth one) with an addend.
private let addendShapes: [KernelShape] =
  kernelShapes.filter {
    $0.k != 37 || $0.n != 75 || [1, 2, 4, 5, 6, 7, 9, 13, 32, 64, 65].contains($0.m)
  }

/// Runs `Kernels.matmul` on `shape` in every transpose combination, into a C that holds random
/// values (added to when `accumulate`), and compares with the triple loop in Double: each element
/// within `tolerance` times the sum of the magnitudes of its terms. With `addendRepeatsRow` set,
/// the product is added to a random addend instead, `[m, n]` (false) or one row of `n` (true).
private func expectKernelMatchesTripleLoop<Scalar: TensorScalar>(
  _: Scalar.Type, _ shape: KernelShape, accumulate: Bool, addendRepeatsRow: Bool? = nil,
  tolerance: Double
) {
  let (m, k, n) = (shape.m, shape.k, shape.n)
  let a = randomTensor([m * k], seed: 11).scalars
  let b = randomTensor([k * n], seed: 12).scalars
  let initial = randomTensor([m * n], seed: 13).scalars
  let addend = addendRepeatsRow.map { randomTensor([$0 ? n : m * n], seed: 14).scalars }
  let addendRowStride = addendRepeatsRow == true ? 0 : n
  for transposeA in [false, true] {
    for transposeB in [false, true] {
      var c = initial.map { Scalar($0) }
      let (scalarsA, scalarsB) = (a.map { Scalar($0) }, b.map { Scalar($0) })
      let scalarsAddend = addend?.map { Scalar($0) }
      c.withUnsafeMutableBufferPointer { pc in
        guard let baseC = pc.baseAddress else { return }
        func multiply(adding addendBase: UnsafePointer<Scalar>?) {
          Kernels.matmul(
            scalarsA, scalarsB, into: baseC, m: m, n: n, k: k, transposeA: transposeA,
            transposeB: transposeB, accumulate: accumulate, threads: shape.threads,
            tile: shape.tile, addend: addendBase, addendRowStride: addendRowStride)
        }
        if let scalarsAddend {
          scalarsAddend.withUnsafeBufferPointer { multiply(adding: $0.baseAddress) }
        } else {
          multiply(adding: nil)
        }
      }
      var worst = 0.0
      for i in 0..<m {
        for j in 0..<n {
          var sum =
            accumulate ? initial[i * n + j] : addend.map { $0[i * addendRowStride + j] } ?? 0
          var magnitude = abs(sum)
          for p in 0..<k {
            let term =
              a[transposeA ? p * m + i : i * k + p] * b[transposeB ? j * k + p : p * n + j]
            sum += term
            magnitude += abs(term)
          }
          worst = max(worst, abs(Double(c[i * n + j]) - sum) / max(magnitude, 1e-30))
        }
      }
      #expect(
        worst <= tolerance,
        "transposeA \(transposeA), transposeB \(transposeB): relative error \(worst)")
    }
  }
}

/// One `addmm(c, a, b)` to test: the product's case and the shape of `c`, written for `m` rows
/// and `n` columns of the product.
/// Expects `fused` and `unfused` of the same three watched tensors to record the same entries
/// (ops, inputs, input and output shapes), as a fused op (`addmm`, `addcmul`) must to print, draw
/// and differentiate like the expression it stands for; returns the fused tape's op names.
func expectSameEntries(
  _ c: Tensor<Double>, _ a: Tensor<Double>, _ b: Tensor<Double>,
  fused: (Tensor<Double>, Tensor<Double>, Tensor<Double>) -> Tensor<Double>,
  unfused: (Tensor<Double>, Tensor<Double>, Tensor<Double>) -> Tensor<Double>
) -> [String] {
  func entries(
    _ f: (Tensor<Double>, Tensor<Double>, Tensor<Double>) -> Tensor<Double>
  ) -> [Tape<Double>.Entry] {
    let tape = Tape<Double>()
    tape.record { _ = f(tape.watch(c), tape.watch(a), tape.watch(b)) }
    return tape.entries
  }
  let (fusedEntries, unfusedEntries) = (entries(fused), entries(unfused))
  #expect(fusedEntries.map(\.op) == unfusedEntries.map(\.op))
  #expect(fusedEntries.map(\.inputs) == unfusedEntries.map(\.inputs))
  #expect(fusedEntries.map(\.inputShapes) == unfusedEntries.map(\.inputShapes))
  #expect(fusedEntries.map(\.outputShape) == unfusedEntries.map(\.outputShape))
  return fusedEntries.map(\.op)
}

struct AddmmCase: CustomTestStringConvertible, Sendable {
  let product: MatmulCase
  let c: TensorShape

  var testDescription: String { "\(c) + \(product.testDescription)" }

  /// Every transpose combination of an `[m, k]·[k, n]` product with `c` of each shape that is
  /// fused (`[m, n]`, `[n]`, `[1, n]`) and two that are not (`[m, 1]`, a scalar).
  static func all(m: Int, k: Int, n: Int) -> [AddmmCase] {
    MatmulCase.all(batchA: [], batchB: [], m: m, k: k, n: n).flatMap { product in
      [[m, n], [n], [1, n], [m, 1], []].map { AddmmCase(product: product, c: TensorShape($0)) }
    }
  }
}

@Suite("addmm", .serialized) struct AddmmTests {
  @Test(
    "values match c + the triple loop",
    arguments: AddmmCase.all(m: 3, k: 4, n: 5) + AddmmCase.all(m: 1, k: 67, n: 131)
      + AddmmCase.all(m: 37, k: 1, n: 70) + AddmmCase.all(m: 17, k: 33, n: 65), [1, 2])
  func values(_ c: AddmmCase, threads: Int) {
    ComputeSettings.threads = threads
    let (a, b) = (randomTensor(c.product.a, seed: 1), randomTensor(c.product.b, seed: 2))
    let addend = randomTensor(c.c, seed: 3)
    let (ta, tb) = (c.product.transposeA, c.product.transposeB)
    let expected = addend + naiveMatmul(a, b, transposeA: ta, transposeB: tb)
    expectClose(
      addmm(addend, a, b, transposeA: ta, transposeB: tb), expected, relativeTolerance: 1e-12,
      absoluteTolerance: 1e-12)
    let single = addmm(
      addend.converted(to: Float.self), a.converted(to: Float.self), b.converted(to: Float.self),
      transposeA: ta, transposeB: tb)
    expectClose(
      single.converted(to: Double.self), expected, relativeTolerance: 1e-4,
      absoluteTolerance: 1e-4)
  }

  @Test("gradients match finite differences", arguments: AddmmCase.all(m: 3, k: 4, n: 5))
  func gradients(_ c: AddmmCase) {
    let points = [
      randomTensor(c.c, seed: 4), randomTensor(c.product.a, seed: 5), randomTensor(c.product.b),
    ]
    expectGradientsMatchFiniteDifferences(at: points) {
      addmm($0[0], $0[1], $0[2], transposeA: c.product.transposeA, transposeB: c.product.transposeB)
    }
    // Gradients of gradients go through the recorded `matmul` and `add` entries.
    expectSecondDerivativesMatchFiniteDifferences(at: points) {
      let sum = addmm(
        $0[0], $0[1], $0[2], transposeA: c.product.transposeA, transposeB: c.product.transposeB)
      return sum * sum
    }
  }

  @Test("a batch of rows times one matrix, with a bias row")
  func batchOfRows() {
    let points = [
      randomTensor([5], seed: 6), randomTensor([2, 3, 4], seed: 7), randomTensor([5, 4]),
    ]
    expectClose(
      addmm(points[0], points[1], points[2], transposeB: true),
      points[0] + matmul(points[1], points[2], transposeB: true), relativeTolerance: 1e-12,
      absoluteTolerance: 1e-12)
    expectGradientsMatchFiniteDifferences(at: points) {
      addmm($0[0], $0[1], $0[2], transposeB: true)
    }
  }

  /// The fused op leaves the tape that `c + matmul(a, b)` leaves, so printing, drawing and the
  /// backward pass see the same two entries; a constant product still carries `c`'s gradient.
  @Test func recordsTheEntriesOfTheUnfusedExpression() {
    let (c, a, b) = (
      randomTensor([2, 3], seed: 1), randomTensor([2, 4], seed: 2), randomTensor([3, 4])
    )
    let ops = expectSameEntries(
      c, a, b, fused: { addmm($0, $1, $2, transposeB: true) },
      unfused: { $0 + matmul($1, $2, transposeB: true) })
    #expect(ops == ["variable", "variable", "variable", "matmul", "add"])

    let (value, gradient) = valueWithGradient(at: c) { addmm($0, a, b, transposeB: true).sum() }
    #expect(abs(value.scalar - (c + matmul(a, b, transposeB: true)).sum().scalar) < 1e-12)
    expectClose(gradient, Tensor.ones([2, 3]), relativeTolerance: 0, absoluteTolerance: 0)
  }

  /// Anomaly detection checks each entry's own value, which the fused op never forms: it
  /// computes the unfused expression, so an overflowing product is blamed on `matmul`.
  @Test func anomalyInTheProductNamesTheProduct() {
    let tape = Tape<Float>()
    let huge = Tensor<Float>.filled([2, 2], with: 1e30)
    let anomaly = #expect(throws: AnomalyError.self) {
      try withAnomalyDetection {
        tape.record { _ = addmm(Tensor<Float>.zeros([2]), tape.watch(huge), huge) }
      }
    }
    #expect(anomaly?.op == "matmul" && anomaly?.phase == .forward)
  }

  @Test func incompatibleShapesTrap() async throws {
    let result = try await #require(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = addmm(
        Tensor<Float>.zeros([2, 5]), Tensor<Float>.zeros([2, 3]), Tensor<Float>.zeros([4, 5]))
    }
    let message = String(decoding: result.standardErrorContent, as: UTF8.self)
    #expect(
      message.contains(
        "matmul: shapes [2, 3] and [4, 5] are incompatible (inner dimensions 3 and 4)"))
  }
}
