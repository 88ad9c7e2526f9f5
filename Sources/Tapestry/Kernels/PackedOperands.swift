// Right operands of matrix products packed once per recorded forward pass and once per backward
// pass. A recurrent weight W is the right operand of `h·Wᵀ` at every time step of the forward
// pass and of the state's gradient `g·W` at every step of the backward pass; packing it into the
// kernel's panels each time read all of W (4 MiB for an LSTM at H = 512) and wrote it again, once
// per step, although W does not change during either pass. Without packing, a product with few
// rows read W in place (strided rows) or ran transposed (C written through a transposing store),
// which a W packed once makes unnecessary.

import Synchronization

/// Packed copies of the right operands of matrix products, made during one pass over a tape
/// (the recorded forward pass, ``Tape/record(_:)``, or a backward pass) and reused for the rest
/// of it.
///
/// An operand is packed on its second use in the pass; the first use only notes its address, so
/// that operands used once (a time step's state in its weight gradient) are neither packed twice
/// nor kept. Each packed copy keeps the operand's array alive: its buffer can then be neither
/// freed, and its address given to another array, nor changed in place (a write to an array
/// with two references copies it first), so a copy found by address is always the packing of
/// the same values. The copies are freed with the cache, when the pass ends.
@usableFromInline
final class PackedOperands: Sendable {
  /// Holds the cache of the pass running on this thread.
  @usableFromInline static let slot = ThreadSlot()

  /// `body` applied to the cache of the recorded forward pass or backward pass running on this
  /// thread, `nil` if there is none. The cache is lent, not retained: a retain and a release,
  /// two atomic operations, on every matrix product otherwise.
  @inlinable
  static func fromCurrent<Result>(_ body: (PackedOperands) -> Result?) -> Result? {
    guard let object = slot.unretainedObject else { return nil }
    return object._withUnsafeGuaranteedRef { body(unsafeDowncast($0, to: PackedOperands.self)) }
  }

  /// Runs `body` with `cache` as this thread's current cache (the one ``fromCurrent(_:)`` lends),
  /// then restores the one before.
  static func withCurrent<Result>(_ cache: PackedOperands, _ body: () throws -> Result) rethrows
    -> Result
  {
    try slot.with(cache, body)
  }

  /// What identifies a packing: the operand's buffer, its layout, and the blocking the product
  /// uses (a product with different blocks packs the same B differently), or, for a plain
  /// transposed copy (``transposed(_:rows:columns:)``), zero blocks and tiles.
  private struct Key: Hashable {
    let address: UInt
    let scalar: ObjectIdentifier
    let rowStride: Int
    let columnStride: Int
    let depth: Int
    let columns: Int
    let depthBlock: Int
    let tileRows: Int
    let tileVectors: Int
  }

  /// A packed copy (its address: pointers are not `Sendable`) and the array it was packed from,
  /// kept alive with it.
  private struct Entry {
    let operand: any Sendable
    let packed: UInt
  }

  private struct State: ~Copyable {
    var seen: Set<Key> = []
    var entries: [Key: Entry] = [:]
  }

  private let state = Mutex(State())

  @usableFromInline init() {}

  deinit {
    state.withLock { state in
      for entry in state.entries.values {
        UnsafeMutableRawPointer(bitPattern: entry.packed)?.deallocate()
      }
    }
  }

  /// The packed copy of `b`, the right operand of `problem` (which must run tiled: more than one
  /// row, depth above one), or `nil` when this is the first time the pass multiplies by it this
  /// way.
  @usableFromInline
  func packed<Scalar: TensorScalar>(_ b: [Scalar], for problem: MatmulProblem)
    -> UnsafePointer<Scalar>?
  {
    b.withUnsafeBufferPointer { buffer in
      guard let base = buffer.baseAddress else { return nil }
      let key = Key(
        address: UInt(bitPattern: base), scalar: ObjectIdentifier(Scalar.self),
        rowStride: problem.bRowStride, columnStride: problem.bColumnStride, depth: problem.k,
        columns: problem.n, depthBlock: problem.depthBlock, tileRows: problem.tile.rows,
        tileVectors: problem.tile.vectors)
      return copy(
        of: b, key: key, count: problem.wholePackedBCount(Scalar.self)
      ) { problem.packWholeB(base, into: $0) }
    }
  }

