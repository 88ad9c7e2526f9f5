// A compressed sparse row (CSR) matrix: the storage of an echo state network's reservoir, where
// only a tenth of the weights (or fewer) are nonzero. The matrix-vector product is the inner loop
// of every reservoir step, so it is written over raw buffers with four independent accumulators
// (the sums of one row are a dependency chain otherwise) and 32-bit column indices (a third less
// memory traffic than `Int`: a 2,000-unit reservoir at 10% is 400,000 entries, and the whole
// matrix is read once per step).

import Dispatch

/// A sparse matrix in compressed sparse row (CSR) form, as SciPy's `csr_matrix`.
///
/// Row `i` holds the entries `values[rowStarts[i] ..< rowStarts[i + 1]]`, in the columns
/// `columnIndices[rowStarts[i] ..< rowStarts[i + 1]]` (increasing). Explicit zeros are allowed but
/// never created by this type. A value type, `Sendable`, so one matrix can be read by several
/// threads at once.
public struct SparseMatrix<Scalar: TensorScalar>: Sendable, Equatable {
  /// The number of rows.
  public let rows: Int
  /// The number of columns.
  public let columns: Int
  /// `rows + 1` offsets into ``columnIndices`` and ``values``; the first is 0, the last is
  /// ``nonzeroCount``.
  public let rowStarts: [Int]
  /// The column of each stored entry, row by row.
  public let columnIndices: [Int32]
  /// The value of each stored entry, row by row.
  public let values: [Scalar]

  /// A matrix from its CSR arrays.
  ///
  /// Traps, naming the problem, unless `rowStarts` has `rows + 1` non-decreasing offsets from 0
  /// to `values.count`, `columnIndices` matches `values` in length and every column is in
  /// `0..<columns`.
  public init(
    rows: Int, columns: Int, rowStarts: [Int], columnIndices: [Int32], values: [Scalar]
  ) {
    precondition(
      rows >= 0 && columns >= 0 && columns <= Int(Int32.max),
      "SparseMatrix: invalid size \(rows) × \(columns)")
    precondition(
      rowStarts.count == rows + 1 && rowStarts.first == 0 && rowStarts.last == values.count
        && zip(rowStarts, rowStarts.dropFirst()).allSatisfy { $0 <= $1 },
      "SparseMatrix: rowStarts (\(rowStarts.count) offsets) do not describe \(rows) rows of "
        + "\(values.count) entries")
    precondition(
      columnIndices.count == values.count,
      "SparseMatrix: \(columnIndices.count) column indices for \(values.count) values")
    precondition(
      columnIndices.allSatisfy { $0 >= 0 && Int($0) < columns },
      "SparseMatrix: a column index is outside 0..<\(columns)")
    self.rows = rows
    self.columns = columns
    self.rowStarts = rowStarts
    self.columnIndices = columnIndices
    self.values = values
  }

  /// The nonzero entries of a dense matrix `[rows, columns]`.
  ///
  /// Traps, naming the shape, unless `dense` is a matrix (rank 2).
  public init(_ dense: Tensor<Scalar>) {
    precondition(dense.rank == 2, "SparseMatrix: shape \(dense.shape) is not a matrix")
    let (rows, columns) = (dense.shape[0], dense.shape[1])
    var rowStarts = [0]
    rowStarts.reserveCapacity(rows + 1)
    var columnIndices: [Int32] = []
    var values: [Scalar] = []
    let scalars = dense.scalars
    for row in 0..<rows {
      for column in 0..<columns where scalars[row * columns + column] != 0 {
        columnIndices.append(Int32(column))
        values.append(scalars[row * columns + column])
      }
      rowStarts.append(values.count)
    }
    self.init(
      rows: rows, columns: columns, rowStarts: rowStarts, columnIndices: columnIndices,
      values: values)
  }

  /// The number of stored entries.
  public var nonzeroCount: Int { values.count }

  /// The fraction of entries that are stored: ``nonzeroCount`` / (rows · columns), 0 when empty.
  public var density: Double {
    rows * columns == 0 ? 0 : Double(nonzeroCount) / Double(rows * columns)
  }

  /// The matrix as a dense tensor `[rows, columns]`.
  public func dense() -> Tensor<Scalar> {
    var scalars = [Scalar](repeating: 0, count: rows * columns)
    for row in 0..<rows {
      for entry in rowStarts[row]..<rowStarts[row + 1] {
        scalars[row * columns + Int(columnIndices[entry])] = values[entry]
      }
    }
    return Tensor(shape: [rows, columns], scalars: scalars)
  }

  /// The matrix with every value multiplied by `factor` (same sparsity pattern).
  public func scaled(by factor: Scalar) -> SparseMatrix {
    SparseMatrix(
      rows: rows, columns: columns, rowStarts: rowStarts, columnIndices: columnIndices,
      values: values.map { $0 * factor })
  }

