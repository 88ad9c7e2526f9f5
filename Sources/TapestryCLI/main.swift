// The `tapestry` executable: parse the command line, run the command, report failures on
// standard error with a non-zero exit status.

import Foundation

/// Writes `message` and a newline to standard error.
func printError(_ message: String) {
  FileHandle.standardError.write(Data("tapestry: \(message)\n".utf8))
}

do {
  switch try parseCommandLine(Array(CommandLine.arguments.dropFirst())) {
  case .help(let text):
    print(text)
  case .demo(let arguments):
    try Demo.run(arguments: arguments)
  case .bench(let arguments):
    try BenchCommand.run(arguments: arguments)
  }
} catch let error as CommandLineError {
  printError(error.description)
  exit(2)
} catch {
  printError("\(error)")
  exit(1)
}
