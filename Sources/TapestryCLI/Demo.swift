// Placeholder so the executable builds; the lead replaces this file with the real demo.

/// The `tapestry demo` command.
enum Demo {
  /// Runs the demo with the arguments that follow `demo`.
  static func run(arguments: [String]) throws {
    print("demo: not written yet (arguments: \(arguments))")
  }
}
