// Large elementwise ops split between the caller and the shared worker thread. At a recurrent
// step of size L (B = 64, H = 512) a gate is 32,768 elements and the pre-activations 131,072:
// long enough that half of one on each core saves more than the handoff costs (about a
// microsecond: the worker spins between jobs, see StepWorker). Smaller ops stay on one thread.

extension Kernels {
  /// Elements below which a cheap elementwise op (an add or a product: a few instructions per
  /// vector, bound by memory) runs on one thread.
  @usableFromInline
  static let splitThresholdCheap = 1 << 15
  /// Elements below which an op with a polynomial per element (`exp`, `tanh`, `sigmoid`) runs on
  /// one thread: each element costs several times as much, so halves pay from fewer elements.
  @usableFromInline
  static let splitThresholdTranscendental = 1 << 13

  /// Whether an elementwise op over `count` elements is split between two threads: when
  /// ``ComputeSettings/threads`` allows two and `count` reaches `threshold`. Callers test it
  /// inline and keep their one-thread loop as it is, so small ops pay nothing for the split.
  @inlinable @inline(__always)
  static func splitsElementwise(count: Int, threshold: Int) -> Bool {
    count >= threshold && ComputeSettings.threads >= 2
  }

  /// Calls `body` on two halves of `0..<count` at the same time, the calling thread and
  /// ``StepWorker/shared`` (or the calling thread for both when the worker is busy). The halves
  /// meet at a multiple of `alignment` (a vector's lanes), so each element is computed by the
  /// same vector code as on one thread: results do not depend on the split. `body` must write
  /// only its own part.
  @usableFromInline
  static func forEachHalf(count: Int, alignment: Int, _ body: (Range<Int>) -> Void) {
    let half = (count / 2 + alignment - 1) / alignment * alignment
    withoutActuallyEscaping(body) { body in
      let parts = PartBody(body: body)
      StepWorker.shared.run { part in parts.body(part == 0 ? 0..<half : half..<count) }
    }
  }
}

/// The body of a split elementwise op, handed to the worker thread.
///
/// Unchecked: the two calls write disjoint ranges of one output and only read shared inputs, and
/// ``Kernels/forEachHalf(count:alignment:_:)`` returns only after both have returned.
private struct PartBody: @unchecked Sendable {
  let body: (Range<Int>) -> Void
}
