// Error measures of reservoir computing, normalised by the target's variance so that figures
// compare across signals: NRMSE 1 is no better than predicting the mean.

/// The mean squared error divided by the variance of `targets` (population variance, NumPy's
/// `np.var`), over all elements: NMSE = mean((p − t)²) / var(t). Computed in Double.
///
/// Traps, naming both shapes, when the shapes differ or are empty.
public func normalizedMeanSquaredError<Scalar>(
  _ predictions: Tensor<Scalar>, _ targets: Tensor<Scalar>
) -> Double {
  precondition(
    predictions.shape == targets.shape && targets.count > 0,
    "normalizedMeanSquaredError: shapes \(predictions.shape) and \(targets.shape) differ or are "
      + "empty")
  let count = Double(targets.count)
  var squaredError = 0.0
  for (p, t) in zip(predictions.scalars, targets.scalars) {
    squaredError += (Double(p) - Double(t)) * (Double(p) - Double(t))
  }
  return squaredError / count / variance(targets.scalars.map { Double($0) })
}

/// √NMSE: the root mean squared error over the standard deviation of `targets`, the measure of
/// Jaeger & Haas (2004) and the W5 benchmark. See ``normalizedMeanSquaredError(_:_:)``.
public func normalizedRootMeanSquaredError<Scalar>(
  _ predictions: Tensor<Scalar>, _ targets: Tensor<Scalar>
) -> Double {
  normalizedMeanSquaredError(predictions, targets).squareRoot()
}

/// The population variance (divisor n) of `values`, computed about the mean in two passes.
public func variance(_ values: [Double]) -> Double {
  guard !values.isEmpty else { return 0 }
  let mean = values.reduce(0, +) / Double(values.count)
  return values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
}

/// The free-running (closed-loop) error of a network at each horizon, over several trials.
public struct FreeRunEvaluation: Sendable {
  /// NRMSE_h for h = 1 … horizon: entry h − 1 is √(mean over trials of (ŷ_h − u_{s+h})²) / σ.
  public let curve: [Double]

  /// NRMSE at the last horizon: NRMSE₈₄ in Jaeger & Haas's protocol.
  public var atHorizon: Double { curve.last ?? 0 }

  /// The mean of the curve over all horizons.
  public var mean: Double { curve.isEmpty ? 0 : curve.reduce(0, +) / Double(curve.count) }
}

extension EchoStateNetwork {
  /// The free-run protocol of Jaeger & Haas (2004) as the W5 benchmark runs it: for each start
  /// `s` in `starts`, from the teacher-forced state `states[s]` (the state after input u_s) the
  /// network runs closed loop for `horizon` steps (``generate(steps:from:)``); its h-th output
  /// predicts `signal[s + h]`. NRMSE_h = √(mean over starts of (ŷ_h − u_{s+h})² / `variance`).
  ///
  /// W5: 100 starts every 20 steps from the start of the test segment, horizon 84, `variance`
  /// that of the test segment's one-step targets. Traps, naming the start, when a start has no
  /// state or too short a signal after it.
  public func freeRunEvaluation(
    states: Tensor<Scalar>, signal: [Double], starts: [Int], horizon: Int, variance: Double
  ) -> FreeRunEvaluation {
    precondition(outputSize == 1, "freeRunEvaluation: needs one output, not \(outputSize)")
    var squaredErrors = [Double](repeating: 0, count: horizon)
    for start in starts {
      precondition(
        start >= 0 && start < states.shape[0] && start + horizon < signal.count,
        "freeRunEvaluation: start \(start) needs states and \(horizon) signal values after it")
      let predictions = generate(steps: horizon, from: states.select(start, alongAxis: 0))
      for h in 0..<horizon {
        let error = Double(predictions.scalars[h]) - signal[start + h + 1]
        squaredErrors[h] += error * error
      }
    }
    return FreeRunEvaluation(
      curve: squaredErrors.map { ($0 / Double(starts.count) / variance).squareRoot() })
  }
}
