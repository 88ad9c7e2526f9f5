// Loss functions. Each computes one loss per sample (or per element), then applies a
// `Reduction`. They are composed from differentiable ops, except binary cross-entropy, whose
// stable formula gets a primitive with a one-line pullback.

/// How a loss combines its per-sample (or per-element) values into the value it returns.
public enum Reduction: Sendable, Hashable, CaseIterable {
  /// The average over every per-sample value: a rank-0 tensor whose scale does not depend on
  /// the batch size (the usual choice, and PyTorch's default).
  case mean
  /// The total over every per-sample value: a rank-0 tensor.
  case sum
  /// No reduction: the per-sample values themselves, shaped as each loss documents.
  case none

  /// Applies this reduction to per-sample losses of any shape.
  @inlinable
  public func reduce<Scalar>(_ losses: Tensor<Scalar>) -> Tensor<Scalar> {
    switch self {
    case .mean: losses.mean()
    case .sum: losses.sum()
    case .none: losses
    }
  }
}

/// The squared error `(predicted − expected)²` per element, averaged by default: the regression
/// loss whose gradient `2 (predicted − expected) / n` is proportional to the error.
///
/// - Parameters:
///   - predicted: any shape.
///   - expected: the same shape as `predicted`; no broadcasting, because a silently broadcast
///     target (`[N]` against `[N, 1]`) is a classic bug that still trains, badly.
///   - reduction: `.none` returns the squared errors with the shape of `predicted`.
@inlinable
public func meanSquaredError<Scalar>(
  predicted: Tensor<Scalar>, expected: Tensor<Scalar>, reduction: Reduction = .mean
) -> Tensor<Scalar> {
  precondition(
    predicted.shape == expected.shape,
    "meanSquaredError: shapes \(predicted.shape) and \(expected.shape) differ")
  let error = predicted - expected
  return reduction.reduce(error * error)
}

/// Softmax cross-entropy against class indices: `−log softmax(logits[n])[labels[n]]`, computed
/// as `logSumExp(logits[n]) − logits[n, labels[n]]` so it stays finite for any finite logits.
///
/// Its gradient with respect to the logits is `softmax(logits) − onehot(labels)` (divided by `N`
/// for `.mean`). Traps when `logits` is not `[N, C]`, when there are not `N` labels, or when a
/// label is outside `0..<C`.
///
/// - Parameters:
///   - logits: `[N, C]` unnormalised scores, one row per sample.
///   - labels: `N` class indices in `0..<C`.
///   - reduction: `.mean` averages over the `N` samples; `.none` returns the `[N]` losses.
@inlinable
public func crossEntropy<Scalar>(
  logits: Tensor<Scalar>, labels: [Int], reduction: Reduction = .mean
) -> Tensor<Scalar> {
  let mask = oneHotMask(labels, like: logits, named: "logits", op: "crossEntropy")
  let target = (logits * mask).sum(alongAxis: 1)
  return reduction.reduce(logSumExp(logits, alongAxis: 1) - target)
}

/// Negative log-likelihood of class indices given log-probabilities:
/// `−logProbabilities[n, labels[n]]` (PyTorch's `nll_loss`). Pair it with `logSoftmax`; the
/// two together are ``crossEntropy(logits:labels:reduction:)``.
///
/// Traps when `logProbabilities` is not `[N, C]`, when there are not `N` labels, or when a label
/// is outside `0..<C`.
///
/// - Parameters:
///   - logProbabilities: `[N, C]`, each row the log of a distribution over the classes.
///   - labels: `N` class indices in `0..<C`.
///   - reduction: `.mean` averages over the `N` samples; `.none` returns the `[N]` losses.
@inlinable
public func negativeLogLikelihood<Scalar>(
  logProbabilities: Tensor<Scalar>, labels: [Int], reduction: Reduction = .mean
) -> Tensor<Scalar> {
  let mask = oneHotMask(
    labels, like: logProbabilities, named: "logProbabilities", op: "negativeLogLikelihood")
  return reduction.reduce(-(logProbabilities * mask).sum(alongAxis: 1))
}

/// A constant `[N, C]` tensor with a 1 at each `(n, labels[n])`: multiplying by it picks each
/// row's target entry with ops we already have, and the gradient it passes back is exactly the
/// one-hot pattern. Traps, naming `op` and the argument `name`, unless `scores` is `[N, C]` with
/// `N` labels in `0..<C`.
@inlinable
func oneHotMask<Scalar>(
  _ labels: [Int], like scores: Tensor<Scalar>, named name: String, op: String
) -> Tensor<Scalar> {
  precondition(scores.rank == 2, "\(op): \(name) must be [N, C], got shape \(scores.shape)")
  let (samples, classes) = (scores.shape[0], scores.shape[1])
  precondition(
    labels.count == samples, "\(op): \(labels.count) labels for \(name) of shape \(scores.shape)")
  var oneHot = [Scalar](repeating: 0, count: samples * classes)
  for (sample, label) in labels.enumerated() {
    precondition(
      label >= 0 && label < classes,
      "\(op): label \(label) of sample \(sample) is out of range 0..<\(classes) "
        + "for \(name) of shape \(scores.shape)")
    oneHot[sample * classes + label] = 1
  }
  return Tensor(uncheckedShape: scores.shape, scalars: oneHot)
}

