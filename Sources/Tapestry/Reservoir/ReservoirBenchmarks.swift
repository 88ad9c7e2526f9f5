// The two reference experiments of the documentation, in the library so that the examples and
// `tapestry esn` run exactly the same protocol.

import Foundation

/// The W5 Mackey-Glass protocol (Jaeger & Haas 2004 style; /work/shared/bench/README.md, W5):
/// signal u = tanh(x − 1) of 14,185 samples; the reservoir is driven from zero through a washout
/// of 100 and 10,000 training steps (10,100 harvested states), the readout predicts u_{t+1} from
/// xₜ by ridge regression, then the reservoir is teacher-forced through 2,000 validation and
/// 2,000 test steps. Reported: one-step NRMSE on validation and test, and the free-run NRMSE₈₄
/// over 100 trials starting every 20 steps of the test segment.
public struct MackeyGlassExperiment: Sendable {
  /// The reservoir (its `inputSize` is set to 1).
  public var configuration: ReservoirConfiguration
  /// The ridge parameter λ.
  public var ridge: Double
  /// The seed of the reservoir's random matrices.
  public var seed: UInt64
  /// The length of one extra free run from the start of the test segment (at most 2,084).
  public var longFreeRunSteps = 500

  /// Washout, training, validation and test lengths, and the free-run horizon (W5's).
  public static let (washout, train, validation, test, horizon) = (100, 10_000, 2000, 2000, 84)

  /// The W5 "tuned" setting: N = 2,000, spectral radius 1, input scaling 1, bias scaling 0.2,
  /// leak 0.3, density 0.1, λ = 1e-10.
  public init(size: Int = 2000, seed: UInt64 = 42) {
    configuration = ReservoirConfiguration(size: size, inputSize: 1)
    configuration.spectralRadius = 1
    configuration.biasScaling = 0.2
    ridge = 1e-10
    self.seed = seed
  }

  /// What one run measured.
  public struct Result: Sendable {
    /// Seconds to draw the reservoir and scale it to its spectral radius.
    public let buildSeconds: Double
    /// Seconds to harvest the 10,100 training states (W5's "run").
    public let harvestSeconds: Double
    /// Processor seconds of the harvest, summed over threads (less sensitive than
    /// ``harvestSeconds`` to other processes sharing the machine).
    public let harvestProcessorSeconds: Double
    /// Seconds to fit the ridge readout on 10,000 states (W5's "fit").
    public let fitSeconds: Double
    /// Processor seconds of the fit, summed over threads.
    public let fitProcessorSeconds: Double
    /// Microseconds per closed-loop step of the free runs.
    public let freeRunMicrosecondsPerStep: Double
    /// One-step NRMSE on the validation segment.
    public let validationNRMSE: Double
    /// One-step NRMSE on the test segment.
    public let testNRMSE: Double
    /// The free-run curve over the test segment; `atHorizon` is NRMSE₈₄.
    public let freeRun: FreeRunEvaluation
    /// |ŷ_h − u_{s+h}| for h = 1 … ``MackeyGlassExperiment/longFreeRunSteps`` of one free run
    /// from the start s of the test segment.
    public let longFreeRunErrors: [Double]
  }

