// Joining tensors (concatenate, stack) and taking them apart (split, chunk, unstack). The parts
// of a split are slices, so taking apart needs no pullback of its own; joining's pullback takes
// the gradient apart again.

/// The tensors joined end to end along an existing `axis` (negative counts from the end); they
/// must agree in every other dimension (NumPy's `concatenate`, PyTorch's `cat`).
///
/// `[B, 3]` and `[B, 5]` along axis 1 give `[B, 8]`: how an RNN cell joins its input and hidden
/// state. Traps, naming both shapes, when the shapes differ outside `axis`, and on an empty list.
/// The pullback slices the gradient back into one piece per input.
@inlinable
public func concatenate<Scalar>(
  _ tensors: [Tensor<Scalar>], alongAxis axis: Int
) -> Tensor<Scalar> {
  guard let first = tensors.first else {
    preconditionFailure("concatenate: needs at least one tensor")
  }
  let axis = resolvedAxis(axis, rank: first.rank, op: "concatenate", shape: first.shape)
  for tensor in tensors.dropFirst() {
    precondition(
      tensor.rank == first.rank
        && zip(tensor.shape, first.shape).enumerated().allSatisfy {
          $0.offset == axis || $0.element.0 == $0.element.1
        },
      "concatenate: shapes \(first.shape) and \(tensor.shape) differ outside axis \(axis)")
  }
  if tensors.count == 1 { return first }
  let (outer, inner) = outerAndInner(first.shape, around: axis)
  let sizes = tensors.map { $0.shape[axis] }
  var joinedShape = first.shape
  joinedShape[axis] = sizes.reduce(0, +)
  let scalars = Kernels.interleave(
    tensors.map(\.scalars), runLengths: sizes.map { $0 * inner },
    runs: outer)
  var starts = [0]
  for size in sizes.dropLast() { starts.append((starts.last ?? 0) + size) }
  return Tensor(uncheckedShape: joinedShape, scalars: scalars)
    .recorded(as: "concatenate", fromInputs: tensors) { g, _ in
      zip(starts, sizes).map { start, size in g.slice(alongAxis: axis, start..<(start + size)) }
    }
}

/// The tensors, all of one shape, stacked along a new `axis` of size `tensors.count` (NumPy's
/// and PyTorch's `stack`); `axis` may be `-rank - 1 ... rank`, negative counting from the end of
/// the result.
///
/// Stacking `T` hidden states of shape `[B, H]` gives `[T, B, H]` along axis 0 (the default) or
/// `[B, T, H]` along axis 1. Traps, naming both shapes, when the shapes differ, and on an empty
/// list. The pullback selects each input's slice of the gradient.
@inlinable
public func stack<Scalar>(_ tensors: [Tensor<Scalar>], alongAxis axis: Int = 0) -> Tensor<Scalar> {
  guard let first = tensors.first else {
    preconditionFailure("stack: needs at least one tensor")
  }
  let axis = resolvedAxis(axis, rank: first.rank + 1, op: "stack", shape: first.shape)
  for tensor in tensors.dropFirst() {
    precondition(
      tensor.shape == first.shape, "stack: shapes \(first.shape) and \(tensor.shape) differ")
  }
  let outer = first.shape.product(ofAxes: 0..<axis)
  let inner = first.shape.product(ofAxes: axis..<first.rank)
  var stackedShape = first.shape
  stackedShape.insert(tensors.count, at: axis)
  let scalars = Kernels.interleave(
    tensors.map(\.scalars), runLengths: [Int](repeating: inner, count: tensors.count),
    runs: outer)
  return Tensor(uncheckedShape: stackedShape, scalars: scalars)
    .recorded(as: "stack", fromInputs: tensors) { g, _ in
      (0..<tensors.count).map { g.select($0, alongAxis: axis) }
    }
}

extension Tensor {
  /// Consecutive slices along `axis` of the given sizes, which must add up to `shape[axis]`
  /// (PyTorch's `split` with a list of sizes).
  ///
  /// Each part is a ``slice(alongAxis:_:)``, recorded on its own, so a part that is never used
  /// costs nothing in the backward pass.
  @inlinable
  public func split(sizes: [Int], alongAxis axis: Int) -> [Tensor] {
    let axis = resolvedAxis(axis, rank: rank, op: "split", shape: shape)
    precondition(
      sizes.allSatisfy { $0 >= 0 } && sizes.reduce(0, +) == shape[axis],
      "split: sizes \(sizes) do not add up to size \(shape[axis]) of axis \(axis) of shape \(shape)"
    )
    return consecutiveSlices(count: sizes.count, alongAxis: axis) { sizes[$0] }
  }

  /// `count` consecutive slices along `axis` (already resolved), part `i` of size `size(i)`.
  ///
  /// The parts are written into an array of placeholders: `Array(repeatElement:count:)`
  /// allocates with code specialised for `Tensor`, where `map` went through the standard
  /// library's unspecialised allocation (~500 instructions per call, an LSTM step's `chunked`).
  @inlinable
  func consecutiveSlices(count: Int, alongAxis axis: Int, size: (Int) -> Int) -> [Tensor] {
    var parts = Array(repeatElement(Tensor.placeholder, count: count))
    var start = 0
    for index in 0..<count {
      let end = start + size(index)
      parts[index] = slice(alongAxis: axis, start..<end)
      start = end
    }
    return parts
  }

  /// `count` equal slices along `axis`, whose size must be divisible by `count`: the four LSTM
  /// gates of a `[B, 4H]` pre-activation are `z.chunked(into: 4, alongAxis: 1)`, each `[B, H]`.
  @inlinable
  public func chunked(into count: Int, alongAxis axis: Int) -> [Tensor] {
    let axis = resolvedAxis(axis, rank: rank, op: "chunk", shape: shape)
    precondition(
      count > 0 && shape[axis] % count == 0,
      "chunk: size \(shape[axis]) of axis \(axis) of shape \(shape) is not divisible into \(count)"
    )
    // Not `split(sizes:)`: its array of sizes was one more allocation per call (a cell step).
    let size = shape[axis] / count
    return consecutiveSlices(count: count, alongAxis: axis) { _ in size }
  }

  /// The slices along `axis`, each with that axis removed; the inverse of ``stack(_:alongAxis:)``
  /// (PyTorch's `unbind`). A `[T, B, F]` sequence unstacks into `T` steps of `[B, F]`.
  @inlinable
  public func unstacked(alongAxis axis: Int = 0) -> [Tensor] {
    let axis = resolvedAxis(axis, rank: rank, op: "unstack", shape: shape)
    return (0..<shape[axis]).map { select($0, alongAxis: axis) }
  }
}

extension Kernels {
  /// For `r` in `0..<runs`, the `r`-th run of `runLengths[i]` elements of each `parts[i]`, in
  /// order: concatenation along an axis, where `runs` counts the indices of the axes before it.
  @inlinable
  static func interleave<Scalar: TensorScalar>(
    _ parts: [[Scalar]], runLengths: [Int], runs: Int
  ) -> [Scalar] {
    let joinedLength = runLengths.reduce(0, +)
    let count = joinedLength * runs
    return Kernels.array(count: count) { out in
      guard let destination = out.baseAddress else { return }
      var offset = 0
      for (part, length) in Swift.zip(parts, runLengths) {
        part.withUnsafeBufferPointer { input in
          guard length > 0, let source = input.baseAddress else { return }
          copyRuns(
            from: source, stride: length, to: destination + offset, stride: joinedLength,
            length: length, runs: runs)
        }
        offset += length
      }
    }
  }
}
