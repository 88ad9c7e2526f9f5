// Elementwise mathematical functions.

/// e^x elementwise.
@inlinable
public func exp<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  Tensor(uncheckedShape: x.shape, scalars: Kernels.map(x.scalars, scalar: Scalar.exp))
    .recorded(as: "exp", from: x) { g, y in [g * y] }
}

/// Hyperbolic tangent elementwise; its derivative 1 − tanh² is computed from the output.
@inlinable
public func tanh<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  Tensor(uncheckedShape: x.shape, scalars: Kernels.map(x.scalars, scalar: Scalar.tanh))
    .recorded(as: "tanh", from: x) { g, y in [g * (1 - y * y)] }
}
