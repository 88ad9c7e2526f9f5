import Foundation
import Tapestry
import Testing

@testable import TapestryCLI

/// Options with `change` applied and `given` filled in as parsing fills it.
private func options(given: Set<String>, _ change: (inout TrainCommand.Options) -> Void)
  -> TrainCommand.Options
{
  var result = TrainCommand.Options()
  change(&result)
  result.given = given
  return result
}

private func temporaryPath(_ name: String) -> String {
  FileManager.default.temporaryDirectory.appendingPathComponent(
    "tapestry-train-\(UUID().uuidString)-\(name)"
  ).path
}

/// Parses and trains, discarding the output.
@discardableResult
private func train(_ arguments: [String]) throws -> TrainSummary {
  guard let options = try TrainCommand.parse(arguments) else {
    throw CommandLineError.unknownOption("--help", usage: "")
  }
  return try TrainCommand.train(options, output: { _ in })
}

/// The sizes every training test uses: tiny, so that the debug build runs them in seconds, and
/// one held-out measurement per run.
private let tiny = ["--hidden", "4", "--batch", "2", "--seq-len", "4", "--log-every", "100"]

@Suite("tapestry train") struct TrainCommandTests {
  @Test(
    "accepted command lines",
    arguments: [
      ([], TrainCommand.Options()),
      (
        ["--task", "adding", "--cell", "gru", "--hidden", "8", "--layers=2"],
        options(given: ["task", "cell", "hidden", "layers"]) {
          $0.task = .adding
          $0.cell = .gru
          $0.hidden = 8
          $0.layers = 2
        }
      ),
      (
        ["--length", "30", "--tbptt", "10", "--sample", "5", "--temperature", "0.5"],
        options(given: ["seq-len", "tbptt", "sample", "temperature"]) {
          $0.length = 30
          $0.tbptt = 10
          $0.sample = 5
          $0.temperature = 0.5
        }
      ),
      (
        ["--optimizer", "sgd", "--lr", "0.5", "--clip", "0", "--seed", "9", "--steps", "7"],
        options(given: ["optimizer", "lr", "clip", "seed", "steps"]) {
          $0.optimizer = .sgd
          $0.learningRate = 0.5
          $0.clip = 0
          $0.seed = 9
          $0.steps = 7
        }
      ),
      (
        ["--checkpoint", "a.st", "--save-every", "5", "--resume", "b.st", "--history", "h.csv"],
        options(given: ["checkpoint", "save-every", "resume", "history"]) {
          $0.checkpointPath = "a.st"
          $0.saveEvery = 5
          $0.resumePath = "b.st"
          $0.historyPath = "h.csv"
        }
      ),
    ])
  func accepted(arguments: [String], expected: TrainCommand.Options) throws {
    #expect(try TrainCommand.parse(arguments) == expected)
  }

  @Test func helpIsRecognisedAnywhere() throws {
    #expect(try TrainCommand.parse(["--hidden", "8", "--help"]) == nil)
    #expect(try TrainCommand.parse(["-h"]) == nil)
  }

  @Test func defaultsDependOnTheTaskAndOptimizer() throws {
    #expect(try TrainCommand.parse(["--task", "adding"])?.resolvedLength == 50)
    #expect(try TrainCommand.parse(["--task", "copy"])?.resolvedLength == 20)
    #expect(try TrainCommand.parse(["--seq-len", "16"])?.resolvedTBPTT == 16)
    #expect(try TrainCommand.parse(["--optimizer", "sgd"])?.resolvedLearningRate == 0.1)
  }

