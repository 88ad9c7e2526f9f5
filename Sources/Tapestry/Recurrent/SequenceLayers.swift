// Stacked and bidirectional recurrent layers (PyTorch's nn.RNN, nn.LSTM, nn.GRU) are written once,
// in `CellStack`, as cells run by `unroll`: one cell per layer and direction. Backpropagation
// through time, across layers and through the reversed direction all come from the tape.

// MARK: - Public layers

/// A multi-layer Elman RNN over whole sequences (PyTorch's `nn.RNN`): a stack of ``RNNCell``s,
/// each layer reading the outputs of the one below, optionally in both directions.
///
/// Shapes: input `[T, B, inputSize]` (`[B, T, inputSize]` when `batchFirst`); outputs
/// `[T, B, directions·hiddenSize]` (same layout), the forward and reverse outputs concatenated
/// along the features; the initial and final state `[layers·directions, B, hiddenSize]`, ordered
/// layer by layer, forward before reverse (PyTorch's `h_0` and `h_n`).
///
/// Parameters are named as in PyTorch's `state_dict` (`weight_ih_l0`, `bias_hh_l1_reverse`, …),
/// so a saved `nn.RNN` loads with ``loadParameters(into:from:as:strict:)``; see
/// ``LSTM/customMirror`` for how.
public struct RNN<Scalar: TensorScalar>: Layer, CustomReflectable {
  /// The cells of every layer and direction, and how to run them.
  let core: CellStack<RNNCell<Scalar>>

  /// A stack with PyTorch's initialisation, U(−1/√H, 1/√H) for every weight, drawn layer by
  /// layer, forward direction before reverse; the dropout mask seed is drawn last.
  ///
  /// - Parameters:
  ///   - inputSize: features of each input step; positive.
  ///   - hiddenSize: features of each direction's state; positive.
  ///   - layers: how many layers are stacked (default 1).
  ///   - bias: whether the cells add their two biases (default true).
  ///   - bidirectional: whether each layer also runs the sequence backwards (default false).
  ///   - dropout: the dropout probability on the outputs of every layer but the last, applied
  ///     only in the training phase (default 0).
  ///   - batchFirst: whether inputs and outputs are `[B, T, F]` (default false: `[T, B, F]`).
  ///   - nonlinearity: `.tanh` (default) or `.relu`, as PyTorch's `nonlinearity`.
  ///   - generator: the source of the initial values.
  public init(
    inputSize: Int, hiddenSize: Int, layers: Int = 1, bias: Bool = true,
    bidirectional: Bool = false, dropout: Double = 0, batchFirst: Bool = false,
    nonlinearity: Activation<Scalar> = .tanh, using generator: inout SeededGenerator
  ) {
    core = CellStack(
      "RNN", inputSize: inputSize, hiddenSize: hiddenSize, layers: layers,
      bidirectional: bidirectional, dropout: dropout, batchFirst: batchFirst, using: &generator
    ) { size, generator in
      RNNCell(
        inputSize: size, hiddenSize: hiddenSize, bias: bias, nonlinearity: nonlinearity,
        using: &generator)
    }
  }

  /// ``init(inputSize:hiddenSize:layers:bias:bidirectional:dropout:batchFirst:nonlinearity:using:)``
  /// with a generator seeded with `seed`.
  public init(
    inputSize: Int, hiddenSize: Int, layers: Int = 1, bias: Bool = true,
    bidirectional: Bool = false, dropout: Double = 0, batchFirst: Bool = false,
    nonlinearity: Activation<Scalar> = .tanh, seed: UInt64
  ) {
    var generator = SeededGenerator(seed: seed)
    self.init(
      inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, bias: bias,
      bidirectional: bidirectional, dropout: dropout, batchFirst: batchFirst,
      nonlinearity: nonlinearity, using: &generator)
  }