  /// The product A·x of this matrix `[rows, columns]` and a vector of `columns` elements.
  ///
  /// Traps, naming both sizes, when `vector.count != columns`.
  public func multiplied(by vector: [Scalar]) -> [Scalar] {
    precondition(
      vector.count == columns,
      "SparseMatrix.multiplied(by:): matrix [\(rows), \(columns)] and vector [\(vector.count)] "
        + "are incompatible")
    return [Scalar](unsafeUninitializedCapacity: rows) { out, initialized in
      vector.withUnsafeBufferPointer { x in
        withUnsafeStorage { storage in
          for row in 0..<rows { out[row] = storage.rowDot(row, x) }
        }
      }
      initialized = rows
    }
  }

  /// The product A·B of this matrix `[rows, columns]` and a dense matrix `[columns, k]`, giving
  /// `[rows, k]`; rows of the result are computed in parallel (up to
  /// ``ComputeSettings/threads``) when the product is large.
  ///
  /// Each stored entry a_ij adds a_ij · B[j, :] to row i, so the inner loop runs along contiguous
  /// rows of B. Traps, naming both shapes, unless `matrix` is `[columns, k]`.
  public func multiplied(by matrix: Tensor<Scalar>) -> Tensor<Scalar> {
    precondition(
      matrix.rank == 2 && matrix.shape[0] == columns,
      "SparseMatrix.multiplied(by:): shapes [\(rows), \(columns)] and \(matrix.shape) are "
        + "incompatible")
    let width = matrix.shape[1]
    let count = rows * width
    let parts = nonzeroCount * width >= 1 << 20 ? Swift.min(ComputeSettings.threads, rows) : 1
    let scalars = [Scalar](unsafeUninitializedCapacity: count) { out, initialized in
      out.initialize(repeating: 0)
      matrix.scalars.withUnsafeBufferPointer { b in
        withUnsafeStorage { storage in
          let product = SendableBuffer(buffer: out)
          let source = SendableBuffer(buffer: UnsafeMutableBufferPointer(mutating: b))
          DispatchQueue.concurrentPerform(iterations: Swift.max(1, parts)) { part in
            for row in (rows * part / parts)..<(rows * (part + 1) / parts) {
              for entry in storage.rowStarts[row]..<storage.rowStarts[row + 1] {
                let value = storage.values[entry]
                let start = Int(storage.columnIndices[entry]) * width
                for column in 0..<width {
                  product.buffer[row * width + column] += value * source.buffer[start + column]
                }
              }
            }
          }
        }
      }
      initialized = count
    }
    return Tensor(shape: [rows, width], scalars: scalars)
  }

  /// Runs `body` with raw pointers to the three CSR arrays, for the kernels.
  func withUnsafeStorage<Result>(_ body: (CSRStorage<Scalar>) throws -> Result) rethrows
    -> Result
  {
    try rowStarts.withUnsafeBufferPointer { starts in
      try columnIndices.withUnsafeBufferPointer { indices in
        try values.withUnsafeBufferPointer { entries in
          try body(CSRStorage(rowStarts: starts, columnIndices: indices, values: entries))
        }
      }
    }
  }
}

/// A buffer that may cross into `concurrentPerform`'s closure: the threads write disjoint parts.
struct SendableBuffer<Element>: @unchecked Sendable {
  let buffer: UnsafeMutableBufferPointer<Element>
}

/// Raw pointers to a ``SparseMatrix``'s arrays, valid inside
/// ``SparseMatrix/withUnsafeStorage(_:)``; read-only, so shared by threads.
struct CSRStorage<Scalar: TensorScalar>: @unchecked Sendable {
  let rowStarts: UnsafeBufferPointer<Int>
  let columnIndices: UnsafeBufferPointer<Int32>
  let values: UnsafeBufferPointer<Scalar>

  /// Σⱼ a_ij · x_j over the stored entries of `row`.
  ///
  /// Four partial sums, so that four multiply-adds are in flight instead of one dependency chain;
  /// the summation order is fixed, so a result never depends on the thread that computes it.
  @inline(__always)
  func rowDot<Vector: Collection>(_ row: Int, _ x: Vector) -> Scalar
  where Vector.Element == Scalar, Vector.Index == Int {
    var entry = rowStarts[row]
    let end = rowStarts[row + 1]
    var (s0, s1, s2, s3): (Scalar, Scalar, Scalar, Scalar) = (0, 0, 0, 0)
    while entry + 4 <= end {
      s0 += values[entry] * x[Int(columnIndices[entry])]
      s1 += values[entry + 1] * x[Int(columnIndices[entry + 1])]
      s2 += values[entry + 2] * x[Int(columnIndices[entry + 2])]
      s3 += values[entry + 3] * x[Int(columnIndices[entry + 3])]
      entry += 4
    }
    while entry < end {
      s0 += values[entry] * x[Int(columnIndices[entry])]
      entry += 1
    }
    return (s0 + s1) + (s2 + s3)
  }
}
