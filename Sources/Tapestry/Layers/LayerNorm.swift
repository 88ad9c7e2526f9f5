/// Layer normalisation (Ba et al. 2016; PyTorch's `nn.LayerNorm`): each input is normalised over
/// its trailing `shape` axes to zero mean and unit variance, then scaled and shifted elementwise.
///
/// y = (x − E[x]) / √(Var[x] + ε) · weight + bias, with the mean and the *biased* variance (divided
/// by n, not n − 1, as PyTorch) taken over the last `shape.count` axes of each input. The input
/// is `[..., shape]`, the output the same shape; `weight` and `bias` have shape `shape`.
///
/// Composed from ``Tensor/mean(alongAxes:keepingDims:)``, ``sqrt(_:)`` and arithmetic, so its
/// gradient (and higher derivatives) come from theirs.
public struct LayerNorm<Scalar: TensorScalar>: Layer {
  /// The trailing axes normalised over, e.g. `[hiddenSize]`.
  public let shape: TensorShape
  /// ε, added to the variance so that a constant input does not divide by zero.
  public let epsilon: Scalar
  /// The elementwise scale, initially ones; `nil` without `elementwiseAffine`.
  public let weight: Parameter<Scalar>?
  /// The elementwise shift, initially zeros; `nil` without `elementwiseAffine`.
  public let bias: Parameter<Scalar>?

  /// A layer normalising over trailing axes of sizes `shape`.
  ///
  /// - Parameters:
  ///   - shape: the trailing axes to normalise over; non-empty, positive sizes.
  ///   - epsilon: added to the variance (default 1e-5, as in PyTorch).
  ///   - elementwiseAffine: whether to learn a scale (ones) and shift (zeros) of shape `shape`
  ///     (default true).
  public init(shape: TensorShape, epsilon: Scalar = 1e-5, elementwiseAffine: Bool = true) {
    precondition(
      !shape.isEmpty && shape.allSatisfy { $0 > 0 },
      "LayerNorm: shape \(shape) must be non-empty with positive sizes")
    self.shape = shape
    self.epsilon = epsilon
    weight = elementwiseAffine ? Parameter(Tensor.ones(shape)) : nil
    bias = elementwiseAffine ? Parameter(Tensor.zeros(shape)) : nil
  }

  /// ``init(shape:epsilon:elementwiseAffine:)`` over the last axis only, of size `size`.
  public init(size: Int, epsilon: Scalar = 1e-5, elementwiseAffine: Bool = true) {
    self.init(shape: [size], epsilon: epsilon, elementwiseAffine: elementwiseAffine)
  }

  /// Normalises `input` of shape `[..., shape]`.
  ///
  /// Traps, naming the layer and both shapes, when the trailing axes of `input` are not `shape`.
  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    precondition(
      input.rank >= shape.count && input.shape.suffix(shape.count).elementsEqual(shape),
      "LayerNorm: input shape \(input.shape) does not end with the normalised shape \(shape)")
    let axes = Array((input.rank - shape.count)..<input.rank)
    let centered = input - input.mean(alongAxes: axes, keepingDims: true)
    let variance = (centered * centered).mean(alongAxes: axes, keepingDims: true)
    var output = centered / sqrt(variance + epsilon)
    if let weight { output = output * weight.value }
    if let bias { output = output + bias.value }
    return output
  }
}
