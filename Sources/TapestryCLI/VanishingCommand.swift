// `tapestry vanishing`: one cell, one spectral radius, and the gradient norm at every time step,
// printed with the verdict and drawn as SVG (with its CSV).

import Foundation
import Tapestry

/// The `tapestry vanishing` command.
enum VanishingCommand {
  static let usage = """
    usage: tapestry vanishing [--cell rnn|lstm|gru] [--spectral-radius R] [--steps T]
                              [--hidden H] [--nonlinearity tanh|relu] [--seed N] [--out DIR]
    Runs one cell over T steps of a random sequence, with each square block of its recurrent
    weight scaled to spectral radius R, backpropagates L = Σ h_T and prints ‖∂L/∂h_t‖ (and
    ‖∂L/∂c_t‖ for an LSTM) and σ₁(∂h_T/∂h_t) at every step, read from the tape's gradient
    hooks, with the verdict: vanishing, stable or exploding. Writes DIR/vanishing.svg and
    DIR/vanishing.csv.
    options:
      --cell C               rnn (default), lstm or gru
      --spectral-radius R    the recurrent weight's spectral radius, 0 to 10 (default 1)
      --steps T              time steps, 2 to 1000 (default 50)
      --hidden H             hidden units, 1 to 256 (default 32)
      --nonlinearity N       tanh (default) or relu; rnn only
      --seed N               the seed of the weights and inputs (default 1)
      --out DIR              where to write the plot (default: the current directory)
      --help                 show this text
    """

  /// What the command was asked to do.
  struct Options: Equatable {
    var experiment = GradientFlowExperiment()
    var outputDirectory = "."
  }

  /// Parses the arguments after `vanishing`; `nil` means `--help` was asked for.
  static func parse(_ arguments: [String]) throws(CommandLineError) -> Options? {
    var options = Options()
    var reader = OptionReader(arguments, usage: usage)
    var nonlinearityGiven = false
    while let option = reader.next() {
      switch option {
      case "--help", "-h": return nil
      case "--cell": options.experiment.cell = try reader.choice(CellKind.self)
      case "--spectral-radius": options.experiment.spectralRadius = try reader.number(in: 0...10)
      case "--steps": options.experiment.steps = try reader.integer(in: 2...1000)
      case "--hidden": options.experiment.hidden = try reader.integer(in: 1...256)
      case "--seed": options.experiment.seed = UInt64(try reader.integer(in: 0...Int.max))
      case "--out": options.outputDirectory = try reader.path()
      case "--nonlinearity":
        options.experiment.nonlinearity = try reader.choice(RNNNonlinearity.self)
        nonlinearityGiven = true
      default: throw reader.unknown
      }
    }
    if nonlinearityGiven && options.experiment.cell != .rnn {
      throw .invalidValue(
        options.experiment.nonlinearity.rawValue, option: "--nonlinearity",
        expected: "no nonlinearity for --cell \(options.experiment.cell.rawValue) (rnn only)")
    }
    return options
  }

  /// Runs the command with the arguments that follow `vanishing`.
  static func run(arguments: [String]) throws {
    guard let options = try parse(arguments) else {
      print(usage)
      return
    }
    let experiment = options.experiment
    let result = experiment.run()
    let flow = result.flow
    let nonlinearity = experiment.cell == .rnn ? experiment.nonlinearity.rawValue + ", " : ""
    print(
      "\(experiment.cell.title) (\(nonlinearity)"
        + "H = \(experiment.hidden), T = \(experiment.steps)), L = Σ h_T; recurrent weight "
        + result.weight.description + "\n")
    var header = "     t   ‖∂L/∂h_t‖"
    if flow.cell != nil { header += "   ‖∂L/∂c_t‖" }
    print(header + "   σ₁(∂h_T/∂h_t)")
    for t in 1...experiment.steps {
      var line = String(format: "%6d   %.3e", t, flow.hidden[t - 1])
      if let cell = flow.cell { line += String(format: "   %.3e", cell[t - 1]) }
      print(line + String(format: "   %.3e", result.jacobian[t - 1]))
    }
    print(
      String(
        format: "\nper step back, ‖∂L/∂h_t‖ is multiplied by %.4f on average: %@",
        flow.perStepGrowth, flow.verdict.rawValue))
    let directory = URL(fileURLWithPath: options.outputDirectory)
    try createDirectory(directory)
    let files = try chart(experiment, result).write(to: directory, name: "vanishing")
    print("wrote \(files.svg.path) and \(files.csv.path)")
  }

  /// The plot: the gradient norms and the Jacobian norms on a log axis.
  static func chart(_ experiment: GradientFlowExperiment, _ result: GradientFlowResult)
    -> LineChart
  {
    var series = [LineChart.Series(name: "‖∂L/∂h_t‖", y: result.flow.hidden)]
    if let cell = result.flow.cell { series.append(.init(name: "‖∂L/∂c_t‖", y: cell)) }
    series.append(.init(name: "σ₁(∂h_T/∂h_t)", y: result.jacobian))
    return LineChart(
      title: "\(experiment.cell.title), spectral radius \(experiment.spectralRadius): "
        + result.flow.verdict.rawValue,
      xLabel: "time step t", yLabel: "norm (log scale)", yScale: .log, series: series)
  }
}

/// Why a report or plot directory could not be made.
struct DirectoryError: Error, CustomStringConvertible {
  let path: String
  let reason: String

  var description: String { "cannot create the directory \(path): \(reason)" }
}

/// Creates `directory` and its parents if missing; throws ``DirectoryError``.
func createDirectory(_ directory: URL) throws {
  do {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  } catch {
    throw DirectoryError(path: directory.path, reason: error.localizedDescription)
  }
}
