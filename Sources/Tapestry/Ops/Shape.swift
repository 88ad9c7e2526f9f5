// Ops that change how elements are arranged but not their values.

extension Tensor {
  /// The same elements with a new shape of equal element count; one dimension may be −1, meaning
  /// "whatever makes the count match".
  @inlinable
  public func reshaped(to newShape: [Int]) -> Tensor {
    var resolved = newShape
    if let unknown = newShape.firstIndex(of: -1) {
      let known = newShape.enumerated().filter { $0.offset != unknown }.map(\.element)
        .reduce(1, *)
      precondition(
        known > 0 && count % known == 0,
        "reshape: cannot reshape \(shape) to \(newShape)")
      resolved[unknown] = count / known
    }
    precondition(
      resolved.allSatisfy { $0 >= 0 } && resolved.reduce(1, *) == count,
      "reshape: cannot reshape \(shape) (\(count) elements) to \(newShape)")
    if resolved == shape { return self }
    let inputShape = shape
    return Tensor(uncheckedShape: resolved, scalars: scalars)
      .recorded(as: "reshape", from: self) { g, _ in [g.reshaped(to: inputShape)] }
  }

  /// Reshaped to `other`'s shape.
  @inlinable
  public func reshaped(like other: Tensor) -> Tensor { reshaped(to: other.shape) }

  /// Repeats elements along broadcast axes to reach `target` (NumPy's `broadcast_to`).
  ///
  /// Traps, naming the op and both shapes, when `shape` cannot broadcast to `target`.
  @inlinable
  public func broadcasted(to target: [Int]) -> Tensor {
    if shape == target { return self }
    precondition(
      broadcastShape(shape, target, op: "broadcast") == target,
      "broadcast: shape \(shape) cannot be broadcast to \(target)")
    let zeros = Tensor(repeating: 0, shape: target)
    return Kernels.zip(self, zeros, op: "broadcast", scalar: { a, _ in a }, vector: { a, _ in a })
      .recorded(as: "broadcast", from: self) { g, _ in [g] }
  }

  /// Broadcast to `other`'s shape.
  @inlinable
  public func broadcasted(like other: Tensor) -> Tensor { broadcasted(to: other.shape) }
}

extension Array where Element: TensorScalar {
  /// These elements as a tensor of the shape of `other` (counts must agree).
  @inlinable
  public func reshaped(like other: Tensor<Element>) -> Tensor<Element> {
    Tensor(shape: other.shape, scalars: self)
  }
}
