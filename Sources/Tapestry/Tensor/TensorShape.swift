/// The sizes of a tensor's axes, outermost first: `[2, 3]` is two rows of three.
///
/// A shape behaves like an array of `Int` (it is a random-access, mutable, range-replaceable
/// collection, written as an array literal and printed like one) but is stored inline, in a
/// fixed 36 bytes, rather than in a reference-counted heap buffer. Why: every op makes an output
/// tensor and the tape copies tensors and input shapes into its entries; with shapes held as
/// arrays, retaining and releasing them was about half of an op's bookkeeping (Swift for
/// TensorFlow's `TensorShape` and PyTorch's `torch.Size` are likewise their own types).
///
/// A shape has at most ``maximumRank`` axes and each size fits in 32 bits; going beyond either
/// traps with the offending shape, and ``init(validating:)`` checks a shape read from outside.
public struct TensorShape: Sendable, Hashable {
  /// The largest number of axes a shape can have.
  public static let maximumRank = 8

  /// The sizes, in lanes `0..<rank`; the lanes above are zero, so that equal shapes have equal
  /// storage and comparing two shapes is one vector comparison.
  @usableFromInline internal var sizes: SIMD8<Int32>
  @usableFromInline internal var storedRank: Int32

  /// The shape of a scalar: no axes.
  @inlinable
  public init() {
    sizes = .zero
    storedRank = 0
  }

  /// A shape from a sequence of sizes; traps if there are more than ``maximumRank`` of them or
  /// one does not fit in 32 bits (use ``init(validating:)`` for sizes read from outside).
  @inlinable
  public init<Sizes: Sequence>(_ sizes: Sizes) where Sizes.Element == Int {
    self.init()
    for size in sizes { append(size) }
  }

  /// A shape from sizes read from outside the program (a file, user input), or `nil` if it has
  /// more than ``maximumRank`` axes or a size that is negative or does not fit in 32 bits.
  public init?(validating sizes: [Int]) {
    guard sizes.count <= Self.maximumRank,
      sizes.allSatisfy({ $0 >= 0 && $0 <= Int(Int32.max) })
    else { return nil }
    self.init(sizes)
  }

  /// The sizes as an array.
  @inlinable public var dimensions: [Int] { Array(self) }

  /// The number of elements a tensor of this shape holds: the product of the sizes (1 for a
  /// scalar).
  @inlinable public var elementCount: Int {
    var product = 1
    for axis in 0..<Int(storedRank) { product *= Int(sizes[axis]) }
    return product
  }

  /// Appends one size; the checks behind every way of building a shape.
  @inlinable
  public mutating func append(_ size: Int) {
    precondition(
      Int(storedRank) < Self.maximumRank,
      "TensorShape: more than \(Self.maximumRank) axes in \(self) + [\(size)]")
    precondition(
      size <= Int(Int32.max), "TensorShape: size \(size) does not fit in 32 bits in \(self)")
    // A negative size is kept so that the initialisers of Tensor can name it in their message.
    precondition(size >= Int(Int32.min), "TensorShape: size \(size) out of range in \(self)")
    sizes[Int(storedRank)] = Int32(truncatingIfNeeded: size)
    storedRank += 1
  }

  /// Whether both shapes have the same axes with the same sizes.
  ///
  /// Compared lane by lane as one vector mask: the vectors' own `==` compiled, inside the ops
  /// that specialise it, to a loop over the eight lanes through the stack, some 80 instructions
  /// per comparison, several per recorded op (callgrind, W6).
  @inlinable
  public static func == (lhs: TensorShape, rhs: TensorShape) -> Bool {
    lhs.storedRank == rhs.storedRank && all(lhs.sizes .== rhs.sizes)
  }
}

extension TensorShape: RandomAccessCollection, MutableCollection {
  /// Axes are numbered from 0, the outermost.
  public typealias Index = Int
  /// The axis numbers `0..<count`.
  public typealias Indices = Range<Int>

  /// The first axis, 0.
  @inlinable public var startIndex: Int { 0 }
  /// One past the last axis: the rank.
  @inlinable public var endIndex: Int { Int(storedRank) }
  /// The number of axes (the rank).
  @inlinable public var count: Int { Int(storedRank) }

