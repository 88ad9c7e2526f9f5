// `tapestry demo`: a tour of the autodiff engine on the project's story — gradients flowing back
// through time in a tanh RNN, vanishing or exploding with the scale of the recurrent matrix.
// Later issues grow this into the full report (plots, remedies, LSTM, echo state networks).

import Foundation
import Tapestry

/// The `tapestry demo` command.
enum Demo {
  static let usage = """
    usage: tapestry demo [--quick]

    A demonstration of the autodiff engine: the tape of one recurrent step, gradient norms through
    time for a tanh RNN at three recurrent scales (read with gradient hooks), a finite-difference
    check of the unrolled network, and a small network trained by gradient descent.

    options:
      --quick   shorter sequences and fewer training steps (seconds)
      --help    this text
    """

  /// Runs the demo with the arguments that follow `demo`.
  static func run(arguments: [String]) throws {
    var quick = false
    for argument in arguments {
      switch argument {
      case "--quick": quick = true
      case "--help", "-h":
        print(usage)
        return
      default: throw CommandLineError.unknownOption(argument, usage: usage)
      }
    }
    print("Tapestry demo: reverse-mode autodiff on a tape\n")
    showOneRecurrentStep()
    showGradientFlowThroughTime(steps: quick ? 20 : 60)
    checkUnrolledNetwork()
    trainXOR(steps: quick ? 300 : 2000)
  }

  /// A recurrent step h' = tanh(h·W + x), as recorded on the tape.
  static func showOneRecurrentStep() {
    print("1. One recurrent step h' = tanh(h·W + x), as the tape records it")
    let tape = Tape<Float>()
    tape.record {
      let h = tape.watch(Tensor.normal([1, 4], seed: 1))
      let w = tape.watch(Tensor.normal([4, 4], standardDeviation: 0.5, seed: 2))
      let x = Tensor<Float>.normal([1, 4], seed: 3)
      _ = tanh(matmul(h, w) + x).sum()
    }
    print(indented(tape.description), "\n")
  }

  /// ‖∂L/∂h_t‖ at every step of a tanh RNN whose recurrent matrix has spectral radius ≈ ρ,
  /// read from gradient hooks during an ordinary backward pass.
  static func showGradientFlowThroughTime(steps: Int) {
    let hidden = 32
    let scales: [Double] = [0.5, 1.0, 1.5]
    print("2. Gradient norms flowing back through \(steps) steps of a tanh RNN (H = \(hidden))")
    print("   L = Σ h_T; W_rec = ρ·N(0, 1/H), whose spectral radius is close to ρ\n")
    var columns: [[Double]] = []
    for scale in scales {
      let recurrent =
        Tensor<Double>.normal([hidden, hidden], seed: 7) * (scale / Double(hidden).squareRoot())
      let inputs = Tensor<Double>.normal([steps, 1, hidden], standardDeviation: 0.1, seed: 8)
      columns.append(gradientNormsThroughTime(recurrent: recurrent, inputs: inputs))
    }
    print(
      "   step t   "
        + scales.map { "ρ = \($0)".padding(toLength: 12, withPad: " ", startingAt: 0) }.joined())
    let shown = Array(
      Set(stride(from: steps, through: 1, by: -max(steps / 10, 1)).map { $0 } + [1])
    ).sorted(by: >)
    for t in shown {
      let cells = columns.map { String(format: "%-12.3e", $0[t - 1]) }.joined()
      print("   \(String(t).padding(toLength: 9, withPad: " ", startingAt: 0))\(cells)")
    }
    let ratios = columns.map { $0[0] / $0[steps - 1] }
    print(
      "\n   ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖:",
      zip(scales, ratios).map { "ρ = \($0): \(String(format: "%.2e", $1))" }.joined(separator: ", ")
    )
    print(
      "   Small ρ: the gradient vanishes geometrically; large ρ: it grows until tanh saturates.\n")
  }

  /// Runs the RNN on `inputs` ([T, 1, H]) and returns ‖∂L/∂h_t‖ for t = 1...T.
  static func gradientNormsThroughTime(recurrent: Tensor<Double>, inputs: Tensor<Double>)
    -> [Double]
  {
    let steps = inputs.shape[0]
    var norms = [Double](repeating: 0, count: steps)
    let tape = Tape<Double>()
    let (w, loss) = tape.record { () -> (Tensor<Double>, Tensor<Double>) in
      let w = tape.watch(recurrent)
      var h = Tensor<Double>.zeros([1, recurrent.shape[0]])
      for t in 0..<steps {
        h = tanh(matmul(h, w) + inputs[t])
        tape.addGradientHook(to: h) { gradient in
          norms[t] = (gradient * gradient).sum().scalar.squareRoot()
          return gradient
        }
      }
      return (w, h.sum())
    }
    _ = tape.gradients(of: loss, at: [w])
    return norms
  }

  /// A Double finite-difference check of the gradient through a short unrolled RNN.
  static func checkUnrolledNetwork() {
    print("3. The tape's gradient of an unrolled RNN (T = 8, H = 6) against finite differences")
    let inputs = Tensor<Double>.normal([8, 2, 6], seed: 11)
    let report = checkGradients(
      at: [Tensor.normal([6, 6], standardDeviation: 0.4, seed: 12), Tensor.zeros([6])]
    ) { parameters in
      var h = Tensor<Double>.zeros([2, 6])
      for t in 0..<8 { h = tanh(matmul(h, parameters[0]) + inputs[t] + parameters[1]) }
      return (h * h).mean()
    }
    print("   \(report): \(report.passes() ? "passes" : "FAILS")\n")
  }

  /// A 2-8-1 network learning XOR with plain gradient descent on a hand-written loop.
  static func trainXOR(steps: Int) {
    print("4. A 2-8-1 tanh network learning XOR by gradient descent (\(steps) steps)")
    let x = Tensor<Float>([[0, 0], [0, 1], [1, 0], [1, 1]])
    let y = Tensor<Float>([[0], [1], [1], [0]])
    var parameters = [
      Tensor<Float>.normal([2, 8], seed: 21), Tensor<Float>.zeros([8]),
      Tensor<Float>.normal([8, 1], standardDeviation: 0.5, seed: 22), Tensor<Float>.zeros([1]),
    ]
    for step in 0...steps {
      let (loss, grads) = valueWithGradients(at: parameters) { p in
        let hidden = tanh(matmul(x, p[0]) + p[1])
        return binaryCrossEntropy(logits: matmul(hidden, p[2]) + p[3], labels: y)
      }
      if step % (steps / 5) == 0 {
        print(
          "   step \(String(step).padding(toLength: 6, withPad: " ", startingAt: 0)) loss \(String(format: "%.5f", loss.scalar))"
        )
      }
      parameters = zip(parameters, grads).map { $0 - 0.5 * $1 }
    }
    let predictions = sigmoid(
      matmul(tanh(matmul(x, parameters[0]) + parameters[1]), parameters[2]) + parameters[3])
    print(
      "   predictions for (0,0) (0,1) (1,0) (1,1):",
      predictions.scalars.map { String(format: "%.3f", $0) })
  }

  static func indented(_ text: String) -> String {
    text.split(separator: "\n").map { "   " + $0 }.joined(separator: "\n")
  }
}
