import Testing

@testable import TapestryCLI

@Suite("bench command line") struct BenchCommandTests {
  @Test func defaultsRunEveryWorkloadOnOneThread() throws {
    let expected = BenchCommand.Options()
    #expect(try BenchCommand.parse([]) == .run(expected))
    #expect(expected.threads == 1 && !expected.quick && expected.workloads.count == 7)
  }

  @Test func optionsAreParsed() throws {
    var expected = BenchCommand.Options()
    expected.workloads = ["W1", "W3"]
    expected.sizes = [.small, .medium]
    expected.threads = 2
    expected.quick = true
    expected.jsonPath = "out.json"
    expected.referenceDirectory = "/tmp/ref"
    let parsed = try BenchCommand.parse([
      "--workloads", "W1,W3", "--sizes=S,M", "--threads", "2", "--quick", "--json", "out.json",
      "--reference-dir", "/tmp/ref",
    ])
    #expect(parsed == .run(expected))
    #expect(try BenchCommand.parse(["--quick", "--help"]) == .help)
    var ops = BenchCommand.Options()
    ops.workloads = ["W6", "W0"]
    ops.threads = 2
    #expect(try BenchCommand.parse(["ops", "--threads", "2"]) == .run(ops))
  }

  @Test(
    "rejected options throw the typed error",
    arguments: [
      (["--fast"], CommandLineError.unknownOption("--fast", usage: BenchCommand.usage)),
      (["--threads"], .missingValue(option: "--threads")),
      (["--threads", "3"], .invalidValue("3", option: "--threads", expected: "1 or 2")),
      (
        ["--workloads", "W1,W9"],
        .invalidValue(
          "W1,W9", option: "--workloads",
          expected: "a comma-separated list of W0 W1 W2 W3 W4 W5 W6")
      ),
      (
        ["--sizes", "XL"],
        .invalidValue("XL", option: "--sizes", expected: "a comma-separated list of S M L")
      ),
      (["--json", "--quick"], .invalidValue("--quick", option: "--json", expected: "a path")),
    ])
  func rejected(arguments: [String], expected: CommandLineError) {
    #expect(throws: expected) { try BenchCommand.parse(arguments) }
  }
}
