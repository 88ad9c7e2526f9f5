import Foundation
import Tapestry
import TapestryTestSupport
import Testing

/// A small random reservoir for the tests (N = 30 unless given).
private func smallCell(
  size: Int = 30, spectralRadius: Double = 0.9, leakRate: Double = 0.5, inputSize: Int = 1,
  feedbackSize: Int = 0, seed: UInt64 = 5
) -> ReservoirCell<Double> {
  var configuration = ReservoirConfiguration(
    size: size, inputSize: inputSize, feedbackSize: feedbackSize)
  configuration.spectralRadius = spectralRadius
  configuration.leakRate = leakRate
  configuration.biasScaling = 0.2
  configuration.density = 0.2
  return ReservoirCell(configuration, seed: seed)
}

@Suite struct ReservoirTaskTests {
  @Test func mackeyGlassMatchesTheW5Recipe() throws {
    let fixture = try ReservoirFixture.load()
    let signal = MackeyGlass().signal(count: 14_185)
    expectClose(
      Tensor(Array(signal.prefix(50))), Tensor(fixture.mackeyGlassFirst), relativeTolerance: 1e-12,
      absoluteTolerance: 1e-14)
    expectClose(
      Tensor(Array(signal.suffix(85))), Tensor(fixture.mackeyGlassLast), relativeTolerance: 1e-10,
      absoluteTolerance: 1e-12)
  }

  @Test func narma10FollowsItsRecurrence() {
    let (u, y) = NARMA10.make(count: 300, seed: 9)
    #expect(u.allSatisfy { (0..<0.5).contains($0) })
    #expect(NARMA10.make(count: 300, seed: 9).targets == y)
    for k in 10..<299 {
      let window = (0...9).map { y[k - 1 - $0] }.reduce(0, +)
      let expected = 0.3 * y[k - 1] + 0.05 * y[k - 1] * window + 1.5 * u[k - 9] * u[k] + 0.1
      expectClose(y[k], expected, relativeTolerance: 1e-14)
    }
  }

  @Test func normalisedErrorsOfPerfectAndMeanPredictions() {
    let targets = Tensor<Double>([1, 2, 3, 4])
    #expect(normalizedMeanSquaredError(targets, targets) == 0)
    expectClose(normalizedMeanSquaredError(Tensor([2.5, 2.5, 2.5, 2.5]), targets), 1)
    // Errors of ±0.5 against a variance of 1.25: NMSE 0.2, NRMSE √0.2.
    let predictions = Tensor<Double>([1.5, 1.5, 3.5, 3.5])
    expectClose(normalizedMeanSquaredError(predictions, targets), 0.2)
    expectClose(normalizedRootMeanSquaredError(predictions, targets), 0.2.squareRoot())
  }
}

@Suite struct ReservoirNetworkTests {
  /// Targets that are exactly linear in the states are recovered, which pins down how `fit`
  /// aligns states with targets after the washout.
  @Test func ridgeFitRecoversALinearReadout() {
    let network = EchoStateNetwork(reservoir: smallCell(), outputSize: 1)
    let u = randomTensor([200, 1], seed: 21)
    let states = network.reservoir.harvest(u).states
    let targets = matmul(states, randomTensor([30, 1], seed: 20)) + 0.3
    network.fit(inputs: u, targets: targets, washout: 50, ridge: 1e-12)
    let error = normalizedRootMeanSquaredError(
      network(states.slice(alongAxis: 0, 50..<200)), targets.slice(alongAxis: 0, 50..<200))
    #expect(error < 1e-6)
  }

  @Test func generationFeedsEachOutputBackAsTheNextInput() {
    let network = EchoStateNetwork(reservoir: smallCell(), outputSize: 1)
    let u = randomTensor([100, 1], seed: 22)
    let harvested = network.fit(
      inputs: u, targets: u.padded(alongAxis: 0, before: 0, after: 1).slice(alongAxis: 0, 1..<101),
      washout: 10, ridge: 1e-6)
    let generated = network.generate(steps: 4, from: harvested.finalState)
    // By hand: read out, then step the reservoir with that output as its input.
    var state = harvested.finalState
    var expected: [Double] = []
    for _ in 0..<4 {
      let y = network(state.reshaped(to: [1, 30])).scalar
      expected.append(y)
      state =
        network.reservoir.harvest(Tensor(shape: [1, 1], scalars: [y]), initialState: state)
        .finalState
    }
    expectClose(generated, Tensor(shape: [4, 1], scalars: expected), relativeTolerance: 1e-12)
  }

