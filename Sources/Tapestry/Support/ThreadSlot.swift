#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A per-thread place for one object, set for the duration of a closure: what the hot path reads
/// instead of a task-local value (the recording tape at every op, the pass's packed operands at
/// every matrix product).
///
/// Why not `@TaskLocal`: `TaskLocal.get` took ~130 instructions a read (a search of the task's
/// bindings and a copy through the value's generic witness: 3% of a W4 S training step);
/// `pthread_getspecific` takes a few. The two agree for the closures that set these slots,
/// because they are synchronous: such a closure runs on the thread that started it from start to
/// end, and what it calls on that thread sees the object, as a task's callees would. Work it
/// hands to another thread does not (a task-local would not reach a Dispatch thread either).
@usableFromInline
internal struct ThreadSlot: Sendable {
  @usableFromInline let key: pthread_key_t

  /// A new slot, empty on every thread; one per use, kept for the life of the process.
  init() {
    var key = pthread_key_t()
    let status = pthread_key_create(&key, nil)
    precondition(status == 0, "ThreadSlot: pthread_key_create failed (\(status))")
    self.key = key
  }

  /// The object this thread's slot holds, `nil` when empty, without a reference taken to it: the
  /// slot holds it unretained, and ``with(_:_:)`` keeps it alive while it is there.
  @inlinable var unretainedObject: Unmanaged<AnyObject>? {
    guard let stored = pthread_getspecific(key) else { return nil }
    return Unmanaged<AnyObject>.fromOpaque(stored)
  }

  /// Runs `body` with `object` in this thread's slot (`nil`: empty), then puts back what was
  /// there before.
  func with<Result>(_ object: AnyObject?, _ body: () throws -> Result) rethrows -> Result {
    let outer = pthread_getspecific(key)
    pthread_setspecific(key, object.map { Unmanaged.passUnretained($0).toOpaque() })
    defer { pthread_setspecific(key, outer) }
    return try withExtendedLifetime(object) { try body() }
  }
}
