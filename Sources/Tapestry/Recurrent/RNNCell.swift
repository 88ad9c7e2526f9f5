/// The Elman RNN cell (PyTorch's `nn.RNNCell`): h′ = φ(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh), with
/// φ = tanh (default) or relu.
///
/// Shapes, PyTorch's layout so a `state_dict` loads unchanged: `weight_ih` `[H, I]`, `weight_hh`
/// `[H, H]`, `bias_ih` and `bias_hh` `[H]`; input `[B, I]`, state and output `[B, H]`. The
/// products read the weights as stored (`transposeB: true`).
///
/// The stored properties carry PyTorch's snake_case names because reflection names parameters
/// after properties: `cell.weight_ih` here is `weight_ih` in a checkpoint, with no mapping table.
/// The plain RNN is the network whose gradients vanish or explode through time: the Jacobian of
/// one step is diag(φ′)·W_hh, multiplied T times.
public struct RNNCell<Scalar: TensorScalar>: InputProjectingCell {
  // swift-format-ignore: AlwaysUseLowerCamelCase
  /// The input-to-hidden weight W_ih, `[hiddenSize, inputSize]`.
  public let weight_ih: Parameter<Scalar>
  // swift-format-ignore: AlwaysUseLowerCamelCase
  /// The hidden-to-hidden weight W_hh, `[hiddenSize, hiddenSize]`.
  public let weight_hh: Parameter<Scalar>
  // swift-format-ignore: AlwaysUseLowerCamelCase
  /// The input bias b_ih, `[hiddenSize]`, or `nil` without biases.
  public let bias_ih: Parameter<Scalar>?
  // swift-format-ignore: AlwaysUseLowerCamelCase
  /// The hidden bias b_hh, `[hiddenSize]`, or `nil` without biases. Redundant with `bias_ih`
  /// (only their sum matters) but kept so PyTorch checkpoints load.
  public let bias_hh: Parameter<Scalar>?
  /// The nonlinearity φ (PyTorch offers tanh and relu; any ``Activation`` works).
  public let nonlinearity: Activation<Scalar>
  /// The number of features of each input row.
  public let inputSize: Int
  /// The number of features of the state and output.
  public let hiddenSize: Int

  /// A cell with PyTorch's initialisation: every weight and bias from U(−1/√H, 1/√H), drawn in
  /// the order `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`.
  ///
  /// - Parameters:
  ///   - inputSize: features per input row; positive.
  ///   - hiddenSize: features of the state; positive.
  ///   - bias: whether to add the two learned biases (default true).
  ///   - nonlinearity: φ, `.tanh` by default; `.relu` for PyTorch's `nonlinearity="relu"`.
  ///   - generator: the source of the initial values.
  public init(
    inputSize: Int, hiddenSize: Int, bias: Bool = true,
    nonlinearity: Activation<Scalar> = .tanh, using generator: inout SeededGenerator
  ) {
    checkSizes("RNNCell", inputSize: inputSize, hiddenSize: hiddenSize)
    weight_ih = recurrentWeight([hiddenSize, inputSize], hiddenSize: hiddenSize, using: &generator)
    weight_hh = recurrentWeight(
      [hiddenSize, hiddenSize], hiddenSize: hiddenSize, using: &generator)
    bias_ih = bias ? recurrentWeight([hiddenSize], hiddenSize: hiddenSize, using: &generator) : nil
    bias_hh = bias ? recurrentWeight([hiddenSize], hiddenSize: hiddenSize, using: &generator) : nil
    self.nonlinearity = nonlinearity
    self.inputSize = inputSize
    self.hiddenSize = hiddenSize
  }

  /// ``init(inputSize:hiddenSize:bias:nonlinearity:using:)`` with a generator seeded with `seed`.
  public init(
    inputSize: Int, hiddenSize: Int, bias: Bool = true,
    nonlinearity: Activation<Scalar> = .tanh, seed: UInt64
  ) {
    var generator = SeededGenerator(seed: seed)
    self.init(
      inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, nonlinearity: nonlinearity,
      using: &generator)
  }

  /// Zeros `[batchSize, hiddenSize]`.
  public func zeroState(batchSize: Int) -> Tensor<Scalar> {
    Tensor.zeros([batchSize, hiddenSize])
  }

  /// The input's part of the pre-activation for any number of rows: `[N, I]` to `[N, H]`,
  /// `x·W_ihᵀ + b_ih + b_hh` (both biases, since neither depends on the state).
  public func projectInputs(_ inputs: Tensor<Scalar>) -> Tensor<Scalar> {
    guard let inputBias = bias_ih, let hiddenBias = bias_hh else {
      return matmul(inputs, weight_ih.value, transposeB: true)
    }
    return addmm(inputBias.value + hiddenBias.value, inputs, weight_ih.value, transposeB: true)
  }

  /// One step from the projected input `[B, H]` (see ``projectInputs(_:)``) and `state` h
  /// `[B, H]`: h′ `[B, H]`, both as output and as the next state. Traps, naming the shapes, on a
  /// wrong projected input or state shape.
  public func callAsFunction(projectedInput: Tensor<Scalar>, _ state: Tensor<Scalar>)
    -> (output: Tensor<Scalar>, state: Tensor<Scalar>)
  {
    checkProjectedInput(projectedInput, width: hiddenSize)
    checkState(state, named: "state", batchSize: projectedInput.shape[0])
    let hidden = nonlinearity(addmm(projectedInput, state, weight_hh.value, transposeB: true))
    return (hidden, hidden)
  }
}
