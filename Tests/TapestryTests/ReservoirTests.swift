import Foundation
import TapestryTestSupport
import Testing

@testable import Tapestry

/// The scalars of Fixtures/Reservoir/reservoir.json (written by make_fixtures.py there).
struct ReservoirFixture: Decodable, Sendable {
  struct Radii: Decodable, Sendable {
    let numpy: Double
    let arpack: Double
  }

  let leakRate: Double
  let ridge: Double
  let washout: Int
  let spectralRadii: [String: Radii]
  let mackeyGlassFirst: [Double]
  let mackeyGlassLast: [Double]

  enum CodingKeys: String, CodingKey {
    case leakRate = "leak_rate"
    case ridge, washout
    case spectralRadii = "spectral_radii"
    case mackeyGlassFirst = "mackey_glass_first"
    case mackeyGlassLast = "mackey_glass_last"
  }

  static func load() throws -> ReservoirFixture {
    try decodeFixture(ReservoirFixture.self, from: "Reservoir/reservoir.json")
  }

  static func tensors() throws -> SafetensorsFile {
    try Safetensors.read(from: fixtureURL("Reservoir/reservoir.safetensors"))
  }
}

/// The NumPy reservoir of the fixture as a cell.
private func fixtureCell() throws -> (ReservoirCell<Double>, SafetensorsFile, ReservoirFixture) {
  let file = try ReservoirFixture.tensors()
  let fixture = try ReservoirFixture.load()
  let cell = ReservoirCell(
    weight: try file.tensor(named: "weight", as: Double.self),
    inputWeight: try file.tensor(named: "input_weight"), bias: try file.tensor(named: "bias"),
    leakRate: fixture.leakRate)
  return (cell, file, fixture)
}

@Suite struct ReservoirParityTests {
  @Test func harvestedStatesMatchNumPy() throws {
    let (cell, file, _) = try fixtureCell()
    let harvested = cell.harvest(try file.tensor(named: "inputs", as: Double.self))
    let expected = try file.tensor(named: "states", as: Double.self)
    expectClose(harvested.states, expected, relativeTolerance: 0, absoluteTolerance: 1e-12)
    expectClose(
      harvested.finalState, expected.select(199, alongAxis: 0), relativeTolerance: 0,
      absoluteTolerance: 1e-12)
  }

  @Test func tapeAndFastPathGiveTheSameStates() throws {
    let (cell, file, _) = try fixtureCell()
    let inputs = try file.tensor(named: "inputs", as: Double.self).slice(alongAxis: 0, 0..<40)
    let unrolled = unroll(cell, inputs: inputs.reshaped(to: [40, 1, 2]))
    let harvested = cell.harvest(inputs, washout: 10)
    expectClose(
      harvested.states, unrolled.outputs.reshaped(to: [40, 50]).slice(alongAxis: 0, 10..<40),
      relativeTolerance: 0, absoluteTolerance: 1e-13)
  }

  @Test func ridgeReadoutMatchesNumPy() throws {
    let (_, file, fixture) = try fixtureCell()
    let states = try file.tensor(named: "states", as: Double.self)
    let targets = try file.tensor(named: "targets", as: Double.self)
    var ridge = RidgeRegression(featureCount: 50, outputCount: 2)
    ridge.accumulate(
      features: states.slice(alongAxis: 0, fixture.washout..<200),
      targets: targets.slice(alongAxis: 0, fixture.washout..<200))
    let solution = ridge.solve(ridge: fixture.ridge)
    expectClose(
      solution.weight, try file.tensor(named: "readout_weight"), relativeTolerance: 1e-8,
      absoluteTolerance: 1e-10)
    expectClose(
      solution.bias, try file.tensor(named: "readout_bias"), relativeTolerance: 1e-8,
      absoluteTolerance: 1e-10)
  }

