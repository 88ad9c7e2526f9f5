// The reservoir of an echo state network as an ordinary recurrent cell: its matrices are frozen
// parameters, so `unroll`, `valueWithGradient`, optimisers and checkpoints treat it like any other
// cell, and unfreezing a scalar hyper-parameter makes it trainable by backpropagation through
// time. The fast, non-recording harvest (ReservoirHarvest.swift) computes the same states.

/// The leaky-integrator reservoir of an echo state network (Jaeger 2001; Lukoševičius 2012):
///
///     xₜ = (1 − α)·xₜ₋₁ + α·tanh(ρ·W·xₜ₋₁ + s·W_in·uₜ + b + W_fb·yₜ₋₁) [+ σ·ξₜ while training]
///
/// with leak rate α (``leakRate``), reservoir matrix W (``weight``), input weights W_in
/// (``inputWeight``), bias b, optional output feedback W_fb·yₜ₋₁ and, while
/// ``LearningPhase/training``, optional Gaussian state noise σ·ξₜ. ρ (``spectralScale``) and s
/// (``inputScale``) are extra scalar factors, 1 when built: with every other parameter frozen, they
/// and α are the hyper-parameters a differentiable reservoir trains.
///
/// Shapes: the cell's input row is `[uₜ, yₜ₋₁]`, the external inputs followed by the fed-back
/// outputs (just `uₜ` without feedback), so `inputSize` = ``externalInputSize`` +
/// ``feedbackSize``; the state and output are `[B, N]`. `weight` is `[N, N]`, `inputWeight`
/// `[N, externalInputSize]`, `bias` `[N]`, `feedbackWeight` `[N, feedbackSize]`; the scalars are
/// rank 0. Every parameter is frozen when the cell is built.
///
/// ``harvest(_:initialState:washout:)`` runs a whole sequence without recording, over a
/// ``SparseMatrix`` copy of W, many times faster than stepping on the tape.
public struct ReservoirCell<Scalar: TensorScalar>: RecurrentCell {
  /// W, `[N, N]`, already scaled to the configured spectral radius.
  public let weight: Parameter<Scalar>
  /// W_in, `[N, externalInputSize]`, already multiplied by the input scaling.
  public let inputWeight: Parameter<Scalar>
  /// b, `[N]`, already multiplied by the bias scaling.
  public let bias: Parameter<Scalar>
  /// W_fb, `[N, feedbackSize]`, or `nil` without output feedback.
  public let feedbackWeight: Parameter<Scalar>?
  /// α, rank 0, in (0, 1].
  public let leakRate: Parameter<Scalar>
  /// ρ, rank 0: W is used as ρ·W, so ρ rescales the spectral radius (1 when built).
  public let spectralScale: Parameter<Scalar>
  /// s, rank 0: W_in is used as s·W_in, so s rescales the inputs (1 when built).
  public let inputScale: Parameter<Scalar>
  /// σ, the standard deviation of the state noise added while training.
  public let stateNoise: Double
  /// The number of external inputs uₜ.
  public let externalInputSize: Int
  /// The number of fed-back outputs yₜ₋₁ (0 without feedback).
  public let feedbackSize: Int
  /// `externalInputSize + feedbackSize`: the width of each input row.
  public let inputSize: Int
  /// N, the number of reservoir units.
  public let hiddenSize: Int
  private let noise: GeneratorBox

  /// A random reservoir drawn as `configuration` says, from `generator`.
  ///
  /// Draw order: W (row-major; for each entry a uniform decides whether it is nonzero, then its
  /// value), W_in, b, W_fb. W is then rescaled to `configuration.spectralRadius`, measured by
  /// ``spectralRadius(of:tolerance:denseLimit:)`` (the Arnoldi process above 256 units), and its
  /// values rounded to Float precision (the radius moves by about 1e-8 relative), which lets the
  /// Double harvest stream half the bytes with the same arithmetic. The state noise
  /// stream is seeded by one more draw. Traps, naming the parameter, on an invalid
  /// configuration (see ``ReservoirConfiguration/validate()``).
  public init(_ configuration: ReservoirConfiguration, using generator: inout SeededGenerator) {
    configuration.validate()
    let c = configuration
    let raw = randomSparseMatrix(
      rows: c.size, columns: c.size, density: c.density, distribution: c.weightDistribution,
      scale: 1, using: &generator)
    let radius = spectralRadius(of: raw)
    let scaled = radius > 0 ? raw.scaled(by: c.spectralRadius / radius) : raw
    // Rounded to Float precision so that the Double harvest can stream them as Floats (exactly;
    // see SlicedEllpack.swift); this moves the spectral radius by about 1e-8 relative.
    let reservoir = SparseMatrix(
      rows: c.size, columns: c.size, rowStarts: scaled.rowStarts,
      columnIndices: scaled.columnIndices, values: scaled.values.map { Double(Float($0)) })
    let input = randomSparseMatrix(
      rows: c.size, columns: c.inputSize, density: c.inputDensity,
      distribution: c.inputDistribution, scale: c.inputScaling, using: &generator)
    let bias = (0..<c.size).map { _ in
      c.inputDistribution.draw(using: &generator) * c.biasScaling
    }
    let feedback =
      c.feedbackSize > 0
      ? randomSparseMatrix(
        rows: c.size, columns: c.feedbackSize, density: c.inputDensity,
        distribution: c.inputDistribution, scale: c.feedbackScaling, using: &generator
      ).dense()
      : nil
    self.init(
      weight: reservoir.dense().converted(to: Scalar.self),
      inputWeight: input.dense().converted(to: Scalar.self),
      bias: Tensor(bias).converted(to: Scalar.self), leakRate: Scalar(c.leakRate),
      feedbackWeight: feedback?.converted(to: Scalar.self), stateNoise: c.stateNoise,
      noiseSeed: generator.next())
  }

