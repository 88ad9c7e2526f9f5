// W1–W4: one training step of a recurrent network, written as a user writes it: the library's
// cell, `unroll`, the mean squared error of every output, and the gradient of every parameter
// derived by the tape (no optimiser step). Data and weights are either the anchors' own arrays,
// dumped to safetensors by Tests/TapestryTests/Fixtures/Bench/make_fixtures.py, or seeded draws
// from the same distributions.

import Foundation
import Tapestry

/// The four recurrent workloads and their sizes.
enum RecurrentKind: String, CaseIterable {
  case lstm, rnn, gru, peephole

  /// `W1` … `W4`.
  var workload: String {
    switch self {
    case .lstm: "W1"
    case .rnn: "W2"
    case .gru: "W3"
    case .peephole: "W4"
    }
  }

  /// Gate blocks G: the weights have G·H columns in the anchors' layout.
  var gates: Int {
    switch self {
    case .lstm, .peephole: 4
    case .rnn: 1
    case .gru: 3
    }
  }

  /// The sizes the anchors define for this cell (no L for the peephole LSTM).
  var sizes: [RecurrentSize] { self == .peephole ? [.small, .medium] : RecurrentSize.allCases }

  /// The kind whose workload name (`W1` …) is `name`, if any.
  init?(workload name: String) {
    guard let kind = Self.allCases.first(where: { $0.workload == name }) else { return nil }
    self = kind
  }
}

/// The anchors' sizes: time steps T, batch B, input features I, hidden units H.
enum RecurrentSize: String, CaseIterable {
  case small = "S"
  case medium = "M"
  case large = "L"

  /// (T, B, I, H).
  var dimensions: (steps: Int, batch: Int, input: Int, hidden: Int) {
    switch self {
    case .small: (100, 1, 1, 32)
    case .medium: (100, 32, 32, 128)
    case .large: (50, 64, 128, 512)
    }
  }
}

/// The inputs of one W1–W4 workload, in the anchors' row-vector layout: `x` `[T, B, I]`,
/// `y` `[T, B, H]`, `Wx` `[I, GH]`, `Wh` `[H, GH]`, `b` (or `bx`, `bh`) `[GH]`, peepholes
/// `pi`, `pf`, `po` `[H]`.
struct RecurrentProblem {
  /// Which cell.
  let kind: RecurrentKind
  /// Which size.
  let size: RecurrentSize
  /// The arrays by the anchors' names.
  let arrays: [String: Tensor<Float>]
  /// PyTorch's loss and ‖∂L/∂W_hh‖ for these arrays, when they are the anchors' own.
  let reference: (loss: Double, gradientNormWh: Double)?

  /// Seeded draws with the anchors' distributions: x ~ N(0, 1), y ~ U(−1, 1), every weight
  /// ~ U(−1/√H, 1/√H). Not the anchors' numbers (numpy's generator has no Swift counterpart), but
  /// the same cost and the same magnitudes.
  static func seeded(_ kind: RecurrentKind, _ size: RecurrentSize) -> RecurrentProblem {
    let (t, b, i, h) = size.dimensions
    let gh = kind.gates * h
    let bound = Float(1 / Double(h).squareRoot())
    var shapes: [String: TensorShape] = ["Wx": [i, gh], "Wh": [h, gh]]
    for name in biasNames(kind) { shapes[name] = [gh] }
    if kind == .peephole { for name in ["pi", "pf", "po"] { shapes[name] = [h] } }
    var arrays: [String: Tensor<Float>] = [
      "x": .normal([t, b, i], seed: 0), "y": .uniform([t, b, h], in: -1..<1, seed: 1),
    ]
    for (offset, name) in shapes.keys.sorted().enumerated() {
      arrays[name] = .uniform(shapes[name] ?? [], in: -bound..<bound, seed: UInt64(2 + offset))
    }
    return RecurrentProblem(kind: kind, size: size, arrays: arrays, reference: nil)
  }

  /// The anchors' arrays from `<directory>/<cell>_<size>.safetensors`, or `nil` when there is no
  /// such file. Throws when the file exists but cannot be read.
  static func load(_ kind: RecurrentKind, _ size: RecurrentSize, from directory: URL) throws
    -> RecurrentProblem?
  {
    let url = directory.appendingPathComponent("\(kind.rawValue)_\(size.rawValue).safetensors")
    guard FileManager.default.fileExists(atPath: url.path) else { return nil }
    let file = try Safetensors.read(from: url)
    var arrays: [String: Tensor<Float>] = [:]
    for name in file.names { arrays[name] = try file.tensor(named: name, as: Float.self) }
    let reference = Double(file.metadata["loss"] ?? "").flatMap { loss in
      Double(file.metadata["grad_norm_Wh"] ?? "").map { (loss, $0) }
    }
    return RecurrentProblem(kind: kind, size: size, arrays: arrays, reference: reference)
  }