  /// The cells, `cells[layer][direction]` (direction 0 forward, 1 reverse).
  public var cells: [[RNNCell<Scalar>]] { core.cells }

  /// The parameters under PyTorch's flat `state_dict` names, for reflection; see
  /// ``LSTM/customMirror``.
  public var customMirror: Mirror { core.mirror(of: self) }

  /// The outputs and final state `h_n` from a zero initial state, for every sequence in full.
  public func callAsFunction(_ input: Tensor<Scalar>)
    -> (outputs: Tensor<Scalar>, finalState: Tensor<Scalar>)
  {
    callAsFunction(input, initialState: nil, lengths: nil)
  }

  /// The outputs `[T, B, directions·H]` and final state `h_n` `[layers·directions, B, H]`.
  ///
  /// - Parameters:
  ///   - input: `[T, B, inputSize]`, or `[B, T, inputSize]` when `batchFirst`.
  ///   - initialState: `h_0`, `[layers·directions, B, hiddenSize]`; zeros when `nil`.
  ///   - lengths: each sequence's length, in `0...T`, for a padded batch: a sequence's final
  ///     state is its state after its own last step, and its outputs past that are zero (PyTorch's
  ///     packed sequences). `nil` means every sequence is `T` long.
  public func callAsFunction(
    _ input: Tensor<Scalar>, initialState: Tensor<Scalar>?, lengths: [Int]? = nil
  ) -> (outputs: Tensor<Scalar>, finalState: Tensor<Scalar>) {
    core.runWithTensorState(input, initialState: initialState, lengths: lengths)
  }
}

/// A multi-layer gated recurrent unit over whole sequences (PyTorch's `nn.GRU`): a stack of
/// ``GRUCell``s, each layer reading the outputs of the one below, optionally in both directions.
///
/// Shapes as ``RNN``: input `[T, B, inputSize]` (or batch-first), outputs
/// `[T, B, directions·hiddenSize]`, states `[layers·directions, B, hiddenSize]`. Parameters carry
/// PyTorch's `state_dict` names (`weight_ih_l0`, …, `bias_hh_l1_reverse`).
public struct GRU<Scalar: TensorScalar>: Layer, CustomReflectable {
  /// The cells of every layer and direction, and how to run them.
  let core: CellStack<GRUCell<Scalar>>

  /// A stack with PyTorch's initialisation; the parameters mean what they mean for ``RNN``'s
  /// ``RNN/init(inputSize:hiddenSize:layers:bias:bidirectional:dropout:batchFirst:nonlinearity:using:)``.
  public init(
    inputSize: Int, hiddenSize: Int, layers: Int = 1, bias: Bool = true,
    bidirectional: Bool = false, dropout: Double = 0, batchFirst: Bool = false,
    using generator: inout SeededGenerator
  ) {
    core = CellStack(
      "GRU", inputSize: inputSize, hiddenSize: hiddenSize, layers: layers,
      bidirectional: bidirectional, dropout: dropout, batchFirst: batchFirst, using: &generator
    ) { size, generator in
      GRUCell(inputSize: size, hiddenSize: hiddenSize, bias: bias, using: &generator)
    }
  }

  /// ``init(inputSize:hiddenSize:layers:bias:bidirectional:dropout:batchFirst:using:)`` with a
  /// generator seeded with `seed`.
  public init(
    inputSize: Int, hiddenSize: Int, layers: Int = 1, bias: Bool = true,
    bidirectional: Bool = false, dropout: Double = 0, batchFirst: Bool = false, seed: UInt64
  ) {
    var generator = SeededGenerator(seed: seed)
    self.init(
      inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, bias: bias,
      bidirectional: bidirectional, dropout: dropout, batchFirst: batchFirst, using: &generator)
  }

  /// The cells, `cells[layer][direction]` (direction 0 forward, 1 reverse).
  public var cells: [[GRUCell<Scalar>]] { core.cells }

