// The entry points follow Swift's differentiable-programming spelling (`gradient(at:of:)`,
// `valueWithGradient(at:of:)`), all built on one function, `valueWithGradients(at:of:)`.

/// The value of `f` at `points` and the gradient of that (one-element) value with respect to each
/// point.
///
/// Calls may nest: inside another differentiation the gradients are themselves recorded, so they
/// can be differentiated again (gradients of gradients, Hessian-vector products). Outside one, the
/// backward pass is not recorded and the tape is freed on return.
///
/// Traps if `f` returns a tensor with more than one element: reduce it (`sum()`, `mean()`) first,
/// or use ``valueWithPullback(at:seed:of:)`` for a vector-Jacobian product.
public func valueWithGradients<Scalar>(
  at points: [Tensor<Scalar>], of f: ([Tensor<Scalar>]) -> Tensor<Scalar>
) -> (value: Tensor<Scalar>, gradients: [Tensor<Scalar>]) {
  let (value, gradients) = valueWithPullback(at: points, seed: nil, of: f)
  return (value, gradients)
}

/// The value of `f` at `points` and the vector-Jacobian product `seedᵀ · ∂f/∂point` for each
/// point; with `seed == nil`, `f` must return one element and the seed is 1.
public func valueWithPullback<Scalar>(
  at points: [Tensor<Scalar>], seed: Tensor<Scalar>?, of f: ([Tensor<Scalar>]) -> Tensor<Scalar>
) -> (value: Tensor<Scalar>, gradients: [Tensor<Scalar>]) {
  if let outer = Tape<Scalar>.active, outer.isRecording {
    let variables = points.map { outer.watch($0) }
    let value = f(variables)
    let gradients = outer.gradients(
      of: value, at: variables, seed: seed, createGraph: true, retainTape: true)
    return (value, gradients)
  }
  let tape = Tape<Scalar>()
  return tape.record {
    let variables = points.map { tape.watch($0) }
    let value = f(variables)
    if seed == nil {
      precondition(
        value.count == 1,
        "gradient(at:of:): the function returned shape \(value.shape); reduce it to one element")
    }
    let gradients = tape.gradients(of: value, at: variables, seed: seed)
    return (withoutDerivative(at: value), gradients)
  }
}

/// The value of `f` at `x` and the gradient of that value with respect to `x`.
public func valueWithGradient<Scalar>(
  at x: Tensor<Scalar>, of f: (Tensor<Scalar>) -> Tensor<Scalar>
) -> (value: Tensor<Scalar>, gradient: Tensor<Scalar>) {
  let (value, gradients) = valueWithGradients(at: [x]) { f($0[0]) }
  return (value, gradients[0])
}

/// The value of `f` at `(x, y)` and its gradients with respect to `x` and `y`.
public func valueWithGradient<Scalar>(
  at x: Tensor<Scalar>, _ y: Tensor<Scalar>,
  of f: (Tensor<Scalar>, Tensor<Scalar>) -> Tensor<Scalar>
) -> (value: Tensor<Scalar>, gradient: (Tensor<Scalar>, Tensor<Scalar>)) {
  let (value, gradients) = valueWithGradients(at: [x, y]) { f($0[0], $0[1]) }
  return (value, (gradients[0], gradients[1]))
}

/// The value of `f` at `(x, y, z)` and its gradients with respect to each argument.
public func valueWithGradient<Scalar>(
  at x: Tensor<Scalar>, _ y: Tensor<Scalar>, _ z: Tensor<Scalar>,
  of f: (Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>) -> Tensor<Scalar>
) -> (value: Tensor<Scalar>, gradient: (Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>)) {
  let (value, gradients) = valueWithGradients(at: [x, y, z]) { f($0[0], $0[1], $0[2]) }
  return (value, (gradients[0], gradients[1], gradients[2]))
}

/// The gradient of the one-element result of `f` with respect to `x`.
public func gradient<Scalar>(
  at x: Tensor<Scalar>, of f: (Tensor<Scalar>) -> Tensor<Scalar>
) -> Tensor<Scalar> {
  valueWithGradient(at: x, of: f).gradient
}

/// The gradients of the one-element result of `f` with respect to `x` and `y`.
public func gradient<Scalar>(
  at x: Tensor<Scalar>, _ y: Tensor<Scalar>,
  of f: (Tensor<Scalar>, Tensor<Scalar>) -> Tensor<Scalar>
) -> (Tensor<Scalar>, Tensor<Scalar>) {
  valueWithGradient(at: x, y, of: f).gradient
}

/// The gradients of the one-element result of `f` with respect to `x`, `y` and `z`.
public func gradient<Scalar>(
  at x: Tensor<Scalar>, _ y: Tensor<Scalar>, _ z: Tensor<Scalar>,
  of f: (Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>) -> Tensor<Scalar>
) -> (Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>) {
  valueWithGradient(at: x, y, z, of: f).gradient
}

/// The gradients of the one-element result of `f` with respect to each tensor in `points`.
public func gradients<Scalar>(
  at points: [Tensor<Scalar>], of f: ([Tensor<Scalar>]) -> Tensor<Scalar>
) -> [Tensor<Scalar>] {
  valueWithGradients(at: points, of: f).gradients
}
