// Elementwise kernels. Each takes a scalar function and its SIMD twin; the vector form runs over
// whole `Scalar.Vector` chunks and the scalar form finishes the tail. Generic code here is
// `@inlinable` so that every op specialises it for `Float` and `Double`, and the kernels that take
// closures are `@inline(__always)` so that the op's closure is inlined into the loop: specialised
// but not inlined, `zip` called `+` through a function pointer once per vector, with the registers
// spilled around each call (a profile of W1 LSTM M showed it). For `Float` that needs one more
// thing, which `Package.swift` sets for release builds: a higher LLVM inlining threshold, because
// generic `SIMD16<Float>` arithmetic reaches LLVM as sixteen scalar operations and the closure
// looked too large to inline until the vectoriser, which runs later, had merged them.

/// Namespace for the forward kernels that ops are built on.
@usableFromInline
internal enum Kernels {
  /// A new array of `count` elements, every one of which `body` writes.
  ///
  /// The array is built from ``UnwrittenElements``, a collection that leaves the new buffer as
  /// the allocator gave it: that way the standard library allocates with code specialised for
  /// `Scalar` and writes nothing before `body` does. Both obvious spellings cost more:
  /// `[Scalar](unsafeUninitializedCapacity:)` allocates through the standard library's
  /// unspecialised code, which looks the array type up at run time (callgrind: some 350
  /// instructions per array, more than the whole of a small op), and `Array(repeatElement:)`
  /// writes zeros that `body` then overwrites. Measured on one machine (Zen 4), allocating and
  /// writing 4,096 Floats: 620 ns zeroed first, 440 ns unspecialised, 365 ns here; 32 Floats:
  /// 53, 70 and 48 ns. Large arrays are where the allocator is first told to keep freed memory
  /// for reuse (``FreedMemoryReuse``).
  @inlinable
  static func array<Scalar: TensorScalar>(
    count: Int, _ body: (UnsafeMutableBufferPointer<Scalar>) -> Void
  ) -> [Scalar] {
    if count > 4096 { _ = FreedMemoryReuse.isEnabled }
    var result = Array(UnwrittenElements<Scalar>(count: count))
    result.withUnsafeMutableBufferPointer { body($0) }
    return result
  }

  /// `out[i] = c[i] + a[i mod periodA] · b[i mod periodB]`, the product rounded before the sum,
  /// for factors that are `c`'s shape (period `c.count`) or repeated along its leading axes
  /// (period: their own count, which divides `c.count`). `out` may be `c` itself.
  @inlinable
  static func addProducts<Scalar: TensorScalar>(
    _ c: UnsafeBufferPointer<Scalar>, _ a: UnsafeBufferPointer<Scalar>, _ periodA: Int,
    _ b: UnsafeBufferPointer<Scalar>, _ periodB: Int, into out: UnsafeMutableBufferPointer<Scalar>
  ) {
    typealias Vector = Scalar.Vector
    let width = Vector.scalarCount
    // Runs of the shorter period: within one, every operand is contiguous.
    let run = Swift.min(periodA, periodB)
    var start = 0
    while start < c.count {
      let (offsetA, offsetB) = (start % periodA, start % periodB)
      var i = 0
      while i + width <= run {
        let product =
          Vector.loadUnaligned(from: a, at: offsetA + i)
          * Vector.loadUnaligned(from: b, at: offsetB + i)
        (Vector.loadUnaligned(from: c, at: start + i) + product).storeUnaligned(
          to: out, at: start + i)
        i += width
      }
      while i < run {
        out[start + i] = c[start + i] + a[offsetA + i] * b[offsetB + i]
        i += 1
      }
      start += run
    }
  }

  /// `result[i] = f(x[i])`.
  @inlinable @inline(__always)
  static func map<Scalar: TensorScalar>(
    _ x: [Scalar], scalar f: (Scalar) -> Scalar, vector vf: (Scalar.Vector) -> Scalar.Vector
  ) -> [Scalar] {
    let n = x.count
    let width = Scalar.Vector.scalarCount
    return array(count: n) { out in
      x.withUnsafeBufferPointer { input in
        var i = 0
        while i + width <= n {
          vf(Scalar.Vector.loadUnaligned(from: input, at: i)).storeUnaligned(to: out, at: i)
          i += width
        }
        while i < n {
          out[i] = f(input[i])
          i += 1
        }
      }
    }
  }

