import Tapestry
import TapestryTestSupport
import Testing

/// An initialiser with the distribution its formula promises for a given shape.
struct InitializerExpectation: CustomTestStringConvertible, Sendable {
  let name: String
  let initializer: Initializer
  let shape: TensorShape
  let mean: Double
  let variance: Double
  /// The half-width b of U(−b, b) (or the interval itself), for uniform draws.
  let bounds: ClosedRange<Double>?

  var testDescription: String { name }

  /// For [out, in] = [400, 250]: fan-in 250, fan-out 400.
  static let all: [InitializerExpectation] = {
    let shape: TensorShape = [400, 250]
    let (fanIn, fanOut) = (250.0, 400.0)
    func uniform(_ name: String, _ initializer: Initializer, bound b: Double)
      -> InitializerExpectation
    {
      InitializerExpectation(
        name: name, initializer: initializer, shape: shape, mean: 0, variance: b * b / 3,
        bounds: -b...b)
    }
    func normal(_ name: String, _ initializer: Initializer, std: Double) -> InitializerExpectation {
      InitializerExpectation(
        name: name, initializer: initializer, shape: shape, mean: 0, variance: std * std,
        bounds: nil)
    }
    let leakyGain = (2 / (1 + 0.2 * 0.2)).squareRoot()
    return [
      InitializerExpectation(
        name: "uniform(-2, 5)", initializer: .uniform(low: -2, high: 5), shape: shape, mean: 1.5,
        variance: 49.0 / 12, bounds: -2...5),
      InitializerExpectation(
        name: "uniform()", initializer: .uniform(), shape: shape, mean: 0.5, variance: 1.0 / 12,
        bounds: 0...1),
      InitializerExpectation(
        name: "normal(3, 0.5)", initializer: .normal(mean: 3, standardDeviation: 0.5),
        shape: shape, mean: 3, variance: 0.25, bounds: nil),
      uniform(
        "xavierUniform(gain: 2)", .xavierUniform(gain: 2),
        bound: 2 * (6 / (fanIn + fanOut)).squareRoot()),
      normal("xavierNormal()", .xavierNormal(), std: (2 / (fanIn + fanOut)).squareRoot()),
      uniform("kaimingUniform()", .kaimingUniform(), bound: (6 / fanIn).squareRoot()),
      uniform(
        "kaimingUniform(a: 0.2, fanOut)", .kaimingUniform(a: 0.2, mode: .fanOut),
        bound: 3.0.squareRoot() * leakyGain / fanOut.squareRoot()),
      normal(
        "kaimingNormal(fanOut, relu)", .kaimingNormal(mode: .fanOut, nonlinearity: .relu),
        std: (2 / fanOut).squareRoot()),
      normal(
        "kaimingNormal(tanh)", .kaimingNormal(nonlinearity: .tanh),
        std: 5.0 / 3 / fanIn.squareRoot()),
      // Orthogonal [400, 250]: orthonormal columns, so Σ w² = 250 over 100 000 elements.
      normal("orthogonal(gain: 3)", .orthogonal(gain: 3), std: 3 / fanOut.squareRoot()),
    ]
  }()
}

@Suite("Initialisers: PyTorch's torch.nn.init")
struct InitializerTests {
  @Test(arguments: [
    ([7, 3], 3, 7), ([16, 8, 3, 3], 72, 144), ([4, 5, 2], 10, 8), ([1, 1], 1, 1),
  ])
  func fansLikePyTorch(shape shapeSizes: [Int], fanIn: Int, fanOut: Int) {
    let shape = TensorShape(shapeSizes)
    let fans = fanInAndFanOut(of: shape)
    #expect(fans.fanIn == fanIn)
    #expect(fans.fanOut == fanOut)
  }

  @Test(
    arguments: [
      (Nonlinearity.linear, nil, 1.0), (.sigmoid, nil, 1), (.tanh, nil, 5.0 / 3),
      (.relu, nil, 2.0.squareRoot()), (.leakyRelu, nil, (2 / 1.0001).squareRoot()),
      (.leakyRelu, 0.5, (2 / 1.25).squareRoot()), (.selu, nil, 0.75),
    ] as [(Nonlinearity, Double?, Double)])
  func gainsLikePyTorch(nonlinearity: Nonlinearity, parameter: Double?, expected: Double) {
    expectClose(
      calculateGain(nonlinearity, parameter: parameter), expected, relativeTolerance: 1e-15)
    #expect(Nonlinearity(rawValue: "leaky_relu") == .leakyRelu)
  }

