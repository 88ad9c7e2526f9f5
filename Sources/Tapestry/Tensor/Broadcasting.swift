/// NumPy's broadcasting rule: align shapes at the trailing axis; two sizes are compatible when
/// equal or when one of them is 1; a missing leading axis counts as 1.
///
/// Traps when the shapes are incompatible, naming `op` and both shapes.
@inlinable @inline(__always)
public func broadcastShape(_ a: TensorShape, _ b: TensorShape, op: String) -> TensorShape {
  // Equal shapes, by far the most common case, cost one vector comparison and no call.
  a == b ? a : broadcastShape(ofDifferent: a, b, op: op)
}

/// ``broadcastShape(_:_:op:)`` of two shapes that differ.
@usableFromInline
func broadcastShape(ofDifferent a: TensorShape, _ b: TensorShape, op: String) -> TensorShape {
  // Read and written lane by lane: through the collection's checked subscripts and its
  // sequence initialiser this took ~190 instructions a call, now ~140 (callgrind, W4 S), for
  // every op with a broadcast operand (a peephole's `addcmul`, three per LSTM step).
  let rank = max(a.count, b.count)
  let (offsetA, offsetB) = (rank - a.count, rank - b.count)
  var result = TensorShape()
  for axis in 0..<rank {
    let da = axis < offsetA ? 1 : a.sizes[axis - offsetA]
    let db = axis < offsetB ? 1 : b.sizes[axis - offsetB]
    precondition(
      da == db || da == 1 || db == 1,
      "\(op): shapes \(a) and \(b) cannot be broadcast together")
    result.sizes[axis] = da == 1 ? db : da
  }
  result.storedRank = Int32(rank)
  return result
}

/// Row-major strides of `shape` as seen from a broadcast `target` shape: 0 on every axis where
/// `shape` is broadcast (size 1 or missing), so the same element is read again.
@inlinable
func broadcastStrides(_ shape: TensorShape, to target: TensorShape) -> [Int] {
  var strides = [Int](repeating: 0, count: target.count)
  var step = 1
  let offset = target.count - shape.count
  for axis in stride(from: shape.count - 1, through: 0, by: -1) {
    strides[axis + offset] = shape[axis] == 1 ? 0 : step
    step *= shape[axis]
  }
  return strides
}

/// How many times `shape` is repeated whole to fill `target`, when `target` broadcasts it along
/// leading axes only (`[H]` or `[1, H]` into `[B, H]`: `B` times); `nil` for any other pattern,
/// and for a block of one element, which the general paths splat better.
///
/// A bias or a peephole added to every row of a batch has this pattern, so the forward zip walks
/// whole rows, and the gradient is the sum of the rows, with no odometer and no stride arrays.
@inlinable
func leadingRepeats(of shape: TensorShape, in target: TensorShape) -> Int? {
  let block = shape.elementCount
  guard block > 1, shape.count <= target.count else { return nil }
  var significant = 0
  while significant < shape.count && shape.sizes[significant] == 1 { significant += 1 }
  let offset = target.count - shape.count
  for axis in significant..<shape.count where shape.sizes[axis] != target.sizes[axis + offset] {
    return nil
  }
  return target.elementCount / block
}
