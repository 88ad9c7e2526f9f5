// Matrix product C = op(A)·op(B), the BLIS way: the operands are copied ("packed") block by block
// into contiguous panels that the register-tiled micro-kernel reads with unit stride, so its inner
// loop does nothing but broadcasts, vector loads and fused multiply-adds.
//
// Loop nest (outermost first), with the cache each level keeps its working set in:
//   columns by `columnBlock` → depth by `depthBlock` → pack B block (L2)
//   → rows by `rowBlock` → pack A block → row panel (the tile's rows, stays in L1)
//   → column panel (the tile's columns, streamed from L2) → micro-kernel.
// The register tile is 8 rows × 2 vectors or 6 × 1, whichever fits the target's vector
// registers (`RegisterTile`).
// Transposes are handled by the packing routines reading with swapped strides, so every
// combination runs the same micro-kernel at the same speed. The exception is `A·Bᵀ` with few rows
// (a recurrent step `h·Wᵀ`): packing would transpose all of W for a few rows, so it runs as
// `(B·Aᵀ)ᵀ`, with W broadcast in place and C written transposed (`MatmulProblem.transposed`).

import Dispatch
import Synchronization

/// Tile and block sizes of the matrix-product kernel, in elements of the scalar type.
@usableFromInline
internal enum MatmulBlocking {
  /// Depth of one packed block: a tile-row panel of A (8 × 256 × 4 bytes = 8 KiB for Float) stays
  /// in the 32 KiB L1 while the B panels stream past it.
  static let depthBlock = 256
  /// Depth of one block when A is read in place: its eight rows take 16 KiB of L1 at 512 (Float),
  /// and fewer blocks mean fewer passes over C, which is then written transposed (measured:
  /// 64×512·(2048×512)ᵀ 142 → 157 GFLOP/s; 512 for every product made n = 512 and 1024 5–10%
  /// slower).
  static let inPlaceDepthBlock = 512
  /// Rows of A packed at a time, in tiles: 128 rows of 8-row tiles, 96 of 6-row ones.
  static let rowBlockTiles = 16
  /// Bytes of packed B per block: half of the 1 MiB L2, so B stays there while A streams through.
  static let packedBBytes = 512 * 1024
  /// Below this many multiply-adds a second thread costs more to start than it saves. With the
  /// persistent worker the handoff is about a microsecond, and products of 1–2M multiply-adds
  /// (a recurrent step at H = 128) ran in 0.58–0.85 of the one-thread time whenever the worker
  /// was on a core of its own; when it was not (both cores busy with other processes), the
  /// caller ran every piece and lost 0–16% to the second copy of the shared operand.
  static let parallelThreshold = 1 << 20
  /// Below this many elements of B a one-row product runs on one thread. It is bound by memory
  /// (one multiply-add per element of B), so it gains at fewer multiply-adds than the tiled path:
  /// 1×512·(2048×512)ᵀ 110 → 74 µs on two cores (best calls, one and two threads interleaved).
  static let parallelOneRowThreshold = 1 << 18
  /// Up to this many rows (a recurrent net's batch), an untransposed B that fits in
  /// `skinnyBBytes` is read in place instead of packed: each element is used by so few rows that
  /// the copy does not pay (measured: 32×128·128×512 1.1× faster). A larger B is still packed:
  /// read in place with a long power-of-two row stride, its rows collide in the cache (measured:
  /// 64×512·512×2048 1.1× slower).
  static let skinnyRows = 64
  static let skinnyBBytes = 512 * 1024
  /// The most pieces a product is cut into for the caller and the worker to share.
  static let workerPieces = 8
  /// Up to this many rows, `A·Bᵀ` runs as `(B·Aᵀ)ᵀ` (see `MatmulProblem.transposed`).
  static let swapRows = 64
  /// From this many elements of B, a B packed whole is kept for reuse during a backward pass
  /// (``PackedOperands``); below, packing it again costs less than looking for it.
  static let reusedPackingElements = 1 << 12
  /// From this many elements of a transposed B, a one-row product `a·Bᵀ` reads a copy of B laid
  /// out `[k, n]`, kept for the pass (``PackedOperands``): a sum of its rows scaled by `a` instead
  /// of `n` dot products, each ending in a sum across the lanes of a vector. Below, the dot
  /// products cost less than looking the copy up.
  static let transposedOneRowElements = 1 << 11
}

extension Kernels {
  /// `C = op(A)·op(B)`, or `C += op(A)·op(B)` with `accumulate`, on raw row-major buffers.
  ///
  /// `op(A)` is `[m, k]`: A is stored `[m, k]`, or `[k, m]` when `transposeA`. Likewise `op(B)`
  /// is `[k, n]`, stored `[n, k]` when `transposeB`. C is `[m, n]`. Up to `threads` threads split
  /// C between them when the product is large enough to pay for it, or whenever its shape allows
  /// with `splitAtAnySize` (for tests, which cover every way of splitting on small products).
  /// `tile` is the register tile, the one that fits this target unless a test asks for another.
  /// `packedB`, when given, is B already packed by ``MatmulProblem/packWholeB(_:into:)`` for a
  /// product that ``MatmulProblem/runsTiled`` (a recurrent weight used at every time step): the
  /// tiled path reads it instead of packing B, reading it in place or swapping the operands.
  ///
  /// With an `addend` (and `accumulate` false) the result is `C = addend + op(A)·op(B)`, where
  /// row `i` of the addend starts at `addend + i·addendRowStride` (0: one row added to every row
  /// of C, a bias). The tiled path reads the addend where a tile would read C to accumulate, so
  /// C is written once, not filled with the addend first and then read back and written again
  /// (`addmm`: a projected time step plus `h·Wᵀ`, a bias row under a whole sequence's
  /// projection); the other paths fill C first.
  @usableFromInline
  static func matmul<Scalar: TensorScalar>(
    _ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>, into c: UnsafeMutablePointer<Scalar>,
    m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, accumulate: Bool,
    threads: Int, splitAtAnySize: Bool = false, tile: RegisterTile = .native,
    packedB: UnsafePointer<Scalar>? = nil, addend: UnsafePointer<Scalar>? = nil,
    addendRowStride: Int = 0
  ) {
    precondition(
      addend == nil || !accumulate, "matmul: an addend was given to a product that accumulates")
    guard m > 0, n > 0 else { return }
    guard k > 0 else {
      if let addend {
        fillRows(of: c, rows: m, columns: n, from: addend, rowStride: addendRowStride)
      } else if !accumulate {
        c.update(repeating: 0, count: m * n)
      }
      return
    }
    let problem = MatmulProblem(
      m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, accumulate: accumulate,
      threads: threads, splitAtAnySize: splitAtAnySize, tile: tile)
    precondition(
      packedB == nil || problem.runsTiled,
      "matmul: a packed B was given for a product of one row or depth one")
    // Dispatching on the concrete type here makes the optimiser specialise the whole engine for
    // Float and Double once, in this module, whichever module the generic caller lives in. The
    // packed B and the addend are converted without `Optional.map`, whose closure needed the
    // metadata of `UnsafePointer<Scalar>` looked up at run time on every call (~330
    // instructions).
    let packed = UnsafeRawPointer(packedB)
    let fusedAddend = UnsafeRawPointer(addend)
    if Scalar.self == Float.self {
      problem.run(
        UnsafeRawPointer(a).assumingMemoryBound(to: Float.self),
        UnsafeRawPointer(b).assumingMemoryBound(to: Float.self),
        UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self),
        packedB: packed?.assumingMemoryBound(to: Float.self),
        addend: fusedAddend?.assumingMemoryBound(to: Float.self), addendRowStride: addendRowStride)
    } else if Scalar.self == Double.self {
      problem.run(
        UnsafeRawPointer(a).assumingMemoryBound(to: Double.self),
        UnsafeRawPointer(b).assumingMemoryBound(to: Double.self),
        UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self),
        packedB: packed?.assumingMemoryBound(to: Double.self),
        addend: fusedAddend?.assumingMemoryBound(to: Double.self),
        addendRowStride: addendRowStride)
    } else {
      problem.run(
        a, b, c, packedB: packedB, addend: fusedAddend?.assumingMemoryBound(to: Scalar.self),
        addendRowStride: addendRowStride)
    }
  }
}

