// The one abstraction every recurrent model shares: a cell maps (input, state) to (output,
// state) for one time step. Everything else — unrolling over a sequence, stacking layers, running
// backwards — is written once against this protocol, and backpropagation through time is just the
// tape replaying the unrolled steps in reverse.

/// One step of a recurrent network: (xₜ, stateₜ₋₁) ↦ (outputₜ, stateₜ).
///
/// A cell is a struct of ``Parameter``s, like any layer, so ``namedParameters(of:as:)``,
/// ``valueWithGradient(at:of:)``, optimisers and checkpoints work on it unchanged. It stands beside
/// ``Layer`` rather than refining it because a step takes two arguments and returns two results.
/// ``unroll(_:inputs:initialState:batchFirst:)`` runs any cell over a sequence.
///
/// Shapes: the input is `[B, inputSize]` for a batch of `B`; the output is `[B, hiddenSize]`.
/// `inputSize` and `hiddenSize` are stored when the cell is built, never read back from weight
/// shapes, so a cell whose weights are reshaped or loaded still reports what it was built for.
/// Conforming cells should trap on a wrong input or state shape with ``checkInput(_:)`` and
/// ``checkState(_:named:batchSize:)``.
public protocol RecurrentCell<Scalar> {
  /// The element type of the cell's tensors.
  associatedtype Scalar: TensorScalar
  /// What the cell carries from one step to the next: `h` for an Elman RNN or a GRU, `(h, c)`
  /// for an LSTM.
  associatedtype State
  /// The number of features of each input row.
  var inputSize: Int { get }
  /// The number of features of the output and of each state tensor.
  var hiddenSize: Int { get }
  /// The state before the first step: zeros of shape `[batchSize, hiddenSize]` for each state
  /// tensor, as PyTorch uses when no initial state is given.
  func zeroState(batchSize: Int) -> State
  /// One time step: `input` `[B, inputSize]` and the previous state give the output
  /// `[B, hiddenSize]` and the next state.
  func callAsFunction(_ input: Tensor<Scalar>, _ state: State)
    -> (output: Tensor<Scalar>, state: State)
  /// The time steps of `inputs` (`[T, B, inputSize]` with `axis` 0, `[B, T, inputSize]` with
  /// `axis` 1) as T functions, each taking the state before its step to the step's output and
  /// state: what ``unroll(_:inputs:initialState:batchFirst:)`` runs in order.
  ///
  /// The default slices the steps and calls the cell on each; ``InputProjectingCell`` provides
  /// one that first projects all inputs in one product. Both cut a step out of `inputs` (and
  /// record it) when its function runs, so that the copy is fresh in the cache for the cell: run
  /// the functions while the tape that recorded `inputs` records, as `unroll` does. Implement it
  /// yourself only to prepare per-step work in some other way.
  func unrolledSteps(of inputs: Tensor<Scalar>, alongAxis axis: Int)
    -> [(State) -> (output: Tensor<Scalar>, state: State)]
}

extension RecurrentCell {
  /// Each step's input slice, fed to ``callAsFunction(_:_:)``.
  public func unrolledSteps(of inputs: Tensor<Scalar>, alongAxis axis: Int)
    -> [(State) -> (output: Tensor<Scalar>, state: State)]
  {
    TimeSteps(of: inputs, alongAxis: axis).functions { input, state in self(input, state) }
  }

  /// The cell's type name without its generic arguments (`LSTMCell`), for trap messages.
  public static var cellName: String {
    String(String(describing: Self.self).prefix { $0 != "<" })
  }

  /// Traps, naming the cell and the shapes, unless `input` is `[B, inputSize]`.
  public func checkInput(_ input: Tensor<Scalar>) {
    precondition(
      input.rank == 2 && input.shape[1] == inputSize,
      "\(Self.cellName): input shape \(input.shape) does not match inputSize \(inputSize)")
  }

  /// Traps, naming the cell and the shapes, unless `state` (called `name` in the message) is
  /// `[batchSize, hiddenSize]`.
  public func checkState(_ state: Tensor<Scalar>, named name: String, batchSize: Int) {
    precondition(
      state.shape == .matrix(batchSize, hiddenSize),
      "\(Self.cellName): \(name) shape \(state.shape) does not match [batchSize \(batchSize), "
        + "hiddenSize \(hiddenSize)]")
  }
}

/// The initial value of a recurrent weight: U(−1/√hiddenSize, 1/√hiddenSize), PyTorch's default
/// for every weight and bias of `nn.RNNCell`, `nn.LSTMCell` and `nn.GRUCell`.
///
/// The bound depends on the hidden size even for the input weights because each gate
/// pre-activation is a sum over roughly that many terms in the recurrent product.
func recurrentWeight<Scalar: TensorScalar>(
  _ shape: TensorShape, hiddenSize: Int, using generator: inout SeededGenerator
) -> Parameter<Scalar> {
  let bound = 1 / Double(hiddenSize).squareRoot()
  return Parameter(
    Initializer.uniform(low: -bound, high: bound).makeTensor(shape, using: &generator))
}

/// Traps, naming the cell, unless both sizes are positive.
func checkSizes(_ cell: String, inputSize: Int, hiddenSize: Int) {
  precondition(
    inputSize > 0 && hiddenSize > 0,
    "\(cell): sizes must be positive, got inputSize \(inputSize), hiddenSize \(hiddenSize)")
}
