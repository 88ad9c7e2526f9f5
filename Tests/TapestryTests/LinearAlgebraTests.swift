import Foundation
import Tapestry
import TapestryTestSupport
import Testing

/// One matrix of Fixtures/Initialisers/eigenvalues.json with NumPy's answers for it.
struct EigenvalueFixture: Decodable, CustomTestStringConvertible, Sendable {
  let name: String
  let size: Int
  /// Non-zero elements as [row, column, value].
  let entries: [[Double]]
  /// |λ| from `np.linalg.eigvals`, ascending.
  let moduli: [Double]
  let spectralRadius: Double
  /// `np.linalg.norm(A, 2)`.
  let spectralNorm: Double

  var testDescription: String { name }

  var matrix: Tensor<Double> {
    var scalars = [Double](repeating: 0, count: size * size)
    for entry in entries { scalars[Int(entry[0]) * size + Int(entry[1])] = entry[2] }
    return Tensor(shape: [size, size], scalars: scalars)
  }

  private struct File: Decodable { let cases: [EigenvalueFixture] }

  /// Every case in the fixture file, found from this source file's path.
  static let all: [EigenvalueFixture] = {
    do {
      return try decodeFixture(File.self, from: "Initialisers/eigenvalues.json").cases
    } catch {
      Issue.record("cannot read fixture Initialisers/eigenvalues.json: \(error)")
      return []
    }
  }()
}

/// The n×n identity matrix.
private func identity(_ n: Int) -> Tensor<Double> {
  Initializer.identity().makeTensor([n, n], seed: 0)
}

/// The largest |element| of a matrix: the norm the tolerances below are relative to.
private func maximumAbsolute(_ x: Tensor<Double>) -> Double {
  x.scalars.reduce(0) { max($0, abs($1)) }
}

@Suite("Linear algebra: QR, eigenvalues, spectral radius and norm")
struct LinearAlgebraTests {
  // MARK: - QR

