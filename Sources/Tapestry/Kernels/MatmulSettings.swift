import Foundation
import Synchronization

/// Process-wide settings of the compute kernels.
public enum ComputeSettings {
  private static let threadCount = Atomic<Int>(
    max(1, ProcessInfo.processInfo.activeProcessorCount))

  /// The most threads one matrix product may use; defaults to the number of active cores.
  ///
  /// Products below about a million multiply-adds (a quarter of that for one row, which is bound
  /// by memory) always run on the calling thread, since a second one costs more than it saves.
  /// Values below 1 are treated as 1. Set it to 1 to measure single-core speed, or when the
  /// caller already runs products in parallel. Read on a thread running a shard of
  /// ``valueWithGradient(at:batchSize:shards:of:)`` it is 1: the shards already use the cores.
  public static var threads: Int {
    get {
      shardRegions.load(ordering: .relaxed) > 0 && ShardContext.isInsideShard
        ? 1 : threadCount.load(ordering: .relaxed)
    }
    set { threadCount.store(max(1, newValue), ordering: .relaxed) }
  }

  /// The register tile of the matrix-product kernel in this build, rows × vectors of 16 Floats
  /// (8 Doubles): `"8x2"` where the compiler targets 512-bit vector registers (AVX-512), `"6x1"`
  /// elsewhere (AVX2, NEON, and debug builds). Benchmarks print it, since the same code runs at
  /// very different speeds depending on which tile the machine that built it could hold.
  public static var registerTile: String { RegisterTile.native.description }

  /// How many calls of ``valueWithGradient(at:batchSize:shards:of:)`` are running their shards,
  /// in any thread. While none is, reading ``threads`` skips the task-local read.
  static let shardRegions = Atomic<Int>(0)
}

/// Whether the current thread is running a shard of a batch.
enum ShardContext {
  @TaskLocal static var isInsideShard = false
}
