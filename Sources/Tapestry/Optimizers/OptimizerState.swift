// Saving an optimiser's state is what makes a resumed run continue the same trajectory: Adam's
// moments and step counts are as much a part of the training state as the weights. Each rule
// flattens one parameter's state into named tensors and counters (PyTorch's `state_dict` field
// names), and rebuilds it from them, checking every field against the parameter.

/// One parameter's optimiser state as a checkpoint stores it: tensors (shaped like the parameter)
/// and whole-number counters, each under the field name PyTorch's `optimizer.state_dict()` uses
/// (`exp_avg`, `step`, `momentum_buffer`, …).
public struct SavedOptimizerState<Scalar: TensorScalar>: Equatable, Sendable {
  /// The state's tensors by field name, each with the parameter's shape.
  public var tensors: [String: Tensor<Scalar>]
  /// The state's counters by field name (a per-parameter step count, say).
  public var counters: [String: Int]

  /// A saved state with these fields.
  public init(tensors: [String: Tensor<Scalar>] = [:], counters: [String: Int] = [:]) {
    self.tensors = tensors
    self.counters = counters
  }

  /// Whether there is nothing to save (plain SGD keeps no state worth writing).
  public var isEmpty: Bool { tensors.isEmpty && counters.isEmpty }
}

/// Why a saved optimiser state does not fit the optimiser or the model it is restored into.
public enum OptimizerStateError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The state of `parameter` lacks a field its rule needs with these hyper-parameters.
  case missingField(parameter: String, field: String)
  /// The state of `parameter` has a field its rule does not use with these hyper-parameters
  /// (a momentum buffer for SGD without momentum, say): it was saved by a different rule.
  case unexpectedField(parameter: String, field: String)
  /// A state tensor whose shape differs from its parameter's.
  case shapeMismatch(parameter: String, field: String, parameterShape: [Int], savedShape: [Int])
  /// A counter that is negative.
  case invalidCounter(parameter: String, field: String, value: Int)
  /// States saved for a parameter the model does not have.
  case unknownParameters([String])

  /// What does not fit, by parameter and field.
  public var description: String {
    switch self {
    case .missingField(let parameter, let field):
      return "optimizer state: parameter \"\(parameter)\" lacks the field \"\(field)\""
    case .unexpectedField(let parameter, let field):
      return "optimizer state: parameter \"\(parameter)\" has a field \"\(field)\" this optimizer "
        + "does not use (was it saved by a different optimizer or settings?)"
    case .shapeMismatch(let parameter, let field, let parameterShape, let savedShape):
      return "optimizer state: \"\(field)\" of parameter \"\(parameter)\" has shape \(savedShape), "
        + "the parameter \(parameterShape)"
    case .invalidCounter(let parameter, let field, let value):
      return "optimizer state: \"\(field)\" of parameter \"\(parameter)\" is \(value), not ≥ 0"
    case .unknownParameters(let names):
      return "optimizer state: states for parameters the model lacks: "
        + names.joined(separator: ", ")
    }
  }
}

/// An optimiser whose per-parameter state can be saved and restored, so a checkpoint can resume
/// training exactly where it stopped (``TrainingCheckpoint`` writes it next to the weights).
///
/// A rule implements the two conversions for one parameter's state; ``savedStates(of:)`` and
/// ``restoreStates(_:of:)`` apply them to a whole model, by parameter name.
public protocol CheckpointableOptimizer: Optimizer {
  /// `state` as named tensors and counters.
  func saved(_ state: State) -> SavedOptimizerState<Scalar>

  /// The state `saved` describes for `parameter` (named `name`, for errors), checking that every
  /// field the rule needs is there with the parameter's shape and that no other field is.
  func restored(_ saved: SavedOptimizerState<Scalar>, for parameter: Tensor<Scalar>, name: String)
    throws(OptimizerStateError) -> State
}

extension CheckpointableOptimizer {
  /// The saved state of every parameter of `model` that has one, by dotted parameter name
  /// (``namedParameters(of:as:)``); parameters not updated yet, and states with nothing in them,
  /// are left out.
  public func savedStates(of model: Any) -> [String: SavedOptimizerState<Scalar>] {
    var result: [String: SavedOptimizerState<Scalar>] = [:]
    for named in namedParameters(of: model, as: Scalar.self) {
      guard let state = states[named.parameter] else { continue }
      let saved = saved(state)
      if !saved.isEmpty { result[named.name] = saved }
    }
    return result
  }

  /// Replaces every parameter's state with the one in `saved` (by dotted name), forgetting the
  /// states of parameters absent from it, as ``savedStates(of:)`` left them out.
  ///
  /// Everything is checked before anything is assigned, so when this throws the optimiser is
  /// unchanged.
  public func restoreStates(_ saved: [String: SavedOptimizerState<Scalar>], of model: Any)
    throws(OptimizerStateError)
  {
    let parameters = namedParameters(of: model, as: Scalar.self)
    let unknown = Set(saved.keys).subtracting(parameters.map(\.name))
    guard unknown.isEmpty else { throw .unknownParameters(unknown.sorted()) }
    var restored: [(parameter: Parameter<Scalar>, state: State?)] = []
    for named in parameters {
      let state = try saved[named.name].map { (entry) throws(OptimizerStateError) in
        try self.restored(entry, for: named.parameter.value, name: named.name)
      }
      restored.append((named.parameter, state))
    }
    states.removeAll()
    for (parameter, state) in restored { states[parameter] = state }
  }
}

