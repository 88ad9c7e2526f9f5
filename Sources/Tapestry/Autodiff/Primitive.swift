extension Tensor {
  /// Records `self`, the value a differentiable primitive computed from `inputs`, on the active
  /// tape, together with the primitive's pullback; returns `self` linked to the new entry.
  ///
  /// This is how every op in Tapestry is written, and how you add your own (the analogue of
  /// `torch.autograd.Function`): compute the forward value with any code at all, then say how a
  /// gradient flows back:
  /// ```swift
  /// func cube<S>(_ x: Tensor<S>) -> Tensor<S> {
  ///   x.scalars.map { $0 * $0 * $0 }.reshaped(like: x)
  ///     .recorded(as: "cube", from: x) { gradient, _ in [gradient * 3 * x * x] }
  /// }
  /// ```
  /// Nothing is recorded (and the pullback is never called) unless some input is recorded on the
  /// active tape, so an op costs nothing extra outside differentiation.
  ///
  /// - Parameters:
  ///   - name: shown when the tape is printed or drawn.
  ///   - inputs: the tensors the value was computed from, in the order the pullback answers.
  ///   - pullback: given the gradient at the output and the (recorded) output, one gradient per
  ///     input or `nil`. Write it with differentiable ops to get higher-order derivatives.
  @inlinable
  public func recorded(
    as name: String, from inputs: Tensor..., pullback: @escaping Pullback<Scalar>
  ) -> Tensor {
    recorded(as: name, fromInputs: inputs, pullback: pullback)
  }

  /// ``recorded(as:from:pullback:)`` with the inputs given as an array.
  @inlinable
  public func recorded(
    as name: String, fromInputs inputs: [Tensor], pullback: @escaping Pullback<Scalar>
  ) -> Tensor {
    guard inputs.contains(where: { $0.node != nil }), let tape = Tape<Scalar>.active,
      tape.isRecording
    else { return self }
    let positions = inputs.map { tape.index(of: $0) }
    guard positions.contains(where: { $0 != nil }) else { return self }
    var output = self
    output.node = nil
    let linked = tape.append(
      op: name, inputs: positions, inputShapes: inputs.map(\.shape), output: output,
      pullback: pullback)
    if tape.anomalyRecorder != nil {
      tape.checkForward(inputs, output: linked, at: tape.entries.count - 1)
    }
    return linked
  }
}

/// Returns `x` cut off from the tape: a constant to every derivative (JAX's `stop_gradient`,
/// PyTorch's `detach`).
@inlinable
public func withoutDerivative<Scalar>(at x: Tensor<Scalar>) -> Tensor<Scalar> {
  var constant = x
  constant.node = nil
  return constant
}

/// Runs `body` with recording switched off, for every tape: nothing it computes is differentiated
/// (PyTorch's `torch.no_grad()`). Use it for evaluation and parameter updates.
public func withoutRecording<Result>(_ body: () throws -> Result) rethrows -> Result {
  try RecordingContext.$tape.withValue(nil) { try body() }
}
