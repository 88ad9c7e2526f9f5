// The Gram matrix XᵀX of a ridge readout (BLAS's `syrk`), accumulated chunk by chunk of rows in a
// layout chosen for the product rather than for the caller: the lower triangle as 8×16 tiles,
// each tile's 128 values contiguous.
//
// Why tiles: the product adds an 8×16 block of sums into C once per depth block. With C row-major
// (N = 2,000: rows 16 KB apart) those 8 rows lie on 8 different pages, and over the 16 MB triangle
// the address translations presumably miss the TLB on every tile (not checked with counters);
// contiguous tiles, visited in memory order, are one sequential stream. Measured in a lab copy (one core, N = 2,000 over 10,000 rows, min of
// 5 alternating runs): 840 ms for the row-major kernel, 669 ms tiled (1.26×).

import Dispatch

/// Σₜ (xₜ − s)(xₜ − s)ᵀ over the rows xₜ of row-major matrices with `width` columns, lower
/// triangle only (j ≤ i), for a fixed shift s: the Gram matrix of a ridge regression.
///
/// Values live in 8×16 tiles: tile (strip, panel) covers rows 8·strip ..< 8·strip + 8 and columns
/// 16·panel ..< 16·panel + 16 (row-major inside the tile), tiles ordered panel by panel and, within
/// a panel, by strip from the first one that reaches the diagonal (2·panel). Entries above the
/// diagonal or past `width` are scratch: the product writes them, nothing reads them.
struct LowerGramAccumulator: Sendable {
  /// N, the number of columns of the rows (the order of the Gram matrix).
  let width: Int
  /// The tiles, 64-byte aligned; copied on write.
  private var storage: AlignedDoubles

  /// Rows per depth block of the product: the 16-column panel of one block (512 × 16 × 8 bytes,
  /// 64 KB) streams from the second-level cache into up to 16 tiles. Every block is one more
  /// pass over the tiles of C; 256 and 384 measured within noise of 512 (lab, one core).
  static let depthBlock = 512
  /// Rows of C per row block (16 strips): the row block's strips of one depth block (512 KB) stay
  /// in the second-level cache while the panels to their left pass once.
  static let rowBlock = 128
  /// Rows packed at a time: 16 MB of packed strips at N = 2,000.
  static let chunkRows = 1024

  /// A zero Gram matrix of order `width`.
  init(width: Int) {
    precondition(width > 0, "LowerGramAccumulator: width \(width) must be positive")
    self.width = width
    storage = AlignedDoubles(count: Self.tileCount(width: width) * 128)
  }

  /// The number of 8×16 tiles that reach the lower triangle.
  private static func tileCount(width: Int) -> Int {
    let (strips, panels) = ((width + 7) / 8, (width + 15) / 16)
    return panels * strips - panels * (panels - 1)
  }

  /// The index of tile (`strip`, `panel`), `strip` ≥ 2·`panel`, among `strips` strips.
  @inline(__always)
  private static func tileIndex(strip: Int, panel: Int, strips: Int) -> Int {
    panel &* strips &- panel &* (panel &- 1) &+ strip &- 2 &* panel
  }

  /// Adds the rows of `x` (`rows` rows, `stride` apart, the first `width` values of each read),
  /// each minus `shift` (`width` values), on up to `threads` threads.
  ///
  /// With `sums`, also the first-order sums a ridge regression needs, in the same pass over the
  /// rows (reading them once instead of twice): `sums.total` (`width` values) += Σₜ (xₜ − s),
  /// and for each of the `sums.count` weight columns k, `sums.weighted[k·width ..< (k + 1)·width]`
  /// += Σₜ `sums.weights[t·count + k]`·(xₜ − s), where `sums.weights` has `rows` rows.
  ///
  /// `tile` picks the tile kernel: ``RegisterTile/wide``, 16 accumulators of 8 Doubles
  /// (AVX-512), or ``RegisterTile/narrow``, ``addNarrowTile`` (AVX2, NEON); the target's own
  /// unless a test asks for the other.
  mutating func add(
    rows: Int, of x: UnsafePointer<Double>, stride: Int, shift: UnsafePointer<Double>,
    sums: FirstOrderSums? = nil, threads: Int, tile: RegisterTile = .native
  ) {
    if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    var start = 0
    while start < rows {
      let count = Swift.min(rows - start, Self.chunkRows)
      let packed = PackedStrips(rows: count, width: width)
      packed.pack(
        x + start * stride, stride: stride, shift: shift,
        sums: sums.map { $0.advanced(by: start) }, threads: threads)
      addProduct(packed, into: storage.pointer, threads: threads, tile: tile)
      packed.deallocate()
      start += count
    }
  }

