// Picking parts of a tensor (slice, select, gather, where) and the ops that put gradients back
// (pad, scatter). Each pair is the other's pullback, so gradients of gradients stay
// differentiable: slice ↔ pad, gather ↔ scatter, and where is its own. Outside a graph-creating
// backward pass, slice and select add their gradient into place instead of padding it.

// MARK: - Slicing and padding

extension Tensor {
  /// The elements whose index along `axis` lies in `range`; the axis is kept, with size
  /// `range.count` (PyTorch's `narrow`, NumPy's `x[:, a:b]`).
  ///
  /// `x.slice(alongAxis: -1, 2..<5)` of a `[B, F]` tensor is `[B, 3]`. Any range expression works
  /// (`2...`, `..<4`). Traps when the range leaves `0..<shape[axis]`. The pullback adds the
  /// gradient into its place in the gradient of `self`, so the slices of one tensor share one
  /// full-size gradient.
  @inlinable
  public func slice(alongAxis axis: Int, _ range: some RangeExpression<Int>) -> Tensor {
    let axis = resolvedAxis(axis, rank: rank, op: "slice", shape: shape)
    let size = shape[axis]
    let bounds = range.relative(to: 0..<size)
    precondition(
      bounds.lowerBound >= 0 && bounds.upperBound <= size,
      "slice: range \(bounds) is out of bounds for size \(size) of axis \(axis), shape \(shape)")
    if bounds.count == size { return self }
    let (outer, inner) = outerAndInner(shape, around: axis)
    var sliceShape = shape
    sliceShape[axis] = bounds.count
    let scalars = Kernels.copyRuns(
      scalars, start: bounds.lowerBound * inner, stride: size * inner,
      count: outer * bounds.count * inner, start: 0, stride: bounds.count * inner,
      length: bounds.count * inner, runs: outer, zeroFilled: false)
    return Tensor(uncheckedShape: sliceShape, scalars: scalars)
      .recorded(
        as: "slice", self, saving: SavedValues(options: axis, offset: bounds.lowerBound)
      ) { g, total, _, inputs, saved in
        Tensor.accumulate(
          part: g, length: g.shape[saved.options], into: &total, shape: inputs.firstShape,
          axis: saved.options, start: saved.offset)
      }
  }

  /// Adds `part`, the gradient of the `length` elements from `start` along `axis` of a tensor of
  /// `shape`, into `total`, the running gradient of that whole tensor (`nil`: none yet).
  ///
  /// Unrecorded, the part is added in place, so the parts of a tensor cut into pieces share one
  /// full-size buffer; recorded (a backward pass that creates a graph), it is padded and added
  /// with differentiable ops.
  @inlinable
  static func accumulate(
    part: Tensor, length: Int, into total: inout Tensor?, shape: TensorShape, axis: Int, start: Int
  ) {
    let size = shape[axis]
    guard part.node == nil, total?.node == nil else {
      var partShape = shape
      partShape[axis] = length
      let padded = part.reshaped(to: partShape).padded(
        alongAxis: axis, before: start, after: size - start - length)
      add(padded, into: &total)
      return
    }
    let (outer, inner) = outerAndInner(shape, around: axis)
    let run = length * inner
    guard var whole = total.take() else {
      total = Tensor(
        uncheckedShape: shape,
        scalars: Kernels.copyRuns(
          part.scalars, start: 0, stride: run, count: outer * size * inner, start: start * inner,
          stride: size * inner, length: run, runs: outer, zeroFilled: true))
      return
    }
    whole.elements.withUnsafeMutableBufferPointer { out in
      part.scalars.withUnsafeBufferPointer { input in
        guard let from = input.baseAddress, let to = out.baseAddress else { return }
        Kernels.addRuns(
          from: from, stride: run, to: to + start * inner, stride: size * inner, length: run,
          runs: outer)
      }
    }
    total = whole
  }

