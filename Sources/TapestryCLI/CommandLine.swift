// Hand-written argument parsing: the commands are few and their options simple, and a parser of
// our own keeps the package free of dependencies. Parsing never exits or prints; it returns a
// `Command` or throws a `CommandLineError`, so that tests can call it directly.

/// What the user asked `tapestry` to do.
enum Command: Equatable {
  /// Print this text on standard output and succeed (the answer to `--help`).
  case help(String)
  /// Run the demo with the arguments that follow `demo`, which it parses itself.
  case demo(arguments: [String])
  /// Run the benchmarks with the arguments that follow `bench`, which it parses itself.
  case bench(arguments: [String])
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
      bench       time the anchor workloads W0–W6 (matmul, recurrent training, per-op)

    Run 'tapestry <command> --help' for a command's options.
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
    return .bench(arguments: rest)
  default:
    throw .unknownCommand(command, usage: Usage.main)
  }
}
