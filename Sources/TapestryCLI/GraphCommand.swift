// `tapestry graph`: the tape of a few unrolled steps of a cell, after a backward pass, as
// Graphviz DOT clustered by time step with edges coloured by gradient size.

import Foundation
import Tapestry

/// The `tapestry graph` command.
enum GraphCommand {
  static let usage = """
    usage: tapestry graph [--cell rnn|lstm|gru] [--steps T] [--hidden H] [--out FILE.dot]
    Unrolls a cell over T steps of a random sequence (batch of 1), backpropagates L = Σ h_T and
    writes the tape as Graphviz DOT: one cluster per time step, op names and shapes on the
    nodes, each edge coloured by the norm of the gradient of the tensor it carries (blue small,
    red large). Render it with: dot -Tsvg FILE.dot -o graph.svg
    options:
      --cell C        rnn (default), lstm or gru
      --steps T       time steps, 1 to 20 (default 3)
      --hidden H      hidden units, 1 to 64 (default 4)
      --out FILE      where to write the DOT text (default unrolled.dot)
      --help          show this text
    """

  /// What the command was asked to do.
  struct Options: Equatable {
    var cell = CellKind.rnn
    var steps = 3
    var hidden = 4
    var outputPath = "unrolled.dot"
  }

  /// Parses the arguments after `graph`; `nil` means `--help` was asked for.
  static func parse(_ arguments: [String]) throws(CommandLineError) -> Options? {
    var options = Options()
    var reader = OptionReader(arguments, usage: usage)
    while let option = reader.next() {
      switch option {
      case "--help", "-h": return nil
      case "--cell": options.cell = try reader.choice(CellKind.self)
      case "--steps": options.steps = try reader.integer(in: 1...20)
      case "--hidden": options.hidden = try reader.integer(in: 1...64)
      case "--out": options.outputPath = try reader.path()
      default: throw reader.unknown
      }
    }
    return options
  }

  /// Runs the command with the arguments that follow `graph`.
  static func run(arguments: [String]) throws {
    guard let options = try parse(arguments) else {
      print(usage)
      return
    }
    let dot = graph(options)
    try writeAtomically(dot, to: URL(fileURLWithPath: options.outputPath))
    let nodes = dot.split(separator: "\n").filter { $0.contains("[label=") }.count
    print(
      "wrote \(options.outputPath): \(options.cell.title), \(options.steps) steps, "
        + "\(nodes) nodes; render with: dot -Tsvg \(options.outputPath) -o graph.svg")
  }

  /// The DOT text of the unrolled, backpropagated cell.
  static func graph(_ options: Options) -> String {
    let inputs = Tensor<Double>.normal([options.steps, 1, 2], seed: 2)
    let name = "\(options.cell.rawValue) unrolled over \(options.steps) steps"
    switch options.cell {
    case .rnn:
      let cell = RNNCell<Double>(inputSize: 2, hiddenSize: options.hidden, seed: 1)
      return unrolledGraphviz(of: cell, inputs: inputs, name: name) { $0.finalState.sum() }
    case .lstm:
      let cell = LSTMCell<Double>(inputSize: 2, hiddenSize: options.hidden, seed: 1)
      return unrolledGraphviz(of: cell, inputs: inputs, name: name) {
        $0.finalState.hidden.sum()
      }
    case .gru:
      let cell = GRUCell<Double>(inputSize: 2, hiddenSize: options.hidden, seed: 1)
      return unrolledGraphviz(of: cell, inputs: inputs, name: name) { $0.finalState.sum() }
    }
  }
}