  @Test func feedbackIsTheSecondPartOfTheInputRow() {
    let cell = smallCell(feedbackSize: 1)
    #expect(cell.inputSize == 2 && cell.feedbackWeight?.shape == [30, 1])
    let inputs = randomTensor([20, 2], seed: 23)
    expectClose(
      cell.harvest(inputs).states,
      unroll(cell, inputs: inputs.reshaped(to: [20, 1, 2])).outputs.reshaped(to: [20, 30]),
      relativeTolerance: 0, absoluteTolerance: 1e-13)
  }

  @Test func stateNoiseOnlyWhileTraining() {
    var configuration = ReservoirConfiguration(size: 20, inputSize: 1)
    configuration.stateNoise = 1e-3
    let inputs = randomTensor([10, 1], seed: 24)
    let quiet = ReservoirCell<Double>(configuration, seed: 1).harvest(inputs).states
    let noisyCell = ReservoirCell<Double>(configuration, seed: 1)
    let noisy = withLearningPhase(.training) { noisyCell.harvest(inputs).states }
    #expect(quiet == noisyCell.harvest(inputs).states)
    let difference = (noisy - quiet).scalars.map(Swift.abs).max() ?? 0
    #expect(difference > 1e-5 && difference < 1e-2)
  }

  /// The readout is an ordinary `Linear` layer: gradient descent on the tape lowers its error
  /// towards (never below) that of the ridge solution, the least-squares optimum.
  @Test func readoutTrainsByGradientDescent() {
    let network = EchoStateNetwork(reservoir: smallCell(), outputSize: 1)
    #expect(
      trainableParameters(of: network, as: Double.self).map(\.name) == [
        "readout.weight", "readout.bias",
      ])
    let u = randomTensor([300, 1], seed: 25)
    let targets = u.padded(alongAxis: 0, before: 1, after: 0).slice(alongAxis: 0, 0..<300)
    let states = network.reservoir.harvest(u, washout: 50).states
    let scored = targets.slice(alongAxis: 0, 50..<300)
    func loss() -> Double {
      meanSquaredError(predicted: network(states), expected: scored).scalar
    }
    let initial = loss()
    let optimizer = Adam<Double>(learningRate: 0.05)
    for _ in 0..<200 {
      let (_, gradients) = valueWithGradient(at: network) { model in
        meanSquaredError(predicted: model(states), expected: scored)
      }
      optimizer.update(gradients)
    }
    let trained = loss()
    var regression = RidgeRegression(featureCount: 30, outputCount: 1)
    regression.accumulate(features: states, targets: scored)
    network.setReadout(regression.solve(ridge: 0))
    #expect(trained < 0.5 * initial)
    #expect(trained >= loss() - 1e-12)
  }
}

@Suite struct ReservoirDiagnosticsTests {
  @Test func echoStatePropertyHoldsBelowUnitSpectralRadius() {
    let check = smallCell(spectralRadius: 0.8).echoStatePropertyCheck(
      inputs: randomTensor([300, 1], seed: 31), seed: 32)
    #expect(check.initialDistance > 1)
    #expect(check.holds, "final distance \(check.finalDistance)")
  }

  /// Documents a failure: with spectral radius 3, no leak and no input, the zero state is
  /// unstable and two initial states settle on different self-sustained trajectories.
  @Test func echoStatePropertyFailsForALargeRadiusWithoutInput() {
    var configuration = ReservoirConfiguration(size: 30, inputSize: 1)
    configuration.spectralRadius = 3
    configuration.leakRate = 1
    let cell = ReservoirCell<Double>(configuration, seed: 33)
    let check = cell.echoStatePropertyCheck(inputs: Tensor.zeros([300, 1]), seed: 34)
    #expect(!check.holds)
    #expect(check.finalDistance > 0.1 * check.initialDistance)
  }