/// The Huber loss (PyTorch's `huber_loss`): `½e²` where |e| < δ and `δ(|e| − ½δ)` beyond, with
/// `e = predicted − expected`. Quadratic near zero like MSE, linear for outliers, so one bad
/// target cannot dominate the gradient (it is capped at δ in magnitude).
///
/// Computed as `½q² + δ(|e| − q)` with `q = min(|e|, δ)`, from differentiable ops.
///
/// - Parameters:
///   - predicted: any shape.
///   - expected: the same shape as `predicted` (no broadcasting, as for MSE).
///   - delta: where the loss turns from quadratic to linear; positive (default 1).
///   - reduction: `.none` returns the elementwise losses with the shape of `predicted`.
@inlinable
public func huberLoss<Scalar>(
  predicted: Tensor<Scalar>, expected: Tensor<Scalar>, delta: Scalar = 1,
  reduction: Reduction = .mean
) -> Tensor<Scalar> {
  precondition(
    predicted.shape == expected.shape,
    "huberLoss: shapes \(predicted.shape) and \(expected.shape) differ")
  precondition(delta > 0, "huberLoss: delta \(delta) must be positive")
  let magnitude = abs(predicted - expected)
  let quadratic = clamp(magnitude, max: delta)
  return reduction.reduce(0.5 * quadratic * quadratic + delta * (magnitude - quadratic))
}

/// Softmax cross-entropy against a probability distribution per sample (soft labels, label
/// smoothing, distillation): `−Σ_c probabilities[…, c] · logSoftmax(logits)[…, c]`.
///
/// Gradients: `softmax(logits) · Σ_c p − p` for the logits (`softmax − p` when each row of `p`
/// sums to 1), and `−logSoftmax(logits)` for the probabilities.
///
/// - Parameters:
///   - logits: `[..., C]` unnormalised scores; classes along the last axis (`[N, C]` usually).
///   - probabilities: the same shape as `logits`, each row a distribution over the classes.
///   - reduction: `.mean` averages over the samples (every position but the class axis);
///     `.none` returns losses of shape `logits.shape` without its last axis.
@inlinable
public func crossEntropy<Scalar>(
  logits: Tensor<Scalar>, probabilities: Tensor<Scalar>, reduction: Reduction = .mean
) -> Tensor<Scalar> {
  precondition(
    logits.shape == probabilities.shape && logits.rank >= 1,
    "crossEntropy: shapes \(logits.shape) and \(probabilities.shape) differ or have no class axis")
  return reduction.reduce(-(probabilities * logSoftmax(logits)).sum(alongAxis: -1))
}

/// Binary cross-entropy of `sigmoid(logits)` against `labels`, elementwise:
/// `−y log σ(x) − (1 − y) log(1 − σ(x))`, computed as `max(x, 0) − x·y + log1p(exp(−|x|))`,
/// which never overflows and never takes the log of an underflowed 0, even for |x| = 1000.
///
/// Pullback: `g · (σ(x) − y)` for the logits and `−g · x` for the labels, with σ evaluated as
/// `(1 + tanh(x/2)) / 2`, whose own derivatives stay finite at any |x|.
///
/// - Parameters:
///   - logits: any shape.
///   - labels: the same shape as `logits`: 0/1 targets or probabilities in [0, 1].
///   - reduction: `.mean` averages over every element; `.none` returns the shape of `logits`.
@inlinable
public func binaryCrossEntropy<Scalar>(
  logits: Tensor<Scalar>, labels: Tensor<Scalar>, reduction: Reduction = .mean
) -> Tensor<Scalar> {
  precondition(
    logits.shape == labels.shape,
    "binaryCrossEntropy: shapes \(logits.shape) and \(labels.shape) differ")
  let losses = zip(logits.scalars, labels.scalars).map { x, y in
    Swift.max(x, 0) - x * y + Scalar.log1p(Scalar.exp(-abs(x)))
  }
  let elementwise = Tensor(uncheckedShape: logits.shape, scalars: losses)
    .recorded(as: "binaryCrossEntropy", from: logits, labels) { g, _ in
      let sigmoid = 0.5 * tanh(0.5 * logits) + 0.5
      return [g * (sigmoid - labels), -(g * logits)]
    }
  return reduction.reduce(elementwise)
}
