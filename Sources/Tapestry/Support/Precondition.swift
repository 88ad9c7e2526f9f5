// Tapestry's programmer-error checks trap with a message naming the op and the shapes, in every
// build configuration. The standard library's `precondition` drops its message under `-O` (a
// release build just stops with "Illegal instruction"), so inside this module these two
// functions shadow it and trap through `fatalError`, which keeps the message. The message is still
// an autoclosure: a check that passes costs one comparison, as before.

/// Traps with `message` when `condition` is false, in debug and release builds alike.
@inlinable @inline(__always)
func precondition(
  _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String = String(),
  file: StaticString = #fileID, line: UInt = #line
) {
  if !condition() { preconditionFailure(message(), file: file, line: line) }
}

/// Traps with `message`, in debug and release builds alike.
@inlinable @inline(never)
func preconditionFailure(
  _ message: @autoclosure () -> String = String(), file: StaticString = #fileID,
  line: UInt = #line
) -> Never {
  fatalError(message(), file: file, line: line)
}
