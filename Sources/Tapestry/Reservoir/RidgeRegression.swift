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
/// ``ComputeSettings/threads`` threads, ``LowerGramAccumulator``).
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
  /// Σ (x − shift)(x − shift)ᵀ, lower triangle.
  private var gram: LowerGramAccumulator
  /// Σ (y − shift)(x − shift)ᵀ, row-major O×N.
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
    gram = LowerGramAccumulator(width: featureCount)
    cross = [Double](repeating: 0, count: featureCount * outputCount)
  }

  /// Adds the rows of `features` `[T, N]` and `targets` `[T, O]`. Double tensors are read in
  /// place; others are copied to Double 1,024 rows at a time, so that only a chunk is ever
  /// converted.
  ///
  /// Traps, naming both shapes, unless the shapes match the accumulator and each other.
  public mutating func accumulate<Scalar>(features: Tensor<Scalar>, targets: Tensor<Scalar>) {
    precondition(
      features.rank == 2 && targets.rank == 2 && features.shape[0] == targets.shape[0]
        && features.shape[1] == featureCount && targets.shape[1] == outputCount,
      "RidgeRegression.accumulate: features \(features.shape) and targets \(targets.shape) do "
        + "not match [T, \(featureCount)] and [T, \(outputCount)]")
    let rows = features.shape[0]
    if let x = features as? Tensor<Double>, let y = targets as? Tensor<Double> {
      accumulateRows(x.scalars, y.scalars, count: rows)
      return
    }
    var start = 0
    while start < rows {
      let end = Swift.min(rows, start + Self.chunkRows)
      accumulateRows(
        features.slice(alongAxis: 0, start..<end).converted(to: Double.self).scalars,
        targets.slice(alongAxis: 0, start..<end).converted(to: Double.self).scalars,
        count: end - start)
      start = end
    }
  }

  /// Rows converted to Double at a time, when the states are not Double.
  private static let chunkRows = 1024

  /// Adds `count` rows of row-major `x` `[count, N]` and `y` `[count, O]`.
  private mutating func accumulateRows(_ x: [Double], _ y: [Double], count rows: Int) {
    let (n, o) = (featureCount, outputCount)
    if sampleCount == 0 {
      let first = Swift.min(rows, Self.chunkRows)
      featureShift = columnMeans(x, rows: first, width: n)
      targetShift = columnMeans(y, rows: first, width: o)
    }
    // The shifted targets, the weights of XᵀY's rows; ΣX and XᵀY are added while the Gram
    // kernel packs the rows, so the states are read once.
    var weights = [Double](repeating: 0, count: rows * o)
    for t in 0..<rows {
      for j in 0..<o {
        let target = y[t * o + j] - targetShift[j]
        targetSum[j] += target
        weights[t * o + j] = target
      }
    }
    x.withUnsafeBufferPointer { x in
      featureShift.withUnsafeBufferPointer { shift in
        weights.withUnsafeBufferPointer { weights in
          featureSum.withUnsafeMutableBufferPointer { sum in
            cross.withUnsafeMutableBufferPointer { cross in
              guard let x = x.baseAddress, let shift = shift.baseAddress,
                let weights = weights.baseAddress, let sum = sum.baseAddress,
                let cross = cross.baseAddress
              else { return }
              gram.add(
                rows: rows, of: x, stride: n, shift: shift,
                sums: FirstOrderSums(total: sum, weights: weights, count: o, weighted: cross),
                threads: ComputeSettings.threads)
            }
          }
        }
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
    var a = [Double](repeating: 0, count: n * n)
    a.withUnsafeMutableBufferPointer { a in
      xMean.withUnsafeBufferPointer { mean in
        if let a = a.baseAddress, let mean = mean.baseAddress {
          gram.writeLowerTriangle(into: a, minus: count, outer: mean)
        }
      }
    }
    for i in 0..<n { a[i * n + i] += ridge }
    var b = [Double](repeating: 0, count: n * o)
    for i in 0..<n {
      for j in 0..<o { b[i * o + j] = cross[j * n + i] - count * xMean[i] * yMean[j] }
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

/// The mean of each column of the first `rows` rows of the row-major `values` (`width` columns).
private func columnMeans(_ values: [Double], rows: Int, width: Int) -> [Double] {
  var sums = [Double](repeating: 0, count: width)
  for t in 0..<rows {
    for c in 0..<width { sums[c] += values[t * width + c] }
  }
  return sums.map { $0 / Double(rows) }
}