  /// The parameters under PyTorch's flat `state_dict` names, for reflection; see
  /// ``LSTM/customMirror``.
  public var customMirror: Mirror { core.mirror(of: self) }

  /// The outputs and final state `h_n` from a zero initial state, for every sequence in full.
  public func callAsFunction(_ input: Tensor<Scalar>)
    -> (outputs: Tensor<Scalar>, finalState: Tensor<Scalar>)
  {
    callAsFunction(input, initialState: nil, lengths: nil)
  }

  /// The outputs `[T, B, directions·H]` and final state `h_n` `[layers·directions, B, H]`, from
  /// `initialState` `h_0` (zeros when `nil`), each sequence stopping at its entry of `lengths`
  /// (see ``RNN/callAsFunction(_:initialState:lengths:)``).
  public func callAsFunction(
    _ input: Tensor<Scalar>, initialState: Tensor<Scalar>?, lengths: [Int]? = nil
  ) -> (outputs: Tensor<Scalar>, finalState: Tensor<Scalar>) {
    core.runWithTensorState(input, initialState: initialState, lengths: lengths)
  }
}

/// A multi-layer LSTM over whole sequences (PyTorch's `nn.LSTM`, without `proj_size`): a stack of
/// ``LSTMCell``s, each layer reading the outputs of the one below, optionally in both directions
/// and optionally with peepholes (which PyTorch lacks).
///
/// Shapes: input `[T, B, inputSize]` (or batch-first), outputs `[T, B, directions·hiddenSize]`;
/// the state is an ``LSTMState`` whose `hidden` and `cell` are each
/// `[layers·directions, B, hiddenSize]` (PyTorch's `(h_n, c_n)`).
public struct LSTM<Scalar: TensorScalar>: Layer, CustomReflectable {
  /// The cells of every layer and direction, and how to run them.
  let core: CellStack<LSTMCell<Scalar>>

  /// A stack with PyTorch's initialisation; the parameters mean what they mean for ``RNN``'s
  /// ``RNN/init(inputSize:hiddenSize:layers:bias:bidirectional:dropout:batchFirst:nonlinearity:using:)``,
  /// and `peepholes` gives every cell the diagonal peephole weights `weight_ci`, `weight_cf`,
  /// `weight_co` (named `weight_ci_l0` and so on here).
  public init(
    inputSize: Int, hiddenSize: Int, layers: Int = 1, bias: Bool = true,
    bidirectional: Bool = false, dropout: Double = 0, batchFirst: Bool = false,
    peepholes: Bool = false, using generator: inout SeededGenerator
  ) {
    core = CellStack(
      "LSTM", inputSize: inputSize, hiddenSize: hiddenSize, layers: layers,
      bidirectional: bidirectional, dropout: dropout, batchFirst: batchFirst, using: &generator
    ) { size, generator in
      LSTMCell(
        inputSize: size, hiddenSize: hiddenSize, bias: bias, peepholes: peepholes,
        using: &generator)
    }
  }

  /// ``init(inputSize:hiddenSize:layers:bias:bidirectional:dropout:batchFirst:peepholes:using:)``
  /// with a generator seeded with `seed`.
  public init(
    inputSize: Int, hiddenSize: Int, layers: Int = 1, bias: Bool = true,
    bidirectional: Bool = false, dropout: Double = 0, batchFirst: Bool = false,
    peepholes: Bool = false, seed: UInt64
  ) {
    var generator = SeededGenerator(seed: seed)
    self.init(
      inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, bias: bias,
      bidirectional: bidirectional, dropout: dropout, batchFirst: batchFirst,
      peepholes: peepholes, using: &generator)
  }

  /// The cells, `cells[layer][direction]` (direction 0 forward, 1 reverse).
  public var cells: [[LSTMCell<Scalar>]] { core.cells }