  @Test func ridgeAccumulatedInChunksEqualsOneShot() throws {
    let (_, file, fixture) = try fixtureCell()
    let states = try file.tensor(named: "states", as: Double.self)
    let targets = try file.tensor(named: "targets", as: Double.self)
    var whole = RidgeRegression(featureCount: 50, outputCount: 2)
    whole.accumulate(features: states, targets: targets)
    var parts = RidgeRegression(featureCount: 50, outputCount: 2)
    for range in [0..<70, 70..<71, 71..<200] {
      parts.accumulate(
        features: states.slice(alongAxis: 0, range), targets: targets.slice(alongAxis: 0, range))
    }
    #expect(parts.sampleCount == 200)
    expectClose(
      parts.solve(ridge: fixture.ridge).weight, whole.solve(ridge: fixture.ridge).weight,
      relativeTolerance: 1e-7, absoluteTolerance: 1e-9)
  }
}

@Suite struct ReservoirSparseMatrixTests {
  private let dense = Tensor<Double>([[0, 2, 0, -1], [0, 0, 0, 0], [3, 0, 0.5, 0]])

  @Test func denseRoundTripKeepsOnlyNonzeros() {
    let sparse = SparseMatrix(dense)
    #expect(sparse.nonzeroCount == 4)
    #expect(sparse.rowStarts == [0, 2, 2, 4])
    #expect(sparse.columnIndices == [1, 3, 0, 2])
    #expect(sparse.dense() == dense)
    #expect(abs(sparse.density - 4.0 / 12) < 1e-15)
  }

  @Test func productsMatchDenseMatmul() {
    let a = randomTensor([37, 23], seed: 4)
    let keep = randomTensor([37, 23], in: 0..<1, seed: 5).scalars.map { $0 < 0.3 ? 1.0 : 0.0 }
    let masked = a * Tensor(shape: [37, 23], scalars: keep)
    let sparse = SparseMatrix(masked)
    let vector = randomTensor([23], seed: 6)
    expectClose(
      Tensor(sparse.multiplied(by: vector.scalars)),
      matmul(masked, vector.reshaped(to: [23, 1])).reshaped(to: [37]))
    let b = randomTensor([23, 9], seed: 7)
    expectClose(sparse.multiplied(by: b), matmul(masked, b))
  }

  /// The fast path reads W as a sparse matrix, the tape multiplies it densely: both agree for
  /// a sparse and for a fully dense reservoir.
  @Test(arguments: [0.1, 1.0])
  func denseAndSparsePathsGiveTheSameStates(density: Double) {
    var configuration = ReservoirConfiguration(size: 40, inputSize: 1)
    configuration.density = density
    configuration.biasScaling = 0.3
    let cell = ReservoirCell<Double>(configuration, seed: 11)
    let inputs = randomTensor([30, 1], seed: 12)
    expectClose(
      cell.harvest(inputs).states,
      unroll(cell, inputs: inputs.reshaped(to: [30, 1, 1])).outputs.reshaped(to: [30, 40]),
      relativeTolerance: 0, absoluteTolerance: 1e-13)
  }
}

extension ReservoirSparseMatrixTests {
  /// 300 units, fully connected: above the harvest's threshold for splitting rows between
  /// threads (with ``ComputeSettings/threads`` ≥ 2), and with rows of different lengths after
  /// masking, so the length-sorted SELL-8 order differs from the row order.
  @Test func parallelHarvestMatchesTheTape() {
    let n = 300
    let mask = randomTensor([n, n], in: 0..<1, seed: 61).scalars.map { $0 < 0.9 ? 1.0 : 0.0 }
    let weight =
      randomTensor([n, n], seed: 62) * Tensor(shape: [n, n], scalars: mask)
      * (1.5 / 300.0.squareRoot())
    let cell = ReservoirCell(
      weight: weight, inputWeight: randomTensor([n, 1], seed: 63),
      bias: randomTensor([n], seed: 64) * 0.2, leakRate: 0.6)
    let inputs = randomTensor([6, 1], seed: 65)
    expectClose(
      cell.harvest(inputs).states,
      unroll(cell, inputs: inputs.reshaped(to: [6, 1, 1])).outputs.reshaped(to: [6, n]),
      relativeTolerance: 0, absoluteTolerance: 1e-13)
  }
}