  /// The lower triangle (j ≤ i) minus `scale`·v·vᵀ written into row-major `c`,
  /// `[width, width]`, for `v` of `width` values: the centring of a Gram matrix taken about a
  /// shift. The strict upper triangle of `c` is left as it is.
  func writeLowerTriangle(
    into c: UnsafeMutablePointer<Double>, minus scale: Double, outer v: UnsafePointer<Double>
  ) {
    typealias V = SIMD8<Double>
    let strips = (width + 7) / 8
    let tiles = UnsafePointer(storage.pointer)
    let vector = UnsafeRawPointer(v)
    for i in 0..<width {
      let (strip, row) = (i / 8, i % 8)
      let factor = scale * v[i]
      var panel = 0
      while 16 * panel <= i {
        let first = 16 * panel
        let source =
          tiles + Self.tileIndex(strip: strip, panel: panel, strips: strips) * 128 + row * 16
        let target = c + i * width + first
        if i + 1 - first >= 16 {
          for half in 0..<2 {
            let value =
              UnsafeRawPointer(source + 8 * half).loadUnaligned(as: V.self) - factor
              * vector.loadUnaligned(fromByteOffset: (first + 8 * half) * 8, as: V.self)
            UnsafeMutableRawPointer(target + 8 * half).storeBytes(of: value, as: V.self)
          }
        } else {
          for j in 0..<(i + 1 - first) { target[j] = source[j] - factor * v[first + j] }
        }
        panel += 1
      }
    }
  }

  /// The product of the packed rows' strips into the tiles: one register-tiled 8×16 kernel per
  /// tile and depth block (``gramTile(strip:left:right:depth:c:)`` or ``addNarrowTile``, by
  /// `tile`); threads take whole row blocks (disjoint tiles), dealt back and forth
  /// because the blocks further down hold more tiles.
  private func addProduct(
    _ x: PackedStrips, into c: UnsafeMutablePointer<Double>, threads: Int, tile: RegisterTile
  ) {
    let (width, depth) = (self.width, x.depth)
    let strips = (width + 7) / 8
    let stripsPerBlock = Self.rowBlock / 8
    let rowBlocks = (strips + stripsPerBlock - 1) / stripsPerBlock
    let parts = Swift.max(1, Swift.min(threads, rowBlocks))
    let operands = Pointers(x: x.values, shift: x.values, c: c)
    let work: @Sendable (Int) -> Void = { part in
      var start = 0
      while start < depth {
        let count = Swift.min(Self.depthBlock, depth - start)
        for block in 0..<rowBlocks {
          let round = block / parts
          let owner = round % 2 == 0 ? block % parts : parts - 1 - block % parts
          guard owner == part else { continue }
          let firstStrip = block * stripsPerBlock
          let endStrip = Swift.min(strips, firstStrip + stripsPerBlock)
          // The panels with a column at or left of the block's last row.
          let endPanel = (endStrip + 1) / 2
          for panel in 0..<endPanel {
            // An odd last strip pairs with itself: the duplicate columns land past `width`.
            let left = operands.x + (2 * panel * depth + start) * 8
            let right =
              operands.x + (Swift.min(2 * panel + 1, strips - 1) * depth + start) * 8
            for strip in Swift.max(firstStrip, 2 * panel)..<endStrip {
              let rows = operands.x + (strip * depth + start) * 8
              let c = operands.c + Self.tileIndex(strip: strip, panel: panel, strips: strips) * 128
              if tile == .wide {
                gramTile(strip: rows, left: left, right: right, depth: count, c: c)
              } else {
                addNarrowTile(
                  a: rows, aStride: 8, low: left, high: right, bStride: 8, depth: count, into: c)
              }
            }
          }
        }
        start += count
      }
    }
    if parts == 1 {
      work(0)
    } else {
      DispatchQueue.concurrentPerform(iterations: parts, execute: work)
    }
  }
}

/// Where ``LowerGramAccumulator/add(rows:of:stride:shift:sums:threads:)`` adds the first-order
/// sums of the rows it packs: Σₜ (xₜ − s) into `total` and Σₜ wₜₖ·(xₜ − s) into row k of
/// `weighted` (`[count, width]`), with the weights `weights` `[rows, count]`.
struct FirstOrderSums: @unchecked Sendable {
  /// `width` sums of the shifted columns.
  let total: UnsafeMutablePointer<Double>
  /// The weights, `count` per row.
  let weights: UnsafePointer<Double>
  /// The number of weight columns.
  let count: Int
  /// `count` rows of `width` weighted sums.
  let weighted: UnsafeMutablePointer<Double>

