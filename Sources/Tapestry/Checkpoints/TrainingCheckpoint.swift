import Foundation

// A training checkpoint is one safetensors file holding everything a run needs to continue as if
// it had never stopped: the weights (under their plain names, so `loadParameters(strict: false)`
// and `safetensors.torch.load_file` read them as they read any checkpoint), the optimiser's
// per-parameter state, tensors of the training loop itself (a recurrent state carried across
// batches, the loss so far) and, in the header's metadata, the step counts and the run's settings.
//
// Layout:
//   tensors   <parameter>                       the weights
//             optimizer.<parameter>.<field>     optimiser state (`exp_avg`, `momentum_buffer`, …)
//             training.<name>                   the caller's loop tensors
//   metadata  tapestry.checkpoint = training-1  what the file is
//             tapestry.step                     the training step reached
//             tapestry.optimizer                the optimiser's type, `Adam<Float>`
//             tapestry.optimizer.step           its update count
//             tapestry.optimizer.<parameter>.<field>   its per-parameter counters
//             <key>                             the caller's metadata (the run's settings)

/// Why a file cannot resume training, beyond the problems ``SafetensorsError`` (the bytes),
/// ``CheckpointError`` (the weights) and ``OptimizerStateError`` (the optimiser state) report.
public enum TrainingCheckpointError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The file is a valid safetensors file but not a training checkpoint (no format marker): a
  /// plain weights file, say.
  case notATrainingCheckpoint(path: String)
  /// The file is a training checkpoint of a format version this build cannot read.
  case unsupportedFormat(String)
  /// A metadata entry Tapestry writes is missing or not what it should be (a step count that is
  /// not a number, say): the file was edited or damaged.
  case malformedMetadata(key: String, value: String?)
  /// The checkpoint holds the state of a different optimiser than the one resuming.
  case optimizerMismatch(checkpoint: String, resuming: String)
  /// A tensor that is neither a parameter of the model, nor optimiser state, nor training data.
  case unexpectedTensors([String])
  /// A training tensor the caller needs is absent (`fileShape` nil) or has another shape.
  case trainingTensorMismatch(name: String, expectedShape: [Int], fileShape: [Int]?)
  /// A name the caller passed that the layout reserves for Tapestry (a metadata key starting
  /// with `tapestry.`, a parameter starting with `optimizer.` or `training.`).
  case reservedName(String)

  /// What is wrong, by name.
  public var description: String {
    switch self {
    case .notATrainingCheckpoint(let path):
      return "\(path) is not a training checkpoint (no \(TrainingCheckpoint.formatKey) entry in "
        + "its metadata); a weights-only file loads with loadParameters"
    case .unsupportedFormat(let format):
      return "training checkpoint: unsupported format \"\(format)\", this build reads "
        + "\"\(TrainingCheckpoint.format)\""
    case .malformedMetadata(let key, let value?):
      return "training checkpoint: metadata \"\(key)\" has the invalid value \"\(value)\""
    case .malformedMetadata(let key, nil):
      return "training checkpoint: metadata \"\(key)\" is missing"
    case .optimizerMismatch(let checkpoint, let resuming):
      return "training checkpoint: it holds \(checkpoint) state, but \(resuming) is resuming"
    case .unexpectedTensors(let names):
      return "training checkpoint: tensors that belong to nothing being restored: "
        + names.joined(separator: ", ")
    case .trainingTensorMismatch(let name, let expectedShape, let fileShape?):
      return "training checkpoint: training tensor \"\(name)\" has shape \(fileShape), "
        + "expected \(expectedShape)"
    case .trainingTensorMismatch(let name, _, nil):
      return "training checkpoint: the training tensor \"\(name)\" is missing"
    case .reservedName(let name):
      return "training checkpoint: the name \"\(name)\" is reserved for Tapestry's own entries"
    }
  }
}