extension Kernels {
  /// Fills the row-major `rows × columns` matrix at `c` with rows of `source`, row `i` from
  /// `source + i·rowStride` (0: the same row for all): a product's addend, where the kernel does
  /// not read it in its tiles.
  @inline(__always)
  static func fillRows<Scalar>(
    of c: UnsafeMutablePointer<Scalar>, rows: Int, columns: Int, from source: UnsafePointer<Scalar>,
    rowStride: Int
  ) {
    for row in 0..<rows {
      (c + row * columns).update(from: source + row * rowStride, count: columns)
    }
  }
}

/// The shape and memory layout of one product, shared by the threads that compute it.
@usableFromInline
internal struct MatmulProblem: Sendable {
  let m: Int
  let n: Int
  let k: Int
  let aRowStride: Int
  let aColumnStride: Int
  let bRowStride: Int
  let bColumnStride: Int
  let cRowStride: Int
  let cColumnStride: Int
  /// Whether C is added to; set only for ``accumulating``.
  private(set) var accumulate: Bool
  let threads: Int
  /// Split whenever the shape allows, ignoring the thresholds (tests).
  let splitAtAnySize: Bool
  /// The micro-kernel's register tile.
  let tile: RegisterTile

  /// Rows of A packed at a time: whole tiles.
  var rowBlock: Int { MatmulBlocking.rowBlockTiles * tile.rows }

  /// Computes the product, splitting C between threads when it is large enough to pay for it.
  ///
  /// With two threads (the machines this is tuned on), the caller and
  /// ``Kernels/StepWorker/shared`` take pieces of C from a shared counter until none is left: the
  /// worker is handed the job through an atomic counter (~1 µs, where `concurrentPerform` took
  /// 5–10 µs to wake its second thread), so products down to
  /// ``MatmulBlocking/parallelThreshold`` (a recurrent step's products at H = 128) can gain from
  /// the second core. If the worker is busy (another thread inside a product, a harvest step, or
  /// this call made from inside the worker's own part) or slow to start, the caller takes the
  /// pieces itself: it waits at most for a piece the worker has already begun, never for a thread
  /// that cannot come. With more threads the product is split by `concurrentPerform`, one piece
  /// per thread.
  ///
  /// Rows are split when there are enough of them to fill whole row blocks, or when B is read in
  /// place (so nothing is packed twice); otherwise columns, which is what keeps the skinny
  /// products of recurrent nets (32 rows) that pack B parallel. Each piece packs its own copy of
  /// the shared operand: that costs O(mk + kn) per piece, against the O(mkn) saved by not
  /// synchronising, and the operand split on is read only by the piece that owns it (a slice of
  /// W in the swapped `h·Wᵀ`).
  ///
  /// An addend (`C = addend + op(A)·op(B)`, row `i` at `addend + i·addendRowStride`, given only
  /// with `accumulate` false) is read by the tiles where ``readsAddendInTiles(packed:)``, and
  /// copied into C before an accumulating product elsewhere.
  func run<Scalar: TensorScalar>(
    _ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>, _ c: UnsafeMutablePointer<Scalar>,
    packedB: UnsafePointer<Scalar>? = nil, addend addendBase: UnsafePointer<Scalar>? = nil,
    addendRowStride: Int = 0
  ) {
    var addend: TileSource<Scalar>? = nil
    if let addendBase {
      guard readsAddendInTiles(packed: packedB != nil) else {
        // Filled with the addend first, then added to. Only the entry point passes an addend,
        // with C stored row-major.
        Kernels.fillRows(of: c, rows: m, columns: n, from: addendBase, rowStride: addendRowStride)
        accumulating.run(a, b, c, packedB: packedB)
        return
      }
      addend = TileSource(base: addendBase, rowStride: addendRowStride)
    }
    // A batch of one sequence gives products of one row (forward, and the gradient of the
    // state) and of depth one (the weight gradient). Packing would pad the row to a tile of 8
    // (7/8 of the work on zeros) and copy all of B, so these run as direct vector loops.
    if m == 1 {
      runOneRow(a, b, c)
      return
    }
    if k == 1 {
      outerProduct(a, b, c)
      return
    }
    if packedB == nil && swapsOperands {
      transposed.run(b, a, c)
      return
    }
    let tileColumns = tile.columns(Scalar.self)
    let parts = splits(m * n * k, above: MatmulBlocking.parallelThreshold) ? threads : 1
    if parts == 1 {
      compute(a, b, c, packedB: packedB, addend: addend, rows: 0..<m, columns: 0..<n)
      return
    }
    // A B read in place, or a small one packed ahead, is shared by both threads at no cost, so
    // even a few rows are split (in tiles) and nothing is packed twice; otherwise rows only when
    // they fill whole row blocks, columns for the skinny products that pack B (measured, serial
    // halves of `g·W` 32×512·512×128: split by columns, A packed twice, 1.2× the whole product's
    // time).
    let sharedB = sharesB(Scalar.self, packed: packedB != nil)
    let splitRows = m >= parts * rowBlock || (sharedB && m >= parts * tile.rows)
    let unit = splitRows ? tile.rows : tileColumns
    let extent = splitRows ? m : n
    let units = (extent + unit - 1) / unit
    // Two threads take pieces from a counter, so a worker that starts late or loses its core
    // leaves the caller waiting for one piece, not for half the product. But every piece packs
    // the shared operand again (measured: `h·Wᵀ` 32×128·(512×128)ᵀ in four pieces, hᵀ packed
    // four times, took 1.23× the one-thread time when the caller ran them all), so only rows
    // over a shared B, which nothing packs, are cut finer than halves.
    let pieces =
      parts == 2 && splitRows && sharedB
      ? min(units, MatmulBlocking.workerPieces) : min(parts, units)
    if pieces == 1 {
      compute(a, b, c, packedB: packedB, addend: addend, rows: 0..<m, columns: 0..<n)
      return
    }
    let addresses = MatmulAddresses(a: a, b: b, c: c, packedB: packedB, addend: addend)
    let work: @Sendable (Int) -> Void = { piece in
      let lower = min(extent, units * piece / pieces * unit)
      let upper = min(extent, units * (piece + 1) / pieces * unit)
      compute(
        addresses.a, addresses.b, addresses.c, packedB: addresses.packedB,
        addend: addresses.addend, rows: splitRows ? lower..<upper : 0..<m,
        columns: splitRows ? 0..<n : lower..<upper)
    }
    if parts == 2 {
      let counter = PieceCounter()
      Kernels.StepWorker.shared.run { _ in
        while true {
          let piece = counter.claim()
          if piece >= pieces { break }
          work(piece)
        }
      }
    } else {
      DispatchQueue.concurrentPerform(iterations: pieces, execute: work)
    }
  }

