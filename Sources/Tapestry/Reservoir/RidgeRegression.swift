// Closed-form ridge regression from sufficient statistics, so that states can be added chunk by
// chunk (several sequences, or one longer than memory) and the readout solved once at the end.

/// The readout solved by ``RidgeRegression/solve(ridge:)``: y = W·x + c.
public struct RidgeSolution: Sendable {
  /// W, `[outputs, features]`: the layout of ``Linear/weight``.
  public let weight: Tensor<Double>
  /// c, `[outputs]`.
  public let bias: Tensor<Double>
}

/// Ridge regression with an unregularised bias, accumulated incrementally in Double: what
/// reservoirpy's `Ridge(fit_bias=True)` computes.
///
/// ``accumulate(features:targets:)`` adds rows of states X `[T, N]` and targets Y `[T, O]` to the
/// sums XᵀX, XᵀY, ΣX, ΣY (only the lower triangle of XᵀX, in a register-tiled kernel on
/// ``ComputeSettings/threads`` threads).
/// ``solve(ridge:)`` centres them, (X − x̄)ᵀ(X − x̄) = XᵀX − n·x̄x̄ᵀ and likewise for XᵀY, solves
/// ((X − x̄)ᵀ(X − x̄) + λI)·W = (X − x̄)ᵀ(Y − ȳ) with a symmetric factorisation
/// (``CholeskyFactorization``), and sets the bias c = ȳ − W·x̄, so the bias is not shrunk.
///
/// The sums are taken about a shift (the mean of the first chunk) rather than zero: the same
/// result in exact arithmetic, but the centring subtraction no longer cancels most of the digits
/// when the states have a large common offset.
public struct RidgeRegression: Sendable {
  /// N, the number of features (reservoir units) per row.
  public let featureCount: Int
  /// O, the number of targets per row.
  public let outputCount: Int
  /// The number of rows accumulated so far.
  public private(set) var sampleCount = 0
  private var featureShift: [Double] = []
  private var targetShift: [Double] = []
  private var featureSum: [Double]
  private var targetSum: [Double]
  /// Σ (x − shift)(x − shift)ᵀ, row-major N×N; only its lower triangle is accumulated.
  private var gram: [Double]
  /// Σ (x − shift)(y − shift)ᵀ, row-major N×O.
  private var cross: [Double]

  /// An empty accumulator for `featureCount` features and `outputCount` targets per row.
  public init(featureCount: Int, outputCount: Int) {
    precondition(
      featureCount > 0 && outputCount > 0,
      "RidgeRegression: featureCount \(featureCount) and outputCount \(outputCount) must be "
        + "positive")
    self.featureCount = featureCount
    self.outputCount = outputCount
    featureSum = [Double](repeating: 0, count: featureCount)
    targetSum = [Double](repeating: 0, count: outputCount)
    gram = [Double](repeating: 0, count: featureCount * featureCount)
    cross = [Double](repeating: 0, count: featureCount * outputCount)
  }

  /// Adds the rows of `features` `[T, N]` and `targets` `[T, O]`, in chunks of 1,024 rows so
  /// that only a chunk is ever copied to Double.
  ///
  /// Traps, naming both shapes, unless the shapes match the accumulator and each other.
  public mutating func accumulate<Scalar>(features: Tensor<Scalar>, targets: Tensor<Scalar>) {
    precondition(
      features.rank == 2 && targets.rank == 2 && features.shape[0] == targets.shape[0]
        && features.shape[1] == featureCount && targets.shape[1] == outputCount,
      "RidgeRegression.accumulate: features \(features.shape) and targets \(targets.shape) do "
        + "not match [T, \(featureCount)] and [T, \(outputCount)]")
    let rows = features.shape[0]
    var start = 0
    while start < rows {
      let end = Swift.min(rows, start + 1024)
      accumulateChunk(
        features.slice(alongAxis: 0, start..<end).converted(to: Double.self),
        targets.slice(alongAxis: 0, start..<end).converted(to: Double.self))
      start = end
    }
  }

  private mutating func accumulateChunk(_ x: Tensor<Double>, _ y: Tensor<Double>) {
    let rows = x.shape[0]
    let (n, o) = (featureCount, outputCount)
    if sampleCount == 0 {
      featureShift = x.mean(alongAxis: 0).scalars
      targetShift = y.mean(alongAxis: 0).scalars
    }
    let (xs, ys) = (x.scalars, y.scalars)
    xs.withUnsafeBufferPointer { xs in
      featureShift.withUnsafeBufferPointer { shift in
        let packed = PackedPanels(rows: rows, width: n, rowMajor: xs, stride: n, shift: shift)
        gram.withUnsafeMutableBufferPointer { gram in
          addLowerProduct(
            packed, packed, into: gram, offset: 0, stride: n, threads: ComputeSettings.threads)
        }
      }
    }
    // The sums and XᵀY are O(T·N·O), too small to need more than a row-by-row pass.
    var shiftedX = [Double](repeating: 0, count: n)
    var shiftedY = [Double](repeating: 0, count: o)
    for t in 0..<rows {
      for i in 0..<n { shiftedX[i] = xs[t * n + i] - featureShift[i] }
      for j in 0..<o { shiftedY[j] = ys[t * o + j] - targetShift[j] }
      for i in 0..<n { featureSum[i] += shiftedX[i] }
      for j in 0..<o { targetSum[j] += shiftedY[j] }
      for i in 0..<n {
        for j in 0..<o { cross[i * o + j] += shiftedX[i] * shiftedY[j] }
      }
    }
    sampleCount += rows
  }

  /// The readout for ridge parameter `ridge` (λ ≥ 0) from everything accumulated so far.
  ///
  /// Traps, naming the value, on a negative or non-finite λ or when nothing was accumulated.
  public func solve(ridge: Double) -> RidgeSolution {
    precondition(
      ridge >= 0 && ridge.isFinite,
      "RidgeRegression.solve: ridge \(ridge) must be finite and non-negative")
    precondition(sampleCount > 0, "RidgeRegression.solve: no samples accumulated")
    let (n, o) = (featureCount, outputCount)
    let count = Double(sampleCount)
    // Means of the shifted data: x̄ − shift.
    let xMean = featureSum.map { $0 / count }
    let yMean = targetSum.map { $0 / count }
    // Only the lower triangle of the Gram sums is kept, which is all the factorisation reads.
    var a = gram
    for i in 0..<n {
      for j in 0...i { a[i * n + j] -= count * xMean[i] * xMean[j] }
      a[i * n + i] += ridge
    }
    var b = cross
    for i in 0..<n {
      for j in 0..<o { b[i * o + j] -= count * xMean[i] * yMean[j] }
    }
    let w = solveSymmetric(Tensor(shape: [n, n], scalars: a), Tensor(shape: [n, o], scalars: b))
      .scalars
    // c = ȳ − Wᵀx̄ in unshifted terms.
    let bias = (0..<o).map { j in
      var value = yMean[j] + targetShift[j]
      for i in 0..<n { value -= (xMean[i] + featureShift[i]) * w[i * o + j] }
      return value
    }
    var weight = [Double](repeating: 0, count: o * n)
    for i in 0..<n {
      for j in 0..<o { weight[j * n + i] = w[i * o + j] }
    }
    return RidgeSolution(
      weight: Tensor(shape: [o, n], scalars: weight), bias: Tensor(bias))
  }
}
