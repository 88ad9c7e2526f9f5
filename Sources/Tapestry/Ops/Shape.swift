// Ops that change how elements are arranged but not their values.

extension Tensor {
  /// The same elements with a new shape of equal element count; one dimension may be −1, meaning
  /// "whatever makes the count match".
  @inlinable
  public func reshaped(to newShape: TensorShape) -> Tensor {
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
      resolved.allSatisfy { $0 >= 0 } && resolved.elementCount == count,
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
  public func broadcasted(to target: TensorShape) -> Tensor {
    if shape == target { return self }
    precondition(
      broadcastShape(shape, target, op: "broadcast") == target,
      "broadcast: shape \(shape) cannot be broadcast to \(target)")
    return Tensor(uncheckedShape: target, scalars: Kernels.broadcast(self, to: target))
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

// MARK: - Transposition

extension Tensor {
  /// Swaps the last two axes: the matrix transpose of a `[M, N]` tensor is `[N, M]`, and a batch
  /// `[B, M, N]` becomes `[B, N, M]`.
  ///
  /// Traps for rank < 2, where "the last two axes" do not exist.
  @inlinable
  public func transposed() -> Tensor {
    precondition(rank >= 2, "transpose: needs rank 2 or more, got shape \(shape)")
    var permutation = Array(0..<rank)
    permutation.swapAt(rank - 2, rank - 1)
    return transposed(permutation: permutation)
  }

  /// Reorders the axes: axis `i` of the result is axis `permutation[i]` of `self` (NumPy's
  /// `transpose(axes)`, PyTorch's `permute`); negative entries count from the end.
  ///
  /// `[T, B, F].transposed(permutation: [1, 0, 2])` is `[B, T, F]`. The result is materialised
  /// (there are no strided views); axes that stay adjacent are copied as one run, and a move of
  /// the innermost axis is copied in cache-sized tiles. The pullback applies the inverse
  /// permutation.
  @inlinable
  public func transposed(permutation: [Int]) -> Tensor {
    let resolved = permutation.map { $0 < 0 ? $0 + rank : $0 }
    precondition(
      resolved.sorted() == Array(0..<rank),
      "transpose: \(permutation) is not a permutation of the axes of shape \(shape)")
    if resolved == Array(0..<rank) { return self }
    var inverse = resolved
    for (position, axis) in resolved.enumerated() { inverse[axis] = position }
    return Tensor(
      uncheckedShape: TensorShape(resolved.map { shape[$0] }),
      scalars: Kernels.permute(scalars, shape: Array(shape), permutation: resolved)
    ).recorded(as: "transpose", from: self) { g, _ in [g.transposed(permutation: inverse)] }
  }
}

extension Kernels {
  /// The elements of a row-major `shape` tensor rearranged so that output axis `i` is input axis
  /// `permutation[i]`.
  ///
  /// Output axes are first reduced to (size, input stride) pairs, dropping size-1 axes and merging
  /// neighbours that are also neighbours in the input, so most permutations become a batch of
  /// contiguous copies or a batch of 2-D transposes.
  @inlinable
  static func permute<Scalar: TensorScalar>(
    _ x: [Scalar], shape: [Int], permutation: [Int]
  ) -> [Scalar] {
    var inputStrides = [Int](repeating: 1, count: shape.count)
    for axis in stride(from: shape.count - 2, through: 0, by: -1) {
      inputStrides[axis] = inputStrides[axis + 1] * shape[axis + 1]
    }
    var sizes: [Int] = []
    var strides: [Int] = []
    for axis in permutation where shape[axis] != 1 {
      if let outerStride = strides.last, outerStride == inputStrides[axis] * shape[axis] {
        sizes[sizes.count - 1] *= shape[axis]
        strides[strides.count - 1] = inputStrides[axis]
      } else {
        sizes.append(shape[axis])
        strides.append(inputStrides[axis])
      }
    }
    let count = x.count
    return Kernels.array(count: count) { out in
      x.withUnsafeBufferPointer { input in
        guard count > 0, let source = input.baseAddress, let destination = out.baseAddress else {
          return
        }
        if sizes.count <= 1 {
          destination.initialize(from: source, count: count)
          return
        }
        permuteCollapsed(source, destination, sizes: sizes, strides: strides)
      }
    }
  }

  /// The core of ``permute(_:shape:permutation:)`` on collapsed axes (at least two, no size 1).
  ///
  /// The input axis of stride 1 (`inner`) and the last output axis (`last`) are copied together
  /// for every index of the remaining axes: as one contiguous run when they are the same axis,
  /// as a tiled 2-D transpose otherwise.
  @inlinable
  static func permuteCollapsed<Scalar>(
    _ source: UnsafePointer<Scalar>, _ destination: UnsafeMutablePointer<Scalar>,
    sizes: [Int], strides: [Int]
  ) {
    let rank = sizes.count
    var outputStrides = [Int](repeating: 1, count: rank)
    for axis in stride(from: rank - 2, through: 0, by: -1) {
      outputStrides[axis] = outputStrides[axis + 1] * sizes[axis + 1]
    }
    let last = rank - 1
    // The input's last non-unit axis always has stride 1 after collapsing.
    let inner = strides.firstIndex(of: 1) ?? last
    let outerAxes = (0..<rank).filter { $0 != last && $0 != inner }
    var walk = OffsetOdometer(
      sizes: outerAxes.map { sizes[$0] }, stridesA: outerAxes.map { strides[$0] },
      stridesB: outerAxes.map { outputStrides[$0] })
    for _ in 0..<outerAxes.reduce(1, { $0 * sizes[$1] }) {
      if inner == last {
        (destination + walk.offsetB).initialize(from: source + walk.offsetA, count: sizes[last])
      } else {
        transposeTiles(
          source + walk.offsetA, destination + walk.offsetB, rows: sizes[inner],
          columns: sizes[last], sourceColumnStride: strides[last],
          destinationRowStride: outputStrides[inner])
      }
      walk.advance()
    }
  }

  /// `destination[r * destinationRowStride + c] = source[r + c * sourceColumnStride]`, in square
  /// tiles so that both the strided reads and the contiguous writes stay in cache.
  @inlinable
  static func transposeTiles<Scalar>(
    _ source: UnsafePointer<Scalar>, _ destination: UnsafeMutablePointer<Scalar>, rows: Int,
    columns: Int, sourceColumnStride: Int, destinationRowStride: Int
  ) {
    let tile = 32
    for rowStart in stride(from: 0, to: rows, by: tile) {
      let rowEnd = min(rowStart + tile, rows)
      for columnStart in stride(from: 0, to: columns, by: tile) {
        let columnEnd = min(columnStart + tile, columns)
        for row in rowStart..<rowEnd {
          let target = destination + row * destinationRowStride
          let origin = source + row
          // Wrapping: the offset lies inside the source, and an overflow test per element
          // cost more than the copy.
          for column in columnStart..<columnEnd {
            (target + column).initialize(to: origin[column &* sourceColumnStride])
          }
        }
      }
    }
  }
}

// MARK: - Axes

/// `axis` checked against `rank` (negative counts from the end), for ops that take one axis.
///
/// Traps naming `op`, the axis and `shape` when it is out of range.
@inlinable
func resolvedAxis(_ axis: Int, rank: Int, op: String, shape: TensorShape) -> Int {
  let resolved = axis < 0 ? axis + rank : axis
  precondition(
    resolved >= 0 && resolved < rank, "\(op): axis \(axis) is out of range for shape \(shape)")
  return resolved
}

/// The sizes of the axes before and after `axis`, multiplied out: a row-major tensor is a
/// `[outer, shape[axis], inner]` block, which is how every single-axis copy below walks it.
@inlinable
func outerAndInner(_ shape: TensorShape, around axis: Int) -> (outer: Int, inner: Int) {
  (shape.product(ofAxes: 0..<axis), shape.product(ofAxes: (axis + 1)..<shape.count))
}