/// Reads the fields of one saved state, checking shapes, and at the end that every field was
/// used: the checks all four rules share.
struct SavedStateReader<Scalar: TensorScalar> {
  private let saved: SavedOptimizerState<Scalar>
  private let shape: TensorShape
  private let name: String
  private var used: Set<String> = []

  init(_ saved: SavedOptimizerState<Scalar>, shape: TensorShape, name: String) {
    self.saved = saved
    self.shape = shape
    self.name = name
  }

  /// The tensor `field`, if the state has it.
  mutating func optionalTensor(_ field: String) throws(OptimizerStateError) -> Tensor<Scalar>? {
    guard let tensor = saved.tensors[field] else { return nil }
    guard tensor.shape == shape else {
      throw .shapeMismatch(
        parameter: name, field: field, parameterShape: Array(shape), savedShape: Array(tensor.shape))
    }
    used.insert(field)
    return tensor
  }

  /// The tensor `field`, which must be present.
  mutating func tensor(_ field: String) throws(OptimizerStateError) -> Tensor<Scalar> {
    guard let tensor = try optionalTensor(field) else {
      throw .missingField(parameter: name, field: field)
    }
    return tensor
  }

  /// The counter `field`, which must be present and non-negative.
  mutating func counter(_ field: String) throws(OptimizerStateError) -> Int {
    guard let value = saved.counters[field] else {
      throw .missingField(parameter: name, field: field)
    }
    guard value >= 0 else { throw .invalidCounter(parameter: name, field: field, value: value) }
    used.insert(field)
    return value
  }

  /// Throws for the first field (in name order) that was not read.
  func finish() throws(OptimizerStateError) {
    let unused = Set(saved.tensors.keys).union(saved.counters.keys).subtracting(used)
    if let field = unused.min() { throw .unexpectedField(parameter: name, field: field) }
  }
}

extension SGD: CheckpointableOptimizer {
  /// `momentum_buffer`, when there is one.
  public func saved(_ state: State) -> SavedOptimizerState<Scalar> {
    SavedOptimizerState(tensors: state.momentumBuffer.map { ["momentum_buffer": $0] } ?? [:])
  }

  /// A state from `momentum_buffer`, which only SGD with momentum may have.
  public func restored(
    _ saved: SavedOptimizerState<Scalar>, for parameter: Tensor<Scalar>, name: String
  ) throws(OptimizerStateError) -> State {
    var reader = SavedStateReader(saved, shape: parameter.shape, name: name)
    let buffer = momentum != 0 ? try reader.optionalTensor("momentum_buffer") : nil
    try reader.finish()
    return State(momentumBuffer: buffer)
  }
}

extension Adam: CheckpointableOptimizer {
  /// `step`, `exp_avg`, `exp_avg_sq` and, with AMSGrad, `max_exp_avg_sq`.
  public func saved(_ state: State) -> SavedOptimizerState<Scalar> {
    var tensors = ["exp_avg": state.firstMoment, "exp_avg_sq": state.secondMoment]
    tensors["max_exp_avg_sq"] = state.maxSecondMoment
    return SavedOptimizerState(tensors: tensors, counters: ["step": state.step])
  }

  /// A state from `step`, `exp_avg`, `exp_avg_sq` and, exactly when AMSGrad is on,
  /// `max_exp_avg_sq`.
  public func restored(
    _ saved: SavedOptimizerState<Scalar>, for parameter: Tensor<Scalar>, name: String
  ) throws(OptimizerStateError) -> State {
    var reader = SavedStateReader(saved, shape: parameter.shape, name: name)
    let state = State(
      step: try reader.counter("step"), firstMoment: try reader.tensor("exp_avg"),
      secondMoment: try reader.tensor("exp_avg_sq"),
      maxSecondMoment: amsgrad ? try reader.tensor("max_exp_avg_sq") : nil)
    try reader.finish()
    return state
  }
}

extension RMSprop: CheckpointableOptimizer {
  /// `square_avg`, and `grad_avg` (centred) and `momentum_buffer` (momentum) where used.
  public func saved(_ state: State) -> SavedOptimizerState<Scalar> {
    var tensors = ["square_avg": state.squareAverage]
    tensors["grad_avg"] = state.gradientAverage
    tensors["momentum_buffer"] = state.momentumBuffer
    return SavedOptimizerState(tensors: tensors)
  }

  /// A state from `square_avg`, with `grad_avg` exactly when centred and `momentum_buffer`
  /// exactly when momentum is on.
  public func restored(
    _ saved: SavedOptimizerState<Scalar>, for parameter: Tensor<Scalar>, name: String
  ) throws(OptimizerStateError) -> State {
    var reader = SavedStateReader(saved, shape: parameter.shape, name: name)
    let state = State(
      squareAverage: try reader.tensor("square_avg"),
      gradientAverage: centered ? try reader.tensor("grad_avg") : nil,
      momentumBuffer: momentum > 0 ? try reader.tensor("momentum_buffer") : nil)
    try reader.finish()
    return state
  }
}

extension Adagrad: CheckpointableOptimizer {
  /// `step` and `sum`.
  public func saved(_ state: State) -> SavedOptimizerState<Scalar> {
    SavedOptimizerState(tensors: ["sum": state.sumOfSquares], counters: ["step": state.step])
  }

  /// A state from `step` and `sum`.
  public func restored(
    _ saved: SavedOptimizerState<Scalar>, for parameter: Tensor<Scalar>, name: String
  ) throws(OptimizerStateError) -> State {
    var reader = SavedStateReader(saved, shape: parameter.shape, name: name)
    let state = State(
      step: try reader.counter("step"), sumOfSquares: try reader.tensor("sum"))
    try reader.finish()
    return state
  }
}