  /// The same sums with the weights starting `rows` rows later.
  func advanced(by rows: Int) -> FirstOrderSums {
    FirstOrderSums(total: total, weights: weights + rows * count, count: count, weighted: weighted)
  }
}

/// Raw addresses handed to the threads of one call: they read `x` and `shift` and write
/// disjoint parts of `c`, and the call returns only after every thread has finished.
private struct Pointers: @unchecked Sendable {
  let x: UnsafePointer<Double>
  let shift: UnsafePointer<Double>
  let c: UnsafeMutablePointer<Double>
}

/// Rows of a matrix minus a shift, as strips of 8 columns: entry (t, c) at
/// `values[(c / 8)·depth·8 + t·8 + c % 8]`, columns past the width zero. One step of the Gram
/// kernel reads 8 consecutive values (one cache line, 64-byte aligned) from each of its strips.
private struct PackedStrips {
  /// The number of rows t.
  let depth: Int
  /// The number of columns c.
  let width: Int
  /// The strips, 64-byte aligned; owned, freed by ``deallocate()``.
  let values: UnsafeMutablePointer<Double>

  /// Uninitialised strips for `rows` rows of `width` columns.
  init(rows: Int, width: Int) {
    depth = rows
    self.width = width
    values = UnsafeMutableRawPointer.allocate(
      byteCount: Swift.max(1, (width + 7) / 8 * rows * 64), alignment: 64
    ).bindMemory(to: Double.self, capacity: (width + 7) / 8 * rows * 8)
  }

  /// Fills the strips from `depth` rows of `source` (`stride` apart) minus `shift`, the strips
  /// split between up to `threads` threads, adding to `sums` on the way (each thread the columns
  /// of its strips, row after row, so every sum is taken in row order as a plain loop would).
  /// Rows go in groups of 16, each group through all strips, so that the 16 source rows' pages
  /// stay in the TLB while their lines are read.
  func pack(
    _ source: UnsafePointer<Double>, stride: Int, shift: UnsafePointer<Double>,
    sums: FirstOrderSums?, threads: Int
  ) {
    typealias V = SIMD8<Double>
    let (depth, width) = (self.depth, self.width)
    let strips = (width + 7) / 8
    let parts = Swift.max(1, Swift.min(threads, strips / 16))
    let addresses = Pointers(x: source, shift: shift, c: values)
    let work: @Sendable (Int) -> Void = { part in
      let (source, shift, out) = (addresses.x, addresses.shift, addresses.c)
      let stripRange = (part * strips / parts)..<((part + 1) * strips / parts)
      var group = 0
      while group < depth {
        let groupEnd = Swift.min(depth, group + 16)
        for strip in stripRange {
          let first = strip * 8
          let target = out + (strip * depth) * 8
          let lanes = Swift.min(8, width - first)
          @inline(__always) func load(_ pointer: UnsafePointer<Double>) -> V {
            if lanes == 8 { return UnsafeRawPointer(pointer).loadUnaligned(as: V.self) }
            var value = V()
            for lane in 0..<lanes { value[lane] = pointer[lane] }
            return value
          }
          @inline(__always) func add(_ value: V, to pointer: UnsafeMutablePointer<Double>) {
            let sum = load(UnsafePointer(pointer)) + value
            if lanes == 8 {
              UnsafeMutableRawPointer(pointer).storeBytes(of: sum, as: V.self)
            } else {
              for lane in 0..<lanes { pointer[lane] = sum[lane] }
            }
          }
          let s = load(shift + first)
          for t in group..<groupEnd {
            let row = load(source + t * stride + first) - s
            UnsafeMutableRawPointer(target + t * 8).storeBytes(of: row, as: V.self)
            if let sums {
              add(row, to: sums.total + first)
              for k in 0..<sums.count {
                add(row * sums.weights[t * sums.count + k], to: sums.weighted + k * width + first)
              }
            }
          }
        }
        group = groupEnd
      }
    }
    if parts == 1 {
      work(0)
    } else {
      DispatchQueue.concurrentPerform(iterations: parts, execute: work)
    }
  }

  /// Frees ``values``.
  func deallocate() {
    UnsafeMutableRawPointer(values).deallocate()
  }
}