  /// `result[i] = f(x[i])` for functions with no vector form (library calls such as `exp`).
  @inlinable @inline(__always)
  static func map<Scalar: TensorScalar>(_ x: [Scalar], scalar f: (Scalar) -> Scalar) -> [Scalar] {
    array(count: x.count) { out in
      x.withUnsafeBufferPointer { input in
        for i in 0..<input.count { out[i] = f(input[i]) }
      }
    }
  }

  /// `result = f(a, b)` elementwise with NumPy broadcasting; traps naming `op` on a mismatch.
  ///
  /// An operand repeated whole along leading axes (a bias or a peephole `[H]` against `[B, H]`)
  /// is zipped with each row in turn. Otherwise the last axis runs as a vector loop, with a splat
  /// for an operand broadcast along it, and the leading axes are walked with an odometer, so every
  /// broadcast pattern runs at vector speed when the last axis is long.
  @inlinable @inline(__always)
  static func zip<Scalar: TensorScalar>(
    _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, op: String,
    scalar f: (Scalar, Scalar) -> Scalar, vector vf: (Scalar.Vector, Scalar.Vector) -> Scalar.Vector
  ) -> Tensor<Scalar> {
    let shape = broadcastShape(a.shape, b.shape, op: op)
    let count = shape.elementCount
    let scalars: [Scalar] = array(count: count) { out in
      a.scalars.withUnsafeBufferPointer { pa in
        b.scalars.withUnsafeBufferPointer { pb in
          guard let baseA = pa.baseAddress, let baseB = pb.baseAddress,
            let baseOut = out.baseAddress, count > 0
          else { return }
          if a.shape == b.shape {
            zipContiguous(baseA, baseB, baseOut, count, f, vf)
            return
          }
          let bRepeats = a.shape == shape ? leadingRepeats(of: b.shape, in: shape) : nil
          let aRepeats = b.shape == shape ? leadingRepeats(of: a.shape, in: shape) : nil
          if let rows = bRepeats ?? aRepeats {
            // The repeated operand stays at its one row; the other steps with the output.
            let width = count / rows
            let stepA = bRepeats == nil ? 0 : width
            let stepB = bRepeats == nil ? width : 0
            for row in 0..<rows {
              zipRun(
                baseA + row * stepA, 1, baseB + row * stepB, 1, baseOut + row * width, width, f,
                vf)
            }
            return
          }
          let rank = shape.count
          let inner = shape[rank - 1]
          let sa = broadcastStrides(a.shape, to: shape)
          let sb = broadcastStrides(b.shape, to: shape)
          var walk = OffsetOdometer(
            sizes: Array(shape.dropLast()), stridesA: Array(sa.dropLast()),
            stridesB: Array(sb.dropLast()))
          var written = 0
          while written < count {
            zipRun(
              baseA + walk.offsetA, sa[rank - 1], baseB + walk.offsetB, sb[rank - 1],
              baseOut + written, inner, f, vf)
            written += inner
            walk.advance()
          }
        }
      }
    }
    return Tensor(uncheckedShape: shape, scalars: scalars)
  }

  /// `f(a, b)` elementwise like ``zip(_:_:op:scalar:vector:)``, written over `a`'s elements
  /// when `b` has `a`'s shape or is repeated whole along `a`'s leading axes (a peephole `[H]`
  /// against a batch `[B, H]`): in place if `a` holds the only reference to them, as a gradient
  /// handed to a pullback does, else into the copy that copy-on-write makes.
  ///
  /// Why: a pullback such as sigmoid's turns the gradient at its output into the gradient at its
  /// input and drops the first; writing over it saves allocating the second and writing it to
  /// memory that no cache holds yet.
  @inlinable @inline(__always)
  static func zip<Scalar: TensorScalar>(
    overwriting a: consuming Tensor<Scalar>, _ b: Tensor<Scalar>, op: String,
    scalar f: (Scalar, Scalar) -> Scalar, vector vf: (Scalar.Vector, Scalar.Vector) -> Scalar.Vector
  ) -> Tensor<Scalar> {
    guard let rows = a.shape == b.shape ? 1 : leadingRepeats(of: b.shape, in: a.shape) else {
      return zip(a, b, op: op, scalar: f, vector: vf)
    }
    var result = consume a
    result.node = nil
    let width = b.count
    result.elements.withUnsafeMutableBufferPointer { out in
      b.elements.withUnsafeBufferPointer { pb in
        guard let baseOut = out.baseAddress, let baseB = pb.baseAddress, width > 0 else { return }
        guard rows > 1 else {
          return zipContiguous(UnsafePointer(baseOut), baseB, baseOut, width, f, vf)
        }
        for row in 0..<rows {
          let run = baseOut + row * width
          zipRun(UnsafePointer(run), 1, baseB, 1, run, width, f, vf)
        }
      }
    }
    return result
  }

