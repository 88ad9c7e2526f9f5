// `tapestry esn`: the echo state network benchmarks from the command line. Values typed by a user
// are checked here and rejected with a `CommandLineError`, before the library (which traps on
// invalid hyper-parameters, as programmer errors) ever sees them.

import Tapestry

/// `tapestry esn <task> [options]`: runs the Mackey-Glass (W5) or NARMA-10 experiment with the
/// given hyper-parameters and prints its accuracy (and, for Mackey-Glass, its timings).
enum ESNCommand {
  /// The tasks `tapestry esn` runs.
  enum Task: String, CaseIterable {
    /// ``MackeyGlassExperiment``: one-step NRMSE and free-run NRMSE₈₄.
    case mackeyGlass = "mackey-glass"
    /// ``NARMA10Experiment``: one-step NMSE.
    case narma10
  }

  /// What the command line asked for; `nil` fields keep the task's defaults.
  struct Options: Equatable {
    var task: Task
    var size: Int?
    var spectralRadius: Double?
    var leakRate: Double?
    var inputScaling: Double?
    var biasScaling: Double?
    var ridge: Double?
    var density: Double?
    var seed: UInt64?
  }

  /// The help text.
  static let usage = """
    usage: tapestry esn <task> [options]

    tasks:
      mackey-glass   Mackey-Glass τ = 17, W5 protocol: one-step and free-run NRMSE84, timings
                     (defaults: N 2000, spectral radius 1, leak 0.3, input scaling 1,
                     bias scaling 0.2, ridge 1e-10, density 0.1, seed 42)
      narma10        NARMA-10, one-step NMSE on 2,000 test steps
                     (defaults: N 50, spectral radius 0.9, leak 1, input scaling 0.05,
                     bias scaling 0.1, ridge 1e-8, density 1, seed 1)

    options:
      --size N                reservoir units, a positive whole number
      --spectral-radius R     largest |eigenvalue| of the reservoir matrix, R >= 0
      --leak A                leak rate, 0 < A <= 1
      --input-scaling S       factor of the input weights
      --bias-scaling S        factor of the bias
      --ridge L               ridge parameter, L >= 0
      --density D             fraction of nonzero reservoir weights, 0 < D <= 1
      --seed K                seed of the random reservoir (and of the NARMA series)
      --help                  show this text
    """

  /// Parses the arguments after `esn`, runs the experiment and prints the results; prints the
  /// usage for `--help`. Throws ``CommandLineError`` on an unknown task or option or a bad
  /// value.
  static func run(arguments: [String]) throws {
    guard let options = try parse(arguments) else {
      print(usage)
      return
    }
    switch options.task {
    case .mackeyGlass:
      var experiment = MackeyGlassExperiment(size: options.size ?? 2000, seed: options.seed ?? 42)
      apply(options, to: &experiment.configuration, ridge: &experiment.ridge)
      let result = experiment.run()
      print(
        "Mackey-Glass, N \(experiment.configuration.size): harvest \(result.harvestSeconds) s "
          + "(10,100 steps), fit \(result.fitSeconds) s")
      print(
        "one-step NRMSE: validation \(result.validationNRMSE), test \(result.testNRMSE); "
          + "free-run NRMSE84 \(result.freeRun.atHorizon)")
    case .narma10:
      var experiment = NARMA10Experiment(size: options.size ?? 50, seed: options.seed ?? 1)
      apply(options, to: &experiment.configuration, ridge: &experiment.ridge)
      let (train, test) = experiment.run()
      print("NARMA-10, N \(experiment.configuration.size): NMSE train \(train), test \(test)")
    }
  }

  /// The options of `arguments`, or `nil` when they ask for help.
  static func parse(_ arguments: [String]) throws(CommandLineError) -> Options? {
    guard let name = arguments.first else { throw .unknownCommand(nil, usage: usage) }
    if name == "--help" || name == "-h" { return nil }
    guard let task = Task(rawValue: name) else { throw .unknownCommand(name, usage: usage) }
    var options = Options(task: task)
    var reader = OptionReader(Array(arguments.dropFirst()), usage: usage)
    while let option = reader.next() {
      switch option {
      case "--help", "-h":
        return nil
      case "--size":
        let text = try reader.value()
        guard let size = Int(text), size > 0 else {
          throw .invalidValue(text, option: option, expected: "a positive whole number")
        }
        options.size = size
      case "--seed":
        let text = try reader.value()
        guard let seed = UInt64(text) else {
          throw .invalidValue(text, option: option, expected: "a non-negative whole number")
        }
        options.seed = seed
      case "--spectral-radius":
        options.spectralRadius = try reader.number(expected: "a number >= 0") { $0 >= 0 }
      case "--leak":
        options.leakRate = try reader.number(expected: "a number in (0, 1]") { $0 > 0 && $0 <= 1 }
      case "--input-scaling":
        options.inputScaling = try reader.number(expected: "a finite number") { _ in true }
      case "--bias-scaling":
        options.biasScaling = try reader.number(expected: "a finite number") { _ in true }
      case "--ridge":
        options.ridge = try reader.number(expected: "a number >= 0") { $0 >= 0 }
      case "--density":
        options.density = try reader.number(expected: "a number in (0, 1]") { $0 > 0 && $0 <= 1 }
      default:
        throw reader.unknown
      }
    }
    return options
  }

  /// Overrides the task's defaults with the options that were given.
  private static func apply(
    _ options: Options, to configuration: inout ReservoirConfiguration, ridge: inout Double
  ) {
    if let value = options.spectralRadius { configuration.spectralRadius = value }
    if let value = options.leakRate { configuration.leakRate = value }
    if let value = options.inputScaling { configuration.inputScaling = value }
    if let value = options.biasScaling { configuration.biasScaling = value }
    if let value = options.density { configuration.density = value }
    if let value = options.ridge { ridge = value }
  }
}
