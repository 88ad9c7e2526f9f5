// Diagnostics of a reservoir that do not depend on a task: whether it forgets its initial state
// (the echo state property) and how much of its past input it can recall linearly (memory
// capacity).

/// The outcome of ``ReservoirCell/echoStatePropertyCheck(inputs:seed:tolerance:)``.
public struct EchoStatePropertyCheck: Sendable {
  /// ‖xₜ − x′ₜ‖ after each step, for the two runs from different initial states.
  public let distances: [Double]
  /// ‖x₋₁ − x′₋₁‖, the distance between the initial states.
  public let initialDistance: Double
  /// The relative distance below which the runs count as converged.
  public let tolerance: Double

  /// The distance after the last step.
  public var finalDistance: Double { distances.last ?? initialDistance }

  /// Whether the two runs converged: final distance ≤ tolerance · initial distance.
  public var holds: Bool { finalDistance <= tolerance * initialDistance }
}

/// Memory capacity (Jaeger 2001): how well linear readouts recall the input k steps back.
public struct MemoryCapacity: Sendable {
  /// MC_k for k = 1 … maxDelay: the squared correlation between the readout trained to output
  /// u_{t−k} and u_{t−k}, on held-out steps; each is in [0, 1].
  public let perDelay: [Double]

  /// MC = Σ_k MC_k, at most the number of units N for a linear reservoir (Jaeger 2001).
  public var total: Double { perDelay.reduce(0, +) }
}

extension ReservoirCell {
  /// Checks the echo state property empirically: runs the reservoir twice over the same
  /// `inputs` `[T, inputSize]`, from two random initial states with entries U(−1, 1) drawn from
  /// `seed`, and records how far apart the states are after every step.
  ///
  /// With the property, the state is a function of the input history alone, so the distance
  /// shrinks towards 0 (``EchoStatePropertyCheck/holds``); a reservoir whose spectral radius is
  /// well above 1 can keep two different trajectories apart forever.
  public func echoStatePropertyCheck(
    inputs: Tensor<Scalar>, seed: UInt64, tolerance: Double = 1e-6
  ) -> EchoStatePropertyCheck {
    var generator = SeededGenerator(seed: seed)
    let first = Tensor<Scalar>.uniform([hiddenSize], in: -1..<1, using: &generator)
    let second = Tensor<Scalar>.uniform([hiddenSize], in: -1..<1, using: &generator)
    let a = harvest(inputs, initialState: first).states.scalars
    let b = harvest(inputs, initialState: second).states.scalars
    let n = hiddenSize
    func distance(_ x: ArraySlice<Scalar>, _ y: ArraySlice<Scalar>) -> Double {
      zip(x, y).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }.squareRoot()
    }
    return EchoStatePropertyCheck(
      distances: (0..<inputs.shape[0]).map { t in
        distance(a[(t * n)..<((t + 1) * n)], b[(t * n)..<((t + 1) * n)])
      },
      initialDistance: distance(first.scalars[...], second.scalars[...]), tolerance: tolerance)
  }

  /// Memory capacity (Jaeger 2001) of a reservoir with one input: drives it with i.i.d. inputs
  /// U(−0.8, 0.8) drawn from `seed`, fits one ridge readout per delay k = 1 … `maxDelay` (all at
  /// once, as one multi-output ridge regression) to output u_{t−k} on `trainLength` steps after
  /// a `washout`, and measures the squared correlation on the next `testLength` steps.
  ///
  /// Traps, naming the value, unless the reservoir has exactly one input (and no feedback).
  public func memoryCapacity(
    maxDelay: Int, washout: Int = 200, trainLength: Int = 2000, testLength: Int = 1000,
    ridge: Double = 1e-8, seed: UInt64
  ) -> MemoryCapacity {
    precondition(
      inputSize == 1, "memoryCapacity: the reservoir has inputSize \(inputSize), not 1")
    precondition(
      maxDelay > 0 && washout >= maxDelay && trainLength > 0 && testLength > 0,
      "memoryCapacity: maxDelay \(maxDelay) must be positive and at most washout \(washout)")
    var generator = SeededGenerator(seed: seed)
    let total = washout + trainLength + testLength
    let u = (0..<total).map { _ in 1.6 * generator.nextUnitDouble() - 0.8 }
    let states = harvest(
      Tensor(shape: [total, 1], scalars: u.map { Scalar($0) }), washout: washout
    )
    .states
    // Row t (from washout on) targets u_{t−1}, …, u_{t−maxDelay}.
    let delayed = (washout..<total).flatMap { t in (1...maxDelay).map { Scalar(u[t - $0]) } }
    let targets = Tensor(shape: [total - washout, maxDelay], scalars: delayed)
    var regression = RidgeRegression(featureCount: hiddenSize, outputCount: maxDelay)
    regression.accumulate(
      features: states.slice(alongAxis: 0, 0..<trainLength),
      targets: targets.slice(alongAxis: 0, 0..<trainLength))
    let solution = regression.solve(ridge: ridge)
    let testStates = states.slice(alongAxis: 0, trainLength..<(trainLength + testLength))
      .converted(to: Double.self)
    let predictions = addmm(solution.bias, testStates, solution.weight, transposeB: true)
    let expected = targets.slice(alongAxis: 0, trainLength..<(trainLength + testLength))
      .converted(to: Double.self)
    return MemoryCapacity(
      perDelay: (0..<maxDelay).map { k in
        squaredCorrelation(
          predictions.select(k, alongAxis: 1).scalars, expected.select(k, alongAxis: 1).scalars)
      })
  }
}

/// cov(x, y)² / (var(x)·var(y)), 0 when either is constant.
private func squaredCorrelation(_ x: [Double], _ y: [Double]) -> Double {
  let n = Double(x.count)
  let (meanX, meanY) = (x.reduce(0, +) / n, y.reduce(0, +) / n)
  var (covariance, varianceX, varianceY) = (0.0, 0.0, 0.0)
  for (a, b) in zip(x, y) {
    covariance += (a - meanX) * (b - meanY)
    varianceX += (a - meanX) * (a - meanX)
    varianceY += (b - meanY) * (b - meanY)
  }
  guard varianceX > 0, varianceY > 0 else { return 0 }
  return covariance * covariance / (varianceX * varianceY)
}
