/// A fully connected (affine) layer: y = x·Wᵀ + b, applied to the last axis of its input
/// (PyTorch's `nn.Linear`).
///
/// Shapes: `weight` is `[outputSize, inputSize]` and `bias` `[outputSize]`, PyTorch's layout, so
/// weights load from a PyTorch `state_dict` unchanged. The input is `[..., inputSize]` with any
/// leading axes (`[N, in]` for a batch, `[T, B, in]` for a sequence) and the output
/// `[..., outputSize]`. The product reads `weight` as stored, transposed by a flag, never copied,
/// and adds into the bias rows as it is computed (`addmm(bias, x, weight, transposeB: true)`).
public struct Linear<Scalar: TensorScalar>: Layer {
  /// The weight matrix W, `[outputSize, inputSize]`.
  public let weight: Parameter<Scalar>
  /// The bias b, `[outputSize]`, or `nil` for a layer without one.
  public let bias: Parameter<Scalar>?
  /// The size of the last input axis.
  public let inputSize: Int
  /// The size of the last output axis.
  public let outputSize: Int

  /// A layer with PyTorch's default initialisation: every element of the weight and of the bias
  /// drawn from U(−1/√inputSize, 1/√inputSize), the weight first.
  ///
  /// PyTorch gets that weight bound from Kaiming-uniform with a = √5 (gain √(2/(1 + 5)) = √(1/3),
  /// bound gain·√(3/fan_in) = 1/√fan_in); it keeps the output variance near a third of the input's
  /// whatever the width.
  ///
  /// - Parameters:
  ///   - inputSize: features per input row; positive.
  ///   - outputSize: features per output row; positive.
  ///   - bias: whether to add a learned bias (default true).
  ///   - weightInitializer: how to draw the weight; the default is PyTorch's.
  ///   - generator: the source of the initial values.
  public init(
    inputSize: Int, outputSize: Int, bias: Bool = true,
    weightInitializer: Initializer = .kaimingUniform(a: 5.0.squareRoot()),
    using generator: inout SeededGenerator
  ) {
    precondition(
      inputSize > 0 && outputSize > 0,
      "Linear: sizes must be positive, got inputSize \(inputSize), outputSize \(outputSize)")
    let weight: Tensor<Scalar> = weightInitializer.makeTensor(
      [outputSize, inputSize], using: &generator)
    let bound = 1 / Double(inputSize).squareRoot()
    let bias: Tensor<Scalar>? =
      bias
      ? Initializer.uniform(low: -bound, high: bound).makeTensor([outputSize], using: &generator)
      : nil
    self.init(weight: weight, bias: bias)
  }

  /// ``init(inputSize:outputSize:bias:weightInitializer:using:)`` with a generator seeded with
  /// `seed`.
  public init(
    inputSize: Int, outputSize: Int, bias: Bool = true,
    weightInitializer: Initializer = .kaimingUniform(a: 5.0.squareRoot()), seed: UInt64
  ) {
    var generator = SeededGenerator(seed: seed)
    self.init(
      inputSize: inputSize, outputSize: outputSize, bias: bias,
      weightInitializer: weightInitializer, using: &generator)
  }

  /// A layer with the given weight `[outputSize, inputSize]` and optional bias `[outputSize]`:
  /// for loaded weights and hand-computed fixtures.
  ///
  /// Traps, naming both shapes, if the weight is not a matrix or the bias does not match its
  /// rows.
  public init(weight: Tensor<Scalar>, bias: Tensor<Scalar>? = nil) {
    precondition(
      weight.rank == 2, "Linear: weight shape \(weight.shape) is not [outputSize, inputSize]")
    if let bias {
      precondition(
        bias.shape == [weight.shape[0]],
        "Linear: bias shape \(bias.shape) does not match weight shape \(weight.shape)")
    }
    self.weight = Parameter(weight)
    self.bias = bias.map { Parameter($0) }
    self.outputSize = weight.shape[0]
    self.inputSize = weight.shape[1]
  }

  /// x·Wᵀ + b for `input` of shape `[..., inputSize]`; returns `[..., outputSize]`.
  ///
  /// Traps, naming the layer and both shapes, when the last input axis is not `inputSize`.
  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    precondition(
      input.rank >= 1 && input.shape[input.rank - 1] == inputSize,
      "Linear: input shape \(input.shape) does not match weight shape \(weight.shape)"
    )
    let leading = Array(input.shape.dropLast())
    // matmul takes matrices and batches of them; any other rank is flattened to rows and back.
    let rows = input.rank == 2 || input.rank == 3 ? input : input.reshaped(to: [-1, inputSize])
    let output =
      bias.map { addmm($0.value, rows, weight.value, transposeB: true) }
      ?? matmul(rows, weight.value, transposeB: true)
    return output.rank == input.rank ? output : output.reshaped(to: leading + [outputSize])
  }
}
