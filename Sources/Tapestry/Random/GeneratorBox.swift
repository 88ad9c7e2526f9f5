import Foundation

/// The seeded generator an immutable layer draws from (``Dropout``'s masks, a reservoir's state
/// noise), in a reference box that the layer's copies share, as they share parameters.
///
/// Draws take a lock, so that two threads running the same layer at once (the shards of
/// ``valueWithGradient(at:batchSize:shards:of:)``) never corrupt the generator's state; they
/// then receive its numbers in the order they ask. Uncontended, the lock costs tens of
/// nanoseconds per draw call, and a call draws a whole mask or a whole step's noise.
final class GeneratorBox: @unchecked Sendable {
  /// Guarded by `lock`.
  private var generator: SeededGenerator
  private let lock = NSLock()

  /// A box around a new generator seeded with `seed`.
  init(seed: UInt64) {
    generator = SeededGenerator(seed: seed)
  }

  /// Runs `body` with the generator, holding the lock.
  func draw<Result>(_ body: (inout SeededGenerator) throws -> Result) rethrows -> Result {
    lock.lock()
    defer { lock.unlock() }
    return try body(&generator)
  }
}