  /// `b`, a matrix stored `[rows, columns]`, transposed into `[columns, rows]`: the right
  /// operand of a one-row product `a·bᵀ` read as an untransposed B; `nil` when this is the first
  /// time the pass multiplies by it this way.
  @usableFromInline
  func transposed<Scalar: TensorScalar>(_ b: [Scalar], rows: Int, columns: Int)
    -> UnsafePointer<Scalar>?
  {
    b.withUnsafeBufferPointer { buffer in
      guard let base = buffer.baseAddress else { return nil }
      let key = Key(
        address: UInt(bitPattern: base), scalar: ObjectIdentifier(Scalar.self),
        rowStride: columns, columnStride: 1, depth: columns, columns: rows, depthBlock: 0,
        tileRows: 0, tileVectors: 0)
      return copy(of: b, key: key, count: rows * columns) { out in
        Kernels.transposeTiles(
          base, out, rows: columns, columns: rows, sourceColumnStride: columns,
          destinationRowStride: rows)
      }
    }
  }

  /// The copy of `b` stored under `key`, made by `fill` into `count` new elements on the second
  /// request (the first only notes the key).
  private func copy<Scalar: TensorScalar>(
    of b: [Scalar], key: Key, count: Int, fill: (UnsafeMutablePointer<Scalar>) -> Void
  ) -> UnsafePointer<Scalar>? {
    let address = state.withLock { state -> UInt in
      if let entry = state.entries[key] { return entry.packed }
      if state.seen.insert(key).inserted { return 0 }
      let copy = UnsafeMutablePointer<Scalar>.allocate(capacity: count)
      fill(copy)
      let address = UInt(bitPattern: copy)
      state.entries[key] = Entry(operand: b, packed: address)
      return address
    }
    return UnsafePointer(bitPattern: address)
  }
}

extension Kernels {
  /// ``matmul(_:_:into:m:n:k:transposeA:transposeB:accumulate:threads:splitAtAnySize:tile:packedB:addend:addendRowStride:)``
  /// on the elements of two matrices, with B read from the pass's ``PackedOperands`` when the
  /// product runs tiled and B is large enough for a second packing to matter. From its second use
  /// a B that would have been read in place, or multiplied with the operands swapped, is packed
  /// too: packed once, its panels are read with unit stride and C is written row by row. A
  /// one-row product by a transposed B (`h·W_hhᵀ` at batch one) reads B transposed once
  /// (``PackedOperands/transposed(_:rows:columns:)``) from its second use, so that its columns
  /// sum rows of B scaled by `a` and none ends in a sum across a vector's lanes; the sums are
  /// then formed in another order than on the first use, and round differently.
  ///
  /// With an `addend` (`accumulate` false), `C = addend + op(A)·op(B)`, row `i` of the addend
  /// starting at element `i·addendRowStride` (0: one row for every row of C).
  @usableFromInline
  static func matmul<Scalar: TensorScalar>(
    _ a: [Scalar], _ b: [Scalar], into c: UnsafeMutablePointer<Scalar>, m: Int, n: Int, k: Int,
    transposeA: Bool, transposeB: Bool, accumulate: Bool, addend: [Scalar]? = nil,
    addendRowStride: Int = 0
  ) {
    let threads = ComputeSettings.threads
    let problem = MatmulProblem(
      m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, accumulate: accumulate,
      threads: threads)
    // Looking the cache up costs more than packing a small B.
    let packedB =
      k * n >= MatmulBlocking.reusedPackingElements && problem.runsTiled
      ? PackedOperands.fromCurrent { $0.packed(b, for: problem) } : nil
    let transposedB =
      m == 1 && transposeB && k > 1 && k * n >= MatmulBlocking.transposedOneRowElements
      ? PackedOperands.fromCurrent { $0.transposed(b, rows: n, columns: k) } : nil
    func multiply(adding addendBase: UnsafePointer<Scalar>?) {
      a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
          guard let baseA = pa.baseAddress, let baseB = pb.baseAddress else {
            // An empty operand: the product is zero, so C is the addend or zeros (or unchanged).
            if let addendBase {
              fillRows(of: c, rows: m, columns: n, from: addendBase, rowStride: addendRowStride)
            } else if !accumulate {
              c.update(repeating: 0, count: m * n)
            }
            return
          }
          matmul(
            baseA, transposedB ?? baseB, into: c, m: m, n: n, k: k, transposeA: transposeA,
            transposeB: transposeB && transposedB == nil, accumulate: accumulate,
            threads: threads, packedB: packedB, addend: addendBase,
            addendRowStride: addendRowStride)
        }
      }
    }
    if let addend {
      addend.withUnsafeBufferPointer { multiply(adding: $0.baseAddress) }
    } else {
      multiply(adding: nil)
    }
  }
}
