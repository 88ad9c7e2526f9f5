// The register tile of the matrix-product kernels is sized for the vector registers the build
// targets. A tile of 8 rows × 2 vectors (16 accumulators of 16 Floats or 8 Doubles) fills an
// AVX-512 register file, but with AVX2 every such vector takes two of the sixteen 256-bit
// registers: the 32 accumulators spill to the stack on every step (measured on a Zen 3 without
// AVX-512: 33 GFLOP/s, against 93 for OpenBLAS). There a tile of 6 rows × 1 vector (12
// registers, plus two for B and one broadcast) is the largest that fits; it fits NEON's 32
// 128-bit registers as well.

import CTargetFeatures

/// The shape of the micro-kernel's register tile: `rows` rows of C by `vectors` vectors of
/// `Scalar.Vector` lanes.
@usableFromInline
internal struct RegisterTile: Sendable, Equatable, CustomStringConvertible {
  /// Rows of C per micro-kernel call.
  @usableFromInline let rows: Int
  /// Vectors of `Scalar.Vector` per row.
  @usableFromInline let vectors: Int

  /// Private: the kernels have code for the two tiles below and no others.
  private init(rows: Int, vectors: Int) {
    self.rows = rows
    self.vectors = vectors
  }

  /// 8 × 2 vectors: for 32 registers that each hold a whole `Scalar.Vector` (AVX-512).
  @usableFromInline static let wide = RegisterTile(rows: 8, vectors: 2)
  /// 6 × 1 vector: for targets where a `Scalar.Vector` takes two registers of sixteen (AVX2) or
  /// four of thirty-two (NEON).
  @usableFromInline static let narrow = RegisterTile(rows: 6, vectors: 1)

  /// The tile that fits the vector registers of the target this code is compiled for (the host
  /// CPU in release builds on x86-64; see Package.swift).
  @usableFromInline static let native = fitting(wideRegisters: TAPESTRY_WIDE_VECTOR_REGISTERS != 0)

  /// ``wide`` where each register holds a whole `Scalar.Vector`, ``narrow`` elsewhere.
  static func fitting(wideRegisters: Bool) -> RegisterTile { wideRegisters ? .wide : .narrow }

  /// Columns of C per micro-kernel call, in elements of `Scalar`.
  func columns<Scalar: TensorScalar>(_: Scalar.Type) -> Int { vectors * Scalar.Vector.scalarCount }

  /// `8x2` or `6x1`, for benchmark output.
  @usableFromInline var description: String { "\(rows)x\(vectors)" }
}
