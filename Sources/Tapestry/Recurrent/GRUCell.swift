/// The gated recurrent unit (Cho et al. 2014) in PyTorch's form (`nn.GRUCell`, as cuDNN):
///
///     [r_x | z_x | n_x] = x·W_ihᵀ + b_ih        [r_h | z_h | n_h] = h·W_hhᵀ + b_hh
///     r = σ(r_x + r_h)    z = σ(z_x + z_h)    n = tanh(n_x + r ⊙ n_h)
///     h′ = (1 − z) ⊙ n + z ⊙ h
///
/// The reset gate r multiplies the recurrent term after its bias (W_hn·h + b_hn), which is why
/// the two biases are not interchangeable here, unlike in the LSTM; the original paper applies r
/// to h before the product. The update gate z interpolates between the old state and the
/// candidate, so ∂h′/∂h contains diag(z), an additive path like the LSTM's cell state.
///
/// Shapes, PyTorch's layout so a `state_dict` loads unchanged: `weight_ih` `[3H, I]`, `weight_hh`
/// `[3H, H]`, `bias_ih` and `bias_hh` `[3H]` (gates r, z, n); input `[B, I]`, state and output
/// `[B, H]`. The stored properties carry PyTorch's snake_case names so that reflection names the
/// parameters as PyTorch does.
public struct GRUCell<Scalar: TensorScalar>: InputProjectingCell {
  // swift-format-ignore: AlwaysUseLowerCamelCase
  /// The input weights of the gates r, z, n stacked, `[3·hiddenSize, inputSize]`.
  public let weight_ih: Parameter<Scalar>
  // swift-format-ignore: AlwaysUseLowerCamelCase
  /// The recurrent weights of the gates r, z, n stacked, `[3·hiddenSize, hiddenSize]`.
  public let weight_hh: Parameter<Scalar>
  // swift-format-ignore: AlwaysUseLowerCamelCase
  /// The input biases of the three gates, `[3·hiddenSize]`, or `nil` without biases.
  public let bias_ih: Parameter<Scalar>?
  // swift-format-ignore: AlwaysUseLowerCamelCase
  /// The recurrent biases of the three gates, `[3·hiddenSize]`, or `nil` without biases.
  public let bias_hh: Parameter<Scalar>?
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
  ///   - generator: the source of the initial values.
  public init(
    inputSize: Int, hiddenSize: Int, bias: Bool = true, using generator: inout SeededGenerator
  ) {
    checkSizes("GRUCell", inputSize: inputSize, hiddenSize: hiddenSize)
    let h = hiddenSize
    weight_ih = recurrentWeight([3 * h, inputSize], hiddenSize: h, using: &generator)
    weight_hh = recurrentWeight([3 * h, h], hiddenSize: h, using: &generator)
    bias_ih = bias ? recurrentWeight([3 * h], hiddenSize: h, using: &generator) : nil
    bias_hh = bias ? recurrentWeight([3 * h], hiddenSize: h, using: &generator) : nil
    self.inputSize = inputSize
    self.hiddenSize = hiddenSize
  }

  /// ``init(inputSize:hiddenSize:bias:using:)`` with a generator seeded with `seed`.
  public init(inputSize: Int, hiddenSize: Int, bias: Bool = true, seed: UInt64) {
    var generator = SeededGenerator(seed: seed)
    self.init(inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, using: &generator)
  }

  /// Zeros `[batchSize, hiddenSize]`.
  public func zeroState(batchSize: Int) -> Tensor<Scalar> {
    Tensor.zeros([batchSize, hiddenSize])
  }

  /// The input's part of the gate pre-activations for any number of rows: `[N, I]` to
  /// `[N, 3H]`, `x·W_ihᵀ + b_ih` (`b_hh` stays in the step: the reset gate scales its candidate
  /// part).
  public func projectInputs(_ inputs: Tensor<Scalar>) -> Tensor<Scalar> {
    guard let inputBias = bias_ih else { return matmul(inputs, weight_ih.value, transposeB: true) }
    return addmm(inputBias.value, inputs, weight_ih.value, transposeB: true)
  }

  /// One step from the projected input `[B, 3H]` (see ``projectInputs(_:)``) and `state` h
  /// `[B, H]`: h′ `[B, H]`, both as output and as the next state. Traps, naming the shapes, on a
  /// wrong projected input or state shape.
  public func callAsFunction(projectedInput: Tensor<Scalar>, _ state: Tensor<Scalar>)
    -> (output: Tensor<Scalar>, state: Tensor<Scalar>)
  {
    checkProjectedInput(projectedInput, width: 3 * hiddenSize)
    checkState(state, named: "state", batchSize: projectedInput.shape[0])
    let fromState =
      bias_hh.map { addmm($0.value, state, weight_hh.value, transposeB: true) }
      ?? matmul(state, weight_hh.value, transposeB: true)
    let x = projectedInput.chunked(into: 3, alongAxis: 1)
    let h = fromState.chunked(into: 3, alongAxis: 1)
    let reset = probe(sigmoid(x[0] + h[0]), as: "gate.reset")
    let update = probe(sigmoid(x[1] + h[1]), as: "gate.update")
    let candidate = probe(tanh(addcmul(x[2], reset, h[2])), as: "gate.candidate")
    // (1 − z)·n + z·h written as n + z·(h − n): a difference and one `addcmul` instead of four
    // ops, and PyTorch's own order of operations.
    let hidden = addcmul(candidate, update, state - candidate)
    return (hidden, hidden)
  }
}