  /// The one-row product `c (+)= a·op(B)`, its columns split between the caller and
  /// ``Kernels/StepWorker/shared`` when B is large enough (see ``run(_:_:_:)``).
  ///
  /// It does one multiply-add per element of B read, so it is bound by memory, not arithmetic:
  /// two cores each reading half of B fetch it about twice as fast as one reading all of it.
  func runOneRow<Scalar: TensorScalar>(
    _ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>, _ c: UnsafeMutablePointer<Scalar>
  ) {
    // Halves of whole groups of four vectors of columns (the untransposed loop's step), a
    // multiple of the transposed loop's four columns too.
    let group = 4 * Scalar.Vector.scalarCount
    guard splits(n * k, above: MatmulBlocking.parallelOneRowThreshold), n >= 2 * group else {
      vectorTimesMatrix(a, b, c)
      return
    }
    let half = (n / group + 1) / 2 * group
    let addresses = MatmulAddresses(a: a, b: b, c: c, packedB: nil, addend: nil)
    Kernels.StepWorker.shared.run { part in
      let columns = part == 0 ? 0..<half : half..<n
      let piece = MatmulProblem(
        m: 1, n: columns.count, k: k, aRowStride: aRowStride, aColumnStride: aColumnStride,
        bRowStride: bRowStride, bColumnStride: bColumnStride, cRowStride: cRowStride,
        cColumnStride: cColumnStride, accumulate: accumulate, threads: 1, splitAtAnySize: false,
        tile: tile)
      piece.vectorTimesMatrix(
        addresses.a, addresses.b + columns.lowerBound * bColumnStride,
        addresses.c + columns.lowerBound * cColumnStride)
    }
  }

  /// The same product computed as `Cᵀ = op(B)ᵀ·op(A)ᵀ`.
  ///
  /// For `A·Bᵀ` with few rows of A (a recurrent step `h·Wᵀ`, W stored `[n, k]`): packing W would
  /// transpose all of it for a handful of rows. Swapped, W is the broadcast operand, which the
  /// kernel reads in place, and only the small A is packed; C is written transposed.
  var transposed: MatmulProblem {
    MatmulProblem(
      m: n, n: m, k: k, aRowStride: bColumnStride, aColumnStride: bRowStride,
      bRowStride: aColumnStride, bColumnStride: aRowStride, cRowStride: cColumnStride,
      cColumnStride: cRowStride, accumulate: accumulate, threads: threads,
      splitAtAnySize: splitAtAnySize, tile: tile)
  }

  /// Whether B is read where it is rather than packed: up to ``MatmulBlocking/skinnyRows`` rows
  /// and an untransposed B of at most ``MatmulBlocking/skinnyBBytes``. Decided on the whole
  /// product, so that every thread's part takes the same path.
  func readsBInPlace<Scalar>(_: Scalar.Type) -> Bool {
    bColumnStride == 1 && m <= MatmulBlocking.skinnyRows
      && k * n * MemoryLayout<Scalar>.stride <= MatmulBlocking.skinnyBBytes
  }

  /// Whether the product runs on the tiled path, which can read a B packed ahead: more than one
  /// row and a depth above one.
  var runsTiled: Bool { m > 1 && k > 1 }

  /// Whether both threads can read all of B without either packing it: B read in place, or
  /// packed ahead (`packed`) and as small as one read in place. A larger B packed ahead is split
  /// by columns, so that each thread streams half of it rather than all of it per piece.
  func sharesB<Scalar>(_ scalar: Scalar.Type, packed: Bool) -> Bool {
    packed
      ? m <= MatmulBlocking.skinnyRows
        && k * n * MemoryLayout<Scalar>.stride <= MatmulBlocking.skinnyBBytes
      : readsBInPlace(scalar)
  }

  /// Whether ``run(_:_:_:packedB:addend:addendRowStride:)`` computes this product as
  /// ``transposed``: `A·Bᵀ` with few rows of A.
  var swapsOperands: Bool {
    bRowStride == 1 && bColumnStride != 1 && m <= MatmulBlocking.swapRows && n > m
  }

  /// The same product added to C (`C += op(A)·op(B)`).
  var accumulating: MatmulProblem {
    var problem = self
    problem.accumulate = true
    return problem
  }

  /// Whether ``run(_:_:_:packedB:addend:addendRowStride:)`` can take an addend into its tiles: a
  /// tiled product not computed swapped (whose C is written transposed), with B packed ahead
  /// (`packed`) or not.
  func readsAddendInTiles(packed: Bool) -> Bool {
    runsTiled && cColumnStride == 1 && (packed || !swapsOperands)
  }

  /// Depth of a packed block: longer when A is read in place (see ``MatmulBlocking``). Decided
  /// on the whole product's shape, so that every thread's part, and a copy of B packed ahead
  /// (``packWholeB(_:into:)``), use the same blocks.
  var depthBlock: Int {
    min(k, readsAInPlace ? MatmulBlocking.inPlaceDepthBlock : MatmulBlocking.depthBlock)
  }

  /// Whether A is broadcast from where it is rather than packed. With few columns each packed A
  /// panel would be used by only one or two B panels: W in the swapped `A·Bᵀ`, or the transposed
  /// gradient in a weight gradient `gᵀ·x` with few inputs (8 rows of a step in one cache line).
  /// Measured: the two 64-column halves of `g·W` 32×512·512×128 with A in place, 2.5× slower
  /// than packed.
  var readsAInPlace: Bool { n <= MatmulBlocking.skinnyRows }

  /// Elements of all of B packed: every depth block (``depthBlock``) holds all the columns,
  /// rounded up to whole panels.
  func wholePackedBCount<Scalar: TensorScalar>(_: Scalar.Type) -> Int {
    k * roundUp(n, tile.columns(Scalar.self))
  }

  /// Packs all of B into `packed` (``wholePackedBCount(_:)`` elements), depth block after depth
  /// block, each laid out as ``packB(_:into:depth:columns:)`` lays out a block of all columns:
  /// the panel of the block at depth `p0` and column `j` (a whole panel's first column) starts
  /// at `p0·paddedColumns + j·kc`.
  func packWholeB<Scalar: TensorScalar>(
    _ b: UnsafePointer<Scalar>, into packed: UnsafeMutablePointer<Scalar>
  ) {
    let block = depthBlock
    let paddedColumns = roundUp(n, tile.columns(Scalar.self))
    for p0 in stride(from: 0, to: k, by: block) {
      packB(
        b, into: packed + p0 * paddedColumns, depth: p0..<min(k, p0 + block), columns: 0..<n)
    }
  }

  /// Whether a product doing `work` (multiply-adds, or elements of B for one row) is split
  /// between threads, given the `threshold` above which that pays.
  func splits(_ work: Int, above threshold: Int) -> Bool {
    threads >= 2 && (splitAtAnySize || work >= threshold)
  }

