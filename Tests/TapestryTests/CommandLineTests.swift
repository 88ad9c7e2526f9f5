import Testing

@testable import TapestryCLI

@Suite("command line") struct CommandLineTests {
  @Test(
    "accepted command lines",
    arguments: [
      (["bench", "ops"], Command.benchOps(.init())),
      (["bench", "ops", "--quick"], .benchOps(.init(threads: 1, quick: true, jsonPath: nil))),
      (
        ["bench", "ops", "--threads", "2", "--json", "out.json"],
        .benchOps(.init(threads: 2, quick: false, jsonPath: "out.json"))
      ),
      (["bench", "ops", "--threads=2"], .benchOps(.init(threads: 2, quick: false, jsonPath: nil))),
      (["demo", "--steps", "5"], .demo(arguments: ["--steps", "5"])),
      (["vanishing", "--cell", "gru"], .vanishing(arguments: ["--cell", "gru"])),
      (["graph"], .graph(arguments: [])),
      (["esn", "narma10"], .esn(arguments: ["narma10"])),
      (["--help"], .help(Usage.main)),
      (["bench", "--help"], .help(Usage.bench)),
      (["bench", "ops", "--quick", "--help"], .help(Usage.benchOps)),
    ])
  func accepted(arguments: [String], expected: Command) throws {
    #expect(try parseCommandLine(arguments) == expected)
  }

  @Test(
    "rejected command lines throw the typed error",
    arguments: [
      ([], CommandLineError.unknownCommand(nil, usage: Usage.main)),
      (["fly"], .unknownCommand("fly", usage: Usage.main)),
      (["bench"], .unknownCommand(nil, usage: Usage.bench)),
      (["bench", "layers"], .unknownCommand("layers", usage: Usage.bench)),
      (["bench", "ops", "--fast"], .unknownOption("--fast", usage: Usage.benchOps)),
      (["bench", "ops", "--threads"], .missingValue(option: "--threads")),
      (
        ["bench", "ops", "--threads", "3"],
        .invalidValue("3", option: "--threads", expected: "1 or 2")
      ),
      (
        ["bench", "ops", "--threads", "two"],
        .invalidValue("two", option: "--threads", expected: "1 or 2")
      ),
      (["bench", "ops", "--json"], .missingValue(option: "--json")),
      (
        ["bench", "ops", "--json", "--quick"],
        .invalidValue("--quick", option: "--json", expected: "a file path")
      ),
    ])
  func rejected(arguments: [String], expected: CommandLineError) {
    #expect(throws: expected) { try parseCommandLine(arguments) }
  }

  @Test func errorMessagesNameTheCulprit() {
    #expect(CommandLineError.unknownOption("--fast", usage: "u").description.contains("'--fast'"))
    #expect(
      CommandLineError.invalidValue("3", option: "--threads", expected: "1 or 2").description
        == "invalid value '3' for '--threads': expected 1 or 2")
  }
}
