// The hyper-parameters of a random reservoir and how its matrices are drawn from them. Values given
// in code are programmer errors when out of range, so they trap (with the parameter and value
// named); the command line validates its own input first and throws instead.

/// A distribution the random weights of a reservoir are drawn from.
public enum WeightDistribution: Sendable, Hashable {
  /// N(0, σ²); σ = 1 by default (reservoirpy's `normal`).
  case normal(standardDeviation: Double = 1)
  /// U[low, high) (reservoirpy's `uniform`, −1 to 1 by default).
  case uniform(low: Double = -1, high: Double = 1)
  /// −1 or +1 with probability 1/2 each (reservoirpy's `bernoulli`), the classic input weights.
  case signs

  /// One value drawn from `generator`.
  ///
  /// The draw for ``signs`` is a uniform compared with 1/2, as NumPy's `rng.random() < 0.5`.
  public func draw(using generator: inout SeededGenerator) -> Double {
    switch self {
    case .normal(let standardDeviation): return standardDeviation * generator.nextStandardNormal()
    case .uniform(let low, let high): return low + (high - low) * generator.nextUnitDouble()
    case .signs: return generator.nextUnitDouble() < 0.5 ? -1 : 1
    }
  }
}

/// The hyper-parameters of a random leaky-integrator reservoir; see ``ReservoirCell``.
///
/// Defaults are those of the W5 benchmark (Jaeger & Haas 2004 style Mackey-Glass): spectral radius
/// 0.9, 10% connectivity, leak rate 0.3, input scaling 1, no bias, ±1 input weights and normal
/// reservoir weights.
public struct ReservoirConfiguration: Sendable, Hashable {
  /// N, the number of reservoir units; positive.
  public var size: Int
  /// The number of external inputs u_t per step; non-negative.
  public var inputSize: Int
  /// The number of fed-back outputs y_{t−1} per step (0 for no output feedback).
  public var feedbackSize: Int = 0
  /// The largest |eigenvalue| of the reservoir matrix W after rescaling; non-negative. Below 1
  /// usually gives the echo state property; larger values give longer but less stable memory.
  public var spectralRadius: Double = 0.9
  /// The fraction of nonzero reservoir weights, in (0, 1].
  public var density: Double = 0.1
  /// The leak rate α in (0, 1]: how much of the new activation replaces the old state per step.
  public var leakRate: Double = 0.3
  /// The factor applied to the input weights: how far the inputs drive the units into tanh's
  /// nonlinear range.
  public var inputScaling: Double = 1
  /// The factor applied to the bias (0 for none).
  public var biasScaling: Double = 0
  /// The factor applied to the feedback weights.
  public var feedbackScaling: Double = 1
  /// The fraction of nonzero input (and feedback) weights, in (0, 1]; 1 for dense.
  public var inputDensity: Double = 1
  /// The distribution of the nonzero reservoir weights, before rescaling to ``spectralRadius``.
  public var weightDistribution: WeightDistribution = .normal()
  /// The distribution of the input, feedback and bias weights, before scaling.
  public var inputDistribution: WeightDistribution = .signs
  /// The standard deviation of Gaussian noise added to the state at every step while training
  /// (``LearningPhase/training``); 0 for none.
  public var stateNoise: Double = 0

  /// A configuration with the given sizes and the defaults for everything else.
  public init(size: Int, inputSize: Int, feedbackSize: Int = 0) {
    self.size = size
    self.inputSize = inputSize
    self.feedbackSize = feedbackSize
  }

  /// Traps, naming the first hyper-parameter out of range and its value.
  public func validate() {
    precondition(size > 0, "ReservoirConfiguration: size \(size) must be positive")
    precondition(
      inputSize >= 0 && feedbackSize >= 0,
      "ReservoirConfiguration: inputSize \(inputSize) and feedbackSize \(feedbackSize) must not "
        + "be negative")
    checkLeakRate(leakRate)
    precondition(
      density > 0 && density <= 1,
      "ReservoirConfiguration: density \(density) is outside (0, 1]")
    precondition(
      inputDensity > 0 && inputDensity <= 1,
      "ReservoirConfiguration: inputDensity \(inputDensity) is outside (0, 1]")
    precondition(
      spectralRadius >= 0 && spectralRadius.isFinite,
      "ReservoirConfiguration: spectralRadius \(spectralRadius) must be finite and non-negative")
    precondition(
      inputScaling.isFinite && biasScaling.isFinite && feedbackScaling.isFinite,
      "ReservoirConfiguration: scalings must be finite (input \(inputScaling), bias "
        + "\(biasScaling), feedback \(feedbackScaling))")
    precondition(
      stateNoise >= 0 && stateNoise.isFinite,
      "ReservoirConfiguration: stateNoise \(stateNoise) must be finite and non-negative")
  }
}

/// Traps unless the leak rate is in (0, 1]: at 0 the state never changes, above 1 it overshoots.
func checkLeakRate(_ leakRate: Double) {
  precondition(
    leakRate > 0 && leakRate <= 1, "ReservoirCell: leakRate \(leakRate) is outside (0, 1]")
}

/// A `[rows, columns]` matrix whose entries are nonzero with probability `density`, drawn
/// row-major: for each entry a uniform decides whether it is stored, then its value is drawn.
func randomSparseMatrix(
  rows: Int, columns: Int, density: Double, distribution: WeightDistribution, scale: Double,
  using generator: inout SeededGenerator
) -> SparseMatrix<Double> {
  var rowStarts = [0]
  var columnIndices: [Int32] = []
  var values: [Double] = []
  let expected = Int(Double(rows * columns) * density * 1.1) + 16
  columnIndices.reserveCapacity(expected)
  values.reserveCapacity(expected)
  for _ in 0..<rows {
    for column in 0..<columns where density >= 1 || generator.nextUnitDouble() < density {
      let value = distribution.draw(using: &generator) * scale
      if value != 0 {
        columnIndices.append(Int32(column))
        values.append(value)
      }
    }
    rowStarts.append(values.count)
  }
  return SparseMatrix(
    rows: rows, columns: columns, rowStarts: rowStarts, columnIndices: columnIndices,
    values: values)
}
