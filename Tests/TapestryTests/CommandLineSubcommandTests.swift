import Foundation
import Testing

@testable import TapestryCLI

@Suite("command line: demo, vanishing, graph") struct CommandLineSubcommandTests {
  @Test func demoOptions() throws {
    #expect(try Demo.parse([]) == Demo.Options())
    #expect(
      try Demo.parse(["--quick", "--out", "r"]) == Demo.Options(quick: true, outputDirectory: "r"))
    #expect(try Demo.parse(["--out=x/y"])?.outputDirectory == "x/y")
    #expect(try Demo.parse(["--quick", "--help"]) == nil)
  }

  @Test(
    "rejected demo options",
    arguments: [
      (["--fast"], CommandLineError.unknownOption("--fast", usage: Demo.usage)),
      (["--out"], .missingValue(option: "--out")),
      (["--out", "--quick"], .invalidValue("--quick", option: "--out", expected: "a path")),
    ])
  func rejectedDemo(arguments: [String], expected: CommandLineError) {
    #expect(throws: expected) { try Demo.parse(arguments) }
  }

  @Test func vanishingOptions() throws {
    let options = try #require(
      try VanishingCommand.parse([
        "--cell", "rnn", "--spectral-radius", "1.5", "--steps", "30", "--nonlinearity=relu",
        "--hidden", "8", "--seed", "3", "--out", "plots",
      ]))
    #expect(options.experiment.cell == .rnn)
    #expect(options.experiment.spectralRadius == 1.5)
    #expect(options.experiment.steps == 30)
    #expect(options.experiment.nonlinearity == .relu)
    #expect(options.experiment.hidden == 8)
    #expect(options.experiment.seed == 3)
    #expect(options.outputDirectory == "plots")
    #expect(try VanishingCommand.parse(["--help"]) == nil)
    #expect(try VanishingCommand.parse(["--cell", "lstm"])?.experiment.cell == .lstm)
  }

  @Test(
    "rejected vanishing options",
    arguments: [
      (
        ["--cell", "cnn"],
        CommandLineError.invalidValue("cnn", option: "--cell", expected: "rnn, lstm or gru")
      ),
      (
        ["--spectral-radius", "-1"],
        .invalidValue("-1", option: "--spectral-radius", expected: "a number from 0.0 to 10.0")
      ),
      (
        ["--spectral-radius", "nan"],
        .invalidValue("nan", option: "--spectral-radius", expected: "a number from 0.0 to 10.0")
      ),
      (
        ["--steps", "1"],
        .invalidValue("1", option: "--steps", expected: "a whole number from 2 to 1000")
      ),
      (
        ["--nonlinearity", "sigmoid"],
        .invalidValue("sigmoid", option: "--nonlinearity", expected: "tanh or relu")
      ),
      (
        ["--cell", "lstm", "--nonlinearity", "relu"],
        .invalidValue(
          "relu", option: "--nonlinearity", expected: "no nonlinearity for --cell lstm (rnn only)")
      ),
      (["--steps"], .missingValue(option: "--steps")),
      (["--verbose"], .unknownOption("--verbose", usage: VanishingCommand.usage)),
    ])
  func rejectedVanishing(arguments: [String], expected: CommandLineError) {
    #expect(throws: expected) { try VanishingCommand.parse(arguments) }
  }

  @Test func graphOptions() throws {
    #expect(try GraphCommand.parse([]) == GraphCommand.Options())
    #expect(
      try GraphCommand.parse(["--cell", "gru", "--steps", "2", "--hidden", "3", "--out", "g.dot"])
        == GraphCommand.Options(cell: .gru, steps: 2, hidden: 3, outputPath: "g.dot"))
    #expect(
      throws: CommandLineError.invalidValue(
        "0", option: "--steps", expected: "a whole number from 1 to 20")
    ) {
      try GraphCommand.parse(["--steps", "0"])
    }
    #expect(throws: CommandLineError.unknownOption("--dot", usage: GraphCommand.usage)) {
      try GraphCommand.parse(["--dot"])
    }
  }

  @Test func graphCommandWritesParsableDOT() {
    for cell in CellKind.allCases {
      let dot = GraphCommand.graph(.init(cell: cell, steps: 2, hidden: 2))
      #expect(dot.filter { $0 == "{" }.count == dot.filter { $0 == "}" }.count)
      #expect(dot.contains("subgraph cluster_t2 {"))
    }
  }

  @Test func badOptionExitsWithStatus2AndSaysWhy() async {
    let result = await #expect(
      processExitsWith: .exitCode(2), observing: [\.standardErrorContent]
    ) {
      exit(runTapestry(["vanishing", "--steps", "many"]))
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(
      message.contains("invalid value 'many' for '--steps': expected a whole number from 2 to 1000")
    )
  }

  @Test func unknownCommandExitsWithStatus2() async {
    await #expect(processExitsWith: .exitCode(2)) { exit(runTapestry(["paint"])) }
  }
}
