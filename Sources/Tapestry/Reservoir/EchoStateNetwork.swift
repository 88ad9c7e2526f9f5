// An echo state network is a reservoir plus a linear readout, and nothing else: the readout is an
// ordinary `Linear` layer, fitted in closed form by ridge regression or trained by gradient descent
// like any other layer.

/// An echo state network (Jaeger 2001): a fixed random ``ReservoirCell`` whose states feed a
/// trained linear readout yₜ = W_out·xₜ + c.
///
/// Shapes: states `[T, N]`, outputs `[T, O]`; the readout is a ``Linear`` `N → O`, zero until
/// fitted. Two modes:
/// - teacher forcing: ``fit(inputs:targets:washout:ridge:)`` harvests the states of the given
///   inputs (with the true previous outputs as feedback, if any) and solves the readout;
///   ``callAsFunction(_:)`` reads out any states;
/// - generative (closed loop): ``generate(steps:from:)`` feeds each output back as the next input
///   (and to the feedback weights) for any horizon.
///
/// A model of the framework like any other: ``namedParameters(of:as:)`` finds the reservoir's
/// frozen parameters and the readout's trainable ones, so ``valueWithGradient(at:of:)`` and an
/// optimiser train the readout (and any unfrozen reservoir hyper-parameter) through the tape.
public struct EchoStateNetwork<Scalar: TensorScalar> {
  /// The reservoir.
  public let reservoir: ReservoirCell<Scalar>
  /// The readout, `N → O`.
  public let readout: Linear<Scalar>

  /// A network with this reservoir and a zero readout with `outputSize` outputs.
  public init(reservoir: ReservoirCell<Scalar>, outputSize: Int) {
    precondition(outputSize > 0, "EchoStateNetwork: outputSize \(outputSize) must be positive")
    self.reservoir = reservoir
    self.readout = Linear(
      weight: Tensor.zeros([outputSize, reservoir.hiddenSize]), bias: Tensor.zeros([outputSize]))
  }

  /// O, the number of outputs.
  public var outputSize: Int { readout.outputSize }

  /// The readout applied to states `[T, N]` (or `[B, T, N]`), giving `[T, O]` (`[B, T, O]`).
  public func callAsFunction(_ states: Tensor<Scalar>) -> Tensor<Scalar> {
    readout(states)
  }

  /// Sets the readout to a ridge solution (converted to `Scalar`).
  ///
  /// Traps, naming both shapes, unless the solution is `[O, N]` and `[O]`.
  public func setReadout(_ solution: RidgeSolution) {
    precondition(
      solution.weight.shape == readout.weight.shape && solution.bias.shape == [outputSize],
      "EchoStateNetwork.setReadout: solution shapes \(solution.weight.shape), "
        + "\(solution.bias.shape) do not match readout \(readout.weight.shape)")
    readout.weight.value = solution.weight.converted(to: Scalar.self)
    readout.bias?.value = solution.bias.converted(to: Scalar.self)
  }

  /// Teacher forcing: harvests the states of `inputs` `[T, inputSize]` from zero (or
  /// `initialState`), drops `washout` of them, fits the readout to `targets` `[T, O]` (the rows
  /// from `washout` on are used) by ridge regression with parameter `ridge`, and returns the
  /// harvested states.
  ///
  /// Traps, naming the value, on a washout outside `0..<T` or a negative ridge; naming the
  /// shapes, when `targets` is not `[T, O]`.
  @discardableResult
  public func fit(
    inputs: Tensor<Scalar>, targets: Tensor<Scalar>, washout: Int, ridge: Double,
    initialState: Tensor<Scalar>? = nil
  ) -> ReservoirStates<Scalar> {
    precondition(
      targets.shape == [inputs.shape.first ?? 0, outputSize],
      "EchoStateNetwork.fit: targets shape \(targets.shape) does not match inputs shape "
        + "\(inputs.shape) and outputSize \(outputSize)")
    let harvested = reservoir.harvest(inputs, initialState: initialState, washout: washout)
    var regression = RidgeRegression(featureCount: reservoir.hiddenSize, outputCount: outputSize)
    regression.accumulate(
      features: harvested.states,
      targets: targets.slice(alongAxis: 0, washout..<targets.shape[0]))
    setReadout(regression.solve(ridge: ridge))
    return harvested
  }

  /// Generative mode: from state `state` `[N]` (the state after the last known input), the
  /// readout predicts the next value, which becomes the next input (and the fed-back output),
  /// and so on for `steps` steps; returns the predictions `[steps, O]`. Runs without recording.
  ///
  /// Needs the reservoir's external inputs and its feedback each to be either absent or of size
  /// O; traps, naming the sizes, otherwise.
  public func generate(steps: Int, from state: Tensor<Scalar>) -> Tensor<Scalar> {
    generate(steps: steps, from: state, kernel: reservoir.stepKernel())
  }

  /// ``generate(steps:from:)`` with the reservoir's step kernel already built (building it
  /// converts W to its sparse forms, which many short runs should do once).
  func generate(steps: Int, from state: Tensor<Scalar>, kernel: ReservoirStepKernel<Scalar>)
    -> Tensor<Scalar>
  {
    let o = outputSize
    precondition(
      (reservoir.externalInputSize == 0 || reservoir.externalInputSize == o)
        && (reservoir.feedbackSize == 0 || reservoir.feedbackSize == o),
      "EchoStateNetwork.generate: inputs (\(reservoir.externalInputSize)) and feedback "
        + "(\(reservoir.feedbackSize)) must each be 0 or outputSize \(o)")
    precondition(
      state.shape == [reservoir.hiddenSize],
      "EchoStateNetwork.generate: state shape \(state.shape) does not match "
        + "[\(reservoir.hiddenSize)]")
    precondition(steps >= 0, "EchoStateNetwork.generate: steps \(steps) is negative")
    let weight = withoutDerivative(at: readout.weight.value).scalars
    let bias = readout.bias.map { withoutDerivative(at: $0.value).scalars }
    let n = reservoir.hiddenSize
    let noisy = reservoir.stateNoise > 0 && LearningPhase.current == .training
    var x = state.scalars
    var outputs: [Scalar] = []
    outputs.reserveCapacity(steps * o)
    func readOut() -> [Scalar] {
      (0..<o).map { j in
        var value = bias?[j] ?? 0
        for i in 0..<n { value += weight[j * n + i] * x[i] }
        return value
      }
    }
    var y = readOut()
    for step in 0..<steps {
      outputs += y
      guard step + 1 < steps else { break }
      let input =
        (reservoir.externalInputSize > 0 ? y : []) + (reservoir.feedbackSize > 0 ? y : [])
      kernel.run(input, steps: 1, state: &x, noisy: noisy)
      y = readOut()
    }
    return Tensor(shape: [steps, o], scalars: outputs)
  }
}
