// `tapestry demo`: the story of gradients flowing back through time, told with measurements and
// written as a report folder: index.html with every figure as SVG, and the data as CSV.
//
// 1. Vanishing and exploding: ‖∂L/∂h_t‖ for a tanh RNN and an LSTM whose recurrent weight has
//    spectral radius 0.5, 1 or 1.5, read from the tape's gradient hooks.
// 2. Remedies: gradient clipping, truncated BPTT, orthogonal and identity initialisation, an L2
//    penalty on the recurrent weight.
// 3. Architectures on the adding problem: RNN, LSTM, peephole LSTM and GRU, with the gradient
//    flow of each over training as a heatmap.
// 4. The other way round: an echo state network, whose recurrent weights are never trained, on
//    Mackey-Glass.

import Foundation
import Tapestry

/// The `tapestry demo` command.
enum Demo {
  static let usage = """
    usage: tapestry demo [--quick] [--out DIR]
    Measures how gradients flow back through time in recurrent networks and what keeps them
    alive, and writes a report: DIR/index.html showing every figure (SVG) with a short
    explanation, and each figure's data as CSV. Seeded: every run gives the same numbers.
    About two minutes in a release build (swift run -c release tapestry demo).
    options:
      --quick     tiny sizes and few iterations (seconds): checks that everything runs
      --out DIR   where to write the report (default tapestry-report)
      --help      show this text
    """

  /// What the demo was asked to do.
  struct Options: Equatable {
    var quick = false
    var outputDirectory = "tapestry-report"
  }

  /// Parses the arguments after `demo`; `nil` means `--help` was asked for.
  static func parse(_ arguments: [String]) throws(CommandLineError) -> Options? {
    var options = Options()
    var reader = OptionReader(arguments, usage: usage)
    while let option = reader.next() {
      switch option {
      case "--help", "-h": return nil
      case "--quick": options.quick = true
      case "--out": options.outputDirectory = try reader.path()
      default: throw reader.unknown
      }
    }
    return options
  }

  /// The sizes of a run: the full story, or a quick check of it.
  struct Scale {
    /// Hidden units of every network.
    let hidden: Int
    /// Time steps of the gradient-flow figures.
    let flowSteps: Int
    /// Sequence length and iterations of the remedies on the adding problem.
    let remedyLength: Int
    let remedyIterations: Int
    /// Delay, stream length and batches of the truncated-BPTT comparison.
    let echo: DelayedEcho
    let echoBatches: Int
    /// Sequence length and iterations of the architectures on the adding problem.
    let addingLength: Int
    let addingIterations: Int
    /// Reservoir units and teacher-forced training steps of the echo state network.
    let reservoirSize: Int
    let reservoirTraining: Int

    static let full = Scale(
      hidden: 32, flowSteps: 100, remedyLength: 20, remedyIterations: 400,
      echo: DelayedEcho(delay: 4, length: 24, batchSize: 32), echoBatches: 80, addingLength: 30,
      addingIterations: 600, reservoirSize: 500, reservoirTraining: 4000)
    static let quick = Scale(
      hidden: 32, flowSteps: 20, remedyLength: 6, remedyIterations: 20,
      echo: DelayedEcho(delay: 3, length: 12), echoBatches: 6, addingLength: 6,
      addingIterations: 20, reservoirSize: 50, reservoirTraining: 400)
  }

  /// Runs the demo with the arguments that follow `demo`.
  static func run(arguments: [String]) throws {
    guard let options = try parse(arguments) else {
      print(usage)
      return
    }
    try makeReport(options, scale: options.quick ? .quick : .full)
  }

  /// Runs every experiment at `scale` and writes the report where `options` says.
  static func makeReport(_ options: Options, scale: Scale) throws {
    let start = ContinuousClock.now
    let report = try Report(directory: URL(fileURLWithPath: options.outputDirectory))
    print("Tapestry demo: seeing gradients flow through time\(options.quick ? " (quick)" : "")\n")
    try vanishingAndExploding(report, scale)
    try remedies(report, scale)
    try architectures(report, scale)
    try echoStateNetwork(report, scale)
    let seconds = (ContinuousClock.now - start) / .seconds(1)
    try report.finish(
      title: "Seeing gradients flow through time",
      introduction:
        "A recurrent network learns a dependency across k steps only if the gradient of the "
        + "loss survives k steps back through the unrolled graph. Each figure measures that "
        + "gradient with Tapestry's tape: gradient hooks read ‖∂L/∂h_t‖ at every time step "
        + "during the ordinary backward pass, with no second, hand-written derivative.",
      footer:
        "Made by tapestry demo\(options.quick ? " --quick" : "") in "
        + String(format: "%.0f s", seconds) + "; seeded, so every run gives the same numbers.")
  }

