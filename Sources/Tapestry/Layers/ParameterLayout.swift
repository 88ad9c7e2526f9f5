// Where the parameters of a model type sit inside its values, found once per type, so that
// `namedParameters(of:)` does not walk the model with `Mirror` on every training step.
//
// Why: a `Mirror` looks up every stored property's type by its mangled name each time its
// children are read. For an LSTM cell that was about 87,000 instructions per call, nearly 9% of a
// whole W1 S training step (100 time steps) measured with callgrind. The standard library's
// field enumeration (`_forEachField`, the reflection SPI that `Mirror` itself stands on) gives
// each stored property's name, byte offset and type; for models whose parameters are held
// inline — structs of structs, parameters and optional parameters, and plain values — the
// offsets are the same in every value of the type, so they are computed once and the parameters
// are then read straight from the value's bytes. Anything else (classes, arrays, dictionaries,
// existentials, enums, tuples, closures) could change what it holds without changing the
// value's bytes, and `weak` or `unowned` properties are not strong references to load, so those
// models keep the `Mirror` walk.

import Foundation
@_spi(Reflection) import Swift

/// A parameter stored inline in a model: its dotted name and where its reference lies.
struct ParameterSlot: Sendable {
  /// The dotted path, as the `Mirror` walk names it.
  let name: String
  /// The byte offset of the reference (or optional reference) in the model's value.
  let offset: Int
  /// Whether the property is an optional parameter.
  let isOptional: Bool
}

/// The parameter slots of each model type that has a fixed layout, computed on first use.
final class ParameterLayouts: @unchecked Sendable {
  static let shared = ParameterLayouts()
  private struct Key: Hashable {
    let model: ObjectIdentifier
    let scalar: ObjectIdentifier
  }
  /// `nil` for a type whose parameters cannot be read at fixed offsets.
  private var layouts: [Key: [ParameterSlot]?] = [:]
  private let lock = NSLock()

  /// The slots of the `Parameter<Scalar>`s of `Model`, or `nil` when they cannot be read from
  /// fixed offsets (the caller then walks the value with `Mirror`).
  func slots<Model, Scalar: TensorScalar>(of _: Model.Type, as _: Scalar.Type) -> [ParameterSlot]? {
    let key = Key(model: ObjectIdentifier(Model.self), scalar: ObjectIdentifier(Scalar.self))
    lock.lock()
    defer { lock.unlock() }
    if let known = layouts[key] { return known }
    let found = Self.computeSlots(of: Model.self, as: Scalar.self)
    layouts[key] = .some(found)
    return found
  }

  /// Wraps the model so that the field enumeration reports the model's own kind (only a
  /// struct has a fixed layout) at offset 0.
  private struct Root<Model> {
    let model: Model
  }

  /// Types that hold no parameter of the scalar type asked for (checked after it), and whose
  /// internals (buffers, bridged storage) need not be looked into.
  private static let leaves: Set<ObjectIdentifier> = [
    ObjectIdentifier(Int.self), ObjectIdentifier(Int8.self), ObjectIdentifier(Int16.self),
    ObjectIdentifier(Int32.self), ObjectIdentifier(Int64.self), ObjectIdentifier(UInt.self),
    ObjectIdentifier(UInt8.self), ObjectIdentifier(UInt16.self), ObjectIdentifier(UInt32.self),
    ObjectIdentifier(UInt64.self), ObjectIdentifier(Float.self), ObjectIdentifier(Double.self),
    ObjectIdentifier(Bool.self), ObjectIdentifier(String.self), ObjectIdentifier(TensorShape.self),
    ObjectIdentifier(Tensor<Float>.self), ObjectIdentifier(Tensor<Double>.self),
    // The parameters of the other scalar type, which a query for one type passes over.
    ObjectIdentifier(Parameter<Float>.self), ObjectIdentifier(Parameter<Float>?.self),
    ObjectIdentifier(Parameter<Double>.self), ObjectIdentifier(Parameter<Double>?.self),
  ]

  private static func computeSlots<Model, Scalar: TensorScalar>(
    of _: Model.Type, as _: Scalar.Type
  ) -> [ParameterSlot]? {
    let parameter = ObjectIdentifier(Parameter<Scalar>.self)
    let optionalParameter = ObjectIdentifier(Parameter<Scalar>?.self)
    var slots: [ParameterSlot] = []
    func visitFields(of type: Any.Type, at base: Int, path: [String]) -> Bool {
      // The field enumeration reports a `weak` or `unowned` property as the plain type, but its
      // storage is not a strong reference and must not be loaded as one; the key-path
      // enumeration refuses such types, so they keep the `Mirror` walk.
      guard _openExistential(type, do: hasOnlyStrongFields) else { return false }
      return _forEachField(of: type, options: []) { cName, offset, fieldType, kind in
        let label = String(cString: cName)
        let name = path + [label.hasPrefix("_") ? String(label.dropFirst()) : label]
        let id = ObjectIdentifier(fieldType)
        if id == parameter || id == optionalParameter {
          slots.append(
            ParameterSlot(
              name: name.joined(separator: "."), offset: base + offset,
              isOptional: id == optionalParameter))
          return true
        }
        if leaves.contains(id) { return true }
        guard kind == .struct else { return false }
        return visitFields(of: fieldType, at: base + offset, path: name)
      }
    }
    func hasOnlyStrongFields<Value>(_: Value.Type) -> Bool {
      _forEachFieldWithKeyPath(of: Value.self, options: []) { _, _ in true }
    }
    var isStruct = false
    _ = _forEachField(of: Root<Model>.self, options: []) { _, _, _, kind in
      isStruct = kind == .struct
      return true
    }
    guard isStruct, visitFields(of: Model.self, at: 0, path: []) else { return nil }
    return slots
  }
}

/// The parameters of `model` read at the slots of its type, each once, or `nil` when its type
/// has no fixed layout.
func inlineNamedParameters<Model, Scalar: TensorScalar>(
  of model: Model, as _: Scalar.Type
) -> [NamedParameter<Scalar>]? {
  guard let slots = ParameterLayouts.shared.slots(of: Model.self, as: Scalar.self) else {
    return nil
  }
  var found: [NamedParameter<Scalar>] = []
  found.reserveCapacity(slots.count)
  withUnsafeBytes(of: model) { bytes in
    for slot in slots {
      let parameter =
        slot.isOptional
        ? bytes.load(fromByteOffset: slot.offset, as: Parameter<Scalar>?.self)
        : bytes.load(fromByteOffset: slot.offset, as: Parameter<Scalar>.self)
      guard let parameter,
        !found.contains(where: { $0.parameter === parameter })
      else { continue }
      found.append(NamedParameter(name: slot.name, parameter: parameter))
    }
  }
  return found
}