  @Test(
    "rejected command lines throw the typed error",
    arguments: [
      (["--fast"], CommandLineError.unknownOption("--fast", usage: TrainCommand.usage)),
      (["adding"], .unknownOption("adding", usage: TrainCommand.usage)),
      (["--hidden"], .missingValue(option: "--hidden")),
      (
        ["--hidden", "-3"], .invalidValue("-3", option: "--hidden", expected: "a whole number ≥ 1")
      ),
      (["--batch", "0"], .invalidValue("0", option: "--batch", expected: "a whole number ≥ 1")),
      (["--steps=ten"], .invalidValue("ten", option: "--steps", expected: "a whole number ≥ 1")),
      (
        ["--cell", "transformer"],
        .invalidValue("transformer", option: "--cell", expected: "rnn, lstm, peephole or gru")
      ),
      (
        ["--task", "mnist"],
        .invalidValue("mnist", option: "--task", expected: "adding, copy or charlm")
      ),
      (
        ["--optimizer", "lbfgs"],
        .invalidValue("lbfgs", option: "--optimizer", expected: "adam, sgd or rmsprop")
      ),
      (["--lr", "0"], .invalidValue("0", option: "--lr", expected: "a number > 0")),
      (["--lr", "nan"], .invalidValue("nan", option: "--lr", expected: "a number > 0")),
      (["--clip", "-1"], .invalidValue("-1", option: "--clip", expected: "a number ≥ 0")),
      (
        ["--temperature", "0"],
        .invalidValue("0", option: "--temperature", expected: "a number > 0")
      ),
      (["--seed", "-1"], .invalidValue("-1", option: "--seed", expected: "a whole number ≥ 0")),
      (
        ["--checkpoint", "--steps"],
        .invalidValue("--steps", option: "--checkpoint", expected: "a file path")
      ),
      (["--resume="], .invalidValue("", option: "--resume", expected: "a file path")),
      (
        ["--task", "adding", "--tbptt", "5"],
        .invalidValue("5", option: "--tbptt", expected: "--task charlm")
      ),
      (
        ["--seq-len", "8", "--tbptt", "9"],
        .invalidValue("9", option: "--tbptt", expected: "at most --seq-len (8)")
      ),
      (
        ["--task", "adding", "--length", "1"],
        .invalidValue("1", option: "--seq-len", expected: "at least 2 for adding")
      ),
      (
        ["--task", "copy", "--sample", "10"],
        .invalidValue("10", option: "--sample", expected: "--task charlm")
      ),
      (
        ["--save-every", "10"],
        .invalidValue("10", option: "--save-every", expected: "--checkpoint too")
      ),
    ])
  func rejected(arguments: [String], expected: CommandLineError) {
    #expect(throws: expected) { try TrainCommand.parse(arguments) }
  }

  @Test func aShortLanguageModelRunLowersTheLoss() throws {
    let summary = try train(
      [
        "--task", "charlm", "--hidden", "8", "--batch", "4", "--seq-len", "8", "--steps", "30",
        "--lr", "0.02", "--sample", "20", "--log-every", "30",
      ])
    #expect(summary.step == 30)
    #expect(summary.losses.count == 30)
    let first = summary.losses.prefix(5).reduce(0, +) / 5
    let last = summary.losses.suffix(5).reduce(0, +) / 5
    #expect(last < first - 0.3, "loss \(first) → \(last)")
    let vocabulary = try CharacterText(CharacterText.shakespeareSonnets).vocabulary
    // A model that has learned nothing scores log₂ of the vocabulary size.
    #expect((summary.validationMetrics["bpc"] ?? .infinity) < log2(Double(vocabulary.count)) - 0.3)
    #expect(summary.sample?.count == 20)
  }