  /// The serial blocked algorithm for the part `rows × columns` of C, reading B's panels from
  /// `packedB` (all of B, from ``packWholeB(_:into:)``) when given instead of packing them.
  func compute<Scalar: TensorScalar>(
    _ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>, _ c: UnsafeMutablePointer<Scalar>,
    packedB prepacked: UnsafePointer<Scalar>?, addend: TileSource<Scalar>? = nil,
    rows: Range<Int>, columns: Range<Int>
  ) {
    let tileRows = tile.rows
    let tileColumns = tile.columns(Scalar.self)
    let readAInPlace = readsAInPlace
    let depthBlock = self.depthBlock
    let columnBlock = max(
      tileColumns,
      MatmulBlocking.packedBBytes / (MemoryLayout<Scalar>.stride * depthBlock) / tileColumns
        * tileColumns)
    let readBInPlace = prepacked == nil && readsBInPlace(Scalar.self)
    let paddedColumns = roundUp(n, tileColumns)
    let packedBCount =
      prepacked == nil ? depthBlock * min(columnBlock, roundUp(columns.count, tileColumns)) : 1
    let packedACount = depthBlock * min(rowBlock, roundUp(rows.count, tileRows))
    withUnsafeTemporaryAllocation(of: Scalar.self, capacity: packedBCount) { packedB in
      withUnsafeTemporaryAllocation(of: Scalar.self, capacity: packedACount) { packedA in
        withUnsafeTemporaryAllocation(of: Scalar.self, capacity: tileRows * tileColumns) { edge in
          guard let packedB = packedB.baseAddress, let packedA = packedA.baseAddress,
            let edge = edge.baseAddress
          else { return }
          for j0 in stride(from: columns.lowerBound, to: columns.upperBound, by: columnBlock) {
            let nc = min(columnBlock, columns.upperBound - j0)
            for p0 in stride(from: 0, to: k, by: depthBlock) {
              let kc = min(depthBlock, k - p0)
              var blockB = UnsafePointer(packedB)
              if let prepacked {
                blockB = prepacked + p0 * paddedColumns + j0 * kc
              } else if readBInPlace {
                // Only a last, partial panel is packed (to offset 0), for its zero padding.
                let full = nc / tileColumns * tileColumns
                if full < nc {
                  packB(b, into: packedB, depth: p0..<(p0 + kc), columns: (j0 + full)..<(j0 + nc))
                }
              } else {
                packB(b, into: packedB, depth: p0..<(p0 + kc), columns: j0..<(j0 + nc))
              }
              for i0 in stride(from: rows.lowerBound, to: rows.upperBound, by: rowBlock) {
                let mc = min(rowBlock, rows.upperBound - i0)
                if !readAInPlace {
                  packA(a, into: packedA, rows: i0..<(i0 + mc), depth: p0..<(p0 + kc))
                }
                // The first depth block adds to the addend, if any; later ones to C.
                let blockAddend = p0 == 0 ? addend : nil
                let addInto = accumulate || p0 > 0 || blockAddend != nil
                for ir in stride(from: 0, to: mc, by: tileRows) {
                  let validRows = min(tileRows, mc - ir)
                  let rowsInPlace = readAInPlace && validRows == tileRows
                  if readAInPlace && !rowsInPlace {
                    // Only a last, partial panel is packed (to offset 0), for its zero padding.
                    packA(a, into: packedA, rows: (i0 + ir)..<(i0 + mc), depth: p0..<(p0 + kc))
                  }
                  let inPlaceA = a + (i0 + ir) * aRowStride + p0 * aColumnStride
                  let panelA = UnsafePointer(packedA + (readAInPlace ? 0 : ir * kc))
                  // Wrapping arithmetic: every offset lies inside its operand, and the nine
                  // overflow tests were a third of this loop's ~75 instructions per tile (1% of
                  // W1 LSTM M, whose weight gradients have tiles only 32 steps deep).
                  for jr in stride(from: 0, to: nc, by: tileColumns) {
                    let inPlace = readBInPlace && nc &- jr >= tileColumns
                    let packedOffset = readBInPlace ? 0 : jr &* kc
                    let inPlaceOffset = p0 &* bRowStride &+ j0 &+ jr
                    let panelB = inPlace ? b + inPlaceOffset : blockB + packedOffset
                    let panelBStride = inPlace ? bRowStride : tileColumns
                    let validColumns = min(tileColumns, nc &- jr)
                    let target = c + ((i0 &+ ir) &* cRowStride &+ (j0 &+ jr) &* cColumnStride)
                    var source = TileSource(base: UnsafePointer(target), rowStride: cRowStride)
                    if let blockAddend {
                      source = TileSource(
                        base: blockAddend.base
                          + ((i0 &+ ir) &* blockAddend.rowStride &+ (j0 &+ jr)),
                        rowStride: blockAddend.rowStride)
                    }
                    // Two call sites, so that the packed one keeps its constant strides.
                    if rowsInPlace {
                      tile(
                        kc, inPlaceA, aRowStride, aColumnStride, panelB, panelBStride, target,
                        source, validRows, validColumns, addInto, edge)
                    } else {
                      tile(
                        kc, panelA, 1, tileRows, panelB, panelBStride, target, source,
                        validRows, validColumns, addInto, edge)
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }

  /// One register tile of C at `target`, of which `validRows × validColumns` exist: written
  /// directly when whole and stored row-major, otherwise computed into `edge` and copied from
  /// there. With `addInto` the products are added to the values at `source` (C itself, or an
  /// addend; C's own layout when C is stored transposed).
  @inline(__always)
  func tile<Scalar: TensorScalar>(
    _ depth: Int, _ panelA: UnsafePointer<Scalar>, _ panelARowStride: Int,
    _ panelAStepStride: Int, _ panelB: UnsafePointer<Scalar>, _ panelBStride: Int,
    _ target: UnsafeMutablePointer<Scalar>, _ source: TileSource<Scalar>, _ validRows: Int,
    _ validColumns: Int, _ addInto: Bool, _ edge: UnsafeMutablePointer<Scalar>
  ) {
    let tileRows = tile.rows
    let tileColumns = tile.columns(Scalar.self)
    if cColumnStride == 1 && validRows == tileRows && validColumns == tileColumns {
      microKernel(
        depth, panelA, panelARowStride, panelAStepStride, panelB, panelBStride, target,
        cRowStride, source, addInto)
      return
    }
    // The last rows of a batch of 32 or 64 (a recurrent step's `g·W_hh`) leave 2 or 4 rows of a
    // 6-row tile: computed by a kernel of that height straight into C rather than as a whole
    // tile into `edge` and copied (processor time under valgrind, which follows instruction
    // counts: `g·W_hh` 32×512·512×128 0.88×, 64×2048·2048×512 0.96×).
    if cColumnStride == 1 && tile == .narrow && validColumns == tileColumns
      && (validRows == 2 || validRows == 4)
    {
      if validRows == 2 {
        narrowMicroKernel(
          TwoRows.self, depth, panelA, panelARowStride, panelAStepStride, panelB, panelBStride,
          target, cRowStride, source, addInto)
      } else {
        narrowMicroKernel(
          FourRows.self, depth, panelA, panelARowStride, panelAStepStride, panelB, panelBStride,
          target, cRowStride, source, addInto)
      }
      return
    }
    if tile == .wide && validColumns <= Scalar.Vector.scalarCount {
      // One vector of columns left (C with 16 Float columns, as a swapped `h·Wᵀ` at 16 rows):
      // the 8 × 2 kernel would spend half its multiply-adds on padding.
      narrowMicroKernel(
        EightRows.self, depth, panelA, panelARowStride, panelAStepStride, panelB, panelBStride,
        edge, tileColumns, TileSource(base: UnsafePointer(edge), rowStride: tileColumns), false)
    } else {
      microKernel(
        depth, panelA, panelARowStride, panelAStepStride, panelB, panelBStride, edge, tileColumns,
        TileSource(base: UnsafePointer(edge), rowStride: tileColumns), false)
    }
    if cColumnStride == 1 {
      for r in 0..<validRows {
        let row = target + r * cRowStride
        let sourceRow = source.base + r * source.rowStride
        for s in 0..<validColumns {
          let value = edge[r * tileColumns + s]
          row[s] = addInto ? sourceRow[s] + value : value
        }
      }
    } else if validRows == tileRows && Scalar.self == Float.self {
      storeTransposed(
        UnsafeRawPointer(edge).assumingMemoryBound(to: Float.self), tileColumns,
        UnsafeMutableRawPointer(target).assumingMemoryBound(to: Float.self), validColumns,
        addInto)
    } else if validRows == tileRows && Scalar.self == Double.self {
      storeTransposed(
        UnsafeRawPointer(edge).assumingMemoryBound(to: Double.self), tileColumns,
        UnsafeMutableRawPointer(target).assumingMemoryBound(to: Double.self), validColumns,
        addInto)
    } else {
      for s in 0..<validColumns {
        let row = target + s * cColumnStride
        for r in 0..<validRows {
          let value = edge[r * tileColumns + s]
          row[r * cRowStride] = addInto ? row[r * cRowStride] + value : value
        }
      }
    }
  }

  /// Copies the first `count` columns of a whole tile in `edge` into a transposed C at `target`:
  /// column `s` of the tile is the tile's rows (8 or 6) of contiguous values of row `s` of C,
  /// written with one or two vector stores.
  @inline(__always)
  func storeTransposed<Element: SIMDScalar & FloatingPoint>(
    _ edge: UnsafePointer<Element>, _ stride: Int, _ target: UnsafeMutablePointer<Element>,
    _ count: Int, _ addInto: Bool
  ) {
    if tile.rows == 8 {
      for s in 0..<count {
        let column = edge + s
        let values = SIMD8(
          column[0], column[stride], column[2 * stride], column[3 * stride], column[4 * stride],
          column[5 * stride], column[6 * stride], column[7 * stride])
        let row = UnsafeMutableRawPointer(target + s * cColumnStride)
        let old = addInto ? row.loadUnaligned(as: SIMD8<Element>.self) : SIMD8()
        row.storeBytes(of: old + values, as: SIMD8<Element>.self)
      }
      return
    }
    precondition(tile.rows == 6, "storeTransposed: no transposed store for \(tile) tiles")
    for s in 0..<count {
      let column = edge + s
      let first = SIMD4(column[0], column[stride], column[2 * stride], column[3 * stride])
      let last = SIMD2(column[4 * stride], column[5 * stride])
      let row = UnsafeMutableRawPointer(target + s * cColumnStride)
      let oldFirst = addInto ? row.loadUnaligned(as: SIMD4<Element>.self) : SIMD4()
      let lastAddress = row + 4 * MemoryLayout<Element>.stride
      let oldLast = addInto ? lastAddress.loadUnaligned(as: SIMD2<Element>.self) : SIMD2()
      row.storeBytes(of: oldFirst + first, as: SIMD4<Element>.self)
      lastAddress.storeBytes(of: oldLast + last, as: SIMD2<Element>.self)
    }
  }

  /// `c (+)= a·op(B)` for one row `a` of `k` values (contiguous whatever `transposeA`, since
  /// A has one row).
  ///
  /// With B stored `[k, n]`, the row is a sum of the rows of B scaled by the entries of `a`,
  /// computed four vectors of columns at a time with the partial sums in registers. With B
  /// stored `[n, k]` (`transposeB`, the layout of the cells' weights), each output is the dot
  /// product of `a` with one contiguous row of B, four rows at a time; B is read once, in order.
  func vectorTimesMatrix<Scalar: TensorScalar>(
    _ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>, _ c: UnsafeMutablePointer<Scalar>
  ) {
    typealias Vector = Scalar.Vector
    let width = Vector.scalarCount
    if bColumnStride == 1 {
      var j = 0
      while j + 4 * width <= n {
        var s0 = accumulate ? load(UnsafePointer(c + j)) : Vector()
        var s1 = accumulate ? load(UnsafePointer(c + j + width)) : Vector()
        var s2 = accumulate ? load(UnsafePointer(c + j + 2 * width)) : Vector()
        var s3 = accumulate ? load(UnsafePointer(c + j + 3 * width)) : Vector()
        // Wrapping index arithmetic here and below: the offsets stay inside B, and a test for
        // overflow on every step cost as many instructions as the step's loads.
        for p in 0..<k {
          let x = Vector(repeating: a[p])
          let row = b + (p &* bRowStride &+ j)
          s0 = multiplyAdd(s0, x, load(row))
          s1 = multiplyAdd(s1, x, load(row + width))
          s2 = multiplyAdd(s2, x, load(row + 2 * width))
          s3 = multiplyAdd(s3, x, load(row + 3 * width))
        }
        store(s0, c + j, false)
        store(s1, c + j + width, false)
        store(s2, c + j + 2 * width, false)
        store(s3, c + j + 3 * width, false)
        j += 4 * width
      }
      while j + width <= n {
        var sum = accumulate ? load(UnsafePointer(c + j)) : Vector()
        for p in 0..<k {
          sum = multiplyAdd(sum, Vector(repeating: a[p]), load(b + (p &* bRowStride &+ j)))
        }
        store(sum, c + j, false)
        j += width
      }
      while j < n {
        var sum: Scalar = accumulate ? c[j] : 0
        for p in 0..<k { sum += a[p] * b[p &* bRowStride &+ j] }
        c[j] = sum
        j += 1
      }
      return
    }
    let vectorDepth = k / width * width
    func dot(_ row: UnsafePointer<Scalar>) -> Scalar {
      var partial = Vector()
      var p = 0
      while p < vectorDepth {
        partial = multiplyAdd(partial, load(a + p), load(row + p))
        p += width
      }
      var sum = Scalar.lanesSum(partial)
      while p < k {
        sum += a[p] * row[p]
        p += 1
      }
      return sum
    }
    var j = 0
    while j + 4 <= n {
      let row0 = b + j * bColumnStride
      let (row1, row2, row3) = (
        row0 + bColumnStride, row0 + 2 * bColumnStride, row0 + 3 * bColumnStride
      )
      var s0 = Vector()
      var s1 = Vector()
      var s2 = Vector()
      var s3 = Vector()
      var p = 0
      while p < vectorDepth {
        let x: Vector = load(a + p)
        s0 = multiplyAdd(s0, x, load(row0 + p))
        s1 = multiplyAdd(s1, x, load(row1 + p))
        s2 = multiplyAdd(s2, x, load(row2 + p))
        s3 = multiplyAdd(s3, x, load(row3 + p))
        p += width
      }
      var sums = (
        Scalar.lanesSum(s0), Scalar.lanesSum(s1), Scalar.lanesSum(s2), Scalar.lanesSum(s3)
      )
      while p < k {
        sums.0 += a[p] * row0[p]
        sums.1 += a[p] * row1[p]
        sums.2 += a[p] * row2[p]
        sums.3 += a[p] * row3[p]
        p += 1
      }
      c[j] = accumulate ? c[j] + sums.0 : sums.0
      c[j + 1] = accumulate ? c[j + 1] + sums.1 : sums.1
      c[j + 2] = accumulate ? c[j + 2] + sums.2 : sums.2
      c[j + 3] = accumulate ? c[j + 3] + sums.3 : sums.3
      j += 4
    }
    while j < n {
      let sum = dot(b + j * bColumnStride)
      c[j] = accumulate ? c[j] + sum : sum
      j += 1
    }
  }

  /// `c (+)= op(A)·op(B)` for depth one: row `i` of C is `a[i]` times the row `b` (both
  /// contiguous whatever the transpose flags, since the depth is one).
  func outerProduct<Scalar: TensorScalar>(
    _ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>, _ c: UnsafeMutablePointer<Scalar>
  ) {
    typealias Vector = Scalar.Vector
    let width = Vector.scalarCount
    for i in 0..<m {
      let scale = a[i]
      let x = Vector(repeating: scale)
      let row = c + i * n
      var j = 0
      while j + width <= n {
        let base = accumulate ? load(UnsafePointer(row + j)) : Vector()
        store(multiplyAdd(base, x, load(b + j)), row + j, false)
        j += width
      }
      while j < n {
        row[j] = accumulate ? row[j] + scale * b[j] : scale * b[j]
        j += 1
      }
    }
  }

  /// Copies `op(A)[rows, depth]` into panels of `tileRows` rows: panel after panel, each laid
  /// out depth-major (`tileRows` consecutive values per depth step), the last one zero-padded.
  func packA<Scalar: TensorScalar>(
    _ a: UnsafePointer<Scalar>, into packed: UnsafeMutablePointer<Scalar>, rows: Range<Int>,
    depth: Range<Int>
  ) {
    let tileRows = tile.rows
    let kc = depth.count
    var out = packed
    for i0 in stride(from: rows.lowerBound, to: rows.upperBound, by: tileRows) {
      let valid = min(tileRows, rows.upperBound - i0)
      if aColumnStride == 1 && valid == tileRows {
        // Row by row would write with a stride of `tileRows`; step by step writes contiguously
        // and reads eight sequential streams, which the prefetcher follows. With the row count a
        // constant the compiler turns the steps into vector loads and shuffles; read at run time,
        // and with checked index arithmetic, it was a loop of ~16 instructions per element
        // (callgrind, `g·W_hh` 32×512·512×128: a fifth of the product, now a twentieth).
        let source = a + i0 * aRowStride + depth.lowerBound
        if tileRows == 8 {
          gatherSteps(from: source, rowStride: aRowStride, rows: 8, depth: kc, into: out)
        } else {
          gatherSteps(from: source, rowStride: aRowStride, rows: 6, depth: kc, into: out)
        }
      } else if aColumnStride == 1 {
        for r in 0..<valid {
          let source = a + (i0 + r) * aRowStride + depth.lowerBound
          for p in 0..<kc { out[p &* tileRows &+ r] = source[p] }
        }
      } else if valid == tileRows {
        // A transposed A: each step is `tileRows` contiguous values. A copy whose length is a
        // constant compiles to vector moves; with the tile's row count read at run time it was
        // a `memmove` call per step (2% of a W1 M profile).
        let source = a + depth.lowerBound * aColumnStride + i0
        if tileRows == 8 {
          for p in 0..<kc { (out + p &* 8).update(from: source + p &* aColumnStride, count: 8) }
        } else {
          // The narrow tile, the only other one: 6 rows.
          for p in 0..<kc { (out + p &* 6).update(from: source + p &* aColumnStride, count: 6) }
        }
      } else {
        for p in 0..<kc {
          let source = a + (depth.lowerBound + p) * aColumnStride + i0
          for r in 0..<valid { out[p &* tileRows &+ r] = source[r] }
        }
      }
      if valid < tileRows {
        for p in 0..<kc {
          for r in valid..<tileRows { out[p &* tileRows &+ r] = 0 }
        }
      }
      out += kc * tileRows
    }
  }

  /// Copies `rows` rows of `depth` contiguous values, `rowStride` apart, into `packed` step by
  /// step: the `rows` values of step `p` at `p·rows`. Inlined where `rows` is a constant.
  @inline(__always)
  private func gatherSteps<Scalar>(
    from source: UnsafePointer<Scalar>, rowStride: Int, rows: Int, depth: Int,
    into packed: UnsafeMutablePointer<Scalar>
  ) {
    // Wrapping arithmetic: the indices stay within the buffers, and the overflow test on each
    // one doubled the instructions per copied element.
    for p in 0..<depth {
      for r in 0..<rows { packed[p &* rows &+ r] = source[r &* rowStride &+ p] }
    }
  }

  /// Copies `op(B)[depth, columns]` into panels of `tileColumns` columns, each depth-major, the
  /// last one zero-padded.
  func packB<Scalar: TensorScalar>(
    _ b: UnsafePointer<Scalar>, into packed: UnsafeMutablePointer<Scalar>, depth: Range<Int>,
    columns: Range<Int>
  ) {
    let tileColumns = tile.columns(Scalar.self)
    let kc = depth.count
    var out = packed
    var firstColumn = columns.lowerBound
    if bColumnStride == 1 {
      // Row by row, each row of the block read from start to end and dealt out to the panels:
      // B's rows are contiguous, so the whole block is one sequential stream. Panel by panel,
      // the reads stepped down the rows a row stride apart, to a new page every one or two
      // rows at the recurrent weights' 2 KiB strides, where the hardware prefetcher does not
      // follow: a third of the time of g·W 64×2048 · 2048×512 went to packing B, 1.7× less
      // row by row.
      let fullPanels = columns.count / tileColumns
      let width = Scalar.Vector.scalarCount
      for p in 0..<kc {
        let source = b + (depth.lowerBound + p) * bRowStride + columns.lowerBound
        for panel in 0..<fullPanels {
          let row = out + panel * kc * tileColumns + p * tileColumns
          // Vector moves: a `memmove` call per panel row costs more than the copy.
          for v in 0..<tile.vectors {
            let offset = panel * tileColumns + v * width
            store(load(source + offset) as Scalar.Vector, row + v * width, false)
          }
        }
      }
      out += fullPanels * kc * tileColumns
      firstColumn += fullPanels * tileColumns
    }
    for j0 in stride(from: firstColumn, to: columns.upperBound, by: tileColumns) {
      let valid = min(tileColumns, columns.upperBound - j0)
      if bColumnStride == 1 {
        for p in 0..<kc {
          let row = out + p * tileColumns
          row.update(from: b + (depth.lowerBound + p) * bRowStride + j0, count: valid)
          (row + valid).update(repeating: 0, count: tileColumns - valid)
        }
      } else if valid == tileColumns {
        // A transposed B (the cells' weights, `h·Wᵀ`): step by step, so the panel is written
        // contiguously while the `tileColumns` source rows, one cache line each per 16 steps,
        // stay in L1 (measured, processor time: 32×128 · (512×128)ᵀ and 64×512 · (2048×512)ᵀ 1.2×
        // faster than row by row).
        let source = b + j0 * bColumnStride + depth.lowerBound
        for p in 0..<kc {
          let row = out + p * tileColumns
          for s in 0..<tileColumns { row[s] = source[s * bColumnStride + p] }
        }
      } else {
        for s in 0..<valid {
          let source = b + (j0 + s) * bColumnStride + depth.lowerBound
          for p in 0..<kc { out[p * tileColumns + s] = source[p] }
        }
        if valid < tileColumns {
          for p in 0..<kc {
            (out + p * tileColumns + valid).update(repeating: 0, count: tileColumns - valid)
          }
        }
      }
      out += kc * tileColumns
    }
  }
}

extension MatmulProblem {
  /// The product `C = op(A)·op(B)` (or `C += …` with `accumulate`) on contiguous row-major
  /// buffers: A stored `[m, k]` (`[k, m]` when `transposeA`), B `[k, n]` (`[n, k]`), C `[m, n]`.
  init(
    m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, accumulate: Bool,
    threads: Int, splitAtAnySize: Bool = false, tile: RegisterTile = .native
  ) {
    self.init(
      m: m, n: n, k: k,
      aRowStride: transposeA ? 1 : k, aColumnStride: transposeA ? m : 1,
      bRowStride: transposeB ? 1 : n, bColumnStride: transposeB ? k : 1,
      cRowStride: n, cColumnStride: 1, accumulate: accumulate, threads: threads,
      splitAtAnySize: splitAtAnySize, tile: tile)
  }
}

/// The operand addresses, handed to the worker threads.
///
/// Unchecked: each thread reads A and B and writes a disjoint part of C, and `run` returns only
/// after every thread has finished.
private struct MatmulAddresses<Scalar>: @unchecked Sendable {
  let a: UnsafePointer<Scalar>
  let b: UnsafePointer<Scalar>
  let c: UnsafeMutablePointer<Scalar>
  let packedB: UnsafePointer<Scalar>?
  let addend: TileSource<Scalar>?
}

/// Where a tile reads the values it adds its products to: row `r` at `base + r·rowStride`
/// (C itself, or an addend whose rows may all be one row: `rowStride` 0).
struct TileSource<Scalar> {
  let base: UnsafePointer<Scalar>
  let rowStride: Int
}

/// The next piece of a product split between the caller and the worker, claimed by either.
private final class PieceCounter: Sendable {
  private let next = Atomic<Int>(0)

  /// The number of a piece no other call has returned (0, 1, 2, …; past the last once all are
  /// taken). Relaxed: the worker's results reach the caller through ``Kernels/StepWorker``'s
  /// own join.
  func claim() -> Int { next.add(1, ordering: .relaxed).oldValue }
}

/// The smallest multiple of `step` that is at least `value`.
private func roundUp(_ value: Int, _ step: Int) -> Int { (value + step - 1) / step * step }

/// `acc + x·y`, fused into one instruction where the target has one.
///
/// `SIMD.addProduct` is a fused multiply-add: release builds on x86-64 target the host CPU
/// (Package.swift), which has FMA, and arm64 always has it. Debug builds on x86-64 target generic
/// SSE2, where `addProduct` becomes one library call per lane (40× slower), so they multiply and
/// add separately instead. Shared by every vector kernel (matmul, Gram matrix, sparse products).
@inline(__always)
func multiplyAdd<Vector: SIMD>(_ acc: Vector, _ x: Vector, _ y: Vector) -> Vector
where Vector.Scalar: FloatingPoint {
  #if arch(arm64) || (arch(x86_64) && !DEBUG)
    var sum = acc
    sum.addProduct(x, y)
    return sum
  #else
    return acc + x * y
  #endif
}

/// Loads one vector from `pointer` (no alignment required).
@inline(__always)
private func load<Scalar: TensorScalar>(_ pointer: UnsafePointer<Scalar>) -> Scalar.Vector {
  UnsafeRawPointer(pointer).loadUnaligned(as: Scalar.Vector.self)
}

/// Stores `vector` at `pointer`, adding what is there first when `accumulate`.
@inline(__always)
private func store<Scalar: TensorScalar>(
  _ vector: Scalar.Vector, _ pointer: UnsafeMutablePointer<Scalar>, _ accumulate: Bool
) {
  store(vector, pointer, UnsafePointer(pointer), accumulate)
}

/// Stores `vector` at `pointer`, adding the vector at `source` first when `accumulate`.
@inline(__always)
private func store<Scalar: TensorScalar>(
  _ vector: Scalar.Vector, _ pointer: UnsafeMutablePointer<Scalar>,
  _ source: UnsafePointer<Scalar>, _ accumulate: Bool
) {
  let value = accumulate ? vector + load(source) : vector
  UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Scalar.Vector.self)
}

extension MatmulProblem {
  /// The micro-kernel of this problem's register tile.
  @inline(__always)
  func microKernel<Scalar: TensorScalar>(
    _ depth: Int, _ panelA: UnsafePointer<Scalar>, _ panelARowStride: Int,
    _ panelAStepStride: Int, _ panelB: UnsafePointer<Scalar>, _ panelBStride: Int,
    _ c: UnsafeMutablePointer<Scalar>, _ rowStride: Int, _ source: TileSource<Scalar>,
    _ accumulate: Bool
  ) {
    if tile == .wide {
      wideMicroKernel(
        depth, panelA, panelARowStride, panelAStepStride, panelB, panelBStride, c, rowStride,
        source, accumulate)
    } else {
      narrowMicroKernel(
        SixRows.self, depth, panelA, panelARowStride, panelAStepStride, panelB, panelBStride, c,
        rowStride, source, accumulate)
    }
  }
}

/// The 8 × (2 vectors) register tile: `C[0..<8, 0..<2w] = panelA · panelB` over `depth` steps,
/// plus the same rows of `source` when `accumulate` (C itself, or an addend), where `panelA`
/// holds 8 values per step, row `r` of step `p` at `r·panelARowStride + p·panelAStepStride`
/// (packed: 1 and 8; a row-major A read in place: its row stride and 1), and `panelB` 2w (w =
/// lanes of `Scalar.Vector`).
///
/// The sixteen accumulators are separate variables so that they live in registers for the whole
/// loop; each step is 2 vector loads, 8 broadcasts and 16 fused multiply-adds.
@inline(__always)
private func wideMicroKernel<Scalar: TensorScalar>(
  _ depth: Int, _ panelA: UnsafePointer<Scalar>, _ panelARowStride: Int, _ panelAStepStride: Int,
  _ panelB: UnsafePointer<Scalar>, _ panelBStride: Int, _ c: UnsafeMutablePointer<Scalar>,
  _ rowStride: Int, _ source: TileSource<Scalar>, _ accumulate: Bool
) {
  typealias Vector = Scalar.Vector
  let width = Vector.scalarCount
  var c00 = Vector()
  var c01 = Vector()
  var c10 = Vector()
  var c11 = Vector()
  var c20 = Vector()
  var c21 = Vector()
  var c30 = Vector()
  var c31 = Vector()
  var c40 = Vector()
  var c41 = Vector()
  var c50 = Vector()
  var c51 = Vector()
  var c60 = Vector()
  var c61 = Vector()
  var c70 = Vector()
  var c71 = Vector()
  // Rows 4–7 from a second pointer, so that with a runtime row stride every row is one addressing
  // mode away from a pointer (offsets 0, 1, 2 and 3 strides), not the end of a chain of additions.
  var a = panelA
  var lowerA = panelA + 4 * panelARowStride
  let stride3 = 3 * panelARowStride
  var b = panelB
  for _ in 0..<depth {
    let b0: Vector = load(b)
    let b1: Vector = load(b + width)
    var x = Vector(repeating: a[0])
    c00 = multiplyAdd(c00, x, b0)
    c01 = multiplyAdd(c01, x, b1)
    x = Vector(repeating: a[panelARowStride])
    c10 = multiplyAdd(c10, x, b0)
    c11 = multiplyAdd(c11, x, b1)
    x = Vector(repeating: a[2 * panelARowStride])
    c20 = multiplyAdd(c20, x, b0)
    c21 = multiplyAdd(c21, x, b1)
    x = Vector(repeating: a[stride3])
    c30 = multiplyAdd(c30, x, b0)
    c31 = multiplyAdd(c31, x, b1)
    x = Vector(repeating: lowerA[0])
    c40 = multiplyAdd(c40, x, b0)
    c41 = multiplyAdd(c41, x, b1)
    x = Vector(repeating: lowerA[panelARowStride])
    c50 = multiplyAdd(c50, x, b0)
    c51 = multiplyAdd(c51, x, b1)
    x = Vector(repeating: lowerA[2 * panelARowStride])
    c60 = multiplyAdd(c60, x, b0)
    c61 = multiplyAdd(c61, x, b1)
    x = Vector(repeating: lowerA[stride3])
    c70 = multiplyAdd(c70, x, b0)
    c71 = multiplyAdd(c71, x, b1)
    a += panelAStepStride
    lowerA += panelAStepStride
    b += panelBStride
  }
  // Row `r` of the tile goes to `c + r·rowStride`, adding row `r` of the source.
  @inline(__always)
  func storeRow(_ first: Vector, _ second: Vector, _ row: Int) {
    let target = c + row * rowStride
    let from = source.base + row * source.rowStride
    store(first, target, from, accumulate)
    store(second, target + width, from + width, accumulate)
  }
  storeRow(c00, c01, 0)
  storeRow(c10, c11, 1)
  storeRow(c20, c21, 2)
  storeRow(c30, c31, 3)
  storeRow(c40, c41, 4)
  storeRow(c50, c51, 5)
  storeRow(c60, c61, 6)
  storeRow(c70, c71, 7)
}

/// The number of rows a narrow micro-kernel computes, as a type: each count gets its own copy
/// of ``narrowMicroKernel(_:_:_:_:_:_:_:_:_:_:_:)`` with the rows past it compiled away, so the
/// whole tile's loop carries no test per row.
private protocol NarrowTileRows {
  static var count: Int { get }
}

/// The wide tile's rows, one vector wide: its last columns when only one vector of them is left.
private enum EightRows: NarrowTileRows { static var count: Int { 8 } }
/// The whole narrow tile.
private enum SixRows: NarrowTileRows { static var count: Int { 6 } }
/// The last 4 rows of a batch of 64 (or 16).
private enum FourRows: NarrowTileRows { static var count: Int { 4 } }
/// The last 2 rows of a batch of 32 (or 8, or 128).
private enum TwoRows: NarrowTileRows { static var count: Int { 2 } }

/// The 6 × (1 vector) register tile, for targets where a vector takes several registers (see
/// ``RegisterTile/narrow``), or its first `Rows.count` rows: `C[0..<rows, 0..<w] = panelA ·
/// panelB` (plus `source` when `accumulate`), the layout as in ``wideMicroKernel(_:_:_:_:_:_:_:_:_:_:)`` with 6 values of A per
/// step (the packed panel's padding rows are read and ignored when `Rows.count` < 6). Each
/// step is 1 vector load, 6 broadcasts and 6 fused multiply-adds. With ``EightRows`` it is the
/// wide tile's 8 rows (panels of 8 values per step) by one vector.
@inline(__always)
private func narrowMicroKernel<Scalar: TensorScalar, Rows: NarrowTileRows>(
  _: Rows.Type, _ depth: Int, _ panelA: UnsafePointer<Scalar>, _ panelARowStride: Int,
  _ panelAStepStride: Int, _ panelB: UnsafePointer<Scalar>, _ panelBStride: Int,
  _ c: UnsafeMutablePointer<Scalar>, _ rowStride: Int, _ source: TileSource<Scalar>,
  _ accumulate: Bool
) {
  typealias Vector = Scalar.Vector
  let rows = Rows.count
  var c0 = Vector()
  var c1 = Vector()
  var c2 = Vector()
  var c3 = Vector()
  var c4 = Vector()
  var c5 = Vector()
  var c6 = Vector()
  var c7 = Vector()
  // Rows 3–5 from a second pointer and 6–7 from a third, as in the wide kernel.
  var a = panelA
  var lowerA = panelA + 3 * panelARowStride
  var lowestA = panelA + 6 * panelARowStride
  let stride2 = 2 * panelARowStride
  var b = panelB
  for _ in 0..<depth {
    let b0: Vector = load(b)
    c0 = multiplyAdd(c0, Vector(repeating: a[0]), b0)
    c1 = multiplyAdd(c1, Vector(repeating: a[panelARowStride]), b0)
    if rows > 2 { c2 = multiplyAdd(c2, Vector(repeating: a[stride2]), b0) }
    if rows > 3 { c3 = multiplyAdd(c3, Vector(repeating: lowerA[0]), b0) }
    if rows > 4 { c4 = multiplyAdd(c4, Vector(repeating: lowerA[panelARowStride]), b0) }
    if rows > 5 { c5 = multiplyAdd(c5, Vector(repeating: lowerA[stride2]), b0) }
    if rows > 6 { c6 = multiplyAdd(c6, Vector(repeating: lowestA[0]), b0) }
    if rows > 7 { c7 = multiplyAdd(c7, Vector(repeating: lowestA[panelARowStride]), b0) }
    a += panelAStepStride
    lowerA += panelAStepStride
    if rows > 6 { lowestA += panelAStepStride }
    b += panelBStride
  }
  // Row `r` of the tile goes to `c + r·rowStride`, adding row `r` of the source.
  @inline(__always)
  func storeRow(_ vector: Vector, _ row: Int) {
    store(vector, c + row * rowStride, source.base + row * source.rowStride, accumulate)
  }
  storeRow(c0, 0)
  storeRow(c1, 1)
  if rows > 2 { storeRow(c2, 2) }
  if rows > 3 { storeRow(c3, 3) }
  if rows > 4 { storeRow(c4, 4) }
  if rows > 5 { storeRow(c5, 5) }
  if rows > 6 { storeRow(c6, 6) }
  if rows > 7 { storeRow(c7, 7) }
}