  @Test(arguments: [[5, 5], [8, 3], [3, 8], [60, 25], [25, 60], [1, 4], [4, 1], [1, 1]])
  func qrReconstructsWithOrthonormalQAndNonNegativeDiagonal(shape shapeSizes: [Int]) throws {
    let shape = TensorShape(shapeSizes)
    let a = randomTensor(shape, seed: UInt64(shape[0] * 100 + shape[1]))
    let (q, r) = qrDecomposition(of: a)
    let k = min(shape[0], shape[1])
    #expect(q.shape == [shape[0], k])
    #expect(r.shape == [k, shape[1]])
    #expect(maximumAbsolute(matmul(q, r) - a) < 1e-12)
    #expect(maximumAbsolute(matmul(q, q, transposeA: true) - identity(k)) < 1e-12)
    for i in 0..<k {
      #expect(r[i, i] >= 0)
      for j in 0..<i { #expect(r[i, j] == 0) }
    }
  }

  @Test func qrOfRankDeficientMatrixStillReconstructs() {
    // Column 1 is twice column 0, column 3 is zero.
    var a = randomTensor([6, 4], seed: 7)
    for i in 0..<6 {
      a[i, 1] = 2 * a[i, 0]
      a[i, 3] = 0
    }
    let (q, r) = qrDecomposition(of: a)
    #expect(maximumAbsolute(matmul(q, r) - a) < 1e-12)
    #expect(maximumAbsolute(matmul(q, q, transposeA: true) - identity(4)) < 1e-12)
    #expect(abs(r[1, 1]) < 1e-14)
  }

  @Test func qrOfFloatMatrixIsComputedInDouble() {
    let a = randomTensor([7, 4], seed: 3)
    let (q, r) = qrDecomposition(of: a.converted(to: Float.self))
    let (qDouble, rDouble) = qrDecomposition(
      of: a.converted(to: Float.self).converted(to: Double.self))
    #expect(q == qDouble)
    #expect(r == rDouble)
  }

  // MARK: - Eigenvalues against NumPy

  @Test(arguments: EigenvalueFixture.all)
  func eigenvalueModuliMatchNumPy(fixture: EigenvalueFixture) throws {
    let a = fixture.matrix
    let values = eigenvalues(of: a)
    try #require(values.count == fixture.size)
    let moduli = values.map(\.modulus).sorted()
    // Each |λ| to 1e-12 of the spectral radius (measured: 3e-14 at worst); small moduli carry
    // an absolute error, not a relative one, so the spectral radius sets the scale.
    for (mine, numpy) in zip(moduli, fixture.moduli) {
      #expect(abs(mine - numpy) <= 1e-12 * fixture.spectralRadius, "\(fixture.name)")
    }
    expectClose(spectralRadius(of: a), fixture.spectralRadius, relativeTolerance: 1e-12)
    // The eigenvalues sum to the trace; complex ones come in conjugate pairs.
    let trace = (0..<fixture.size).reduce(0.0) { $0 + a[$1, $1] }
    expectClose(
      values.reduce(0) { $0 + $1.real }, trace, relativeTolerance: 1e-10,
      absoluteTolerance: 1e-10 * fixture.spectralRadius)
    #expect(abs(values.reduce(0) { $0 + $1.imaginary }) < 1e-10 * fixture.spectralRadius)
  }

  @Test(arguments: EigenvalueFixture.all)
  func largestSingularValueMatchesNumPy(fixture: EigenvalueFixture) {
    expectClose(
      largestSingularValue(of: fixture.matrix), fixture.spectralNorm, relativeTolerance: 1e-12)
  }

  @Test func largestSingularValueOfRectangularMatrices() {
    // [[3, 0], [4, 0], [0, 1]] has singular values 5 and 1; its transpose has the same.
    let a = Tensor<Double>([[3, 0], [4, 0], [0, 1]])
    expectClose(largestSingularValue(of: a), 5, relativeTolerance: 1e-14)
    expectClose(largestSingularValue(of: a.transposed()), 5, relativeTolerance: 1e-14)
    #expect(largestSingularValue(of: Tensor<Double>.zeros([0, 3])) == 0)
  }

  // MARK: - Small cases with known answers

  @Test func rotationHasImaginaryPair() {
    let values = eigenvalues(of: Tensor<Double>([[0, -1], [1, 0]]))
    #expect(values.map(\.real).allSatisfy { abs($0) < 1e-15 })
    #expect(Set(values.map(\.imaginary)) == [1, -1])
    #expect(spectralRadius(of: Tensor<Double>([[0, -2], [2, 0]])) == 2)
  }

  @Test func degenerateSizes() {
    #expect(eigenvalues(of: Tensor<Double>.zeros([0, 0])).isEmpty)
    #expect(eigenvalues(of: Tensor<Double>([[-3]])) == [Eigenvalue(real: -3)])
    #expect(spectralRadius(of: Tensor<Double>.zeros([4, 4])) == 0)
  }

  @Test func diagonalAndCompanionMatrices() {
    let diagonal = Tensor<Double>([[1, 0, 0], [0, -5, 0], [0, 0, 3]])
    #expect(eigenvalues(of: diagonal).map(\.real).sorted() == [-5, 1, 3])
    // Companion matrix of (x − 1)(x − 2)(x − 3)(x² + 4) = x⁵ − 6x⁴ + 15x³ − 30x² + 44x − 24.
    let coefficients: [Double] = [6, -15, 30, -44, 24]
    var companion = Tensor<Double>.zeros([5, 5])
    for j in 0..<5 { companion[0, j] = coefficients[j] }
    for i in 1..<5 { companion[i, i - 1] = 1 }
    let values = eigenvalues(of: companion)
    let real = values.filter { abs($0.imaginary) < 1e-9 }.map(\.real).sorted()
    #expect(real.count == 3)
    for (found, expected) in zip(real, [1.0, 2, 3]) {
      expectClose(found, expected, relativeTolerance: 1e-10)
    }
    let complex = values.filter { abs($0.imaginary) >= 1e-9 }
    #expect(complex.count == 2)
    for value in complex {
      #expect(abs(value.real) < 1e-10)
      expectClose(abs(value.imaginary), 2, relativeTolerance: 1e-10)
    }
  }

  @Test func badlyScaledMatrixIsBalanced() {
    // D A D⁻¹ with D = diag(1, 1e6, 1e-6) has A's eigenvalues; balancing undoes the scaling.
    let a = randomTensor([3, 3], seed: 11)
    let scales: [Double] = [1, 1e6, 1e-6]
    var scaled = a
    for i in 0..<3 {
      for j in 0..<3 { scaled[i, j] = a[i, j] * scales[i] / scales[j] }
    }
    let expected = eigenvalues(of: a).map(\.modulus).sorted()
    let found = eigenvalues(of: scaled).map(\.modulus).sorted()
    for (x, y) in zip(found, expected) { expectClose(x, y, relativeTolerance: 1e-10) }
  }

  @Test func eigenvalueModulusAndDescription() {
    #expect(Eigenvalue(real: 3, imaginary: -4).modulus == 5)
    #expect(Eigenvalue(real: 1e300, imaginary: 1e300).modulus.isFinite)
    #expect(Eigenvalue(real: 1.5, imaginary: -2).description == "1.5-2.0i")
    #expect(Eigenvalue(real: 1.5).description == "1.5")
  }

  @Test func eigenvaluesOfANonSquareMatrixTrap() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = eigenvalues(of: Tensor<Double>.ones([2, 3]))
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("eigenvalues(of:): shape [2, 3] is not a square matrix"))
  }
}
