// Sums over all or chosen axes, and the un-broadcasting the tape applies to every gradient.

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
  func reducedShape(_ axes: [Int], keepingDims: Bool) -> [Int] {
    keepingDims
      ? shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
      : shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
  }

  /// Reduces sorted, distinct `axes` with `combine`, contiguous blocks of axes at a time.
  @inlinable
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
        current, outer: currentShape[..<first].reduce(1, *),
        length: currentShape[first...last].reduce(1, *),
        inner: currentShape[(last + 1)...].reduce(1, *), initial: initial,
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

  /// Sums a gradient of a broadcast result back to the shape of the input it was broadcast from.
  ///
  /// Traps, naming `op`, when `target` could not have been broadcast to this shape: that means a
  /// pullback returned a gradient of the wrong shape.
  @usableFromInline
  func summed(toShape target: [Int], op: String) -> Tensor {
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