  /// The size of axis `axis`; traps if `axis` is not below ``count``.
  @inlinable
  public subscript(axis: Int) -> Int {
    get {
      precondition(axis >= 0 && axis < count, "TensorShape: axis \(axis) out of range for \(self)")
      return Int(sizes[axis])
    }
    set {
      precondition(axis >= 0 && axis < count, "TensorShape: axis \(axis) out of range for \(self)")
      precondition(
        newValue >= Int(Int32.min) && newValue <= Int(Int32.max),
        "TensorShape: size \(newValue) does not fit in 32 bits in \(self)")
      sizes[axis] = Int32(truncatingIfNeeded: newValue)
    }
  }
}

extension TensorShape: RangeReplaceableCollection {
  /// Replaces the sizes in `subrange` with `newSizes`; inserting, removing and `+` build on it.
  public mutating func replaceSubrange<Sizes: Collection>(
    _ subrange: Range<Int>, with newSizes: Sizes
  ) where Sizes.Element == Int {
    var replaced = Array(self)
    replaced.replaceSubrange(subrange, with: newSizes)
    self = TensorShape(replaced)
  }
}

extension TensorShape: ExpressibleByArrayLiteral {
  /// A shape written as an array literal: `let shape: TensorShape = [2, 3]`.
  @inlinable
  public init(arrayLiteral sizes: Int...) { self.init(sizes) }
}

extension TensorShape: CustomStringConvertible, CustomDebugStringConvertible {
  /// The sizes as an array prints them: `[2, 3]`, `[]` for a scalar.
  public var description: String { "[" + map(String.init).joined(separator: ", ") + "]" }
  /// The same as ``description``.
  public var debugDescription: String { description }
}

extension TensorShape: Codable {
  /// Decodes a shape stored as an array of sizes; a malformed one is a decoding error.
  public init(from decoder: any Decoder) throws {
    let sizes = try [Int](from: decoder)
    guard let shape = TensorShape(validating: sizes) else {
      throw DecodingError.dataCorrupted(
        DecodingError.Context(
          codingPath: decoder.codingPath,
          debugDescription:
            "TensorShape: \(sizes) has more than \(Self.maximumRank) axes or a size out of range"))
    }
    self = shape
  }

  /// Encodes the sizes as an array.
  public func encode(to encoder: any Encoder) throws { try dimensions.encode(to: encoder) }
}

extension TensorShape {
  /// The shape `[count]`, built in place. Ops on the hot path use these rather than array
  /// literals: a literal builds an `[Int]` on the heap first, and `addmm` spent four allocations
  /// a call on its shape literals (callgrind, W1 S) before it used these.
  @inlinable
  static func vector(_ count: Int) -> TensorShape {
    var shape = TensorShape()
    shape.append(count)
    return shape
  }

  /// The shape `[rows, columns]`, built in place (see ``vector(_:)``).
  @inlinable
  static func matrix(_ rows: Int, _ columns: Int) -> TensorShape {
    var shape = TensorShape()
    shape.append(rows)
    shape.append(columns)
    return shape
  }

  /// This shape without axis `axis` (which must exist): what selecting one index along it leaves.
  @inlinable
  func removingAxis(_ axis: Int) -> TensorShape {
    precondition(axis >= 0 && axis < count, "TensorShape: axis \(axis) out of range for \(self)")
    var result = self
    for later in axis..<(count - 1) { result.sizes[later] = sizes[later + 1] }
    result.sizes[count - 1] = 0
    result.storedRank -= 1
    return result
  }

  /// The product of the sizes of `axes` (1 for none): the element count of a block of axes, as
  /// the outer and inner counts around an axis that ops cut along. Read from the lanes directly,
  /// without the collection's generic slicing.
  @inlinable
  func product(ofAxes axes: Range<Int>) -> Int {
    precondition(
      axes.lowerBound >= 0 && axes.upperBound <= count,
      "TensorShape: axes \(axes) out of range for \(self)")
    var product = 1
    for axis in axes { product *= Int(sizes[axis]) }
    return product
  }
}