/// A checkpoint from which training resumes exactly: weights, optimiser state, step count, the
/// training loop's own tensors and the run's settings, in one safetensors file written
/// atomically.
///
/// ```swift
/// try TrainingCheckpoint.write(
///   model: model, optimizer: adam, step: step, trainingTensors: ["hidden": carry.state],
///   metadata: ["hidden_size": "128"], to: url)
/// // later, in a new process, with a model and optimiser built the same way:
/// let checkpoint = try TrainingCheckpoint.read(from: url)
/// let tensors = try checkpoint.restore(
///   into: model, optimizer: adam, trainingTensorShapes: ["hidden": [1, 32, 128]])
/// ```
///
/// Random number generators need no entry when the loop derives each step's randomness from the
/// seed and the step number, as `tapestry train` does; then the step is the data position.
public struct TrainingCheckpoint: Sendable {
  /// The metadata key that marks a training checkpoint, and its value.
  public static let formatKey = "tapestry.checkpoint"
  /// The format written and read: version 1 of the layout above.
  public static let format = "training-1"
  static let stepKey = "tapestry.step"
  static let optimizerKey = "tapestry.optimizer"
  static let optimizerStepKey = "tapestry.optimizer.step"
  static let optimizerPrefix = "optimizer."
  static let optimizerCounterPrefix = "tapestry.optimizer."
  static let trainingPrefix = "training."
  static let reservedMetadataPrefix = "tapestry."

  /// The training step the checkpoint was written at.
  public let step: Int
  /// The caller's metadata (the run's settings), without Tapestry's own entries.
  public let metadata: [String: String]
  /// The file, validated as safetensors; read again by ``restore(into:optimizer:trainingTensorShapes:)``.
  public let file: SafetensorsFile

  /// Reads and validates the file at `url` as a training checkpoint: safetensors bytes, the
  /// format marker and the step count. The weights and optimiser state are checked against a
  /// model only by ``restore(into:optimizer:trainingTensorShapes:)``.
  ///
  /// Throws ``SafetensorsError`` for a missing, unreadable or corrupt file, and
  /// ``TrainingCheckpointError`` for a valid file that is not a training checkpoint.
  public static func read(from url: URL) throws -> TrainingCheckpoint {
    let file = try Safetensors.read(from: url)
    guard let format = file.metadata[formatKey] else {
      throw TrainingCheckpointError.notATrainingCheckpoint(path: url.path)
    }
    guard format == Self.format else { throw TrainingCheckpointError.unsupportedFormat(format) }
    return TrainingCheckpoint(
      step: try counter(stepKey, in: file.metadata),
      metadata: file.metadata.filter { !$0.key.hasPrefix(reservedMetadataPrefix) }, file: file)
  }

  /// Writes `model`'s parameters, `optimizer`'s state, `step`, `trainingTensors` (under
  /// `training.<name>`) and `metadata` to `url`, atomically (see ``Safetensors/write(_:metadata:to:)``).
  ///
  /// Throws ``TrainingCheckpointError/reservedName(_:)`` for a metadata key starting with
  /// `tapestry.` or a parameter name starting with `optimizer.` or `training.`,
  /// ``CheckpointError/duplicateParameterName(_:)`` as ``saveParameters(of:to:as:metadata:)``
  /// does, and ``SafetensorsError/io(path:reason:)`` when the file cannot be written.
  public static func write<Optimizer: CheckpointableOptimizer>(
    model: Any, optimizer: Optimizer, step: Int,
    trainingTensors: [String: Tensor<Optimizer.Scalar>] = [:], metadata: [String: String] = [:],
    to url: URL
  ) throws {
    precondition(step >= 0, "TrainingCheckpoint.write: step \(step) must be ≥ 0")
    if let key = metadata.keys.sorted().first(where: { $0.hasPrefix(reservedMetadataPrefix) }) {
      throw TrainingCheckpointError.reservedName(key)
    }
    var tensors: [String: Tensor<Optimizer.Scalar>] = [:]
    for named in namedParameters(of: model, as: Optimizer.Scalar.self) {
      if named.name.hasPrefix(optimizerPrefix) || named.name.hasPrefix(trainingPrefix) {
        throw TrainingCheckpointError.reservedName(named.name)
      }
      guard tensors.updateValue(named.parameter.value, forKey: named.name) == nil else {
        throw CheckpointError.duplicateParameterName(named.name)
      }
    }
    var allMetadata = metadata
    allMetadata[formatKey] = format
    allMetadata[stepKey] = String(step)
    allMetadata[optimizerKey] = optimizerName(optimizer)
    allMetadata[optimizerStepKey] = String(optimizer.step)
    for (parameter, saved) in optimizer.savedStates(of: model) {
      for (field, tensor) in saved.tensors {
        tensors[optimizerPrefix + parameter + "." + field] = tensor
      }
      for (field, value) in saved.counters {
        allMetadata[optimizerCounterPrefix + parameter + "." + field] = String(value)
      }
    }
    for (name, tensor) in trainingTensors { tensors[trainingPrefix + name] = tensor }
    try Safetensors.write(tensors, metadata: allMetadata, to: url)
  }