  @Test func memoryCapacityIsBoundedByTheUnitCount() {
    var configuration = ReservoirConfiguration(size: 20, inputSize: 1)
    configuration.spectralRadius = 0.9
    configuration.leakRate = 1
    configuration.inputScaling = 0.1
    let capacity = ReservoirCell<Double>(configuration, seed: 35).memoryCapacity(
      maxDelay: 40, washout: 100, trainLength: 1000, testLength: 500, seed: 36)
    #expect(capacity.perDelay.count == 40)
    #expect(capacity.perDelay[0] > 0.9)
    #expect(capacity.total > 5 && capacity.total <= 20)
  }
}

@Suite struct ReservoirGradientTests {
  /// BPTT through 8 steps with respect to α, ρ and s, against finite differences.
  @Test func hyperParameterGradientsMatchFiniteDifferences() {
    let cell = smallCell(size: 12, leakRate: 0.4)
    let inputs = randomTensor([8, 2, 1], seed: 41)
    let start = [Tensor(0.4), Tensor(1.1), Tensor(0.8)]
    expectGradientsMatchFiniteDifferences(at: start) { values in
      cell.leakRate.value = values[0]
      cell.spectralScale.value = values[1]
      cell.inputScale.value = values[2]
      return unroll(cell, inputs: inputs).outputs
    }
  }

  @Test func unfrozenHyperParametersReceiveGradients() {
    let network = EchoStateNetwork(reservoir: smallCell(size: 10), outputSize: 1)
    for parameter in [
      network.reservoir.leakRate, network.reservoir.spectralScale, network.reservoir.inputScale,
    ] {
      parameter.isFrozen = false
    }
    network.readout.weight.value = randomTensor([1, 10], seed: 42)
    let inputs = randomTensor([6, 1, 1], seed: 43)
    let (_, gradients) = valueWithGradient(at: network) { model in
      model(unroll(model.reservoir, inputs: inputs).outputs).sum()
    }
    #expect(
      gradients.names == [
        "reservoir.leakRate", "reservoir.spectralScale", "reservoir.inputScale", "readout.weight",
        "readout.bias",
      ])
    for name in ["reservoir.leakRate", "reservoir.spectralScale", "reservoir.inputScale"] {
      #expect(gradients[name]?.shape == [])
      #expect(gradients[name].map { $0.scalar != 0 } == true)
    }
  }
}

@Suite struct ReservoirHyperParameterTrapTests {
  // Exit-test bodies cannot capture values, so each bad value has its own test.
  @Test func zeroLeakRateTraps() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      var configuration = ReservoirConfiguration(size: 5, inputSize: 1)
      configuration.leakRate = 0
      _ = ReservoirCell<Double>(configuration, seed: 1)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("leakRate 0.0 is outside (0, 1]"))
  }

  @Test func leakRateAboveOneTraps() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = ReservoirCell<Double>(
        weight: Tensor.zeros([2, 2]), inputWeight: Tensor.zeros([2, 1]), bias: Tensor.zeros([2]),
        leakRate: 1.5)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("leakRate 1.5 is outside (0, 1]"))
  }

  @Test func zeroDensityTraps() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      var configuration = ReservoirConfiguration(size: 5, inputSize: 1)
      configuration.density = 0
      _ = ReservoirCell<Double>(configuration, seed: 1)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("density 0.0 is outside (0, 1]"))
  }

  @Test func densityAboveOneTraps() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      var configuration = ReservoirConfiguration(size: 5, inputSize: 1)
      configuration.density = 1.2
      _ = ReservoirCell<Double>(configuration, seed: 1)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("density 1.2 is outside (0, 1]"))
  }

  @Test func negativeRidgeTraps() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      var regression = RidgeRegression(featureCount: 2, outputCount: 1)
      regression.accumulate(
        features: Tensor<Double>([[1, 2], [3, 5]]), targets: Tensor<Double>([[1], [2]]))
      _ = regression.solve(ridge: -1e-3)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("ridge -0.001 must be finite and non-negative"))
  }

  @Test func washoutAsLongAsTheSequenceTraps() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      let cell = ReservoirCell<Double>(ReservoirConfiguration(size: 5, inputSize: 1), seed: 1)
      _ = cell.harvest(Tensor.zeros([10, 1]), washout: 10)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("washout 10 is outside 0..<10"))
  }
}
