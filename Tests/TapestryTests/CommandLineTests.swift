import Testing

@testable import TapestryCLI

@Suite("command line") struct CommandLineTests {
  @Test(
    "accepted command lines",
    arguments: [
      (
        ["bench", "--quick", "--threads", "2"],
        Command.bench(arguments: ["--quick", "--threads", "2"])
      ),
      (["demo", "--steps", "5"], .demo(arguments: ["--steps", "5"])),
      (["vanishing", "--cell", "gru"], .vanishing(arguments: ["--cell", "gru"])),
      (["graph"], .graph(arguments: [])),
      (["esn", "narma10"], .esn(arguments: ["narma10"])),
      (["train", "--task", "copy"], .train(arguments: ["--task", "copy"])),
      (["--help"], .help(Usage.main)),
    ])
  func accepted(arguments: [String], expected: Command) throws {
    #expect(try parseCommandLine(arguments) == expected)
  }

  @Test(
    "rejected command lines throw the typed error",
    arguments: [
      ([], CommandLineError.unknownCommand(nil, usage: Usage.main)),
      (["fly"], .unknownCommand("fly", usage: Usage.main)),
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