  /// `self` with `before` zeros in front and `after` zeros behind along `axis` (NumPy's `pad`
  /// with zeros, on one axis).
  ///
  /// This is the pullback of ``slice(alongAxis:_:)`` and ``select(_:alongAxis:)``: it puts a
  /// gradient of a part back in place in zeros of the whole. Its own pullback slices again.
  @inlinable
  public func padded(alongAxis axis: Int, before: Int, after: Int) -> Tensor {
    let axis = resolvedAxis(axis, rank: rank, op: "pad", shape: shape)
    precondition(
      before >= 0 && after >= 0,
      "pad: negative padding (before \(before), after \(after)) for shape \(shape)")
    if before == 0 && after == 0 { return self }
    let size = shape[axis]
    let (outer, inner) = outerAndInner(shape, around: axis)
    var paddedShape = shape
    paddedShape[axis] = before + size + after
    let scalars = Kernels.copyRuns(
      scalars, start: 0, stride: size * inner, count: outer * paddedShape[axis] * inner,
      start: before * inner, stride: paddedShape[axis] * inner, length: size * inner,
      runs: outer, zeroFilled: true)
    return Tensor(uncheckedShape: paddedShape, scalars: scalars)
      .recorded(as: "pad", from: self) { g, _ in
        [g.slice(alongAxis: axis, before..<(before + size))]
      }
  }

  /// The slice at `index` along `axis`, with that axis removed: time step `t` of a `[T, B, F]`
  /// sequence is `x.select(t, alongAxis: 0)`, of shape `[B, F]` (PyTorch's `select`).
  ///
  /// A negative index counts from the end (`-1` is the last). Traps when the index is out of
  /// range. The pullback adds the gradient into its place in the gradient of `self`.
  @inlinable
  public func select(_ index: Int, alongAxis axis: Int) -> Tensor {
    let axis = resolvedAxis(axis, rank: rank, op: "select", shape: shape)
    let size = shape[axis]
    precondition(
      index >= -size && index < size,
      "select: index \(index) is out of range for size \(size) of axis \(axis), shape \(shape)")
    let index = index < 0 ? index + size : index
    let (outer, inner) = outerAndInner(shape, around: axis)
    let scalars = Kernels.copyRuns(
      scalars, start: index * inner, stride: size * inner, count: outer * inner, start: 0,
      stride: inner, length: inner, runs: outer, zeroFilled: false)
    return Tensor(
      uncheckedShape: shape.removingAxis(axis),
      scalars: scalars
    ).recorded(as: "select", self, saving: SavedValues(options: axis, offset: index)) {
      g, total, _, inputs, saved in
      Tensor.accumulate(
        part: g, length: 1, into: &total, shape: inputs.firstShape, axis: saved.options,
        start: saved.offset)
    }
  }

  /// The slice at `index` along the first axis, which is removed: `x[t]` is time step `t` of a
  /// `[T, B, F]` sequence, and row `i` of a matrix is `m[i]` (a rank-1 tensor).
  ///
  /// The same as ``select(_:alongAxis:)`` with axis 0, so differentiable; a negative index counts
  /// from the end. With several indices, `x[i, j]` still reads one element as a scalar.
  @inlinable
  public subscript(_ index: Int) -> Tensor {
    select(index, alongAxis: 0)
  }
}

// MARK: - Gather and scatter

extension Tensor {
  /// The slices of `self` at `indices` along `axis`, in order, repeats allowed: an embedding
  /// lookup is `table.gathering(indices: tokens)`, `[V, D]` → `[tokens.count, D]` (PyTorch's
  /// `index_select`).
  ///
  /// Traps, naming the index and the size, when an index is outside `0..<shape[axis]`. The
  /// pullback is ``scattered(to:indexShape:alongAxis:size:)``, which adds up the gradients of
  /// repeated indices.
  @inlinable
  public func gathering(indices: [Int], alongAxis axis: Int = 0) -> Tensor {
    gathering(indices: indices, indexShape: [indices.count], alongAxis: axis)
  }

  /// ``gathering(indices:alongAxis:)`` with the indices arranged in `indexShape` (row-major):
  /// the axis is replaced by the index axes. Token ids of shape `[T, B]` into a `[V, D]` table
  /// give `[T, B, D]`; in general `shape[..<axis] + indexShape + shape[(axis + 1)...]`.
  @inlinable
  public func gathering(indices: [Int], indexShape: [Int], alongAxis axis: Int = 0) -> Tensor {
    precondition(
      indexShape.allSatisfy { $0 >= 0 } && indexShape.reduce(1, *) == indices.count,
      "gather: index shape \(indexShape) does not hold \(indices.count) indices")
    let axis = resolvedAxis(axis, rank: rank, op: "gather", shape: shape)
    let size = shape[axis]
    for index in indices {
      precondition(
        index >= 0 && index < size,
        "gather: index \(index) is out of range for size \(size) of axis \(axis), shape \(shape)")
    }
    let (outer, inner) = outerAndInner(shape, around: axis)
    let gatheredShape = Array(shape[..<axis]) + indexShape + shape[(axis + 1)...]
    let count = outer * indices.count * inner
    let scalars: [Scalar] = Kernels.array(count: count) { out in
      self.scalars.withUnsafeBufferPointer { input in
        guard count > 0, let source = input.baseAddress, let destination = out.baseAddress else {
          return
        }
        var written = 0
        for block in 0..<outer {
          for index in indices {
            (destination + written).initialize(
              from: source + (block * size + index) * inner, count: inner)
            written += inner
          }
        }
      }
    }
    return Tensor(uncheckedShape: TensorShape(gatheredShape), scalars: scalars)
      .recorded(as: "gather", from: self) { g, _ in
        [g.scattered(to: indices, indexShape: indexShape, alongAxis: axis, size: size)]
      }
  }

