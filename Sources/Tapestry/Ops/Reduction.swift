// Sums, means, maxima and minima over all or chosen axes, and the un-broadcasting the tape
// applies to every gradient.

extension Tensor {
  /// Resolves possibly negative axes (−1 is the last) to sorted, distinct, checked axes.
  @usableFromInline
  func normalizedAxes(_ axes: [Int], op: String) -> [Int] {
    let resolved = axes.map { axis -> Int in
      let resolved = axis < 0 ? axis + rank : axis
      precondition(
        resolved >= 0 && resolved < rank, "\(op): axis \(axis) is out of range for shape \(shape)")
      return resolved
    }
    return Array(Set(resolved)).sorted()
  }

  /// The shape after reducing `axes`: those axes become 1 (`keepingDims`) or disappear.
  @usableFromInline
  func reducedShape(_ axes: [Int], keepingDims: Bool) -> TensorShape {
    TensorShape(
      keepingDims
        ? shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
        : shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element))
  }

  /// Reduces sorted, distinct `axes` with `combine`, contiguous blocks of axes at a time.
  @inlinable @inline(__always)
  func reduced(
    alongAxes axes: [Int], keepingDims: Bool, initial: Scalar,
    scalar combine: (Scalar, Scalar) -> Scalar,
    vector vcombine: (Scalar.Vector, Scalar.Vector) -> Scalar.Vector
  ) -> Tensor {
    var current = scalars
    var currentShape = shape
    var blockEnd = axes.count - 1
    while blockEnd >= 0 {
      var blockStart = blockEnd
      while blockStart > 0 && axes[blockStart - 1] == axes[blockStart] - 1 { blockStart -= 1 }
      let first = axes[blockStart]
      let last = axes[blockEnd]
      current = Kernels.reduce(
        current, outer: currentShape.product(ofAxes: 0..<first),
        length: currentShape.product(ofAxes: first..<(last + 1)),
        inner: currentShape.product(ofAxes: (last + 1)..<currentShape.count), initial: initial,
        scalar: combine, vector: vcombine)
      for axis in first...last { currentShape[axis] = 1 }
      blockEnd = blockStart - 1
    }
    return Tensor(uncheckedShape: reducedShape(axes, keepingDims: keepingDims), scalars: current)
  }

  /// The sum of all elements, as a rank-0 tensor.
  @inlinable
  public func sum() -> Tensor {
    sum(alongAxes: Array(0..<rank))
  }

  /// Sums over `axes` (negative counts from the end); with `keepingDims` the summed axes stay
  /// as size 1, so the result broadcasts against `self`.
  @inlinable
  public func sum(alongAxes axes: [Int], keepingDims: Bool = false) -> Tensor {
    let axes = normalizedAxes(axes, op: "sum")
    let inputShape = shape
    let keptShape = reducedShape(axes, keepingDims: true)
    return reduced(alongAxes: axes, keepingDims: keepingDims, initial: 0, scalar: +, vector: +)
      .recorded(as: "sum", from: self) { g, _ in
        [g.reshaped(to: keptShape).broadcasted(to: inputShape)]
      }
  }

  /// Sums over one axis.
  @inlinable
  public func sum(alongAxis axis: Int, keepingDims: Bool = false) -> Tensor {
    sum(alongAxes: [axis], keepingDims: keepingDims)
  }

  /// The mean of all elements, as a rank-0 tensor (NaN for an empty tensor, as in NumPy).
  @inlinable
  public func mean() -> Tensor {
    mean(alongAxes: Array(0..<rank))
  }

  /// The mean over `axes` (negative counts from the end): the sum divided by the number of
  /// elements reduced. With `keepingDims` the reduced axes stay as size 1.
  ///
  /// Composed from ``sum(alongAxes:keepingDims:)`` and a constant scale, so it is differentiable
  /// to any order with no pullback of its own: ∂mean/∂x = 1/n everywhere.
  @inlinable
  public func mean(alongAxes axes: [Int], keepingDims: Bool = false) -> Tensor {
    let axes = normalizedAxes(axes, op: "mean")
    let reducedCount = axes.reduce(1) { $0 * shape[$1] }
    return sum(alongAxes: axes, keepingDims: keepingDims) * (1 / Scalar(reducedCount))
  }

  /// The mean over one axis.
  @inlinable
  public func mean(alongAxis axis: Int, keepingDims: Bool = false) -> Tensor {
    mean(alongAxes: [axis], keepingDims: keepingDims)
  }

  /// The largest element, as a rank-0 tensor (−∞ for an empty tensor).
  ///
  /// The gradient flows only to the largest element; when several elements tie for it, it is
  /// split evenly among them (as `torch.amax` does), so it still sums to the incoming gradient.
  @inlinable
  public func max() -> Tensor {
    max(alongAxes: Array(0..<rank))
  }

  /// The largest element over `axes` (negative counts from the end); with `keepingDims` the
  /// reduced axes stay as size 1.
  ///
  /// Gradient: each reduced slice passes its incoming gradient to its arg-max element; ties
  /// share it evenly (`torch.amax`'s rule, a valid subgradient that keeps the total).
  @inlinable
  public func max(alongAxes axes: [Int], keepingDims: Bool = false) -> Tensor {
    extremum(
      alongAxes: normalizedAxes(axes, op: "max"), keepingDims: keepingDims, op: "max",
      initial: -.infinity, scalar: Swift.max, vector: pointwiseMax)
  }

  /// The largest element over one axis; see ``max(alongAxes:keepingDims:)`` for its gradient.
  @inlinable
  public func max(alongAxis axis: Int, keepingDims: Bool = false) -> Tensor {
    max(alongAxes: [axis], keepingDims: keepingDims)
  }

  /// The smallest element, as a rank-0 tensor (+∞ for an empty tensor); ties share the gradient
  /// evenly, as for ``max()``.
  @inlinable
  public func min() -> Tensor {
    min(alongAxes: Array(0..<rank))
  }

  /// The smallest element over `axes` (negative counts from the end); with `keepingDims` the
  /// reduced axes stay as size 1. Ties share the gradient evenly (`torch.amin`'s rule).
  @inlinable
  public func min(alongAxes axes: [Int], keepingDims: Bool = false) -> Tensor {
    extremum(
      alongAxes: normalizedAxes(axes, op: "min"), keepingDims: keepingDims, op: "min",
      initial: .infinity, scalar: Swift.min, vector: pointwiseMin)
  }

  /// The smallest element over one axis; ties share the gradient evenly.
  @inlinable
  public func min(alongAxis axis: Int, keepingDims: Bool = false) -> Tensor {
    min(alongAxes: [axis], keepingDims: keepingDims)
  }

  /// The shared body of `max` and `min` over normalized `axes`.
  ///
  /// The pullback routes `g` through `mask / count`, where `mask` marks the elements equal to
  /// their slice's extremum and `count` is how many there are. Both are constants: the extremum
  /// is piecewise linear, so its second derivative is zero and only `g` needs to stay
  /// differentiable.
  @inlinable
  func extremum(
    alongAxes axes: [Int], keepingDims: Bool, op: String, initial: Scalar,
    scalar combine: (Scalar, Scalar) -> Scalar,
    vector vcombine: (Scalar.Vector, Scalar.Vector) -> Scalar.Vector
  ) -> Tensor {
    let keptShape = reducedShape(axes, keepingDims: true)
    let input = withoutDerivative(at: self)
    return reduced(
      alongAxes: axes, keepingDims: keepingDims, initial: initial, scalar: combine,
      vector: vcombine
    ).recorded(as: op, from: self) { g, y in
      let extremum = Tensor(uncheckedShape: keptShape, scalars: y.scalars)
      let ones = Scalar.Vector(repeating: 1)
      let zeros = Scalar.Vector(repeating: 0)
      let mask = Kernels.zip(
        input, extremum, op: op, scalar: { $0 == $1 ? 1 : 0 },
        vector: { zeros.replacing(with: ones, where: $0 .== $1) })
      let share = mask / mask.sum(alongAxes: axes, keepingDims: true)
      return [g.reshaped(to: keptShape) * share]
    }
  }

  /// Sums a gradient of a broadcast result back to the shape of the input it was broadcast from.
  ///
  /// Traps, naming `op`, when `target` could not have been broadcast to this shape: that means a
  /// pullback returned a gradient of the wrong shape.
  @usableFromInline
  func summed(toShape target: TensorShape, op: String) -> Tensor {
    if shape == target { return self }
    let extra = rank - target.count
    precondition(
      extra >= 0
        && zip(shape[extra...], target).allSatisfy { $0 == $1 || $1 == 1 },
      "\(op): its pullback returned a gradient of shape \(shape) for an input of shape \(target)")
    let axes = (0..<rank).filter { $0 < extra || (target[$0 - extra] == 1 && shape[$0] != 1) }
    return sum(alongAxes: axes, keepingDims: true).reshaped(to: target)
  }
}