  /// ``init(_:using:)`` with a generator seeded with `seed`.
  public init(_ configuration: ReservoirConfiguration, seed: UInt64) {
    var generator = SeededGenerator(seed: seed)
    self.init(configuration, using: &generator)
  }

  /// A reservoir with the given matrices (for reference fixtures and loaded reservoirs).
  ///
  /// - Parameters:
  ///   - weight: W `[N, N]`, used as given (no rescaling).
  ///   - inputWeight: W_in `[N, I]`.
  ///   - bias: b `[N]`.
  ///   - leakRate: α in (0, 1].
  ///   - feedbackWeight: W_fb `[N, O]`, or `nil` (default) for no feedback.
  ///   - stateNoise: σ ≥ 0 of the training-time state noise (default 0).
  ///   - noiseSeed: the seed of the noise stream.
  ///
  /// Traps, naming the shapes or the value, when they do not fit together or α is outside
  /// (0, 1].
  public init(
    weight: Tensor<Scalar>, inputWeight: Tensor<Scalar>, bias: Tensor<Scalar>, leakRate: Scalar,
    feedbackWeight: Tensor<Scalar>? = nil, stateNoise: Double = 0, noiseSeed: UInt64 = 0
  ) {
    let n = weight.shape.first ?? 0
    precondition(
      weight.rank == 2 && weight.shape[1] == n && n > 0,
      "ReservoirCell: weight shape \(weight.shape) is not a non-empty square matrix")
    precondition(
      inputWeight.rank == 2 && inputWeight.shape[0] == n,
      "ReservoirCell: inputWeight shape \(inputWeight.shape) does not match weight shape "
        + "\(weight.shape)")
    precondition(
      bias.shape == [n], "ReservoirCell: bias shape \(bias.shape) does not match [\(n)]")
    if let feedbackWeight {
      precondition(
        feedbackWeight.rank == 2 && feedbackWeight.shape[0] == n,
        "ReservoirCell: feedbackWeight shape \(feedbackWeight.shape) does not match weight "
          + "shape \(weight.shape)")
    }
    checkLeakRate(Double(leakRate))
    precondition(
      stateNoise >= 0 && stateNoise.isFinite,
      "ReservoirCell: stateNoise \(stateNoise) must be finite and non-negative")
    self.weight = Parameter(weight, isFrozen: true)
    self.inputWeight = Parameter(inputWeight, isFrozen: true)
    self.bias = Parameter(bias, isFrozen: true)
    self.feedbackWeight = feedbackWeight.map { Parameter($0, isFrozen: true) }
    self.leakRate = Parameter(Tensor(leakRate), isFrozen: true)
    self.spectralScale = Parameter(Tensor(1), isFrozen: true)
    self.inputScale = Parameter(Tensor(1), isFrozen: true)
    self.stateNoise = stateNoise
    self.externalInputSize = inputWeight.shape[1]
    self.feedbackSize = feedbackWeight?.shape[1] ?? 0
    self.inputSize = externalInputSize + feedbackSize
    self.hiddenSize = n
    self.noise = GeneratorBox(seed: noiseSeed)
  }

  /// Zeros `[batchSize, N]`: x₋₁ = 0.
  public func zeroState(batchSize: Int) -> Tensor<Scalar> {
    Tensor.zeros([batchSize, hiddenSize])
  }

  /// One step on the tape, built from ops: `input` `[B, inputSize]` (`[uₜ, yₜ₋₁]`) and `state`
  /// xₜ₋₁ `[B, N]` give xₜ `[B, N]`, as both output and next state. Differentiable with respect
  /// to everything, including α, ρ and s. Traps, naming the shapes, on a wrong input or state.
  public func callAsFunction(_ input: Tensor<Scalar>, _ state: Tensor<Scalar>)
    -> (output: Tensor<Scalar>, state: Tensor<Scalar>)
  {
    checkInput(input)
    checkState(state, named: "state", batchSize: input.shape[0])
    let external =
      feedbackSize == 0 ? input : input.slice(alongAxis: 1, 0..<externalInputSize)
    var preActivation =
      matmul(state, weight.value, transposeB: true) * spectralScale.value
      + matmul(external, inputWeight.value, transposeB: true) * inputScale.value + bias.value
    if let feedbackWeight {
      preActivation = addmm(
        preActivation, input.slice(alongAxis: 1, externalInputSize..<inputSize),
        feedbackWeight.value, transposeB: true)
    }
    let alpha = leakRate.value
    var next = (1 - alpha) * state + alpha * tanh(preActivation)
    if stateNoise > 0, LearningPhase.current == .training {
      next =
        next + noise.draw { Tensor<Scalar>.normal(next.shape, using: &$0) } * Scalar(stateNoise)
    }
    return (next, next)
  }

  /// The values the fast paths need, read once from the parameters (never recorded).
  func stepKernel() -> ReservoirStepKernel<Scalar> {
    let matrix = SparseMatrix(withoutDerivative(at: weight.value))
    return ReservoirStepKernel(
      matrix: matrix,
      inputWeight: inputWeight.value.scalars, feedbackWeight: feedbackWeight?.value.scalars ?? [],
      bias: bias.value.scalars, leakRate: leakRate.value.scalar,
      spectralScale: spectralScale.value.scalar, inputScale: inputScale.value.scalar,
      externalInputSize: externalInputSize, feedbackSize: feedbackSize,
      stateNoise: Scalar(stateNoise), noise: noise,
      ellpack: (matrix as? SparseMatrix<Double>).map(SlicedEllpackMatrix.init))
  }
}