  /// The parameters under PyTorch's flat `state_dict` names, for reflection.
  ///
  /// Reflection names a parameter by its property path, which would give `cells.0.1.weight_ih`;
  /// PyTorch's `nn.LSTM` owns its tensors directly and names them `weight_ih_l0_reverse`. This
  /// mirror lists each cell's parameters with the layer and direction appended to the cell's own
  /// name (`weight_ih` of layer 0's reverse cell is `weight_ih_l0_reverse`), in PyTorch's order.
  /// The cells stay ordinary cells, run by ``unroll(_:inputs:initialState:batchFirst:)``, and no
  /// second copy of the weights or a renaming table exists; the cost is that `dump` and
  /// debuggers show only the parameters.
  public var customMirror: Mirror { core.mirror(of: self) }

  /// The outputs and final state `(h_n, c_n)` from a zero initial state, every sequence in full.
  public func callAsFunction(_ input: Tensor<Scalar>)
    -> (outputs: Tensor<Scalar>, finalState: LSTMState<Scalar>)
  {
    callAsFunction(input, initialState: nil, lengths: nil)
  }

  /// The outputs `[T, B, directions·H]` and final state `(h_n, c_n)`, each
  /// `[layers·directions, B, H]`, from `initialState` `(h_0, c_0)` (zeros when `nil`), each
  /// sequence stopping at its entry of `lengths` (see
  /// ``RNN/callAsFunction(_:initialState:lengths:)``).
  public func callAsFunction(
    _ input: Tensor<Scalar>, initialState: LSTMState<Scalar>?, lengths: [Int]? = nil
  ) -> (outputs: Tensor<Scalar>, finalState: LSTMState<Scalar>) {
    let batchSize = core.checkInput(input, lengths: lengths)
    let states = initialState.map { state in
      zip(
        core.splitState(state.hidden, named: "initial hidden state", batchSize: batchSize),
        core.splitState(state.cell, named: "initial cell state", batchSize: batchSize)
      ).map { LSTMState(hidden: $0, cell: $1) }
    }
    let run = core.run(input, initialStates: states, lengths: lengths)
    return (
      run.outputs,
      LSTMState(
        hidden: stack(run.finalStates.map(\.hidden)),
        cell: stack(run.finalStates.map(\.cell)))
    )
  }
}

// MARK: - The stack

/// What the sequence layers share: the cells of every layer and direction, run in order.
struct CellStack<Cell: RecurrentCell> where Cell.State: MaskableState<Cell.Scalar> {
  /// The public layer's name, for trap messages.
  let name: String
  let cells: [[Cell]]
  let inputSize: Int
  let hiddenSize: Int
  let batchFirst: Bool
  let dropout: Dropout<Cell.Scalar>

  /// Builds `layers` layers of one or two cells each with `makeCell(inputSize, &generator)`, in
  /// PyTorch's order, then draws the dropout seed.
  init(
    _ name: String, inputSize: Int, hiddenSize: Int, layers: Int, bidirectional: Bool,
    dropout: Double, batchFirst: Bool, using generator: inout SeededGenerator,
    makeCell: (Int, inout SeededGenerator) -> Cell
  ) {
    precondition(
      inputSize > 0 && hiddenSize > 0 && layers > 0,
      "\(name): sizes must be positive, got inputSize \(inputSize), hiddenSize \(hiddenSize), "
        + "layers \(layers)")
    precondition(
      dropout >= 0 && dropout <= 1, "\(name): dropout \(dropout) is outside [0, 1]")
    let directions = bidirectional ? 2 : 1
    var cells: [[Cell]] = []
    for layer in 0..<layers {
      let layerInput = layer == 0 ? inputSize : directions * hiddenSize
      cells.append((0..<directions).map { _ in makeCell(layerInput, &generator) })
    }
    self.name = name
    self.cells = cells
    self.inputSize = inputSize
    self.hiddenSize = hiddenSize
    self.batchFirst = batchFirst
    self.dropout = Dropout(probability: Cell.Scalar(dropout), using: &generator)
  }