  /// Mean within 5 standard errors, variance within 3% (over 5 standard errors for 100 000 normal
  /// draws: the sample variance has relative standard deviation √(2/N) ≈ 0.45%), bounds exact.
  @Test(arguments: InitializerExpectation.all)
  func statisticsMatchTheFormula(expectation: InitializerExpectation) {
    let x: Tensor<Double> = expectation.initializer.makeTensor(expectation.shape, seed: 42)
    #expect(x.shape == expectation.shape)
    let n = Double(x.count)
    let mean = x.scalars.reduce(0, +) / n
    let variance = x.scalars.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
    #expect(
      abs(mean - expectation.mean) < 5 * (expectation.variance / n).squareRoot(),
      "mean \(mean) vs \(expectation.mean)")
    #expect(
      abs(variance / expectation.variance - 1) < 0.03,
      "variance \(variance) vs \(expectation.variance)")
    if let bounds = expectation.bounds {
      #expect(x.scalars.allSatisfy { bounds.contains($0) })
      // The draws reach close to both ends: the bound is the formula's, not something smaller.
      let width = bounds.upperBound - bounds.lowerBound
      #expect(x.scalars.min().map { $0 - bounds.lowerBound < 1e-3 * width } ?? false)
      #expect(x.scalars.max().map { bounds.upperBound - $0 < 1e-3 * width } ?? false)
    }
  }

  @Test func constantsAndZeros() {
    let zeros: Tensor<Float> = Initializer.zeros.makeTensor([3, 2], seed: 1)
    #expect(zeros == Tensor.zeros([3, 2]))
    let ones: Tensor<Double> = Initializer.constant(1).makeTensor([4], seed: 1)
    #expect(ones == Tensor.ones([4]))
  }

  @Test(arguments: [[64, 64], [100, 30], [30, 100], [8, 4, 3, 3], [1, 5], [5, 1]])
  func orthogonalHasOrthonormalColumnsOrRows(shape shapeSizes: [Int]) {
    let shape = TensorShape(shapeSizes)
    let gain = 1.5
    let w: Tensor<Double> = Initializer.orthogonal(gain: gain).makeTensor(shape, seed: 5)
    #expect(w.shape == shape)
    let rows = shape[0]
    let columns = w.count / rows
    let flat = w.reshaped(to: [rows, columns]) / gain
    // Tall: WᵀW = I (columns orthonormal); wide: WWᵀ = I (rows orthonormal).
    let gram =
      rows >= columns ? matmul(flat, flat, transposeA: true) : matmul(flat, flat, transposeB: true)
    let k = min(rows, columns)
    let identity: Tensor<Double> = Initializer.identity().makeTensor([k, k], seed: 0)
    #expect((gram - identity).scalars.allSatisfy { abs($0) < 1e-12 })
  }

  @Test func orthogonalIsHaarNotBiasedBySigns() {
    // Without the diag(R) ≥ 0 fix, Householder QR of a Gaussian matrix has a first column whose
    // first element is always negative. Haar: each sign half the time.
    let positives = (0..<200).filter { seed in
      let w: Tensor<Double> = Initializer.orthogonal().makeTensor([6, 6], seed: UInt64(seed))
      return w[0, 0] > 0
    }.count
    #expect((70...130).contains(positives), "\(positives) of 200 positive")
  }

  @Test func identityIsGainTimesEye() {
    let square: Tensor<Double> = Initializer.identity(gain: 0.5).makeTensor([3, 3], seed: 0)
    #expect(square == Tensor([[0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]]))
    let wide: Tensor<Float> = Initializer.identity().makeTensor([2, 3], seed: 0)
    #expect(wide == Tensor([[1, 0, 0], [0, 1, 0]]))
  }

  @Test func scaledToSpectralRadiusIsExact() {
    let w = randomTensor([100, 100], seed: 8)
    expectClose(spectralRadius(of: w.scaledToSpectralRadius(0.9)), 0.9, relativeTolerance: 1e-10)
    let reservoir: Tensor<Double> = Initializer.scaledToSpectralRadius(
      1.25, of: .uniform(low: -1, high: 1)
    ).makeTensor([50, 50], seed: 3)
    expectClose(spectralRadius(of: reservoir), 1.25, relativeTolerance: 1e-10)
    // Float: the scale factor is computed in Double; the radius is right to Float precision.
    let single = w.converted(to: Float.self).scaledToSpectralRadius(0.5)
    expectClose(spectralRadius(of: single), 0.5, relativeTolerance: 1e-6)
  }

  @Test func sameSeedSameTensorAndFloatIsRoundedDouble() {
    let initializers: [Initializer] = [
      .uniform(low: -1, high: 1), .normal(), .xavierUniform(), .kaimingNormal(), .orthogonal(),
    ]
    for initializer in initializers {
      let a: Tensor<Double> = initializer.makeTensor([6, 4], seed: 11)
      let b: Tensor<Double> = initializer.makeTensor([6, 4], seed: 11)
      let c: Tensor<Double> = initializer.makeTensor([6, 4], seed: 12)
      let single: Tensor<Float> = initializer.makeTensor([6, 4], seed: 11)
      #expect(a == b, "\(initializer)")
      #expect(a != c, "\(initializer)")
      #expect(single == a.converted(to: Float.self), "\(initializer)")
    }
    // Drawing twice from one generator continues the stream, equal to a seed-free replay.
    var generator = SeededGenerator(seed: 4)
    let first: Tensor<Double> = Initializer.normal().makeTensor([3], using: &generator)
    let second: Tensor<Double> = Initializer.normal().makeTensor([3], using: &generator)
    let both: Tensor<Double> = Initializer.normal().makeTensor([6], seed: 4)
    #expect(first.scalars + second.scalars == both.scalars)
  }

  @Test func zeroElementShapesAreReturnedEmpty() {
    let empty: Tensor<Double> = Initializer.kaimingUniform().makeTensor([0, 5], seed: 1)
    #expect(empty.shape == [0, 5])
  }

  // MARK: - Misuse traps with a message naming the function and the shape

  @Test func scalingANonSquareMatrixTraps() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor<Double>.ones([2, 3]).scaledToSpectralRadius(0.9)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("scaledToSpectralRadius: shape [2, 3] is not a square matrix"))
  }

  @Test func scalingANilpotentMatrixTraps() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor<Double>([[0, 1], [0, 0]]).scaledToSpectralRadius(0.9)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("has spectral radius 0"))
  }

  @Test func fansOfAVectorTrap() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      let _: Tensor<Double> = Initializer.xavierUniform().makeTensor([5], seed: 1)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("fanInAndFanOut(of:): shape [5] has fewer than 2 dimensions"))
  }
}