  /// The names of the bias vectors in the anchors' layout.
  static func biasNames(_ kind: RecurrentKind) -> [String] { kind == .gru ? ["bx", "bh"] : ["b"] }

  /// The array called `name`, converted to `Scalar`; traps if the problem has none, which is a
  /// programming error (every name asked for is one the recipe defines).
  func array<Scalar: TensorScalar>(_ name: String, as _: Scalar.Type) -> Tensor<Scalar> {
    guard let array = arrays[name] else {
      preconditionFailure("RecurrentProblem: no array '\(name)' for \(kind.rawValue) \(size)")
    }
    return array.converted(to: Scalar.self)
  }

  /// Nominal FLOPs of one step, the anchors' model: 6·T·B·(I + H)·G·H.
  var nominalFlops: Double {
    let (t, b, i, h) = size.dimensions
    return 6 * Double(t * b * (i + h) * kind.gates * h)
  }

  /// A training step in `Scalar`, ready to run repeatedly; with `shards` above 1 the batch is
  /// split into that many shards run on parallel threads.
  func makeStep<Scalar: TensorScalar>(_: Scalar.Type, shards: Int = 1) -> RecurrentStep<Scalar> {
    let (_, _, i, h) = size.dimensions
    let x = array("x", as: Scalar.self)
    let y = array("y", as: Scalar.self)
    // The anchors multiply row vectors by Wx [I, GH]; the cells store PyTorch's weight_ih
    // [GH, I], so the weights are transposed once here.
    let inputWeights = array("Wx", as: Scalar.self).transposed()
    let recurrentWeights = array("Wh", as: Scalar.self).transposed()
    switch kind {
    case .lstm, .peephole:
      let cell = LSTMCell<Scalar>(
        inputSize: i, hiddenSize: h, peepholes: kind == .peephole, seed: 0)
      cell.weight_ih.value = inputWeights
      cell.weight_hh.value = recurrentWeights
      cell.bias_ih?.value = array("b", as: Scalar.self)
      cell.bias_hh?.value = .zeros([4 * h])
      cell.weight_ci?.value = array("pi", as: Scalar.self)
      cell.weight_cf?.value = array("pf", as: Scalar.self)
      cell.weight_co?.value = array("po", as: Scalar.self)
      return RecurrentStep(cell: cell, x: x, y: y, shards: shards)
    case .rnn:
      let cell = RNNCell<Scalar>(inputSize: i, hiddenSize: h, seed: 0)
      cell.weight_ih.value = inputWeights
      cell.weight_hh.value = recurrentWeights
      cell.bias_ih?.value = array("b", as: Scalar.self)
      cell.bias_hh?.value = .zeros([h])
      return RecurrentStep(cell: cell, x: x, y: y, shards: shards)
    case .gru:
      let cell = GRUCell<Scalar>(inputSize: i, hiddenSize: h, seed: 0)
      cell.weight_ih.value = inputWeights
      cell.weight_hh.value = recurrentWeights
      cell.bias_ih?.value = array("bx", as: Scalar.self)
      cell.bias_hh?.value = array("bh", as: Scalar.self)
      return RecurrentStep(cell: cell, x: x, y: y, shards: shards)
    }
  }
}

/// One W1–W4 training step over a fixed cell and data, with the cell's type erased.
struct RecurrentStep<Scalar: TensorScalar> {
  /// Runs the forward pass, the loss and the backward pass to every parameter; returns the loss
  /// and ‖∂L/∂W_hh‖.
  let run: () -> (loss: Double, gradientNormWh: Double)

  /// The step of `cell` on inputs `x` `[T, B, I]` against targets `y` `[T, B, H]`: the model
  /// exactly as a user writes it, through ``valueWithGradient(at:batchSize:shards:of:)`` with
  /// each shard slicing its rows (one shard: the whole batch on one tape, and slices of the whole
  /// batch are the tensors themselves, not copies).
  init<Cell: RecurrentCell & SendableMetatype>(
    cell: Cell, x: Tensor<Scalar>, y: Tensor<Scalar>, shards: Int
  )
  where Cell.Scalar == Scalar {
    run = {
      let (loss, gradients) = valueWithGradient(
        at: cell, batchSize: x.shape[1], shards: shards
      ) { cell, rows in
        let outputs = unroll(cell, inputs: x.slice(alongAxis: 1, rows)).outputs
        return meanSquaredError(predicted: outputs, expected: y.slice(alongAxis: 1, rows))
      }
      let recurrent = gradients["weight_hh"]?.scalars ?? []
      let norm = recurrent.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
      return (Double(loss.scalar), norm)
    }
  }
}
