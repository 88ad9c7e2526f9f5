// Weight initialisers with PyTorch's semantics (`torch.nn.init`). They are values of one enum,
// not static functions on Tensor, so that a layer can take one as an argument (say
// `weightInitializer: .orthogonal()`) before it knows its scalar type, and draw each weight once
// it knows the shape. The enum lists every option in one place, prints itself, and is `Sendable`.
//
// Every draw is made in Double and converted at the end, so a Float tensor is the Double tensor
// of the same seed rounded, and orthogonality comes from a Double QR.

/// Which fan the Kaiming (He) initialisers divide by: PyTorch's `mode` argument.
public enum FanMode: Sendable, Hashable {
  /// Divide by the fan-in: preserves the variance of activations in the forward pass (default).
  case fanIn
  /// Divide by the fan-out: preserves the variance of gradients in the backward pass.
  case fanOut
}

/// The nonlinearities ``calculateGain(_:parameter:)`` knows; the raw values are PyTorch's
/// `nonlinearity` strings. PyTorch's convolution names (`conv1d`, …) have gain 1, like `linear`.
public enum Nonlinearity: String, Sendable, Hashable, CaseIterable {
  /// The identity (also PyTorch's convolutions): gain 1.
  case linear
  /// The logistic sigmoid: gain 1.
  case sigmoid
  /// tanh: gain 5/3.
  case tanh
  /// max(0, x): gain √2.
  case relu
  /// max(0, x) + slope · min(0, x): gain √(2 / (1 + slope²)).
  case leakyRelu = "leaky_relu"
  /// SELU: gain 3/4 (Klambauer et al. recommend 1 for self-normalising networks; 3/4 is
  /// PyTorch's choice, kept for agreement).
  case selu
}

/// The recommended gain for a nonlinearity, PyTorch's `torch.nn.init.calculate_gain`: the factor
/// by which an initialiser's standard deviation is multiplied so that activations keep their
/// scale through the layer.
///
/// `parameter` is the negative slope of `leakyRelu` (default 0.01, as in PyTorch); the other
/// nonlinearities ignore it.
public func calculateGain(_ nonlinearity: Nonlinearity, parameter: Double? = nil) -> Double {
  switch nonlinearity {
  case .linear, .sigmoid: return 1
  case .tanh: return 5.0 / 3
  case .relu: return 2.0.squareRoot()
  case .leakyRelu:
    let slope = parameter ?? 0.01
    return (2 / (1 + slope * slope)).squareRoot()
  case .selu: return 0.75
  }
}

/// The fan-in and fan-out of a weight of the given shape, as PyTorch's
/// `_calculate_fan_in_and_fan_out`: for `[out, in]`, fan-in `in` and fan-out `out`; for a
/// convolution-like `[out, in, k₁, k₂, …]`, both are multiplied by the receptive field k₁k₂….
///
/// Traps when the shape has fewer than two dimensions (a bias has no fan-in of its own).
public func fanInAndFanOut(of shape: TensorShape) -> (fanIn: Int, fanOut: Int) {
  precondition(
    shape.count >= 2,
    "fanInAndFanOut(of:): shape \(shape) has fewer than 2 dimensions, so no fan-in or fan-out")
  let receptiveField = shape.dropFirst(2).reduce(1, *)
  return (shape[1] * receptiveField, shape[0] * receptiveField)
}