  /// Runs the protocol in Double.
  public func run() -> Result {
    let (washout, train, validation, test, horizon) = (
      Self.washout, Self.train, Self.validation, Self.test, Self.horizon
    )
    precondition(
      (0...(test + horizon)).contains(longFreeRunSteps),
      "MackeyGlassExperiment: longFreeRunSteps \(longFreeRunSteps) is outside 0...\(test + horizon)"
    )
    let u = MackeyGlass().signal(count: washout + train + validation + test + horizon + 1)
    var configuration = configuration
    configuration.inputSize = 1
    let (cell, buildSeconds) = timed { ReservoirCell<Double>(configuration, seed: seed) }
    let network = EchoStateNetwork(reservoir: cell, outputSize: 1)
    let trainEnd = washout + train
    func column(_ range: Range<Int>) -> Tensor<Double> {
      Tensor(shape: [range.count, 1], scalars: Array(u[range]))
    }
    let harvestStart = processorSeconds()
    let (harvested, harvestSeconds) = timed {
      cell.harvest(column(0..<trainEnd), washout: washout)
    }
    let fitStart = processorSeconds()
    let harvestProcessorSeconds = fitStart - harvestStart
    let ((), fitSeconds) = timed {
      var regression = RidgeRegression(featureCount: configuration.size, outputCount: 1)
      regression.accumulate(
        features: harvested.states, targets: column((washout + 1)..<(trainEnd + 1)))
      network.setReadout(regression.solve(ridge: ridge))
    }
    let fitProcessorSeconds = processorSeconds() - fitStart
    // Teacher forcing through validation and test: row r is the state after u_{trainEnd + r}.
    let later = cell.harvest(
      column(trainEnd..<(trainEnd + validation + test)), initialState: harvested.finalState
    ).states
    let predictions = network(later).scalars
    func oneStep(_ range: Range<Int>) -> Double {
      normalizedRootMeanSquaredError(
        Tensor(Array(predictions[range])),
        Tensor(Array(u[(trainEnd + range.lowerBound + 1)..<(trainEnd + range.upperBound + 1)])))
    }
    let testTargets = Array(u[(trainEnd + validation + 1)..<(trainEnd + validation + test + 1)])
    let starts = (0..<100).map { validation + 20 * $0 }
    let (freeRun, freeRunSeconds) = timed {
      network.freeRunEvaluation(
        states: later, signal: Array(u[trainEnd...]), starts: starts, horizon: horizon,
        variance: variance(testTargets))
    }
    let long = network.generate(
      steps: longFreeRunSteps, from: later.select(validation, alongAxis: 0)
    ).scalars
    let longErrors = long.indices.map { abs(long[$0] - u[trainEnd + validation + $0 + 1]) }
    return Result(
      buildSeconds: buildSeconds, harvestSeconds: harvestSeconds,
      harvestProcessorSeconds: harvestProcessorSeconds, fitSeconds: fitSeconds,
      fitProcessorSeconds: fitProcessorSeconds,
      freeRunMicrosecondsPerStep: freeRunSeconds * 1e6 / Double(starts.count * horizon),
      validationNRMSE: oneStep(0..<validation),
      testNRMSE: oneStep(validation..<(validation + test)), freeRun: freeRun,
      longFreeRunErrors: longErrors)
  }
}

/// NARMA-10 one-step prediction: the reservoir sees u(k) and its readout predicts y(k+1); washout
/// 200, ridge fitted on 2,000 steps, NMSE on the next 2,000 (one seeded series, reservoir drawn
/// from the same seed).
public struct NARMA10Experiment: Sendable {
  /// The reservoir (its `inputSize` is set to 1).
  public var configuration: ReservoirConfiguration
  /// The ridge parameter λ.
  public var ridge: Double
  /// The seed of the series and the reservoir.
  public var seed: UInt64
  /// Washout, training and test lengths.
  public var lengths = (washout: 200, train: 2000, test: 2000)

  /// N = 50 units, spectral radius 0.9, leak 1 (no leak), input scaling 0.2, bias scaling 0.1,
  /// density 0.1 and λ = 1e-8: chosen on a separate validation series.
  public init(size: Int = 50, seed: UInt64 = 1) {
    configuration = ReservoirConfiguration(size: size, inputSize: 1)
    configuration.spectralRadius = 0.9
    configuration.leakRate = 1
    configuration.inputScaling = 0.2
    configuration.biasScaling = 0.1
    ridge = 1e-8
    self.seed = seed
  }

  /// Runs the protocol in Double; returns the NMSE on the training and test steps.
  public func run() -> (trainNMSE: Double, testNMSE: Double) {
    let (washout, train, test) = lengths
    let total = washout + train + test
    let task = NARMA10.make(count: total, seed: seed)
    var configuration = configuration
    configuration.inputSize = 1
    let network = EchoStateNetwork(
      reservoir: ReservoirCell<Double>(configuration, seed: seed &+ 1), outputSize: 1)
    let inputs = Tensor(shape: [total, 1], scalars: task.inputs)
    let targets = Tensor(shape: [total, 1], scalars: task.targets)
    let harvested = network.fit(
      inputs: inputs.slice(alongAxis: 0, 0..<(washout + train)),
      targets: targets.slice(alongAxis: 0, 0..<(washout + train)), washout: washout, ridge: ridge)
    let testStates = network.reservoir.harvest(
      inputs.slice(alongAxis: 0, (washout + train)..<total),
      initialState: harvested.finalState
    ).states
    return (
      normalizedMeanSquaredError(
        network(harvested.states), targets.slice(alongAxis: 0, washout..<(washout + train))),
      normalizedMeanSquaredError(
        network(testStates), targets.slice(alongAxis: 0, (washout + train)..<total))
    )
  }
}

/// The processor time used so far by this process, all threads together (C's `clock()`).
private func processorSeconds() -> Double {
  Double(clock()) / Double(CLOCKS_PER_SEC)
}

/// The value of `body` and the seconds it took.
private func timed<Value>(_ body: () -> Value) -> (Value, Double) {
  let start = ContinuousClock.now
  let value = body()
  let elapsed = (ContinuousClock.now - start).components
  return (value, Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18)
}
