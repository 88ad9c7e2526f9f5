import Testing

@testable import Tapestry

/// The harvest with its steps split between the caller and ``Kernels/StepWorker`` gives the same
/// states, bit for bit, as on one thread: each thread writes its own rows with the same
/// arithmetic.
@Suite struct ReservoirParallelHarvestTests {
  /// W5's reservoir at N = 500 (Double, SELL-8 path) and a Float one (CSR path), both above the
  /// threshold for splitting.
  @Test func twoThreadsGiveTheSameStatesAsOne() {
    let signal = MackeyGlass().signal(count: 400)
    let inputs = Tensor(shape: [400, 1], scalars: signal)
    let cell = ReservoirCell<Double>(ReservoirConfiguration(size: 500, inputSize: 1), seed: 42)
    #expect(cell.stepKernel().split(threads: 2) != nil)
    let one = cell.harvest(inputs, initialState: nil, washout: 10, threads: 1)
    let two = cell.harvest(inputs, initialState: nil, washout: 10, threads: 2)
    #expect(one.states.scalars == two.states.scalars)
    #expect(one.finalState.scalars == two.finalState.scalars)

    var configuration = ReservoirConfiguration(size: 300, inputSize: 1)
    configuration.density = 0.3
    let float = ReservoirCell<Float>(configuration, seed: 7)
    let floatInputs = inputs.converted(to: Float.self)
    #expect(float.stepKernel().split(threads: 2) != nil)
    #expect(
      float.harvest(floatInputs, initialState: nil, washout: 0, threads: 1).states.scalars
        == float.harvest(floatInputs, initialState: nil, washout: 0, threads: 2).states.scalars)
  }

  /// The split is at a slice boundary inside the matrix, and the same for every call.
  @Test func splitIsAMultipleOfEightInside() throws {
    let cell = ReservoirCell<Double>(ReservoirConfiguration(size: 2000, inputSize: 1), seed: 1)
    let split = try #require(cell.stepKernel().split(threads: 2))
    #expect(split % 8 == 0 && split > 0 && split < 2000)
    #expect(cell.stepKernel().split(threads: 1) == nil)
  }
}