  /// The reverse of ``gathering(indices:indexShape:alongAxis:)``: a tensor with `size` slices
  /// along `axis`, all zero except that slice `indices[i]` receives the sum of every slice `i` of
  /// `self` sent to it (PyTorch's `index_add` into zeros, TensorFlow's `unsorted_segment_sum`).
  ///
  /// `self` has the gathered shape `lead + indexShape + rest` (`indexShape` defaults to
  /// `[indices.count]`) and the result `lead + [size] + rest`; `axis` counts in the result.
  /// Repeated indices accumulate, which is exactly the gradient of an embedding lookup that uses
  /// a token twice. The pullback is a gather.
  @inlinable
  public func scattered(
    to indices: [Int], indexShape: [Int]? = nil, alongAxis axis: Int = 0, size: Int
  ) -> Tensor {
    let indexShape = indexShape ?? [indices.count]
    precondition(
      indexShape.allSatisfy { $0 >= 0 } && indexShape.reduce(1, *) == indices.count,
      "scatter: index shape \(indexShape) does not hold \(indices.count) indices")
    let resultRank = rank - indexShape.count + 1
    let axis = resolvedAxis(axis, rank: Swift.max(resultRank, 0), op: "scatter", shape: shape)
    precondition(
      Array(shape[axis..<(axis + indexShape.count)]) == indexShape,
      "scatter: shape \(shape) does not hold index shape \(indexShape) at axis \(axis)")
    precondition(size >= 0, "scatter: negative size \(size)")
    for index in indices {
      precondition(
        index >= 0 && index < size,
        "scatter: index \(index) is out of range for size \(size) along axis \(axis)")
    }
    let outer = shape.product(ofAxes: 0..<axis)
    let inner = shape.product(ofAxes: (axis + indexShape.count)..<rank)
    let resultShape =
      Array(shape[..<axis]) + [size] + shape[(axis + indexShape.count)...]
    var result = [Scalar](repeating: 0, count: outer * size * inner)
    result.withUnsafeMutableBufferPointer { out in
      scalars.withUnsafeBufferPointer { input in
        var read = 0
        for block in 0..<outer {
          for index in indices {
            let start = (block * size + index) * inner
            Kernels.addRun(
              UnsafeBufferPointer(rebasing: input[read..<(read + inner)]),
              into: UnsafeMutableBufferPointer(rebasing: out[start..<(start + inner)]))
            read += inner
          }
        }
      }
    }
    return Tensor(uncheckedShape: TensorShape(resultShape), scalars: result)
      .recorded(as: "scatter", from: self) { g, _ in
        [g.gathering(indices: indices, indexShape: indexShape, alongAxis: axis)]
      }
  }
}

// MARK: - Where

