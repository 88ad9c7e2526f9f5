import Testing

@testable import TapestryCLI

@Suite struct ReservoirCommandTests {
  @Test func optionsOverrideTheDefaults() throws {
    let options = try ESNCommand.parse([
      "narma10", "--size", "80", "--leak=0.5", "--spectral-radius", "1.1", "--ridge", "0",
      "--density", "1", "--input-scaling", "-0.3", "--bias-scaling", "0", "--seed", "7",
    ])
    #expect(
      options
        == ESNCommand.Options(
          task: .narma10, size: 80, spectralRadius: 1.1, leakRate: 0.5, inputScaling: -0.3,
          biasScaling: 0, ridge: 0, density: 1, seed: 7))
    #expect(try ESNCommand.parse(["mackey-glass"]) == ESNCommand.Options(task: .mackeyGlass))
  }

  @Test func helpReturnsNoOptions() throws {
    #expect(try ESNCommand.parse(["--help"]) == nil)
    #expect(try ESNCommand.parse(["narma10", "--help"]) == nil)
  }

  @Test(
    arguments: [
      (["narma10", "--leak", "0"], "--leak"), (["narma10", "--leak", "1.5"], "--leak"),
      (["narma10", "--ridge", "-1"], "--ridge"), (["narma10", "--density", "0"], "--density"),
      (["narma10", "--density", "2"], "--density"), (["narma10", "--size", "0"], "--size"),
      (["narma10", "--size", "ten"], "--size"), (["narma10", "--seed", "-3"], "--seed"),
      (["narma10", "--spectral-radius", "nan"], "--spectral-radius"),
    ])
  func badValuesAreRejected(arguments: [String], option: String) {
    #expect {
      try ESNCommand.parse(arguments)
    } throws: { error in
      guard case .invalidValue(arguments[2], option, _) = error as? CommandLineError else {
        return false
      }
      return true
    }
  }

  @Test func unknownTasksAndOptionsAreRejected() {
    #expect(throws: CommandLineError.unknownCommand("lorenz", usage: ESNCommand.usage)) {
      try ESNCommand.parse(["lorenz"])
    }
    #expect(throws: CommandLineError.unknownOption("--units", usage: ESNCommand.usage)) {
      try ESNCommand.parse(["narma10", "--units", "5"])
    }
    #expect(throws: CommandLineError.missingValue(option: "--ridge")) {
      try ESNCommand.parse(["narma10", "--ridge"])
    }
  }
}