/// A way to fill a new weight tensor, with the names and semantics of PyTorch's `torch.nn.init`.
///
/// Draw a tensor with ``makeTensor(_:as:using:)`` (or ``makeTensor(_:as:seed:)``): the shape comes
/// at draw time, so a layer can take an `Initializer` argument and apply it to each of its weights.
/// Fans follow ``fanInAndFanOut(of:)``: `[out, in]` weights, as PyTorch stores them.
///
/// Every random option draws from the generator (or seed) it is given, so the same seed gives the
/// same tensor on every platform; a Float tensor is the Double one of the same seed, rounded.
/// A tensor with no elements is returned as is (PyTorch's "no-op" for zero-element tensors).
public indirect enum Initializer: Sendable {
  /// All zeros (`zeros_`): the usual bias.
  case zeros
  /// Every element equal to the value (`constant_`): a forget-gate bias of 1, say.
  case constant(Double)
  /// U(low, high) (`uniform_`; PyTorch's defaults `a = 0, b = 1`). Traps if `low > high`.
  case uniform(low: Double = 0, high: Double = 1)
  /// N(mean, standardDeviation²) (`normal_`). Traps on a negative standard deviation.
  case normal(mean: Double = 0, standardDeviation: Double = 1)
  /// Glorot & Bengio (2010) uniform (`xavier_uniform_`): U(−b, b) with
  /// b = gain · √(6 / (fanIn + fanOut)), so the variance gain² · 2 / (fanIn + fanOut) is the mean of
  /// what the forward and backward passes each want. Needs at least 2 dimensions.
  case xavierUniform(gain: Double = 1)
  /// Glorot & Bengio (2010) normal (`xavier_normal_`): N(0, std²) with
  /// std = gain · √(2 / (fanIn + fanOut)). Needs at least 2 dimensions.
  case xavierNormal(gain: Double = 1)
  /// He et al. (2015) uniform (`kaiming_uniform_`): U(−b, b) with b = √3 · gain / √fan,
  /// gain = ``calculateGain(_:parameter:)``(nonlinearity, a), fan chosen by `mode`. `a` is the
  /// negative slope of a leaky ReLU; PyTorch's defaults (a = 0, fan-in, leaky_relu) give gain √2.
  /// Needs at least 2 dimensions.
  case kaimingUniform(
    a: Double = 0, mode: FanMode = .fanIn, nonlinearity: Nonlinearity = .leakyRelu)
  /// He et al. (2015) normal (`kaiming_normal_`): N(0, std²) with std = gain / √fan, gain and
  /// fan as for ``kaimingUniform(a:mode:nonlinearity:)``. Needs at least 2 dimensions.
  case kaimingNormal(
    a: Double = 0, mode: FanMode = .fanIn, nonlinearity: Nonlinearity = .leakyRelu)
  /// Saxe et al. (2014) orthogonal (`orthogonal_`): gain · Q, with Q drawn uniformly (Haar) from
  /// the matrices with orthonormal columns, or orthonormal rows when there are fewer rows.
  ///
  /// As PyTorch: the trailing dimensions are flattened into `[rows, cols]`; a Gaussian matrix of
  /// that shape (transposed when rows < cols) is factored by ``qrDecomposition(of:)``, whose
  /// diag(R) ≥ 0 makes Q Haar; Q is transposed back and reshaped. An orthogonal recurrent weight
  /// has every singular value 1, so it neither shrinks nor stretches a gradient through time at
  /// initialisation. Needs at least 2 dimensions.
  case orthogonal(gain: Double = 1)
  /// gain times the identity (`eye_`): Le, Jaitly & Hinton's IRNN (2015) initialises the recurrent
  /// weight of a ReLU RNN this way, so the state is copied forward at first. A non-square matrix
  /// gets ones on its main diagonal, as `eye_`. Needs exactly 2 dimensions.
  case identity(gain: Double = 1)
  /// A square matrix drawn with `base`, then rescaled so its spectral radius (largest |λ|) is
  /// `radius`: an echo state network's reservoir. See ``Tensor/scaledToSpectralRadius(_:)``.
  case scaledToSpectralRadius(Double, of: Initializer)

  /// A new tensor of the given shape filled by this initialiser, drawing from `generator`.
  ///
  /// Traps, naming the initialiser and the shape, when the shape does not suit it (see each case).
  public func makeTensor<Scalar: TensorScalar>(
    _ shape: TensorShape, as _: Scalar.Type = Scalar.self, using generator: inout SeededGenerator
  ) -> Tensor<Scalar> {
    precondition(
      shape.allSatisfy { $0 >= 0 }, "Initializer.makeTensor: negative dimension in shape \(shape)")
    if shape.contains(0) { return Tensor.zeros(shape) }
    return makeDoubleTensor(shape, using: &generator).converted(to: Scalar.self)
  }

  /// A new tensor of the given shape filled by this initialiser, from a generator seeded with
  /// `seed`.
  public func makeTensor<Scalar: TensorScalar>(
    _ shape: TensorShape, as _: Scalar.Type = Scalar.self, seed: UInt64
  ) -> Tensor<Scalar> {
    var generator = SeededGenerator(seed: seed)
    return makeTensor(shape, using: &generator)
  }

  private func makeDoubleTensor(_ shape: TensorShape, using generator: inout SeededGenerator)
    -> Tensor<Double>
  {
    switch self {
    case .zeros:
      return Tensor.zeros(shape)
    case .constant(let value):
      return Tensor.filled(shape, with: value)
    case .uniform(let low, let high):
      precondition(low <= high, "Initializer.uniform: low \(low) exceeds high \(high)")
      return Tensor.uniform(shape, in: low..<high, using: &generator)
    case .normal(let mean, let standardDeviation):
      precondition(
        standardDeviation >= 0,
        "Initializer.normal: standard deviation \(standardDeviation) is negative")
      return Tensor.normal(
        shape, mean: mean, standardDeviation: standardDeviation, using: &generator)
    case .xavierUniform(let gain):
      let (fanIn, fanOut) = fanInAndFanOut(of: shape)
      let bound = 3.0.squareRoot() * gain * (2 / Double(fanIn + fanOut)).squareRoot()
      return Tensor.uniform(shape, in: -bound..<bound, using: &generator)
    case .xavierNormal(let gain):
      let (fanIn, fanOut) = fanInAndFanOut(of: shape)
      let standardDeviation = gain * (2 / Double(fanIn + fanOut)).squareRoot()
      return Tensor.normal(shape, standardDeviation: standardDeviation, using: &generator)
    case .kaimingUniform(let a, let mode, let nonlinearity):
      let bound = 3.0.squareRoot() * kaimingStandardDeviation(shape, a, mode, nonlinearity)
      return Tensor.uniform(shape, in: -bound..<bound, using: &generator)
    case .kaimingNormal(let a, let mode, let nonlinearity):
      let standardDeviation = kaimingStandardDeviation(shape, a, mode, nonlinearity)
      return Tensor.normal(shape, standardDeviation: standardDeviation, using: &generator)
    case .orthogonal(let gain):
      return orthogonal(shape, gain: gain, using: &generator)
    case .identity(let gain):
      precondition(
        shape.count == 2, "Initializer.identity: shape \(shape) is not a matrix (2 dimensions)")
      var result = Tensor<Double>.zeros(shape)
      for i in 0..<Swift.min(shape[0], shape[1]) { result.elements[i * shape[1] + i] = gain }
      return result
    case .scaledToSpectralRadius(let radius, let base):
      precondition(
        shape.count == 2 && shape[0] == shape[1],
        "Initializer.scaledToSpectralRadius: shape \(shape) is not a square matrix")
      return base.makeDoubleTensor(shape, using: &generator).scaledToSpectralRadius(radius)
    }
  }

  private func kaimingStandardDeviation(
    _ shape: TensorShape, _ a: Double, _ mode: FanMode, _ nonlinearity: Nonlinearity
  ) -> Double {
    let (fanIn, fanOut) = fanInAndFanOut(of: shape)
    let fan = mode == .fanIn ? fanIn : fanOut
    return calculateGain(nonlinearity, parameter: a) / Double(fan).squareRoot()
  }

  private func orthogonal(_ shape: TensorShape, gain: Double, using generator: inout SeededGenerator)
    -> Tensor<Double>
  {
    precondition(
      shape.count >= 2,
      "Initializer.orthogonal: shape \(shape) has fewer than 2 dimensions (PyTorch's rule)")
    let rows = shape[0]
    let columns = shape.dropFirst().reduce(1, *)
    var flattened = Tensor<Double>.normal([rows, columns], using: &generator)
    // QR orthonormalises columns; a wide matrix has more columns than can be orthonormal, so its
    // transpose is factored and the rows come out orthonormal instead.
    if rows < columns { flattened = flattened.transposed() }
    var q = qrDecomposition(of: flattened).q
    if rows < columns { q = q.transposed() }
    return Tensor(shape: shape, scalars: q.scalars.map { gain * $0 })
  }
}

