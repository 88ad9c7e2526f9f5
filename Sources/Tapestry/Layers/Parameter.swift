/// A trainable tensor owned by a layer: a reference-type box around a ``Tensor`` value.
///
/// Layers hold their weights in `Parameter`s so that a model — any struct or class of layers,
/// arrays and optionals of layers — needs no boilerplate: ``parameters(of:)`` finds every box by
/// reflection and names it by its path (`encoder.layers.0.weight`), and optimisers write new values
/// through the box. As in PyTorch, parameters have identity: copying a layer shares its
/// parameters (call ``Parameter/copy()`` or build a new layer for independent weights).
///
/// A frozen parameter (`isFrozen`) is still used by the forward pass but receives no gradient and
/// no optimiser update: an echo state network's reservoir is a layer with frozen parameters.
public final class Parameter<Scalar: TensorScalar> {
  // Unchecked: a cell reads its weights at every time step, and each read of a class's stored
  // `var` otherwise calls the runtime's exclusivity check (~75 instructions, four per peephole
  // LSTM step: 0.4% of W4 S).
  /// The current value.
  @exclusivity(unchecked) public var value: Tensor<Scalar>
  /// Excluded from gradients and optimiser updates when true.
  public var isFrozen: Bool

  /// A parameter holding `value` (recording links are dropped: a parameter is a leaf).
  public init(_ value: Tensor<Scalar>, isFrozen: Bool = false) {
    self.value = withoutDerivative(at: value)
    self.isFrozen = isFrozen
  }

  /// The shape of the current value.
  public var shape: TensorShape { value.shape }

  /// A new, independent parameter with the same value and frozen state.
  public func copy() -> Parameter {
    Parameter(value, isFrozen: isFrozen)
  }
}

/// A parameter found in a model, with its dotted path from the model's root.
public struct NamedParameter<Scalar: TensorScalar> {
  /// The path of stored-property names and array indices, joined with dots, like PyTorch's
  /// `named_parameters()`: `layers.0.weight`.
  public let name: String
  /// The parameter itself (a reference: writing its value updates the model).
  public let parameter: Parameter<Scalar>
}

/// Every parameter reachable from `model` through stored properties, arrays, dictionaries with
/// string keys and optionals, in declaration order, each once (the first path that reaches it
/// names it), frozen ones included.
///
/// Names come from property labels: a property `weight` in a property `encoder` is
/// `encoder.weight`; element 2 of an array `layers` is `layers.2`. Property-wrapper storage (`_x`)
/// is named after the wrapped property (`x`).
///
/// A model held inline (structs of structs, parameters, optional parameters, numbers, strings,
/// tensors: the built-in cells) is read at byte offsets found once per type, since walking it with
/// `Mirror` on every training step cost as much as a tenth of a small model's step; any other
/// model is walked with `Mirror` each time.
public func namedParameters<Scalar>(of model: Any, as _: Scalar.Type = Scalar.self)
  -> [NamedParameter<Scalar>]
{
  if let inline = inlineNamedParameters(of: model, as: Scalar.self) { return inline }
  var found: [NamedParameter<Scalar>] = []
  var seen: Set<ObjectIdentifier> = []
  var visitedObjects: Set<ObjectIdentifier> = []
  func visit(_ value: Any, path: [String]) {
    if let parameter = value as? Parameter<Scalar> {
      if seen.insert(ObjectIdentifier(parameter)).inserted {
        found.append(NamedParameter(name: path.joined(separator: "."), parameter: parameter))
      }
      return
    }
    let mirror = Mirror(reflecting: value)
    if mirror.displayStyle == .class {
      // A class graph can contain cycles (a layer pointing back at its parent).
      guard visitedObjects.insert(ObjectIdentifier(value as AnyObject)).inserted else { return }
    }
    if mirror.displayStyle == .dictionary {
      let entries = mirror.children.compactMap { child -> (String, Any)? in
        let pair = Mirror(reflecting: child.value).children.map(\.value)
        guard pair.count == 2, let key = pair[0] as? String else { return nil }
        return (key, pair[1])
      }
      for (key, element) in entries.sorted(by: { $0.0 < $1.0 }) {
        visit(element, path: path + [key])
      }
      return
    }
    var mirrors = [mirror]
    var superclass = mirror.superclassMirror
    while let next = superclass {
      mirrors.insert(next, at: 0)
      superclass = next.superclassMirror
    }
    for level in mirrors {
      for (offset, child) in level.children.enumerated() {
        switch level.displayStyle {
        case .collection, .set: visit(child.value, path: path + [String(offset)])
        case .optional: visit(child.value, path: path)
        default:
          let label = child.label ?? String(offset)
          visit(
            child.value, path: path + [label.hasPrefix("_") ? String(label.dropFirst()) : label])
        }
      }
    }
  }
  visit(model, path: [])
  return found
}

/// The trainable (not frozen) parameters of `model`, by name; see ``namedParameters(of:as:)``.
public func trainableParameters<Scalar>(of model: Any, as _: Scalar.Type = Scalar.self)
  -> [NamedParameter<Scalar>]
{
  namedParameters(of: model, as: Scalar.self).filter { !$0.parameter.isFrozen }
}

/// The gradient of a loss with respect to each trainable parameter of a model, by name.
///
/// What ``valueWithGradient(at:of:)`` returns for a model, and what optimisers consume.
public struct ParameterGradients<Scalar: TensorScalar> {
  /// The parameters and their gradients, in the model's declaration order.
  public var entries: [(name: String, parameter: Parameter<Scalar>, gradient: Tensor<Scalar>)]

  /// The gradient of the parameter with this dotted name, if the model has one.
  public subscript(name: String) -> Tensor<Scalar>? {
    entries.first { $0.name == name }?.gradient
  }

  /// The parameter names, in order.
  public var names: [String] { entries.map(\.name) }
}

/// The value of `loss(model)` and its gradient with respect to every trainable parameter of
/// `model`, found by reflection (see ``namedParameters(of:as:)``).
///
/// Each trainable parameter is watched on a fresh tape for the duration of `loss` and restored
/// afterwards, so the model is unchanged when this returns. Frozen parameters act as constants.
public func valueWithGradient<Model, Scalar>(
  at model: Model, of loss: (Model) -> Tensor<Scalar>
) -> (value: Tensor<Scalar>, gradient: ParameterGradients<Scalar>) {
  let trainable = trainableParameters(of: model, as: Scalar.self)
  let originals = trainable.map(\.parameter.value)
  defer { for (named, original) in zip(trainable, originals) { named.parameter.value = original } }
  let (value, gradients) = valueWithGradients(at: originals) { watched in
    for (named, tensor) in zip(trainable, watched) { named.parameter.value = tensor }
    return loss(model)
  }
  return (
    value,
    ParameterGradients(
      entries: zip(trainable, gradients).map { ($0.name, $0.parameter, $1) })
  )
}