/// Adds the 8×16 tile Σₜ strip(t)ᵀ·[left(t), right(t)] over `depth` rows to the row-major tile
/// `c` (128 values): 8 rows from `strip`, 16 columns from the strips `left` and `right` (each 8
/// values per row).
///
/// Sixteen vector accumulators stay in registers for the whole loop when each is one register
/// (AVX-512: ``RegisterTile/wide``); each step is 2 vector loads, 8 broadcasts and 16 fused
/// multiply-adds, all operands from aligned cache lines.
@inline(__always)
private func gramTile(
  strip: UnsafePointer<Double>, left: UnsafePointer<Double>, right: UnsafePointer<Double>,
  depth: Int, c: UnsafeMutablePointer<Double>
) {
  typealias V = SIMD8<Double>
  var (c0, d0, c1, d1, c2, d2, c3, d3) = (V(), V(), V(), V(), V(), V(), V(), V())
  var (c4, d4, c5, d5, c6, d6, c7, d7) = (V(), V(), V(), V(), V(), V(), V(), V())
  let (low, high) = (UnsafeRawPointer(left), UnsafeRawPointer(right))
  var s = strip
  var offset = 0
  for _ in 0..<depth {
    let l = low.load(fromByteOffset: offset, as: V.self)
    let h = high.load(fromByteOffset: offset, as: V.self)
    c0 = multiplyAdd(c0, V(repeating: s[0]), l)
    d0 = multiplyAdd(d0, V(repeating: s[0]), h)
    c1 = multiplyAdd(c1, V(repeating: s[1]), l)
    d1 = multiplyAdd(d1, V(repeating: s[1]), h)
    c2 = multiplyAdd(c2, V(repeating: s[2]), l)
    d2 = multiplyAdd(d2, V(repeating: s[2]), h)
    c3 = multiplyAdd(c3, V(repeating: s[3]), l)
    d3 = multiplyAdd(d3, V(repeating: s[3]), h)
    c4 = multiplyAdd(c4, V(repeating: s[4]), l)
    d4 = multiplyAdd(d4, V(repeating: s[4]), h)
    c5 = multiplyAdd(c5, V(repeating: s[5]), l)
    d5 = multiplyAdd(d5, V(repeating: s[5]), h)
    c6 = multiplyAdd(c6, V(repeating: s[6]), l)
    d6 = multiplyAdd(d6, V(repeating: s[6]), h)
    c7 = multiplyAdd(c7, V(repeating: s[7]), l)
    d7 = multiplyAdd(d7, V(repeating: s[7]), h)
    s += 8
    offset &+= 64
  }
  let tile = UnsafeMutableRawPointer(c)
  @inline(__always) func add(_ row: Int, _ low: V, _ high: V) {
    let at = row * 128
    tile.storeBytes(
      of: tile.load(fromByteOffset: at, as: V.self) + low, toByteOffset: at, as: V.self)
    tile.storeBytes(
      of: tile.load(fromByteOffset: at + 64, as: V.self) + high, toByteOffset: at + 64,
      as: V.self)
  }
  add(0, c0, d0)
  add(1, c1, d1)
  add(2, c2, d2)
  add(3, c3, d3)
  add(4, c4, d4)
  add(5, c5, d5)
  add(6, c6, d6)
  add(7, c7, d7)
}

/// Adds the 8×16 product Σₜ a(t)ᵀ·[low(t), high(t)] over `depth` steps to the row-major tile `c`
/// (8 rows, 16 apart): a(t) is the 8 values at `a + t·aStride`, low(t) and high(t) the 8 at
/// `low + t·bStride` and `high + t·bStride`. The tile kernel of ``LowerGramAccumulator`` and
/// ``addLowerProduct(_:_:into:offset:stride:threads:tile:)`` for targets without 512-bit
/// registers (``RegisterTile/narrow``).
///
/// The 8×16 tile as 16 `SIMD8<Double>` accumulators is 32 of AVX2's sixteen 256-bit registers,
/// so it spilled on every step; here it is summed in register blocks that fit: 6 rows × 8
/// columns twice (12 registers of sums, the matrix product's narrow tile), then 2 × 16 (8), over
/// depth chunks of 128 steps whose operands (3 × 8 KB for the Gram matrix) stay in the
/// first-level cache while the blocks take turns reading them. Measured on a Zen 3 (Gram matrix
/// of 10,000 rows at N = 2,000, one core): 2.6 s with the 16 spilling accumulators, 0.98 s here
/// (20 billion multiply-adds per second); four 4 × 8 blocks and chunks of 64 or 256 were within
/// noise of this or slower.
@inline(__always)
func addNarrowTile(
  a: UnsafePointer<Double>, aStride: Int, low: UnsafePointer<Double>,
  high: UnsafePointer<Double>, bStride: Int, depth: Int, into c: UnsafeMutablePointer<Double>
) {
  var start = 0
  while start < depth {
    let count = Swift.min(128, depth - start)
    let (a, low, high) = (a + start * aStride, low + start * bStride, high + start * bStride)
    addNarrowBlock(
      rows: 6, a: a, aStride: aStride, low: low, high: nil, bStride: bStride, depth: count, c: c)
    addNarrowBlock(
      rows: 6, a: a, aStride: aStride, low: high, high: nil, bStride: bStride, depth: count,
      c: c + 8)
    addNarrowBlock(
      rows: 2, a: a + 6, aStride: aStride, low: low, high: high, bStride: bStride, depth: count,
      c: c + 6 * 16)
    start += count
  }
}

