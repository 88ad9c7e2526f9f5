/// An n-dimensional array of `Float` or `Double` that can take part in reverse-mode automatic
/// differentiation.
///
/// Storage is row-major and contiguous (the last axis varies fastest), held in a Swift `Array`, so
/// a tensor has value semantics with copy-on-write: assigning it is cheap and mutating a copy never
/// changes the original. The shape is a ``TensorShape`` stored inline, so the element array is the
/// only reference a tensor holds: copying one costs a single retain.
///
/// A tensor produced by a differentiable op while a ``Tape`` is recording carries the index of its
/// tape entry; that is how the tape links an op's output to the inputs of later ops. Tensors made
/// outside any tape are constants.
public struct Tensor<Scalar: TensorScalar>: Sendable {
  /// The size of each axis; `[]` for a scalar (rank-0) tensor.
  public let shape: TensorShape
  /// The elements in row-major order; `scalars.count` is the product of `shape`.
  @inlinable public var scalars: [Scalar] { elements }
  /// Storage behind ``scalars``, writable inside the module.
  @usableFromInline internal var elements: [Scalar]
  /// Where this tensor was recorded (``TapeNode/bits``), 0 for a constant; stored as a plain word
  /// so that a tensor is 56 bytes, where an optional ``TapeNode`` would add a tag byte.
  @usableFromInline internal var link: UInt64
  /// Where this tensor was recorded, or `nil` for a constant.
  @inlinable internal var node: TapeNode? {
    get { TapeNode(bits: link) }
    set { link = newValue?.bits ?? 0 }
  }

  /// Creates a tensor from a shape and its elements in row-major order.
  ///
  /// Traps if a dimension is negative or `scalars.count` differs from the product of `shape`.
  @inlinable
  public init(shape: TensorShape, scalars: [Scalar]) {
    precondition(
      shape.allSatisfy { $0 >= 0 }, "Tensor(shape:scalars:): negative dimension in shape \(shape)")
    precondition(
      scalars.count == shape.elementCount,
      "Tensor(shape:scalars:): shape \(shape) needs \(shape.elementCount) scalars, got \(scalars.count)"
    )
    self.shape = shape
    self.elements = scalars
    self.link = 0
  }

  /// Internal initialiser for kernels that already know the shape and count agree.
  @inlinable
  internal init(uncheckedShape shape: TensorShape, scalars: [Scalar]) {
    self.shape = shape
    self.elements = scalars
    self.link = 0
  }

  /// A 1-D tensor holding `scalars`.
  @inlinable
  public init(_ scalars: [Scalar]) {
    self.init(uncheckedShape: [scalars.count], scalars: scalars)
  }

  /// A rank-0 tensor holding one value.
  @inlinable
  public init(_ scalar: Scalar) {
    self.init(uncheckedShape: TensorShape(), scalars: [scalar])
  }

  /// A tensor of the given shape with every element equal to `value`.
  @inlinable
  public init(repeating value: Scalar, shape: TensorShape) {
    // `Array(repeatElement:count:)` specialises its allocation; `[Scalar](repeating:count:)`
    // looks the array type up at run time, which costs more than filling a small tensor.
    self.init(shape: shape, scalars: Array(repeatElement(value, count: shape.elementCount)))
  }

  /// An empty rank-0 tensor standing in where a value is required but none is held; it
  /// allocates nothing. Its shape is made directly: the literal `[]` went through the
  /// sequence initialiser, a loop, at every op that saves a placeholder.
  @inlinable
  static var placeholder: Tensor { Tensor(uncheckedShape: TensorShape(), scalars: []) }

  /// A tensor of zeros.
  @inlinable
  public static func zeros(_ shape: TensorShape) -> Tensor { Tensor(repeating: 0, shape: shape) }

  /// A tensor of ones.
  @inlinable
  public static func ones(_ shape: TensorShape) -> Tensor { Tensor(repeating: 1, shape: shape) }

  /// A tensor of the given shape filled with `value`.
  @inlinable
  public static func filled(_ shape: TensorShape, with value: Scalar) -> Tensor {
    Tensor(repeating: value, shape: shape)
  }

  /// A tensor of zeros with the shape of `other`.
  @inlinable
  public static func zeros(like other: Tensor) -> Tensor { zeros(other.shape) }

  /// A tensor of ones with the shape of `other`.
  @inlinable
  public static func ones(like other: Tensor) -> Tensor { ones(other.shape) }