  // MARK: - 1. Vanishing and exploding

  static let radii = [0.5, 1.0, 1.5]

  static func vanishingAndExploding(_ report: Report, _ scale: Scale) throws {
    print("1. Vanishing and exploding gradients")
    report.section(
      "1. Vanishing and exploding gradients",
      "One step of a tanh RNN multiplies the gradient by diag(tanh′)·W_hh, so T steps multiply "
        + "it by T such matrices: it shrinks or grows geometrically with the spectral radius ρ "
        + "of W_hh. Here W_hh (\(scale.hidden) units, PyTorch's initialisation) is rescaled "
        + "to ρ = 0.5, 1 and "
        + "1.5, the network runs over \(scale.flowSteps) steps of N(0, 1) inputs, and "
        + "L = Σ h_T is backpropagated.")
    var progress = Progress("gradient flow, RNN and LSTM at three radii", total: 6)
    var rnn: [GradientFlowResult] = []
    var lstm: [GradientFlowResult] = []
    for (index, radius) in radii.enumerated() {
      rnn.append(
        GradientFlowExperiment(
          cell: .rnn, spectralRadius: radius, steps: scale.flowSteps, hidden: scale.hidden
        ).run())
      progress.update(2 * index + 1)
      lstm.append(
        GradientFlowExperiment(
          cell: .lstm, spectralRadius: radius, steps: scale.flowSteps, hidden: scale.hidden
        ).run())
      progress.update(2 * index + 2)
    }
    progress.finish("done")
    func factors(_ results: [GradientFlowResult]) -> String {
      zip(radii, results).map { radius, result in
        String(
          format: "ρ %.1f: ×%.3f/step (%@)", radius, result.flow.perStepGrowth,
          result.flow.verdict.rawValue)
      }.joined(separator: ", ")
    }
    let steps = scale.flowSteps
    let rnnRatios = rnn.map { $0.flow.hidden[0] / $0.flow.hidden[steps - 1] }
    try report.add(
      LineChart(
        title: "tanh RNN: gradient norm through time", xLabel: "time step t",
        yLabel: "‖∂L/∂h_t‖ (log scale)", yScale: .log,
        series: zip(radii, rnn).map { .init(name: "ρ = \($0)", y: $1.flow.hidden) }),
      name: "rnn-gradient-flow",
      caption:
        "‖∂L/∂h_t‖ for t = 1…\(steps), read by gradient hooks. From the last step back to the "
        + "first the gradient changes by a factor of "
        + zip(radii, rnnRatios).map { String(format: "%.1e at ρ = %.1f", $1, $0) }.joined(
          separator: ", ")
        + ". At ρ = 1.5, W_hh alone would make it grow, but the state is driven into tanh's "
        + "flat tails, whose small slopes hold the gradient roughly level.",
      finding: "RNN " + factors(rnn))
    try report.add(
      LineChart(
        title: "tanh RNN: largest singular value of ∂h_T/∂h_t", xLabel: "time step t",
        yLabel: "σ₁(∂h_T/∂h_t) (log scale)", yScale: .log,
        series: zip(radii, rnn).map { .init(name: "ρ = \($0)", y: $1.jacobian) }),
      name: "rnn-jacobian",
      caption:
        "The Jacobian product itself, through the tape: \(scale.hidden) backward passes "
        + "from h_T, seeded with "
        + "each basis vector, give ∂h_T/∂h_t at every t at once; σ₁ is its largest singular "
        + "value, the most any gradient can be stretched on the way back. Recurrent weight: "
        + zip(radii, rnn).map { "\($1.weight)" }.joined(separator: "; ") + ".",
      finding: String(
        format: "RNN σ₁(∂h_T/∂h_1): %.1e / %.1e / %.1e", rnn[0].jacobian[0], rnn[1].jacobian[0],
        rnn[2].jacobian[0]))
    var lstmSeries: [LineChart.Series] = []
    for (radius, result) in zip(radii, lstm) {
      lstmSeries.append(.init(name: "‖∂L/∂h_t‖, ρ = \(radius)", y: result.flow.hidden))
      lstmSeries.append(.init(name: "‖∂L/∂c_t‖, ρ = \(radius)", y: result.flow.cell ?? []))
    }
    try report.add(
      LineChart(
        title: "LSTM: gradient norm through time", xLabel: "time step t",
        yLabel: "norm (log scale)", yScale: .log, series: lstmSeries),
      name: "lstm-gradient-flow",
      caption:
        "The same for an LSTM (forget-gate bias 1), each gate block of W_hh rescaled to ρ. The "
        + "cell state's gradient passes back through ∂c_t/∂c_{t−1} = diag(f), with no W_hh and "
        + "no squashing, so ρ hardly matters: per step, "
        + zip(radii, lstm).map {
          String(format: "×%.3f at ρ = %.1f", perStepGrowth(of: $1.flow.cell ?? []), $0)
        }
        .joined(separator: ", ")
        + " for ‖∂L/∂c_t‖. It still fades, at the rate of the forget gate, which training "
        + "learns to open.",
      finding: "LSTM " + factors(lstm))
    let gates = lstm[1].flow.gates.sorted { $0.key < $1.key }
    try report.add(
      LineChart(
        title: "LSTM (ρ = 1): gradient at each gate", xLabel: "time step t",
        yLabel: "‖∂L/∂gate_t‖ (log scale)", yScale: .log,
        series: gates.map { .init(name: String($0.key.dropFirst("gate.".count)), y: $0.value) }),
      name: "lstm-gates",
      caption:
        "Per-gate gradient norms, from probes inside LSTMCell (probe(_:as:), one line per "
        + "gate; free when no recorder listens). The forget gate gets no gradient at t = 1, "
        + "where it multiplies c₀ = 0, which the log axis cannot show: its legend says so.",
      finding: "LSTM gates at t = 1: "
        + gates.map { String(format: "%@ %.1e", String($0.key.dropFirst(5)), $0.value[0]) }
        .joined(separator: ", "))
    let graph = GraphCommand.graph(GraphCommand.Options(cell: .rnn, steps: 3, hidden: 4))
    let rendered = renderWithGraphviz(graph, as: "unrolled-rnn.svg", in: report.directory)
    try report.addFile(
      graph, fileName: "unrolled-rnn.dot", image: rendered ? "unrolled-rnn.svg" : nil,
      caption:
        "The tape of a tanh RNN (4 units) unrolled over 3 steps, after backward, as Graphviz "
        + "DOT: one cluster per time step, op names and shapes on the nodes, edges coloured "
        + "by the norm of the gradient of the tensor they carry (blue small, red large)."
        + (rendered
          ? ""
          : " Graphviz was not found here, so it is not drawn: run "
            + "`dot -Tsvg unrolled-rnn.dot -o unrolled-rnn.svg`."),
      finding: "unrolled graph, 3 steps, "
        + "\(graph.split(separator: "\n").filter { $0.contains("[label=") }.count) nodes")
  }

  /// Renders DOT text with Graphviz's `dot` when it is installed; whether it did.
  static func renderWithGraphviz(_ dot: String, as name: String, in directory: URL) -> Bool {
    let candidates = ["/usr/bin/dot", "/usr/local/bin/dot", "/opt/homebrew/bin/dot"]
    guard let executable = candidates.first(where: FileManager.default.isExecutableFile) else {
      return false
    }
    let source = directory.appendingPathComponent(name + ".dot.tmp")
    defer { try? FileManager.default.removeItem(at: source) }
    do {
      try writeAtomically(dot, to: source)
      let process = Process()
      process.executableURL = URL(fileURLWithPath: executable)
      process.arguments = ["-Tsvg", source.path, "-o", directory.appendingPathComponent(name).path]
      try process.run()
      process.waitUntilExit()
      return process.terminationStatus == 0
    } catch {
      return false
    }
  }

  // MARK: - 2. Remedies

  static func remedies(_ report: Report, _ scale: Scale) throws {
    print("\n2. Remedies")
    let length = scale.remedyLength
    report.section(
      "2. Remedies",
      "Four ways to keep training working, on the adding problem (T = \(length): remember two "
        + "marked values and output their sum; predicting 1 scores an MSE of 0.167) and on a "
        + "delayed echo. Recurrent nets of \(scale.hidden) units, batches of 32, fresh data "
        + "every iteration."
    )
    let training = AddingTraining(length: length, iterations: scale.remedyIterations)
    let window = Swift.max(1, scale.remedyIterations / 40)

    // Clipping: an RNN started at ρ = 2 trained by plain SGD.
    var clippingRuns: [(String, AddingRun)] = []
    for clip in [nil, Float(1)] {
      var settings = training
      settings.clipNorm = clip
      let model = rnnModel(hidden: scale.hidden, radius: 2, seed: 2)
      let name = clip == nil ? "no clipping" : "clipped to norm 1"
      clippingRuns.append(
        (
          name,
          settings.run(
            model, optimizer: SGD<Float>(learningRate: 0.2), label: "SGD, ρ = 2, \(name)")
        ))
    }
    try report.add(
      LineChart(
        title: "Exploding gradients: SGD with and without clipping", xLabel: "iteration",
        yLabel: "training loss (log scale)", yScale: .log,
        series: clippingRuns.map { name, run in
          let curve = run.smoothedLosses(window: window)
          return .init(name: name, x: curve.x, y: curve.y)
        }),
      name: "clipping-loss",
      caption:
        "A tanh RNN started with ρ(W_hh) = 2, where gradients explode, trained by SGD (learning "
        + "rate 0.2) with and without rescaling the gradient to global norm ≤ 1 "
        + "(clipGlobalNorm). Mean loss per \(window) iterations. Final test MSE: "
        + clippingRuns.map { String(format: "%@ %.3f", $0.0, $0.1.finalTestError) }.joined(
          separator: ", ")
        + ".",
      finding: "clipping: "
        + clippingRuns.map { String(format: "%@ → test MSE %.3f", $0.0, $0.1.finalTestError) }
        .joined(separator: ", "))

    // Truncated against full BPTT on the delayed echo.
    let echo = scale.echo
    let truncatedK = echo.delay / 2
    let truncated = trainDelayedEcho(
      echo, k: truncatedK, hidden: scale.hidden / 2, batches: scale.echoBatches,
      label: "LSTM, truncated BPTT k = \(truncatedK)", seed: 3)
    let full = trainDelayedEcho(
      echo, k: echo.length, hidden: scale.hidden / 2, batches: scale.echoBatches,
      label: "LSTM, full BPTT", seed: 3)
    func tail(_ losses: [Double]) -> Double {
      let last = losses.suffix(Swift.max(1, losses.count / 10))
      return last.reduce(0, +) / Double(last.count)
    }
    try report.add(
      LineChart(
        title: "Truncated vs full BPTT on a delay of \(echo.delay) steps", xLabel: "batch",
        yLabel: "training loss (log scale)", yScale: .log,
        series: [
          .init(name: "truncated, k = \(truncatedK)", y: truncated),
          .init(name: "full BPTT (\(echo.length) steps)", y: full),
        ]),
      name: "tbptt-loss",
      caption:
        "An LSTM (\(scale.hidden / 2) units) must output its input from \(echo.delay) steps "
        + "ago, on streams of \(echo.length) steps. TruncatedBPTT(k1: \(truncatedK)) updates "
        + "every \(truncatedK) steps "
        + "and cuts the gradient there; the state still flows forward, but no gradient "
        + "teaches the cell to keep a value longer than \(truncatedK) steps. Full BPTT sees the "
        + "whole stream. Mean loss over the last tenth: "
        + String(
          format: "truncated %.4f, full %.4f (predicting 0 scores 0.333).", tail(truncated),
          tail(full)),
      finding: String(
        format: "TBPTT k = %d: loss %.4f; full BPTT: %.4f", truncatedK, tail(truncated), tail(full))
    )

    // Initialisation.
    var initRuns: [(String, AddingRun)] = []
    var initFlows: [LineChart.Series] = []
    let initialisations: [(String, () -> LastStepRegressor<RNNCell<Float>>)] = [
      ("tanh, default init", { rnnModel(hidden: scale.hidden, seed: 4) }),
      (
        "tanh, orthogonal W_hh",
        { rnnModel(hidden: scale.hidden, initializer: .orthogonal(), seed: 4) }
      ),
      (
        "ReLU, identity W_hh (IRNN)",
        { rnnModel(hidden: scale.hidden, initializer: .identity(), relu: true, seed: 4) }
      ),
    ]
    for (name, makeModel) in initialisations {
      let model = makeModel()
      let run = training.run(model, optimizer: Adam<Float>(learningRate: 0.002), label: name)
      initRuns.append((name, run))
      initFlows.append(.init(name: name, y: run.flows.first ?? []))
    }
    try report.add(
      LineChart(
        title: "Gradient flow at initialisation", xLabel: "time step t",
        yLabel: "‖∂L/∂h_t‖ (log scale)", yScale: .log, series: initFlows),
      name: "init-gradient-flow",
      caption:
        "‖∂L/∂h_t‖ on the first training batch of the adding problem. PyTorch's default "
        + "U(−1/√H, 1/√H) gives W_hh a spectral radius near 0.58, so the gradient fades; an "
        + "orthogonal W_hh has every singular value 1; the identity with ReLU (Le et al. 2015) "
        + "copies the state forward. Per step back: "
        + initRuns.map {
          String(format: "%@ ×%.3f", $0.0, perStepGrowth(of: $0.1.flows.first ?? []))
        }
        .joined(separator: ", ") + ".",
      finding: "init flow/step: "
        + initRuns.map { String(format: "×%.3f", perStepGrowth(of: $0.1.flows.first ?? [])) }
        .joined(separator: " / "))
    try report.add(
      LineChart(
        title: "Initialisation and learning", xLabel: "iteration",
        yLabel: "test MSE (log scale)", yScale: .log,
        series: initRuns.map { .init(name: $0.0, x: $0.1.testIterations, y: $0.1.testErrors) }),
      name: "init-learning-curves",
      caption:
        "Test MSE (256 fixed sequences) while training each with Adam (learning rate 0.002), "
        + "gradients clipped to norm 1. Final: "
        + initRuns.map { String(format: "%@ %.4f", $0.0, $0.1.finalTestError) }.joined(
          separator: ", ")
        + ".",
      finding: "init test MSE: "
        + initRuns.map { String(format: "%.4f", $0.1.finalTestError) }
        .joined(separator: " / "))

    // An L2 penalty on W_hh.
    var penaltyRuns: [(String, AddingRun)] = []
    for weight in [nil, Float(0.003)] {
      var settings = training
      settings.recurrentPenalty = weight
      settings.tracksSpectralRadius = true
      let name = weight.map { "L2 penalty λ = \($0) on W_hh" } ?? "no penalty"
      let run = settings.run(
        rnnModel(hidden: scale.hidden, radius: 1.5, seed: 5),
        optimizer: Adam<Float>(learningRate: 0.002),
        label: "ρ = 1.5, \(name)")
      penaltyRuns.append((name, run))
    }
    try report.add(
      LineChart(
        title: "An L2 penalty on W_hh pulls its spectral radius down", xLabel: "iteration",
        yLabel: "spectral radius of W_hh", yScale: .linear,
        series: penaltyRuns.map { .init(name: $0.0, y: $0.1.spectralRadii) }),
      name: "penalty-spectral-radius",
      caption:
        "A tanh RNN started at ρ(W_hh) = 1.5 (exploding), trained as above, with and without "
        + "l2Penalty(of:weight:only: [\"cell.weight_hh\"]) added to the loss; "
        + "RecurrentWeightDiagnosis "
        + "after every iteration. Final ρ and test MSE: "
        + penaltyRuns.map {
          String(
            format: "%@: ρ %.2f, MSE %.4f", $0.0, $0.1.spectralRadii.last ?? .nan,
            $0.1.finalTestError)
        }
        .joined(separator: "; ") + ".",
      finding: "final ρ(W_hh): "
        + penaltyRuns.map { String(format: "%@ %.2f", $0.0, $0.1.spectralRadii.last ?? .nan) }
        .joined(separator: ", "))
  }

  /// A tanh (or ReLU) RNN of `hidden` units with a linear readout, its W_hh drawn by
  /// `initializer` (zero biases then), or PyTorch's default rescaled to spectral radius `radius`.
  static func rnnModel(
    hidden: Int, radius: Double? = nil, initializer: Initializer? = nil, relu: Bool = false,
    seed: UInt64
  ) -> LastStepRegressor<RNNCell<Float>> {
    var generator = SeededGenerator(seed: seed)
    let cell = RNNCell<Float>(
      inputSize: 2, hiddenSize: hidden, nonlinearity: relu ? .relu : .tanh, using: &generator)
    if let radius { cell.weight_hh.value = scaledBlocks(cell.weight_hh.value, to: radius) }
    if let initializer {
      cell.weight_hh.value = initializer.makeTensor([hidden, hidden], using: &generator)
      for bias in [cell.bias_ih, cell.bias_hh].compactMap({ $0 }) {
        bias.value = Tensor.zeros([hidden])
      }
    }
    return LastStepRegressor(
      cell: cell, readout: Linear(inputSize: hidden, outputSize: 1, using: &generator))
  }

  // MARK: - 3. Architectures

  static func architectures(_ report: Report, _ scale: Scale) throws {
    print("\n3. LSTM, GRU and RNN on the adding problem")
    let length = scale.addingLength
    report.section(
      "3. LSTM vs RNN on the adding problem",
      "The same budget for four cells of \(scale.hidden) units on the adding problem with "
        + "T = \(length): "
        + "Adam (learning rate 0.005), gradients clipped to norm 1, batches of 32. Every "
        + "training step also records ‖∂L/∂h_t‖ through probes, at no extra backward pass.")
    let training = AddingTraining(
      length: length, iterations: scale.addingIterations,
      flowEvery: Swift.max(1, scale.addingIterations / 40))
    var generator = SeededGenerator(seed: 6)
    func readout() -> Linear<Float> {
      Linear(inputSize: scale.hidden, outputSize: 1, using: &generator)
    }
    var runs: [(String, AddingRun)] = []
    func train<Cell: RecurrentCell>(_ name: String, _ cell: Cell)
    where Cell.Scalar == Float, Cell.State: ProbedState, Cell.State.Scalar == Float {
      let model = LastStepRegressor(cell: cell, readout: readout())
      runs.append(
        (name, training.run(model, optimizer: Adam<Float>(learningRate: 0.005), label: name)))
    }
    train("tanh RNN", RNNCell<Float>(inputSize: 2, hiddenSize: scale.hidden, using: &generator))
    train(
      "LSTM",
      LSTMCell<Float>(inputSize: 2, hiddenSize: scale.hidden, forgetGateBias: 1, using: &generator))
    train(
      "peephole LSTM",
      LSTMCell<Float>(
        inputSize: 2, hiddenSize: scale.hidden, peepholes: true, forgetGateBias: 1,
        using: &generator))
    train("GRU", GRUCell<Float>(inputSize: 2, hiddenSize: scale.hidden, using: &generator))
    try report.add(
      LineChart(
        title: "Adding problem, T = \(length): test MSE", xLabel: "iteration",
        yLabel: "test MSE (log scale)", yScale: .log,
        series: runs.map { .init(name: $0.0, x: $0.1.testIterations, y: $0.1.testErrors) }
          + [
            .init(
              name: "predict 1 (baseline)", x: [0, Double(scale.addingIterations)],
              y: [1.0 / 6, 1.0 / 6])
          ]),
      name: "adding-learning-curves",
      caption:
        "Test MSE on 256 fixed sequences. Final: "
        + runs.map { String(format: "%@ %.4f", $0.0, $0.1.finalTestError) }.joined(separator: ", ")
        + " (Le et al. count below 0.01 as solved).",
      finding: runs.map { String(format: "%@ %.4f", $0.0, $0.1.finalTestError) }.joined(
        separator: ", "))
    for (name, run) in runs where name != "peephole LSTM" {
      let file = "flow-heatmap-" + name.lowercased().replacingOccurrences(of: " ", with: "-")
      let first = run.flows.first ?? []
      let last = run.flows.last ?? []
      try report.add(
        Heatmap(
          title: "\(name): ‖∂L/∂h_t‖ over training", xLabel: "time step t", yLabel: "iteration",
          valueLabel: "‖∂L/∂h_t‖ (log colour scale)", values: run.flows,
          columnValues: (1...length).map(Double.init), rowValues: run.flowIterations),
        name: file,
        caption:
          "Each row is one training iteration's gradient norm at every time step (the loss "
          + "reads h_T). "
          + String(
            format: "‖∂L/∂h_1‖ / ‖∂L/∂h_T‖: %.1e at the start, %.1e at the end.",
            (first.first ?? .nan) / (first.last ?? .nan), (last.first ?? .nan) / (last.last ?? .nan)
          ),
        finding: String(
          format: "%@ ‖∂L/∂h_1‖/‖∂L/∂h_T‖ %.1e → %.1e", name,
          (first.first ?? .nan) / (first.last ?? .nan),
          (last.first ?? .nan) / (last.last ?? .nan)))
    }
  }

  // MARK: - 4. Echo state network

  static func echoStateNetwork(_ report: Report, _ scale: Scale) throws {
    print("\n4. An echo state network on Mackey-Glass")
    let (washout, training, freeRun, horizon) = (100, scale.reservoirTraining, 400, 84)
    report.section(
      "4. Echo state network on Mackey-Glass",
      "The opposite answer to vanishing gradients: do not backpropagate through time at all. "
        + "An echo state network keeps a random recurrent reservoir fixed, scaled to spectral "
        + "radius 1, and trains only a linear readout, by ridge regression on the states "
        + "(Jaeger & Haas 2004). Here: \(scale.reservoirSize) leaky units (leak 0.3, density "
        + "0.1), teacher-forced on \(training) steps of the Mackey-Glass (τ = 17) series, then "
        + "run closed loop, each prediction fed back as the next input.")
    var progress = Progress("reservoir of \(scale.reservoirSize) units", total: 1)
    let signal = MackeyGlass().signal(count: washout + training + freeRun + 1)
    func column(_ range: Range<Int>) -> Tensor<Double> {
      Tensor(shape: [range.count, 1], scalars: Array(signal[range]))
    }
    var configuration = ReservoirConfiguration(size: scale.reservoirSize, inputSize: 1)
    configuration.spectralRadius = 1
    configuration.biasScaling = 0.2
    let network = EchoStateNetwork(
      reservoir: ReservoirCell<Double>(configuration, seed: 42), outputSize: 1)
    let end = washout + training
    let harvested = network.fit(
      inputs: column(0..<end), targets: column(1..<(end + 1)), washout: washout, ridge: 1e-10)
    // The last teacher-forced state follows u[end − 1]; the free run predicts u[end] onwards.
    let predictions = network.generate(steps: freeRun, from: harvested.finalState).scalars
    let truth = Array(signal[end..<(end + freeRun)])
    func nrmse(_ steps: Int) -> Double {
      normalizedRootMeanSquaredError(
        Tensor(Array(predictions.prefix(steps))), Tensor(Array(truth.prefix(steps))))
    }
    let (short, long) = (nrmse(horizon), nrmse(freeRun))
    progress.update(1)
    progress.finish(String(format: "free-run NRMSE %.2e over %d steps", short, horizon))
    try report.add(
      LineChart(
        title: "Echo state network, free run on Mackey-Glass",
        xLabel: "steps after teacher forcing",
        yLabel: "u = tanh(x − 1)",
        series: [
          .init(name: "truth", y: truth), .init(name: "free-running prediction", y: predictions),
        ]),
      name: "esn-free-run",
      caption:
        String(
          format:
            "Closed-loop prediction against the true series. NRMSE over the first %d steps "
            + "(Jaeger & Haas's horizon): %.2e; over all %d steps: %.2e. No gradient ever "
            + "flows through time here, so nothing can vanish; the price is a large reservoir "
            + "and a task whose memory fits its echo.", horizon, short, freeRun, long),
      finding: String(
        format: "ESN NRMSE: %.2e at %d steps, %.2e at %d", short, horizon, long, freeRun))
    let errors = zip(predictions, truth).map { Swift.abs($0 - $1) }
    try report.add(
      LineChart(
        title: "Echo state network: error of the free run", xLabel: "steps after teacher forcing",
        yLabel: "|prediction − truth| (log scale)", yScale: .log,
        series: [.init(name: "absolute error", y: errors)]),
      name: "esn-free-run-error",
      caption:
        "The difference between the two curves above, on a log scale: each "
        + "closed-loop step feeds its own small error back in, and the chaotic attractor "
        + "slowly amplifies it: "
        + String(
          format: "the largest error is %.1e over the first 100 steps and %.1e over the last 100.",
          errorPeak(errors.prefix(100)), errorPeak(errors.suffix(100))),
      finding: String(
        format: "ESN largest |error| %.1e (first 100 steps) → %.1e (last 100)",
        errorPeak(errors.prefix(100)), errorPeak(errors.suffix(100))))
  }

  /// The largest of `errors`, NaN for none.
  static func errorPeak(_ errors: ArraySlice<Double>) -> Double {
    errors.max() ?? .nan
  }
}