  var directions: Int { cells[0].count }

  /// The layer's mirror: each cell's parameters renamed `<name>_l<layer>[_reverse]`.
  func mirror(of layer: Any) -> Mirror {
    var children: [Mirror.Child] = []
    for (index, layerCells) in cells.enumerated() {
      for (direction, cell) in layerCells.enumerated() {
        let suffix = "_l\(index)" + (direction == 1 ? "_reverse" : "")
        for named in namedParameters(of: cell, as: Cell.Scalar.self) {
          children.append((label: named.name + suffix, value: named.parameter))
        }
      }
    }
    return Mirror(layer, children: children, displayStyle: .struct)
  }

  /// Traps, naming the layer and the shapes, unless `input` is a rank-3 sequence of `inputSize`
  /// features and `lengths` (if any) has one entry in `0...T` per sequence; returns B.
  /// ``run(_:initialStates:lengths:)`` for cells whose state is one tensor (RNN, GRU): the
  /// initial state and the final state in PyTorch's stacked `[layers·directions, B, H]` form.
  func runWithTensorState(
    _ input: Tensor<Cell.Scalar>, initialState: Tensor<Cell.Scalar>?, lengths: [Int]?
  ) -> (outputs: Tensor<Cell.Scalar>, finalState: Tensor<Cell.Scalar>)
  where Cell.State == Tensor<Cell.Scalar> {
    let batchSize = checkInput(input, lengths: lengths)
    let states = initialState.map {
      splitState($0, named: "initial state", batchSize: batchSize)
    }
    let run = run(input, initialStates: states, lengths: lengths)
    return (run.outputs, stack(run.finalStates))
  }

  func checkInput(_ input: Tensor<Cell.Scalar>, lengths: [Int]?) -> Int {
    let layout = batchFirst ? "[B, T, inputSize]" : "[T, B, inputSize]"
    precondition(
      input.rank == 3 && input.shape[2] == inputSize,
      "\(name): input shape \(input.shape) does not match \(layout) with inputSize \(inputSize)")
    let (steps, batchSize) =
      batchFirst ? (input.shape[1], input.shape[0]) : (input.shape[0], input.shape[1])
    if let lengths {
      precondition(
        lengths.count == batchSize && lengths.allSatisfy { (0...steps).contains($0) },
        "\(name): lengths \(lengths) do not give one length in 0...\(steps) for each of the "
          + "\(batchSize) sequences of input shape \(input.shape)")
    }
    return batchSize
  }

  /// The per-cell slices of a stacked state, after trapping unless it is
  /// `[layers·directions, batchSize, hiddenSize]`.
  func splitState(_ state: Tensor<Cell.Scalar>, named stateName: String, batchSize: Int)
    -> [Tensor<Cell.Scalar>]
  {
    let count = cells.count * directions
    precondition(
      state.shape == [count, batchSize, hiddenSize],
      "\(name): \(stateName) shape \(state.shape) does not match [layers·directions \(count), "
        + "batchSize \(batchSize), hiddenSize \(hiddenSize)]")
    return state.unstacked(alongAxis: 0)
  }

