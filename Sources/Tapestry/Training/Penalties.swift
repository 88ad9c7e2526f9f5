// Weight penalties as differentiable loss terms: add one to a loss inside the closure given to
// `valueWithGradient(at:of:)` and its gradient joins the loss's.
//
// They read each `Parameter.value` when called, so call them inside the loss closure, where
// the values are the ones being watched; a penalty computed outside would be a constant.
//
// Relation to the optimisers' `weightDecay` λ: SGD's decay adds λθ to the gradient, which is the
// gradient of `l2Penalty(weight: λ / 2)`. A penalty, unlike weight decay, can be limited to
// chosen parameters (the recurrent weights only, say) and shows up in the loss value.

/// λ Σ|θ| over the trainable parameters of `model`, or over the parameters named in `names`
/// (dotted names as in ``namedParameters(of:as:)``, frozen ones allowed).
///
/// The gradient is λ·sign(θ), 0 at θ = 0 (see ``abs(_:)``): it pushes weights to exactly zero,
/// making them sparse. Traps if a name matches no parameter of `model`.
public func l1Penalty<Scalar>(of model: Any, weight: Scalar, only names: [String]? = nil)
  -> Tensor<Scalar>
{
  l1Penalty(on: penalised(model, names, in: "l1Penalty(of:weight:only:)"), weight: weight)
}

/// λ Σθ² over the trainable parameters of `model`, or over the parameters named in `names`
/// (dotted names as in ``namedParameters(of:as:)``, frozen ones allowed).
///
/// The gradient is 2λθ: large weights shrink in proportion to their size. Traps if a name
/// matches no parameter of `model`.
public func l2Penalty<Scalar>(of model: Any, weight: Scalar, only names: [String]? = nil)
  -> Tensor<Scalar>
{
  l2Penalty(on: penalised(model, names, in: "l2Penalty(of:weight:only:)"), weight: weight)
}

/// λ Σ|θ| over the given parameters (gradient λ·sign(θ)); 0 for none.
public func l1Penalty<Scalar>(on parameters: [Parameter<Scalar>], weight: Scalar)
  -> Tensor<Scalar>
{
  parameters.map { abs($0.value).sum() }.reduce(Tensor(0), +) * weight
}

/// λ Σθ² over the given parameters (gradient 2λθ); 0 for none.
public func l2Penalty<Scalar>(on parameters: [Parameter<Scalar>], weight: Scalar)
  -> Tensor<Scalar>
{
  parameters.map { square($0.value).sum() }.reduce(Tensor(0), +) * weight
}

/// The trainable parameters of `model`, or those named in `names` (trapping, with the names
/// that exist, on one that does not: a typo would otherwise silently penalise nothing).
private func penalised<Scalar>(_ model: Any, _ names: [String]?, in function: String)
  -> [Parameter<Scalar>]
{
  guard let names else { return trainableParameters(of: model, as: Scalar.self).map(\.parameter) }
  let all = namedParameters(of: model, as: Scalar.self)
  return names.map { name in
    guard let found = all.first(where: { $0.name == name }) else {
      preconditionFailure(
        "\(function): no parameter named '\(name)'; the model has \(all.map(\.name))")
    }
    return found.parameter
  }
}
