// Hand-written argument parsing: the commands are few and their options simple, and a parser of
// our own keeps the package free of dependencies. Parsing never exits or prints; it returns a
// `Command` or throws a `CommandLineError`, so that tests can call it directly.

/// What the user asked `tapestry` to do.
enum Command: Equatable {
  /// Print this text on standard output and succeed (the answer to `--help`).
  case help(String)
  /// Run the demo with the arguments that follow `demo`, which it parses itself.
  case demo(arguments: [String])
  /// Run `bench ops`.
  case benchOps(OpsBenchmark.Options)
}

/// A command line that `tapestry` does not accept; `description` is the message for the user.
enum CommandLineError: Error, Equatable, CustomStringConvertible {
  /// No command, or one `tapestry` does not have (`command` is `nil` when there was none).
  case unknownCommand(String?, usage: String)
  /// An option the command does not have.
  case unknownOption(String, usage: String)
  /// An option given last, without the value it needs.
  case missingValue(option: String)
  /// An option whose value is not one of those allowed.
  case invalidValue(String, option: String, expected: String)

  var description: String {
    switch self {
    case .unknownCommand(let command?, let usage):
      "unknown command '\(command)'\n\n\(usage)"
    case .unknownCommand(nil, let usage):
      "missing command\n\n\(usage)"
    case .unknownOption(let option, let usage):
      "unknown option '\(option)'\n\n\(usage)"
    case .missingValue(let option):
      "option '\(option)' needs a value"
    case .invalidValue(let value, let option, let expected):
      "invalid value '\(value)' for '\(option)': expected \(expected)"
    }
  }
}

/// The help texts, one per command.
enum Usage {
  static let main = """
    usage: tapestry <command> [options]

    commands:
      demo        train a small recurrent net and show what the tape records
      bench ops   measure per-op overhead and matrix-product speed

    Run 'tapestry <command> --help' for a command's options.
    """

  static let bench = """
    usage: tapestry bench <suite> [options]

    suites:
      ops         per-op overhead (W6) and matrix-product speed (W0)
    """

  static let benchOps = """
    usage: tapestry bench ops [--threads 1|2] [--quick] [--json FILE]

    Times, in Float: a chain of 10,000 elementwise ops (y = y*a; y = y+b) with its backward pass,
    on 1 and 32 elements, with a and b differentiated or constant; a chain of 1,000 128x128 matrix
    products with its backward pass; square products for n = 64 ... 1024. Each is run 3 times
    untimed, then 20 times timed; the table shows the median and the minimum.

    options:
      --threads N   threads for matrix products: 1 or 2 (default 1); to match the anchors'
                    single-core runs, also pin the process: taskset -c 0 tapestry bench ops
      --quick       1 untimed run and 3 timed runs, for a smoke test
      --json FILE   also write the records to FILE as JSON (written atomically)
      --help        show this text
    """
}

/// Parses the arguments after the program name.
func parseCommandLine(_ arguments: [String]) throws(CommandLineError) -> Command {
  guard let command = arguments.first else { throw .unknownCommand(nil, usage: Usage.main) }
  let rest = Array(arguments.dropFirst())
  switch command {
  case "--help", "-h", "help":
    return .help(Usage.main)
  case "demo":
    return .demo(arguments: rest)
  case "bench":
    return try parseBench(rest)
  default:
    throw .unknownCommand(command, usage: Usage.main)
  }
}

/// Parses the arguments after `bench`.
private func parseBench(_ arguments: [String]) throws(CommandLineError) -> Command {
  guard let suite = arguments.first else { throw .unknownCommand(nil, usage: Usage.bench) }
  switch suite {
  case "--help", "-h":
    return .help(Usage.bench)
  case "ops":
    return try parseBenchOps(Array(arguments.dropFirst()))
  default:
    throw .unknownCommand(suite, usage: Usage.bench)
  }
}

/// Parses the options of `bench ops`.
private func parseBenchOps(_ arguments: [String]) throws(CommandLineError) -> Command {
  var options = OpsBenchmark.Options()
  var remaining = arguments[...]
  while let argument = remaining.popFirst() {
    // `--option=value` is accepted as well as `--option value`.
    let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
    let name = parts.first ?? argument
    func value() throws(CommandLineError) -> String {
      if parts.count == 2 { return parts[1] }
      guard let next = remaining.popFirst() else { throw .missingValue(option: name) }
      return next
    }
    switch name {
    case "--help", "-h":
      return .help(Usage.benchOps)
    case "--quick":
      options.quick = true
    case "--threads":
      let text = try value()
      guard let threads = Int(text), threads == 1 || threads == 2 else {
        throw .invalidValue(text, option: name, expected: "1 or 2")
      }
      options.threads = threads
    case "--json":
      let path = try value()
      guard !path.isEmpty, !path.hasPrefix("-") else {
        throw .invalidValue(path, option: name, expected: "a file path")
      }
      options.jsonPath = path
    default:
      throw .unknownOption(argument, usage: Usage.benchOps)
    }
  }
  return .benchOps(options)
}