  @Test(
    "2N steps equal N steps, a resume and N more, bit for bit",
    arguments: [
      ["--task", "charlm", "--cell", "lstm", "--tbptt", "2", "--layers", "2"],
      ["--task", "charlm", "--cell", "gru", "--optimizer", "rmsprop"],
      ["--task", "adding", "--cell", "peephole", "--optimizer", "sgd"],
      ["--task", "copy", "--cell", "rnn", "--seq-len", "2"],
    ])
  func resumingContinuesTheSameTrajectory(settings: [String]) throws {
    let (whole, half, resumed, history) = (
      temporaryPath("whole"), temporaryPath("half"), temporaryPath("resumed"),
      temporaryPath("history.csv")
    )
    defer {
      for path in [whole, half, resumed, history] {
        try? FileManager.default.removeItem(atPath: path)
      }
    }
    // Settings later in the list win, so the task's own --seq-len overrides the tiny one.
    let common = tiny + settings + ["--seed", "3"]
    let uninterrupted = try train(common + ["--steps", "6", "--checkpoint", whole])
    try train(common + ["--steps", "3", "--checkpoint", half])
    // The settings come from the checkpoint: only the step count and files are given.
    let continued = try train(
      [
        "--resume", half, "--steps", "6", "--checkpoint", resumed, "--history", history,
        "--log-every", "100",
      ])

    #expect(continued.losses == uninterrupted.losses)
    #expect(continued.validationLoss == uninterrupted.validationLoss)
    let expected = try Safetensors.read(from: URL(fileURLWithPath: whole))
    let actual = try Safetensors.read(from: URL(fileURLWithPath: resumed))
    #expect(actual.names == expected.names)
    #expect(try actual.tensors(as: Float.self) == expected.tensors(as: Float.self))
    #expect(actual.metadata == expected.metadata)

    let csv = try String(contentsOfFile: history, encoding: .utf8)
    #expect(csv.split(separator: "\n").count == 7, "a header and six steps:\n\(csv)")
  }

  @Test func periodicCheckpointsAreWritten() throws {
    let path = temporaryPath("periodic")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try train(
      tiny + ["--task", "adding", "--steps", "2", "--checkpoint", path, "--save-every", "1"])
    #expect(try TrainingCheckpoint.read(from: URL(fileURLWithPath: path)).step == 2)
  }

  @Test func aResumeWithOtherSettingsIsRefused() throws {
    let path = temporaryPath("settings")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try train(tiny + ["--task", "adding", "--steps", "1", "--checkpoint", path])
    #expect(throws: TrainError.settingMismatch(option: "--hidden", checkpoint: "4", command: "5")) {
      try train(["--resume", path, "--hidden", "5"])
    }
    #expect(
      throws: TrainError.settingMismatch(option: "--cell", checkpoint: "lstm", command: "gru")
    ) {
      try train(["--resume", path, "--cell", "gru"])
    }
    // The learning rate may change; the run then continues from step 1.
    #expect(try train(["--resume", path, "--lr", "0.001", "--steps", "2"]).losses.count == 2)
  }

  @Test func aCheckpointOfAnotherModelShapeIsRefused() throws {
    let path = temporaryPath("shape")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let parsed = try TrainCommand.parse(tiny + ["--task", "adding"])
    let settings = try #require(parsed)
    // A file whose recorded settings say H = 4 but whose weights have H = 5.
    var generator = SeededGenerator(seed: 1)
    let model = SequenceModel(
      embedding: nil, core: LSTM<Float>(inputSize: 2, hiddenSize: 5, using: &generator),
      readout: Linear(inputSize: 5, outputSize: 1, using: &generator))
    try TrainingCheckpoint.write(
      model: model, optimizer: Adam<Float>(), step: 0, trainingTensors: ["losses": .zeros([0])],
      metadata: settings.settings, to: URL(fileURLWithPath: path))
    #expect(
      throws: CheckpointError.shapeMismatch(
        name: "core.weight_ih_l0", modelShape: [16, 2], fileShape: [20, 2])
    ) { try train(["--resume", path]) }
  }

  @Test func missingAndCorruptCheckpointsThrowTypedErrors() throws {
    let path = temporaryPath("corrupt")
    defer { try? FileManager.default.removeItem(atPath: path) }
    #expect(throws: SafetensorsError.self) { try train(["--resume", path]) }
    try Data("not a checkpoint at all".utf8).write(to: URL(fileURLWithPath: path))
    #expect(throws: SafetensorsError.self) { try train(["--resume", path]) }
    #expect(throws: TrainError.missingDirectory(option: "--history", path: "/no/such/dir/h.csv")) {
      try train(tiny + ["--history", "/no/such/dir/h.csv"])
    }
  }

  @Test func errorMessagesNameTheCulprit() {
    #expect(
      TrainError.settingMismatch(option: "--hidden", checkpoint: "4", command: "5").description
        .contains("--hidden 4"))
    #expect(TrainError.nonFiniteLoss(step: 3).description.contains("step 3"))
  }
}