  /// Runs every layer and direction; the final states come in PyTorch's order (layer by layer,
  /// forward before reverse). Inputs must have passed ``checkInput(_:lengths:)``.
  func run(
    _ input: Tensor<Cell.Scalar>, initialStates: [Cell.State]?, lengths: [Int]?
  ) -> (outputs: Tensor<Cell.Scalar>, finalStates: [Cell.State]) {
    var sequence = batchFirst ? input.transposed(permutation: [1, 0, 2]) : input
    let (steps, batchSize) = (sequence.shape[0], sequence.shape[1])
    // One constant [B, 1] mask per step, 1 where the step is inside its sequence.
    let masks = lengths.map { lengths in
      (0..<steps).map { step in
        Tensor<Cell.Scalar>(shape: [batchSize, 1], scalars: lengths.map { step < $0 ? 1 : 0 })
      }
    }
    // Each sequence reversed within its own length, padding left in place: a permutation of the
    // rows of [T·B, F] that is its own inverse, so it also puts reverse outputs back in order.
    let reversal = (0..<steps).flatMap { step in
      (0..<batchSize).map { sequenceIndex in
        let length = lengths?[sequenceIndex] ?? steps
        return (step < length ? length - 1 - step : step) * batchSize + sequenceIndex
      }
    }
    func reversed(_ tensor: Tensor<Cell.Scalar>) -> Tensor<Cell.Scalar> {
      let features = tensor.shape[2]
      return tensor.reshaped(to: [steps * batchSize, features]).gathering(indices: reversal)
        .reshaped(to: [steps, batchSize, features])
    }
    var finalStates: [Cell.State] = []
    for (layer, layerCells) in cells.enumerated() {
      // PyTorch drops out the outputs of every layer but the last: the inputs of layers above 0.
      if layer > 0 { sequence = dropout(sequence) }
      var outputs: [Tensor<Cell.Scalar>] = []
      for (direction, cell) in layerCells.enumerated() {
        let initial =
          initialStates?[layer * directions + direction] ?? cell.zeroState(batchSize: batchSize)
        let inputs = direction == 0 ? sequence : reversed(sequence)
        let run: (outputs: Tensor<Cell.Scalar>, finalState: Cell.State)
        if let masks, !masks.isEmpty {
          // Past its length a sequence gets zero outputs and keeps its state, so a padded batch
          // gives each sequence what it would give alone; `where` sends no gradient to the
          // branch not taken, so BPTT stays derived. The loop is written here, on the cell
          // itself, rather than as a masking wrapper cell: through a generic wrapper the
          // optimiser stops specialising the step, which then ran ~200 times slower.
          var state = initial
          var stepOutputs: [Tensor<Cell.Scalar>] = []
          for (step, mask) in zip(cell.unrolledSteps(of: inputs, alongAxis: 0), masks) {
            let result = step(state)
            stepOutputs.append(Tensor.where(mask, result.output, Tensor.zeros(like: result.output)))
            state = result.state.selected(where: mask, otherwise: state)
          }
          run = (stack(stepOutputs), state)
        } else {
          let plain = unroll(cell, inputs: inputs, initialState: initial)
          run = (plain.outputs, plain.finalState)
        }
        outputs.append(direction == 0 ? run.outputs : reversed(run.outputs))
        finalStates.append(run.finalState)
      }
      sequence = outputs.count == 1 ? outputs[0] : concatenate(outputs, alongAxis: 2)
    }
    return (batchFirst ? sequence.transposed(permutation: [1, 0, 2]) : sequence, finalStates)
  }
}

// MARK: - Variable lengths

/// A recurrent state that can keep its old value for the sequences that have ended.
///
/// Usable from inline code so that a client's specialised copy of a sequence layer can
/// specialise the masking too; otherwise every masked step fell back to unspecialised generic
/// code.
@usableFromInline
protocol MaskableState<Scalar> {
  associatedtype Scalar: TensorScalar
  /// `self` where `mask` (`[B, 1]`) is 1, `old` where it is 0.
  func selected(where mask: Tensor<Scalar>, otherwise old: Self) -> Self
}

extension Tensor: MaskableState {
  @inlinable
  func selected(where mask: Tensor, otherwise old: Tensor) -> Tensor {
    Tensor.where(mask, self, old)
  }
}

extension LSTMState: MaskableState {
  @inlinable
  func selected(where mask: Tensor<Scalar>, otherwise old: LSTMState) -> LSTMState {
    LSTMState(
      hidden: Tensor.where(mask, hidden, old.hidden), cell: Tensor.where(mask, cell, old.cell))
  }
}
