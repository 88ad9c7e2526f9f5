/// What an LSTM carries between steps: the hidden state h (also the output) and the cell state c,
/// each `[B, hiddenSize]` (PyTorch's `(h, c)` tuple).
public struct LSTMState<Scalar: TensorScalar> {
  /// The hidden state h, the output of the step that produced it.
  public var hidden: Tensor<Scalar>
  /// The cell state c, the memory that the forget gate keeps or erases.
  public var cell: Tensor<Scalar>

  /// A state from its two tensors, each `[B, hiddenSize]`.
  public init(hidden: Tensor<Scalar>, cell: Tensor<Scalar>) {
    self.hidden = hidden
    self.cell = cell
  }
}

/// The long short-term memory cell (Hochreiter & Schmidhuber 1997, with the forget gate of
/// Gers et al. 2000; PyTorch's `nn.LSTMCell`), optionally with diagonal peepholes (Graves 2013).
///
/// Equations, gates stacked in PyTorch's order i, f, g, o:
///
///     [aᵢ | a_f | a_g | a_o] = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh
///     i = σ(aᵢ + w_ci ⊙ c)    f = σ(a_f + w_cf ⊙ c)    g = tanh(a_g)
///     c′ = f ⊙ c + i ⊙ g
///     o = σ(a_o + w_co ⊙ c′)   h′ = o ⊙ tanh(c′)
///
/// where the peephole terms (w_c·) are absent unless `peepholes` is on: the input and forget
/// gates look at the previous cell state, the output gate at the new one. The additive update of
/// c is why gradients survive long sequences: ∂c′/∂c = diag(f), with no squashing in between.
///
/// Shapes, PyTorch's layout so a `state_dict` loads unchanged: `weight_ih` `[4H, I]`, `weight_hh`
/// `[4H, H]`, `bias_ih` and `bias_hh` `[4H]`, peepholes `weight_ci`, `weight_cf`, `weight_co`
/// `[H]`; input `[B, I]`, output and both state tensors `[B, H]`. The stored properties carry
/// PyTorch's snake_case names so that reflection names the parameters as PyTorch does.
public struct LSTMCell<Scalar: TensorScalar>: InputProjectingCell {
  // swift-format-ignore: AlwaysUseLowerCamelCase
  /// The input weights of the four gates stacked (i, f, g, o), `[4·hiddenSize, inputSize]`.
  public let weight_ih: Parameter<Scalar>
  // swift-format-ignore: AlwaysUseLowerCamelCase
  /// The recurrent weights of the four gates stacked, `[4·hiddenSize, hiddenSize]`.
  public let weight_hh: Parameter<Scalar>
  // swift-format-ignore: AlwaysUseLowerCamelCase
  /// The input biases of the four gates, `[4·hiddenSize]`, or `nil` without biases.
  public let bias_ih: Parameter<Scalar>?
  // swift-format-ignore: AlwaysUseLowerCamelCase
  /// The recurrent biases of the four gates, `[4·hiddenSize]`, or `nil` without biases.
  public let bias_hh: Parameter<Scalar>?
  // swift-format-ignore: AlwaysUseLowerCamelCase
  /// The input gate's peephole w_ci onto the previous cell state, `[hiddenSize]`, or `nil`.
  public let weight_ci: Parameter<Scalar>?
  // swift-format-ignore: AlwaysUseLowerCamelCase
  /// The forget gate's peephole w_cf onto the previous cell state, `[hiddenSize]`, or `nil`.
  public let weight_cf: Parameter<Scalar>?
  // swift-format-ignore: AlwaysUseLowerCamelCase
  /// The output gate's peephole w_co onto the new cell state, `[hiddenSize]`, or `nil`.
  public let weight_co: Parameter<Scalar>?
  /// The number of features of each input row.
  public let inputSize: Int
  /// The number of features of the output and of each state tensor.
  public let hiddenSize: Int