  /// The number of axes.
  @inlinable public var rank: Int { shape.count }

  /// The number of elements.
  @inlinable public var count: Int { scalars.count }

  /// The single element of a tensor with exactly one element (any rank).
  ///
  /// Traps if the tensor has more or fewer than one element.
  @inlinable public var scalar: Scalar {
    precondition(count == 1, "Tensor.scalar: tensor of shape \(shape) has \(count) elements, not 1")
    return scalars[0]
  }

  /// Whether this tensor was recorded on a tape (it is a variable or depends on one).
  @inlinable public var isRecorded: Bool { node != nil }

  /// Adds `other`, of the same shape, element by element into this tensor's buffer (copying
  /// the buffer first only if another tensor shares it); the result is a constant.
  @inlinable @inline(__always)
  mutating func add(_ other: Tensor) {
    node = nil
    other.elements.withUnsafeBufferPointer { source in
      elements.withUnsafeMutableBufferPointer { target in Kernels.addRun(source, into: target) }
    }
  }

  /// The flat row-major offset of a multi-index; traps with the shape when out of range.
  @inlinable
  internal func flatIndex(_ indices: [Int]) -> Int {
    precondition(
      indices.count == rank, "Tensor subscript: \(indices.count) indices for shape \(shape)")
    var offset = 0
    for (axis, index) in indices.enumerated() {
      precondition(
        index >= 0 && index < shape[axis],
        "Tensor subscript: index \(indices) out of range for shape \(shape)")
      offset = offset * shape[axis] + index
    }
    return offset
  }

  /// Reads or writes one element by its multi-index (one index per axis).
  ///
  /// Writing produces a new value, which is no longer linked to any tape entry.
  @inlinable
  public subscript(_ indices: Int...) -> Scalar {
    get { scalars[flatIndex(indices)] }
    set {
      elements[flatIndex(indices)] = newValue
      node = nil
    }
  }
}

extension Tensor {
  /// A 2-D tensor from rows of equal length: `Tensor([[1, 2], [3, 4]])` has shape `[2, 2]`.
  ///
  /// Traps if the rows differ in length.
  public init(_ rows: [[Scalar]]) {
    let columns = rows.first?.count ?? 0
    precondition(
      rows.allSatisfy { $0.count == columns },
      "Tensor(rows): rows have different lengths \(rows.map(\.count))")
    self.init(uncheckedShape: [rows.count, columns], scalars: rows.flatMap { $0 })
  }

  /// A 3-D tensor from nested arrays of equal lengths.
  public init(_ planes: [[[Scalar]]]) {
    let rows = planes.first?.count ?? 0
    let columns = planes.first?.first?.count ?? 0
    precondition(
      planes.allSatisfy { $0.count == rows && $0.allSatisfy { $0.count == columns } },
      "Tensor(planes): nested arrays have different lengths")
    self.init(
      uncheckedShape: [planes.count, rows, columns], scalars: planes.flatMap { $0.flatMap { $0 } })
  }
}

extension Tensor: ExpressibleByArrayLiteral {
  /// A 1-D tensor from an array literal: `let v: Tensor<Float> = [1, 2, 3]`.
  ///
  /// For 2-D literals use `Tensor([[1, 2], [3, 4]])`.
  public init(arrayLiteral elements: Scalar...) { self.init(elements) }
}

extension Tensor: Equatable {
  /// Two tensors are equal when their shapes and elements are; tape membership is ignored.
  public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
    lhs.shape == rhs.shape && lhs.scalars == rhs.scalars
  }
}

extension Tensor {
  /// The same shape and values, converted to another scalar type (a constant: not recorded).
  public func converted<Other: TensorScalar>(to _: Other.Type = Other.self) -> Tensor<Other> {
    Tensor<Other>(uncheckedShape: shape, scalars: scalars.map { Other($0) })
  }

  /// Whether every element is finite (no NaN, no infinity).
  public var isFinite: Bool { scalars.allSatisfy(\.isFinite) }

  /// Whether both tensors have the same shape and every pair of elements is within
  /// `atol + rtol * |other|` (NumPy's `allclose`, not symmetric in its arguments).
  public func isClose(
    to other: Tensor, relativeTolerance rtol: Scalar = 1e-5, absoluteTolerance atol: Scalar = 1e-8
  ) -> Bool {
    guard shape == other.shape else { return false }
    return zip(scalars, other.scalars).allSatisfy { abs($0 - $1) <= atol + rtol * abs($1) }
  }
}