@Suite struct ReservoirSpectralRadiusTests {
  static let names = ["dense_normal", "sparse_normal", "uniform", "complex_pair"]

  @Test(arguments: names)
  func spectralRadiusMatchesNumPy(name: String) throws {
    let fixture = try ReservoirFixture.load()
    let file = try Safetensors.read(from: fixtureURL("Reservoir/spectral.safetensors"))
    let matrix = try file.tensor(named: name, as: Double.self)
    let expected = try #require(fixture.spectralRadii[name]).numpy
    expectClose(spectralRadius(of: matrix), expected, relativeTolerance: 1e-10)
    // Forcing the Arnoldi path (denseLimit 0) on the same matrix as a sparse one.
    expectClose(
      spectralRadius(of: SparseMatrix(matrix), denseLimit: 0), expected, relativeTolerance: 1e-8)
  }

  @Test func randomReservoirIsScaledToTheRequestedRadius() {
    var configuration = ReservoirConfiguration(size: 80, inputSize: 1)
    configuration.spectralRadius = 0.75
    let cell = ReservoirCell<Double>(configuration, seed: 3)
    // Within 1e-7: the weights are rounded to Float precision after scaling.
    expectClose(spectralRadius(of: cell.weight.value), 0.75, relativeTolerance: 1e-7)
    let density = SparseMatrix(cell.weight.value).density
    #expect(density > 0.07 && density < 0.13)
    #expect(Set(cell.inputWeight.value.scalars) == [-1, 1])
  }
}

@Suite struct ReservoirLinearAlgebraTests {
  /// A symmetric matrix of order 140 (a 128-column block and a rest, so the blocked update
  /// runs), positive definite and indefinite, and one of order 600 (panels large enough to be
  /// split between threads), all solved to rounding, with the trailing updates in either register
  /// tile (the target's own and the other).
  @Test(arguments: [(140, 0.0), (140, -3.0), (600, 0.0)], [RegisterTile.wide, .narrow])
  func symmetricSolveMatchesTheSystem(system: (n: Int, shift: Double), tile: RegisterTile) {
    let (n, shift) = system
    let a = randomTensor([n, n], seed: 51)
    let symmetric =
      matmul(a, a, transposeB: true) / Double(n)
      + Tensor(shape: [n, n], scalars: (0..<(n * n)).map { $0 % (n + 1) == 0 ? 0.5 + shift : 0 })
    let rhs = randomTensor([n, 3], seed: 52)
    let factorization = CholeskyFactorization(symmetric, tile: tile)
    #expect(factorization.pivots.allSatisfy { $0 > 0 } == (shift == 0))
    let solution = factorization.solve(rhs)
    expectClose(matmul(symmetric, solution), rhs, relativeTolerance: 1e-9, absoluteTolerance: 1e-9)
    expectClose(
      solveSymmetric(symmetric, rhs.select(0, alongAxis: 1)), solution.select(0, alongAxis: 1))
  }

  /// The Arnoldi path (forced: `denseLimit` 0) on a random reservoir against all its
  /// eigenvalues.
  @Test func arnoldiAgreesWithTheDenseSpectralRadius() {
    var configuration = ReservoirConfiguration(size: 100, inputSize: 1)
    configuration.spectralRadius = 1.3
    let cell = ReservoirCell<Double>(configuration, seed: 53)
    let sparse = SparseMatrix(cell.weight.value)
    expectClose(
      spectralRadius(of: sparse, denseLimit: 0), spectralRadius(of: cell.weight.value),
      relativeTolerance: 1e-9)
    expectClose(spectralRadius(of: sparse), 1.3, relativeTolerance: 1e-7)
  }
}