extension Tensor {
  /// Elementwise choice: `a` where `mask` is nonzero, `b` elsewhere, with NumPy broadcasting of
  /// all three (NumPy's `where`, PyTorch's `torch.where`).
  ///
  /// Written `Tensor.where(mask, a, b)`: a static member keeps NumPy's well-known name, and after
  /// the dot Swift needs no backticks, whereas a free function `where` would need them at every
  /// call. The gradient goes to `a` where the mask is true and to `b` elsewhere (each summed back
  /// to its own shape); the mask gets none. Unlike blending with `mask * a + (1 - mask) * b`, a
  /// NaN or infinity in the branch not taken never leaks into the result or the gradient.
  @inlinable
  public static func `where`(_ mask: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
    let shape = broadcastShape(
      broadcastShape(mask.shape, a.shape, op: "where"), b.shape, op: "where")
    let maskScalars = Kernels.broadcast(mask, to: shape)
    let aScalars = Kernels.broadcast(a, to: shape)
    let bScalars = Kernels.broadcast(b, to: shape)
    let count = shape.reduce(1, *)
    let width = Scalar.Vector.scalarCount
    let scalars: [Scalar] = Kernels.array(count: count) { out in
      maskScalars.withUnsafeBufferPointer { m in
        aScalars.withUnsafeBufferPointer { pa in
          bScalars.withUnsafeBufferPointer { pb in
            var i = 0
            while i + width <= count {
              var chosen = Scalar.Vector.loadUnaligned(from: pb, at: i)
              chosen.replace(
                with: Scalar.Vector.loadUnaligned(from: pa, at: i),
                where: Scalar.Vector.loadUnaligned(from: m, at: i) .!= 0)
              chosen.storeUnaligned(to: out, at: i)
              i += width
            }
            while i < count {
              out[i] = m[i] != 0 ? pa[i] : pb[i]
              i += 1
            }
          }
        }
      }
    }
    let constantMask = withoutDerivative(at: mask)
    return Tensor(uncheckedShape: shape, scalars: scalars)
      .recorded(as: "where", from: mask, a, b) { g, _ in
        let zero = Tensor(Scalar(0))
        return [nil, Tensor.where(constantMask, g, zero), Tensor.where(constantMask, zero, g)]
      }
  }
}

// MARK: - Kernels

extension Kernels {
  /// A new array of `count` elements holding `runs` runs of `length` contiguous elements copied
  /// from `source`: run `r` starts at `sourceStart + r * sourceStride` and lands at
  /// `destinationStart + r * destinationStride`. With `zeroFilled` the elements no run covers
  /// are zero; without it the runs must cover every element.
  ///
  /// A slice, pad or select along one axis of a row-major tensor is such a set of runs, one per
  /// index of the axes before it, so each is a handful of `memcpy`s.
  @inlinable
  static func copyRuns<Scalar: TensorScalar>(
    _ source: [Scalar], start sourceStart: Int, stride sourceStride: Int, count: Int,
    start destinationStart: Int, stride destinationStride: Int, length: Int, runs: Int,
    zeroFilled: Bool
  ) -> [Scalar] {
    Kernels.array(count: count) { out in
      if zeroFilled { out.initialize(repeating: 0) }
      source.withUnsafeBufferPointer { input in
        guard length > 0, let from = input.baseAddress, let to = out.baseAddress else { return }
        copyRuns(
          from: from + sourceStart, stride: sourceStride, to: to + destinationStart,
          stride: destinationStride, length: length, runs: runs)
      }
    }
  }

  /// Copies run `r` of `length` elements from `source + r * sourceStride` to
  /// `destination + r * destinationStride`, for `r` in `0..<runs`.
  @inlinable
  static func copyRuns<Scalar: TensorScalar>(
    from source: UnsafePointer<Scalar>, stride sourceStride: Int,
    to destination: UnsafeMutablePointer<Scalar>, stride destinationStride: Int, length: Int,
    runs: Int
  ) {
    for run in 0..<runs {
      // Trivial scalars may be initialised over whatever the memory held.
      (destination + run * destinationStride).initialize(
        from: source + run * sourceStride, count: length)
    }
  }

  /// Adds run `r` of `length` elements from `source + r * sourceStride` into
  /// `destination + r * destinationStride`, for `r` in `0..<runs`: the `copyRuns` above, for a
  /// total that already holds values.
  @inlinable
  static func addRuns<Scalar: TensorScalar>(
    from source: UnsafePointer<Scalar>, stride sourceStride: Int,
    to destination: UnsafeMutablePointer<Scalar>, stride destinationStride: Int, length: Int,
    runs: Int
  ) {
    for run in 0..<runs {
      let target = destination + run * destinationStride
      addRun(
        UnsafeBufferPointer(start: source + run * sourceStride, count: length),
        into: UnsafeMutableBufferPointer(start: target, count: length))
    }
  }

  /// `destination[i] += source[i]` for the whole (equal-length) buffers, a vector at a time.
  @inlinable
  static func addRun<Scalar: TensorScalar>(
    _ source: UnsafeBufferPointer<Scalar>, into destination: UnsafeMutableBufferPointer<Scalar>
  ) {
    let width = Scalar.Vector.scalarCount
    let n = source.count
    var i = 0
    while i + width <= n {
      (Scalar.Vector.loadUnaligned(from: destination, at: i)
        + Scalar.Vector.loadUnaligned(from: source, at: i))
        .storeUnaligned(to: destination, at: i)
      i += width
    }
    while i < n {
      destination[i] += source[i]
      i += 1
    }
  }
}