  /// `out[i] = f(a[i], b[i])` for `count` contiguous elements, split across threads when large;
  /// `out` may be `a` itself.
  @inlinable @inline(__always)
  static func zipContiguous<Scalar: TensorScalar>(
    _ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>, _ out: UnsafeMutablePointer<Scalar>,
    _ count: Int, _ f: (Scalar, Scalar) -> Scalar,
    _ vf: (Scalar.Vector, Scalar.Vector) -> Scalar.Vector
  ) {
    if splitsElementwise(count: count, threshold: splitThresholdCheap) {
      forEachHalf(count: count, alignment: Scalar.Vector.scalarCount) { part in
        zipRun(
          a + part.lowerBound, 1, b + part.lowerBound, 1, out + part.lowerBound, part.count, f, vf)
      }
    } else {
      zipRun(a, 1, b, 1, out, count, f, vf)
    }
  }

  /// The elements of `x` repeated along its broadcast axes to fill `target`, which must be a
  /// broadcast of `x.shape` (callers check, naming their op).
  ///
  /// The last axis is copied as one run, or filled with one value where it is broadcast; the
  /// leading axes are walked with an odometer, reading the same input row again on broadcast axes.
  @inlinable
  static func broadcast<Scalar: TensorScalar>(
    _ x: Tensor<Scalar>, to target: TensorShape
  ) -> [Scalar] {
    if x.shape == target { return x.scalars }
    let count = target.elementCount
    return array(count: count) { out in
      x.scalars.withUnsafeBufferPointer { input in
        guard let source = input.baseAddress, let destination = out.baseAddress, count > 0
        else { return }
        let strides = broadcastStrides(x.shape, to: target)
        let inner = target[target.count - 1]
        var walk = OffsetOdometer(
          sizes: Array(target.dropLast()), stridesA: Array(strides.dropLast()),
          stridesB: [Int](repeating: 0, count: target.count - 1))
        var written = 0
        while written < count {
          if strides[target.count - 1] == 1 {
            (destination + written).initialize(from: source + walk.offsetA, count: inner)
          } else {
            (destination + written).initialize(repeating: source[walk.offsetA], count: inner)
          }
          written += inner
          walk.advance()
        }
      }
    }
  }

  /// One contiguous run of `zip`: strides are 1 (walk) or 0 (splat one value).
  @inlinable @inline(__always)
  static func zipRun<Scalar: TensorScalar>(
    _ a: UnsafePointer<Scalar>, _ strideA: Int, _ b: UnsafePointer<Scalar>, _ strideB: Int,
    _ out: UnsafeMutablePointer<Scalar>, _ n: Int,
    _ f: (Scalar, Scalar) -> Scalar, _ vf: (Scalar.Vector, Scalar.Vector) -> Scalar.Vector
  ) {
    let width = Scalar.Vector.scalarCount
    let outBuffer = UnsafeMutableBufferPointer(start: out, count: n)
    var i = 0
    switch (strideA, strideB) {
    case (1, 1):
      let ba = UnsafeBufferPointer(start: a, count: n)
      let bb = UnsafeBufferPointer(start: b, count: n)
      while i + width <= n {
        vf(
          Scalar.Vector.loadUnaligned(from: ba, at: i), Scalar.Vector.loadUnaligned(from: bb, at: i)
        )
        .storeUnaligned(to: outBuffer, at: i)
        i += width
      }
      while i < n {
        out[i] = f(a[i], b[i])
        i += 1
      }
    case (1, _):
      let ba = UnsafeBufferPointer(start: a, count: n)
      let splat = Scalar.Vector(repeating: b[0])
      while i + width <= n {
        vf(Scalar.Vector.loadUnaligned(from: ba, at: i), splat).storeUnaligned(to: outBuffer, at: i)
        i += width
      }
      while i < n {
        out[i] = f(a[i], b[0])
        i += 1
      }
    case (_, 1):
      let bb = UnsafeBufferPointer(start: b, count: n)
      let splat = Scalar.Vector(repeating: a[0])
      while i + width <= n {
        vf(splat, Scalar.Vector.loadUnaligned(from: bb, at: i)).storeUnaligned(to: outBuffer, at: i)
        i += width
      }
      while i < n {
        out[i] = f(a[0], b[i])
        i += 1
      }
    default:
      let value = f(a[0], b[0])
      for j in 0..<n { out[j] = value }
    }
  }
}