  /// A cell with PyTorch's initialisation: every weight, bias and peephole from
  /// U(−1/√H, 1/√H), drawn in the order `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`,
  /// `weight_ci`, `weight_cf`, `weight_co`.
  ///
  /// - Parameters:
  ///   - inputSize: features per input row; positive.
  ///   - hiddenSize: features of the state; positive.
  ///   - bias: whether to add the two learned biases (default true).
  ///   - peepholes: whether the gates see the cell state through diagonal weights (default
  ///     false, as PyTorch).
  ///   - forgetGateBias: when given, the forget gate's rows of `bias_ih` are set to this value
  ///     and those of `bias_hh` to 0, so the forget gate starts at σ(value): 1 (Gers et al. 2000;
  ///     Jozefowicz et al. 2015) keeps the memory open early in training. Needs `bias`.
  ///   - generator: the source of the initial values.
  public init(
    inputSize: Int, hiddenSize: Int, bias: Bool = true, peepholes: Bool = false,
    forgetGateBias: Double? = nil, using generator: inout SeededGenerator
  ) {
    checkSizes("LSTMCell", inputSize: inputSize, hiddenSize: hiddenSize)
    precondition(
      bias || forgetGateBias == nil, "LSTMCell: forgetGateBias needs bias: true, got bias: false")
    let h = hiddenSize
    weight_ih = recurrentWeight([4 * h, inputSize], hiddenSize: h, using: &generator)
    weight_hh = recurrentWeight([4 * h, h], hiddenSize: h, using: &generator)
    bias_ih = bias ? recurrentWeight([4 * h], hiddenSize: h, using: &generator) : nil
    bias_hh = bias ? recurrentWeight([4 * h], hiddenSize: h, using: &generator) : nil
    weight_ci = peepholes ? recurrentWeight([h], hiddenSize: h, using: &generator) : nil
    weight_cf = peepholes ? recurrentWeight([h], hiddenSize: h, using: &generator) : nil
    weight_co = peepholes ? recurrentWeight([h], hiddenSize: h, using: &generator) : nil
    if let forgetGateBias, let inputBias = bias_ih, let hiddenBias = bias_hh {
      // Only the forget gate's rows change, so the other gates keep PyTorch's draw.
      func replacingForgetRows(of bias: Tensor<Scalar>, with value: Scalar) -> Tensor<Scalar> {
        concatenate(
          [
            bias.slice(alongAxis: 0, 0..<h), Tensor.filled([h], with: value),
            bias.slice(alongAxis: 0, (2 * h)..<(4 * h)),
          ], alongAxis: 0)
      }
      inputBias.value = replacingForgetRows(of: inputBias.value, with: Scalar(forgetGateBias))
      hiddenBias.value = replacingForgetRows(of: hiddenBias.value, with: 0)
    }
    self.inputSize = inputSize
    self.hiddenSize = hiddenSize
  }

  /// ``init(inputSize:hiddenSize:bias:peepholes:forgetGateBias:using:)`` with a generator seeded
  /// with `seed`.
  public init(
    inputSize: Int, hiddenSize: Int, bias: Bool = true, peepholes: Bool = false,
    forgetGateBias: Double? = nil, seed: UInt64
  ) {
    var generator = SeededGenerator(seed: seed)
    self.init(
      inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, peepholes: peepholes,
      forgetGateBias: forgetGateBias, using: &generator)
  }

  /// Whether the gates see the cell state through the peephole weights.
  public var hasPeepholes: Bool { weight_ci != nil }

  /// h and c both zeros `[batchSize, hiddenSize]`.
  public func zeroState(batchSize: Int) -> LSTMState<Scalar> {
    LSTMState(
      hidden: Tensor.zeros([batchSize, hiddenSize]), cell: Tensor.zeros([batchSize, hiddenSize]))
  }

  /// The input's part of the gate pre-activations for any number of rows: `[N, I]` to
  /// `[N, 4H]`, `x·W_ihᵀ + b_ih + b_hh` (both biases, since neither depends on the state).
  public func projectInputs(_ inputs: Tensor<Scalar>) -> Tensor<Scalar> {
    guard let inputBias = bias_ih, let hiddenBias = bias_hh else {
      return matmul(inputs, weight_ih.value, transposeB: true)
    }
    return addmm(inputBias.value + hiddenBias.value, inputs, weight_ih.value, transposeB: true)
  }

  /// One step from the projected input `[B, 4H]` (see ``projectInputs(_:)``) and the state
  /// (h, c): h′ `[B, H]` as the output and (h′, c′) as the next state. Traps, naming the shapes,
  /// on a wrong projected input or state shape.
  public func callAsFunction(projectedInput: Tensor<Scalar>, _ state: LSTMState<Scalar>)
    -> (output: Tensor<Scalar>, state: LSTMState<Scalar>)
  {
    checkProjectedInput(projectedInput, width: 4 * hiddenSize)
    checkState(state.hidden, named: "hidden state", batchSize: projectedInput.shape[0])
    checkState(state.cell, named: "cell state", batchSize: projectedInput.shape[0])
    let preActivations = addmm(projectedInput, state.hidden, weight_hh.value, transposeB: true)
    var gates = preActivations.chunked(into: 4, alongAxis: 1)
    if let inputPeephole = weight_ci, let forgetPeephole = weight_cf {
      gates[0] = addcmul(gates[0], inputPeephole.value, state.cell)
      gates[1] = addcmul(gates[1], forgetPeephole.value, state.cell)
    }
    let inputGate = probe(sigmoid(gates[0]), as: "gate.input")
    let forgetGate = probe(sigmoid(gates[1]), as: "gate.forget")
    let candidate = probe(tanh(gates[2]), as: "gate.cell")
    let cell = addcmul(forgetGate * state.cell, inputGate, candidate)
    // The output gate peeks at the new cell state, not the old one (Graves 2013, eq. 9).
    if let outputPeephole = weight_co { gates[3] = addcmul(gates[3], outputPeephole.value, cell) }
    let hidden = probe(sigmoid(gates[3]), as: "gate.output") * tanh(cell)
    return (hidden, LSTMState(hidden: hidden, cell: cell))
  }
}