extension Tensor {
  /// This square matrix multiplied by ρ / r, where r is its spectral radius (largest |λ|, see
  /// ``spectralRadius(of:)``), so that the result's spectral radius is `radius` = ρ.
  ///
  /// An echo state network scales its random reservoir this way, usually to ρ < 1, so the state
  /// forgets its initial condition (the echo state property). The factor is computed in Double;
  /// a Float result has spectral radius ρ to Float precision. The result is a constant: the
  /// scaling is not recorded on any tape.
  ///
  /// Traps when the tensor is not a square matrix, when its spectral radius is zero (a nilpotent
  /// matrix cannot be scaled to a non-zero radius), or when `radius` is negative or not finite.
  public func scaledToSpectralRadius(_ radius: Scalar) -> Tensor {
    precondition(
      rank == 2 && shape[0] == shape[1],
      "Tensor.scaledToSpectralRadius: shape \(shape) is not a square matrix")
    precondition(
      radius >= 0 && radius.isFinite,
      "Tensor.scaledToSpectralRadius: radius \(radius) is negative or not finite")
    let current = spectralRadius(of: self)
    precondition(
      current > 0,
      "Tensor.scaledToSpectralRadius: matrix of shape \(shape) has spectral radius 0, cannot scale")
    let factor = Double(radius) / current
    return Tensor(uncheckedShape: shape, scalars: scalars.map { Scalar(Double($0) * factor) })
  }
}