/// Adds Σₜ a(t)[r]·low(t) (and ·high(t), when given) over `depth` steps to row r of `c` (16
/// apart), columns 0 ..< 8 (and 8 ..< 16), for r < `rows`: `rows` · (1 or 2) ≤ 6 accumulators of 8
/// Doubles. `rows` and the presence of `high` are constants where it is inlined, so the branches
/// fold away.
@inline(__always)
private func addNarrowBlock(
  rows: Int, a: UnsafePointer<Double>, aStride: Int, low: UnsafePointer<Double>,
  high: UnsafePointer<Double>?, bStride: Int, depth: Int, c: UnsafeMutablePointer<Double>
) {
  typealias V = SIMD8<Double>
  var (x0, x1, x2, x3, x4, x5) = (V(), V(), V(), V(), V(), V())
  var (s, l, h) = (a, UnsafeRawPointer(low), UnsafeRawPointer(high ?? low))
  let step = bStride &* 8
  for _ in 0..<depth {
    let x = l.loadUnaligned(as: V.self)
    if high == nil {
      x0 = multiplyAdd(x0, V(repeating: s[0]), x)
      if rows > 1 { x1 = multiplyAdd(x1, V(repeating: s[1]), x) }
      if rows > 2 { x2 = multiplyAdd(x2, V(repeating: s[2]), x) }
      if rows > 3 { x3 = multiplyAdd(x3, V(repeating: s[3]), x) }
      if rows > 4 { x4 = multiplyAdd(x4, V(repeating: s[4]), x) }
      if rows > 5 { x5 = multiplyAdd(x5, V(repeating: s[5]), x) }
    } else {
      let y = h.loadUnaligned(as: V.self)
      x0 = multiplyAdd(x0, V(repeating: s[0]), x)
      x1 = multiplyAdd(x1, V(repeating: s[0]), y)
      if rows > 1 {
        x2 = multiplyAdd(x2, V(repeating: s[1]), x)
        x3 = multiplyAdd(x3, V(repeating: s[1]), y)
      }
      if rows > 2 {
        x4 = multiplyAdd(x4, V(repeating: s[2]), x)
        x5 = multiplyAdd(x5, V(repeating: s[2]), y)
      }
    }
    s += aStride
    l += step
    h += step
  }
  let tile = UnsafeMutableRawPointer(c)
  @inline(__always) func add(_ sum: V, at offset: Int) {
    tile.storeBytes(
      of: tile.loadUnaligned(fromByteOffset: offset * 8, as: V.self) + sum,
      toByteOffset: offset * 8, as: V.self)
  }
  if high == nil {
    add(x0, at: 0)
    if rows > 1 { add(x1, at: 16) }
    if rows > 2 { add(x2, at: 32) }
    if rows > 3 { add(x3, at: 48) }
    if rows > 4 { add(x4, at: 64) }
    if rows > 5 { add(x5, at: 80) }
  } else {
    add(x0, at: 0)
    add(x1, at: 8)
    if rows > 1 {
      add(x2, at: 16)
      add(x3, at: 24)
    }
    if rows > 2 {
      add(x4, at: 32)
      add(x5, at: 40)
    }
  }
}

/// A 64-byte aligned, zero-initialised array of Doubles owned by a class, so that a value type
/// can hold it and copy it on write.
private final class AlignedDoubles: @unchecked Sendable {
  /// The first value; `count` values follow.
  let pointer: UnsafeMutablePointer<Double>
  /// The number of values.
  let count: Int

  /// `count` zeros.
  init(count: Int) {
    self.count = count
    pointer = UnsafeMutableRawPointer.allocate(byteCount: count * 8, alignment: 64)
      .bindMemory(to: Double.self, capacity: count)
    pointer.initialize(repeating: 0, count: count)
  }

  /// A new array with the same values.
  func copy() -> AlignedDoubles {
    let result = AlignedDoubles(count: count)
    result.pointer.update(from: pointer, count: count)
    return result
  }

  deinit {
    UnsafeMutableRawPointer(pointer).deallocate()
  }
}
