// Hand-written argument parsing: the commands are few and their options simple, and a parser of
// our own keeps the package free of dependencies. Parsing never exits or prints; it returns a
// `Command` or throws a `CommandLineError`, so that tests can call it directly; `runTapestry`
// runs the parsed command and turns its errors into an exit status.

import Foundation

/// What the user asked `tapestry` to do.
enum Command: Equatable {
  /// Print this text on standard output and succeed (the answer to `--help`).
  case help(String)
  /// Run the demo with the arguments that follow `demo`, which it parses itself.
  case demo(arguments: [String])
  /// Run `vanishing` with the arguments that follow it, which it parses itself.
  case vanishing(arguments: [String])
  /// Run `graph` with the arguments that follow it, which it parses itself.
  case graph(arguments: [String])
  /// Run `esn` with the arguments that follow it, which it parses itself.
  case esn(arguments: [String])
  /// Run the benchmarks with the arguments that follow `bench`, which it parses itself.
  case bench(arguments: [String])
  /// Run `train` with the arguments that follow it, which it parses itself.
  case train(arguments: [String])
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
      demo        the story of gradients through time, written as an HTML report with plots
      vanishing   gradient norms through time for one recurrent cell, with a verdict and a plot
      graph       the unrolled graph of a recurrent cell after backward, as Graphviz DOT
      esn         echo state networks on Mackey-Glass or NARMA-10
      train       train a recurrent model on the adding, copy or character-level text task
      bench       time the anchor workloads W0–W6 (matmul, recurrent training, per-op)

    Run 'tapestry <command> --help' for a command's options.
    """
}

/// Runs the command the arguments (after the program name) ask for and returns the exit
/// status: 0 on success, 2 for a command line `tapestry` does not accept (the message on
/// standard error), 1 when the command fails.
func runTapestry(_ arguments: [String]) -> Int32 {
  do {
    switch try parseCommandLine(arguments) {
    case .help(let text):
      print(text)
    case .demo(let arguments):
      try Demo.run(arguments: arguments)
    case .vanishing(let arguments):
      try VanishingCommand.run(arguments: arguments)
    case .graph(let arguments):
      try GraphCommand.run(arguments: arguments)
    case .esn(let arguments):
      try ESNCommand.run(arguments: arguments)
    case .train(let arguments):
      try TrainCommand.run(arguments: arguments)
    case .bench(let arguments):
      try BenchCommand.run(arguments: arguments)
    }
    return 0
  } catch let error as CommandLineError {
    printError(error.description)
    return 2
  } catch {
    printError("\(error)")
    return 1
  }
}

/// Writes `message` and a newline to standard error.
func printError(_ message: String) {
  FileHandle.standardError.write(Data("tapestry: \(message)\n".utf8))
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
  case "vanishing":
    return .vanishing(arguments: rest)
  case "graph":
    return .graph(arguments: rest)
  case "esn":
    return .esn(arguments: rest)
  case "train":
    return .train(arguments: rest)
  case "bench":
    return .bench(arguments: rest)
  default:
    throw .unknownCommand(command, usage: Usage.main)
  }
}

/// Reads `--option value` and `--option=value` pairs one at a time, for the commands that parse
/// their own options; every failure is a ``CommandLineError``.
struct OptionReader {
  private var remaining: ArraySlice<String>
  /// The usage text quoted by an unknown-option error.
  let usage: String
  /// The current option's name, without any `=value`.
  private(set) var option = ""
  private var attachedValue: String?

  /// A reader of `arguments` for a command whose help text is `usage`.
  init(_ arguments: [String], usage: String) {
    remaining = arguments[...]
    self.usage = usage
  }

  /// Moves to the next option and returns its name, or `nil` at the end.
  mutating func next() -> String? {
    guard let argument = remaining.popFirst() else { return nil }
    let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      .map(String.init)
    option = parts.first ?? argument
    attachedValue = parts.count == 2 ? parts[1] : nil
    return option
  }

  /// The error for an option the command does not have.
  var unknown: CommandLineError { .unknownOption(option, usage: usage) }

  /// The current option's value: after `=`, or the next argument.
  mutating func value() throws(CommandLineError) -> String {
    if let attachedValue { return attachedValue }
    guard let next = remaining.popFirst() else { throw .missingValue(option: option) }
    return next
  }

  /// The current option's value as a whole number in `range`.
  mutating func integer(in range: ClosedRange<Int>) throws(CommandLineError) -> Int {
    let text = try value()
    guard let number = Int(text), range.contains(number) else {
      throw .invalidValue(
        text, option: option,
        expected: "a whole number from \(range.lowerBound) to \(range.upperBound)")
    }
    return number
  }

  /// The current option's value as a finite number in `range`.
  mutating func number(in range: ClosedRange<Double>) throws(CommandLineError) -> Double {
    let text = try value()
    guard let number = Double(text), number.isFinite, range.contains(number) else {
      throw .invalidValue(
        text, option: option,
        expected: "a number from \(range.lowerBound) to \(range.upperBound)")
    }
    return number
  }

  /// The current option's value as a finite number that `isValid` accepts; `expected` says
  /// which numbers those are, for the error.
  mutating func number(expected: String, where isValid: (Double) -> Bool)
    throws(CommandLineError) -> Double
  {
    let text = try value()
    guard let number = Double(text), number.isFinite, isValid(number) else {
      throw .invalidValue(text, option: option, expected: expected)
    }
    return number
  }

  /// The current option's value as one of the raw values of `Choice`.
  mutating func choice<Choice: RawRepresentable & CaseIterable>(_: Choice.Type)
    throws(CommandLineError) -> Choice where Choice.RawValue == String
  {
    let text = try value()
    guard let choice = Choice(rawValue: text) else {
      throw .invalidValue(
        text, option: option,
        expected: Choice.allCases.map(\.rawValue).joined(separator: ", ", lastSeparator: " or "))
    }
    return choice
  }

  /// The current option's value as a path: not empty, not another option.
  mutating func path() throws(CommandLineError) -> String {
    let text = try value()
    guard !text.isEmpty, !text.hasPrefix("-") else {
      throw .invalidValue(text, option: option, expected: "a path")
    }
    return text
  }
}

extension Array where Element == String {
  /// The elements joined by `separator`, the last two by `lastSeparator`: "a, b or c".
  func joined(separator: String, lastSeparator: String) -> String {
    guard count > 1, let last else { return joined(separator: separator) }
    return dropLast().joined(separator: separator) + lastSeparator + last
  }
}
