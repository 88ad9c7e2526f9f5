import Foundation

/// Why a checkpoint does not fit a model.
///
/// Loading checks the whole file against the model before it assigns anything, so when one of
/// these is thrown the model is unchanged. Problems in the file's bytes are reported as
/// ``SafetensorsError`` instead.
public enum CheckpointError: Error, Equatable, Sendable, CustomStringConvertible {
  /// Tensors in the file that name no parameter of the model (sorted), in a strict load.
  case unexpectedParameters([String])
  /// Parameters of the model that the file lacks (in model order), in a strict load.
  case missingParameters([String])
  /// A parameter whose shape in the file differs from its shape in the model.
  case shapeMismatch(name: String, modelShape: [Int], fileShape: [Int])
  /// Two different parameters of the model reach the same dotted name (for example a dictionary
  /// key containing a dot), so a checkpoint could not tell them apart.
  case duplicateParameterName(String)

  /// What does not fit, by name.
  public var description: String {
    switch self {
    case .unexpectedParameters(let names):
      return "checkpoint: the file has tensors the model lacks: \(names.joined(separator: ", ")) "
        + "(load with strict: false to ignore them)"
    case .missingParameters(let names):
      return "checkpoint: the model needs parameters the file lacks: "
        + "\(names.joined(separator: ", ")) (load with strict: false to keep their values)"
    case .shapeMismatch(let name, let modelShape, let fileShape):
      return "checkpoint: parameter \"\(name)\" has shape \(modelShape) in the model but "
        + "\(fileShape) in the file"
    case .duplicateParameterName(let name):
      return "checkpoint: two parameters of the model are both named \"\(name)\""
    }
  }
}

/// What a load did: the names assigned, and the names it skipped in a non-strict load (PyTorch's
/// `load_state_dict` returns the same two lists).
public struct CheckpointLoadReport: Equatable, Sendable {
  /// Parameters assigned from the file, in model order.
  public let loaded: [String]
  /// Parameters of the model the file lacks, left as they were (in model order).
  public let missing: [String]
  /// Tensors in the file that name no parameter of the model, ignored (sorted).
  public let unexpected: [String]
}

/// Saves every parameter of `model` with scalar type `Scalar` — frozen ones too — to a safetensors
/// file, each under its dotted name (``namedParameters(of:as:)``), atomically.
///
/// The names match PyTorch's `state_dict` when the model's properties are named like the PyTorch
/// module's attributes, so the file loads with `safetensors.torch.load_file` and
/// `load_state_dict`. `metadata` goes to the header's `__metadata__`.
public func saveParameters<Scalar: TensorScalar>(
  of model: Any, to url: URL, as _: Scalar.Type = Scalar.self, metadata: [String: String] = [:]
) throws {
  var tensors: [String: Tensor<Scalar>] = [:]
  for named in namedParameters(of: model, as: Scalar.self) {
    guard tensors.updateValue(named.parameter.value, forKey: named.name) == nil else {
      throw CheckpointError.duplicateParameterName(named.name)
    }
  }
  try Safetensors.write(tensors, metadata: metadata, to: url)
}

/// Loads the parameters of `model` with scalar type `Scalar` from a safetensors file, by dotted
/// name, converting the file's elements (`F16`, `BF16`, `F32`, `F64`) to `Scalar`.
///
/// Like PyTorch's `load_state_dict(strict:)`: when `strict`, the file's names and the model's must
/// be the same set, or ``CheckpointError/unexpectedParameters(_:)`` /
/// ``CheckpointError/missingParameters(_:)`` is thrown; otherwise the extra or absent names are
/// skipped and listed in the report. A shape that differs is an error either way. Everything is
/// checked and converted before the first assignment, so a load that throws leaves the model
/// unchanged.
@discardableResult
public func loadParameters<Scalar: TensorScalar>(
  into model: Any, from url: URL, as _: Scalar.Type = Scalar.self, strict: Bool = true
) throws -> CheckpointLoadReport {
  let file = try Safetensors.read(from: url)
  let plan = try planParameterLoad(
    into: model, from: file, tensorNames: file.names, strict: strict, as: Scalar.self)
  plan.assign()
  return plan.report
}

/// The checked and converted new values of a model's parameters, not yet assigned: what a load
/// has verified before it changes anything.
struct ParameterLoadPlan<Scalar: TensorScalar> {
  /// Each parameter found in the file, with its value from the file.
  let updates: [(parameter: Parameter<Scalar>, value: Tensor<Scalar>)]
  /// What the load assigns, skips and ignores.
  let report: CheckpointLoadReport

  /// Assigns every value to its parameter.
  func assign() {
    for update in updates { update.parameter.value = update.value }
  }
}

/// Checks the parameters of `model` against the tensors of `file` named in `tensorNames` (the
/// file's other tensors are not parameters, such as a training checkpoint's optimiser state) and
/// converts them, with ``loadParameters(into:from:as:strict:)``'s rules; assigns nothing.
func planParameterLoad<Scalar: TensorScalar>(
  into model: Any, from file: SafetensorsFile, tensorNames: [String], strict: Bool,
  as _: Scalar.Type
) throws -> ParameterLoadPlan<Scalar> {
  let parameters = namedParameters(of: model, as: Scalar.self)
  var modelNames: Set<String> = []
  for named in parameters {
    guard modelNames.insert(named.name).inserted else {
      throw CheckpointError.duplicateParameterName(named.name)
    }
  }
  let fileNames = Set(tensorNames)
  let unexpected = tensorNames.filter { !modelNames.contains($0) }.sorted(by: Safetensors.byteOrder)
  let missing = parameters.map(\.name).filter { !fileNames.contains($0) }
  if strict && !unexpected.isEmpty { throw CheckpointError.unexpectedParameters(unexpected) }
  if strict && !missing.isEmpty { throw CheckpointError.missingParameters(missing) }

  var updates: [(parameter: Parameter<Scalar>, value: Tensor<Scalar>)] = []
  for named in parameters {
    guard fileNames.contains(named.name), let entry = file.entries[named.name] else { continue }
    guard entry.shape == Array(named.parameter.shape) else {
      throw CheckpointError.shapeMismatch(
        name: named.name, modelShape: Array(named.parameter.shape), fileShape: entry.shape)
    }
    updates.append((named.parameter, try file.tensor(named: named.name, as: Scalar.self)))
  }
  return ParameterLoadPlan(
    updates: updates,
    report: CheckpointLoadReport(
      loaded: parameters.map(\.name).filter { fileNames.contains($0) }, missing: missing,
      unexpected: unexpected))
}