extension SIMD where Scalar: TensorScalar {
  /// Stores the lanes at `buffer[offset..<offset + scalarCount]`.
  @inlinable @inline(__always)
  func storeUnaligned(to buffer: UnsafeMutableBufferPointer<Scalar>, at offset: Int) {
    UnsafeMutableRawBufferPointer(buffer).storeBytes(
      of: self, toByteOffset: offset * MemoryLayout<Scalar>.stride, as: Self.self)
  }
}

/// Walks a multi-index over `sizes` in row-major order (last axis fastest) and keeps two flat
/// offsets in step with it, one per operand, each with its own strides (0 where broadcast).
@usableFromInline
struct OffsetOdometer {
  @usableFromInline let sizes: [Int]
  @usableFromInline let stridesA: [Int]
  @usableFromInline let stridesB: [Int]
  @usableFromInline var index: [Int]
  /// The flat offset of the current index in the first operand.
  @usableFromInline var offsetA = 0
  /// The flat offset of the current index in the second operand.
  @usableFromInline var offsetB = 0

  @inlinable
  init(sizes: [Int], stridesA: [Int], stridesB: [Int]) {
    self.sizes = sizes
    self.stridesA = stridesA
    self.stridesB = stridesB
    self.index = [Int](repeating: 0, count: sizes.count)
  }

  /// Moves to the next index; after the last one both offsets return to 0.
  @inlinable
  mutating func advance() {
    var axis = sizes.count - 1
    while axis >= 0 {
      index[axis] += 1
      offsetA += stridesA[axis]
      offsetB += stridesB[axis]
      if index[axis] < sizes[axis] { return }
      offsetA -= stridesA[axis] * sizes[axis]
      offsetB -= stridesB[axis] * sizes[axis]
      index[axis] = 0
      axis -= 1
    }
  }
}

/// `count` elements of a type without references (`Float`, `Double`) that are not written when
/// an array is built from them: `Array(UnwrittenElements<Float>(count: n))` is an array of `n`
/// elements holding whatever the allocator's memory held, for the caller to overwrite (see
/// ``Kernels/array(count:_:)``).
///
/// The standard library builds an array from a collection by allocating it, with code
/// specialised for the element type, and asking the collection to copy its elements into the
/// new buffer (`_copyContents(initializing:)`, a customisation point of `Sequence`); this
/// collection copies nothing. For a trivial type, memory that has not been written is still a
/// valid value of it, so nothing is left uninitialised in the language's sense. Its elements
/// cannot be read one by one: there are none to read before the array exists.
@usableFromInline
struct UnwrittenElements<Element: TensorScalar>: Collection {
  @usableFromInline let count: Int

  @inlinable init(count: Int) { self.count = count }

  @inlinable var startIndex: Int { 0 }
  @inlinable var endIndex: Int { count }
  @inlinable func index(after i: Int) -> Int { i + 1 }

  @inlinable subscript(position: Int) -> Element {
    preconditionFailure(
      "UnwrittenElements: element \(position) exists only in the array built from it")
  }

  @inlinable
  func _copyContents(
    initializing buffer: UnsafeMutableBufferPointer<Element>
  ) -> (Iterator, Int) {
    precondition(
      buffer.count >= count, "UnwrittenElements: \(count) elements for a buffer of \(buffer.count)")
    return (Iterator(_elements: self, _position: count), count)
  }
}
