import Foundation
import Tapestry
import TapestryTestSupport
import Testing

@testable import TapestryCLI

/// W1–W4 at size S on the anchors' own data and weights (dumped by Fixtures/Bench/
/// make_fixtures.py): the library's cells, unrolled and differentiated by the tape, give PyTorch's
/// loss and ‖∂L/∂W_hh‖.
@Suite("bench workloads") struct BenchWorkloadTests {
  @Test(arguments: RecurrentKind.allCases)
  func smallWorkloadMatchesPyTorch(kind: RecurrentKind) throws {
    let problem = try #require(
      try RecurrentProblem.load(kind, .small, from: fixtureURL("Bench")))
    let reference = try #require(problem.reference)
    let float = problem.makeStep(Float.self).run()
    let double = problem.makeStep(Double.self).run()
    for result in [float, double] {
      #expect(abs(result.loss - reference.loss) <= 1e-6 * reference.loss)
      #expect(
        abs(result.gradientNormWh - reference.gradientNormWh) <= 1e-6 * reference.gradientNormWh)
    }
  }

  @Test func seededProblemHasTheAnchorShapes() {
    let problem = RecurrentProblem.seeded(.gru, .medium)
    #expect(problem.arrays["x"]?.shape == [100, 32, 32])
    #expect(problem.arrays["Wx"]?.shape == [32, 3 * 128])
    #expect(problem.arrays["bh"]?.shape == [3 * 128])
    #expect(problem.nominalFlops == 6 * 100 * 32 * (32 + 128) * 3 * 128)
  }
}