  /// Restores `model`'s parameters and `optimizer`'s state and step count from the checkpoint,
  /// and returns its training tensors (without the `training.` prefix), after checking those
  /// named in `trainingTensorShapes` are present with those shapes.
  ///
  /// Everything is checked before anything is assigned, so when this throws the model and the
  /// optimiser are unchanged. Throws ``CheckpointError`` for weights whose names or shapes do not
  /// fit the model (a strict load), ``OptimizerStateError`` for optimiser state that does not fit
  /// it, and ``TrainingCheckpointError`` for another optimiser's state, a training tensor that is
  /// missing or misshapen, a tensor that belongs nowhere, or damaged metadata.
  @discardableResult
  public func restore<Optimizer: CheckpointableOptimizer>(
    into model: Any, optimizer: Optimizer, trainingTensorShapes: [String: [Int]] = [:]
  ) throws -> [String: Tensor<Optimizer.Scalar>] {
    typealias Scalar = Optimizer.Scalar
    let saver = file.metadata[Self.optimizerKey]
    guard saver == Self.optimizerName(optimizer) else {
      throw TrainingCheckpointError.optimizerMismatch(
        checkpoint: saver ?? "no optimizer", resuming: Self.optimizerName(optimizer))
    }
    let optimizerStep = try Self.counter(Self.optimizerStepKey, in: file.metadata)

    let parameterNames = file.names.filter {
      !$0.hasPrefix(Self.optimizerPrefix) && !$0.hasPrefix(Self.trainingPrefix)
    }
    let plan = try planParameterLoad(
      into: model, from: file, tensorNames: parameterNames, strict: true, as: Scalar.self)

    var saved: [String: SavedOptimizerState<Scalar>] = [:]
    var claimed: Set<String> = [Self.optimizerStepKey]
    for named in namedParameters(of: model, as: Scalar.self) {
      var state = SavedOptimizerState<Scalar>()
      let prefix = Self.optimizerPrefix + named.name + "."
      for name in file.names where name.hasPrefix(prefix) {
        state.tensors[String(name.dropFirst(prefix.count))] = try file.tensor(
          named: name, as: Scalar.self)
        claimed.insert(name)
      }
      let counterPrefix = Self.optimizerCounterPrefix + named.name + "."
      for key in file.metadata.keys where key.hasPrefix(counterPrefix) {
        state.counters[String(key.dropFirst(counterPrefix.count))] = try Self.counter(
          key, in: file.metadata)
        claimed.insert(key)
      }
      if !state.isEmpty { saved[named.name] = state }
    }
    let unclaimed = file.names.filter {
      $0.hasPrefix(Self.optimizerPrefix) && !claimed.contains($0)
    }
    guard unclaimed.isEmpty else { throw TrainingCheckpointError.unexpectedTensors(unclaimed) }
    // A counter of a parameter the model lacks: the weights matched, so the file was edited.
    if let key = file.metadata.keys.sorted().first(where: {
      $0.hasPrefix(Self.optimizerCounterPrefix) && !claimed.contains($0)
    }) {
      throw TrainingCheckpointError.malformedMetadata(key: key, value: file.metadata[key])
    }

    var trainingTensors: [String: Tensor<Scalar>] = [:]
    for name in file.names where name.hasPrefix(Self.trainingPrefix) {
      trainingTensors[String(name.dropFirst(Self.trainingPrefix.count))] = try file.tensor(
        named: name, as: Scalar.self)
    }
    for (name, shape) in trainingTensorShapes.sorted(by: { $0.key < $1.key }) {
      guard trainingTensors[name].map({ Array($0.shape) }) == shape else {
        throw TrainingCheckpointError.trainingTensorMismatch(
          name: name, expectedShape: shape, fileShape: trainingTensors[name].map { Array($0.shape) })
      }
    }

    // The optimiser checks every state before it assigns any; the weights were checked above.
    try optimizer.restoreStates(saved, of: model)
    optimizer.step = optimizerStep
    plan.assign()
    return trainingTensors
  }

  /// The name recorded for `optimizer`'s rule: its type, `Adam<Float>`.
  static func optimizerName(_ optimizer: some CheckpointableOptimizer) -> String {
    String(describing: type(of: optimizer))
  }

  /// The non-negative whole number stored under `key`.
  static func counter(_ key: String, in metadata: [String: String]) throws -> Int {
    guard let text = metadata[key], let value = Int(text), value >= 0 else {
      throw TrainingCheckpointError.malformedMetadata(key: key, value: metadata[key])
    }
    return value
  }
}
