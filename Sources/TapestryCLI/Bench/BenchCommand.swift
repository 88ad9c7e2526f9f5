// `tapestry bench`: the Swift side of the anchor workloads W0–W6 of /work/shared/bench, timed by
// the same rules, with records whose fields match the anchors' JSON. It parses its own options
// (the main parser hands it everything after `bench`) and throws `CommandLineError` for a command
// line it does not accept.

import Foundation
import Tapestry

/// The `bench` command.
enum BenchCommand {
  /// What to measure and how.
  struct Options: Equatable {
    /// `W0` … `W6`, in the order given.
    var workloads = BenchCommand.workloadNames
    /// Sizes for W1–W4 (each cell runs those of them the anchors define for it).
    var sizes: [RecurrentSize] = RecurrentSize.allCases
    /// 1 (pinned to CPU 0, one-thread products) or 2.
    var threads = 1
    /// Seconds-long smoke test: S sizes, small products, 1 warm-up and 3 timed calls.
    var quick = false
    /// Where to write the records as JSON, if anywhere.
    var jsonPath: String?
    /// A directory with the anchors' arrays (`<cell>_<size>.safetensors`), whose loss and
    /// ‖∂L/∂W_hh‖ are then checked against PyTorch's.
    var referenceDirectory: String?
    /// Instead of timing, run 1,000 training steps per recurrent workload and size and print the
    /// resident set size.
    var memory = false
  }

  /// Every workload, in the default order.
  static let workloadNames = ["W0", "W1", "W2", "W3", "W4", "W5", "W6"]

  static let usage = """
    usage: tapestry bench [ops] [--workloads W0,W1,...] [--sizes S,M,L] [--threads 1|2]
                          [--quick] [--json FILE] [--reference-dir DIR] [--memory]

    The anchor workloads of ../shared/bench, timed by its rules (3 untimed calls, then 20 timed,
    fewer but at least 5 when a call is long; median and minimum), in Float:
      W0  square matrix products n = 128 ... 1024 (GFLOP/s), and the skinny products of a
          recurrent step
      W1  LSTM, W2 Elman RNN (tanh), W3 GRU, W4 peephole LSTM: one training step (forward over T
          steps with the library's cell and unroll, mean squared error of all outputs, gradient
          of every parameter); sizes S (T 100, B 1, I 1, H 32), M (100, 32, 32, 128),
          L (50, 64, 128, 512); W4 has no L
      W5  echo state network on Mackey-Glass, Double: harvest 10,100 states and ridge fit,
          reservoir N = 500 and 2000
      W6  per-op overhead: 10,000 elementwise ops and 1,000 128x128 products with backward

    Every W1–W4 step is checked: its loss must match the same step computed in Double. With
    --reference-dir, the anchors' own data and weights are loaded where present and the loss
    and |dL/dW_hh| are checked against PyTorch's. A failed check exits with status 1.

    'tapestry bench ops' is short for '--workloads W6,W0'.

    options:
      --workloads LIST   comma-separated, from W0 W1 W2 W3 W4 W5 W6 (default all)
      --sizes LIST       sizes of W1–W4, from S M L (default all)
      --threads N        1: pin the process to CPU 0 (Linux) and multiply on one thread;
                         2: two threads, no pinning (default 1)
      --quick            S sizes, n <= 128, N = 100, 1 untimed and 3 timed calls (W5: 1):
                         a smoke test
      --json FILE        also write one record per measurement to FILE
      --reference-dir D  load D/<cell>_<size>.safetensors (make_fixtures.py --out D)
      --memory           run 1,000 training steps per size of each of W1–W4 in --workloads (W1
                         without it; 10 steps with --quick, which here keeps the sizes given)
                         and print the resident set size after steps 1, 10, 100 and 1,000;
                         with --threads 2, each step splits its batch into two shards
      --help             show this text
    """

  /// What the command line asks for: options to run with, or help to print.
  enum Parsed: Equatable {
    /// Run with these options.
    case run(Options)
    /// Print the usage text.
    case help
  }

  /// Parses the arguments after `bench`; `--option=value` is accepted as well as
  /// `--option value`, and a leading `ops` (the command's earlier form) selects W6 and W0.
  static func parse(_ arguments: [String]) throws(CommandLineError) -> Parsed {
    var options = Options()
    var arguments = arguments
    if arguments.first == "ops" {
      arguments.removeFirst()
      options.workloads = ["W6", "W0"]
    }
    var reader = OptionReader(arguments, usage: usage)
    func list(allowed: [String]) throws(CommandLineError) -> [String] {
      let text = try reader.value()
      let items = text.split(separator: ",").map(String.init)
      guard !items.isEmpty, items.allSatisfy(allowed.contains) else {
        throw .invalidValue(
          text, option: reader.option,
          expected: "a comma-separated list of " + allowed.joined(separator: " "))
      }
      return items
    }
    while let option = reader.next() {
      switch option {
      case "--help", "-h":
        return .help
      case "--quick":
        options.quick = true
      case "--memory":
        options.memory = true
      case "--threads":
        let text = try reader.value()
        guard let threads = Int(text), threads == 1 || threads == 2 else {
          throw .invalidValue(text, option: option, expected: "1 or 2")
        }
        options.threads = threads
      case "--workloads":
        options.workloads = try list(allowed: workloadNames)
      case "--sizes":
        options.sizes = try list(allowed: RecurrentSize.allCases.map(\.rawValue))
          .compactMap(RecurrentSize.init(rawValue:))
      case "--json":
        options.jsonPath = try reader.path()
      case "--reference-dir":
        options.referenceDirectory = try reader.path()
      default:
        throw reader.unknown
      }
    }
    return .run(options)
  }

  /// Parses `arguments` (those after `bench`) and runs or prints help.
  static func run(arguments: [String]) throws {
    switch try parse(arguments) {
    case .help: print(usage)
    case .run(let options): try run(options)
    }
  }

  /// Runs the workloads, prints a table, writes the JSON file if asked; throws
  /// ``BenchError/mismatch(_:)`` after everything ran if any check failed.
  static func run(_ options: Options) throws {
    let pinned = options.threads == 1 && ProcessFacts.pinToFirstCPU()
    ComputeSettings.threads = options.threads
    let plan = options.quick ? TimingPlan.quick : .standard
    let sizes = options.quick ? options.sizes.filter { $0 == .small } : options.sizes
    print(
      "tapestry bench: \(ProcessFacts.cpuModel() ?? "unknown CPU"), threads \(options.threads)"
        + (pinned ? ", pinned to CPU 0" : ", not pinned")
        + ", matmul tile \(ComputeSettings.registerTile)")
    if options.memory {
      // Every size asked for, even with --quick: a few L steps give its peak.
      // Without --workloads, the LSTM alone, the figure the issue asks for.
      let kinds =
        options.workloads == workloadNames
        ? [.lstm] : options.workloads.compactMap(RecurrentKind.init(workload:))
      memoryRun(
        kinds: kinds, sizes: options.sizes,
        steps: options.quick ? 10 : 1000, shards: options.threads)
      return
    }
    let referenceDirectory = options.referenceDirectory.map { URL(fileURLWithPath: $0) }
    print(BenchRecord.tableHeader)
    var records: [BenchRecord] = []
    var failures: [String] = []
    func report(_ new: [BenchRecord]) {
      for record in new { print(record.tableRow) }
      records += new
      // Flushed row by row, so a long run into a file or pipe shows its rows as they finish.
      fflush(nil)
    }
    for workload in options.workloads {
      switch workload {
      case "W0":
        let squares = options.quick ? [64, 128] : MatmulWorkload.squareSizes
        report(
          MatmulWorkload.run(
            plan: plan, threads: options.threads, sizes: squares,
            flopsPerCall: options.quick ? 1e8 : 3e9))
      case "W5":
        report(
          ReservoirWorkload.run(
            sizes: options.quick ? [100] : [500, 2000], threads: options.threads,
            quick: options.quick))
      case "W6":
        report(OpsBenchmark.run(plan: plan, threads: options.threads))
      default:
        guard let kind = RecurrentKind(workload: workload) else { continue }
        for size in kind.sizes where sizes.contains(size) {
          let problem =
            try referenceDirectory.flatMap { try RecurrentProblem.load(kind, size, from: $0) }
            ?? .seeded(kind, size)
          // With two threads, the batch also split into two shards of one thread each (above
          // one example per shard): the two ways a user can spend the second core.
          let shardCounts = options.threads > 1 && size.dimensions.batch > 1 ? [1, 2] : [1]
          for shards in shardCounts {
            let (record, problems) = recurrent(
              problem, plan: plan, threads: options.threads, shards: shards)
            report([record])
            for message in problems { print("  FAILED: \(message)") }
            failures += problems
          }
        }
      }
    }
    let memory = ProcessFacts.memory()
    if let peak = memory.peak { print(String(format: "peak resident set size: %.1f MiB", peak)) }
    if let path = options.jsonPath { try writeAtomically(records, to: path) }
    if !failures.isEmpty { throw BenchError.mismatch(failures.joined(separator: "; ")) }
  }

  /// The largest relative difference of a Float loss from its Double or PyTorch counterpart
  /// that passes.
  static let lossTolerance = 5e-5

  /// Times one W1–W4 workload and checks it: the Float loss against the Double loss of the same
  /// weights, and, for the anchors' own arrays, loss and ‖∂L/∂W_hh‖ against PyTorch's.
  static func recurrent(_ problem: RecurrentProblem, plan: TimingPlan, threads: Int, shards: Int)
    -> (BenchRecord, failures: [String])
  {
    let name =
      "\(problem.kind.workload) \(problem.kind.rawValue) \(problem.size.rawValue)"
      + (shards > 1 ? " (\(shards) shards)" : "")
    let step = problem.makeStep(Float.self, shards: shards)
    var last = step.run()
    let times = plan.measure { last = step.run() }
    var failures: [String] = []
    let double = problem.makeStep(Double.self).run()
    // Float rounding leaves ~1e-6 relative at S and M; at L the mean's sum of 1.6M squared
    // errors, accumulated in 16 Float lanes, adds ~1e-5. A wrong gradient or a broken kernel is
    // off by far more.
    let doubleError = abs(last.loss - double.loss) / double.loss
    if doubleError > lossTolerance {
      failures.append("\(name): Float loss \(last.loss) vs Double \(double.loss)")
    }
    let gradientError = abs(last.gradientNormWh - double.gradientNormWh) / double.gradientNormWh
    if gradientError > 1e-4 {
      failures.append(
        "\(name): Float |dWh| \(last.gradientNormWh) vs Double \(double.gradientNormWh)")
    }
    if let reference = problem.reference {
      let lossError = abs(last.loss - reference.loss) / reference.loss
      let normError = abs(last.gradientNormWh - reference.gradientNormWh) / reference.gradientNormWh
      print(
        String(
          format: "  %@ vs PyTorch: loss %.7f / %.7f (rel %.1e), |dWh| %.6f / %.6f (rel %.1e)",
          name, last.loss, reference.loss, lossError, last.gradientNormWh,
          reference.gradientNormWh, normError))
      if lossError > lossTolerance || normError > 1e-4 {
        failures.append("\(name): differs from PyTorch's reference")
      }
    }
    let record = BenchRecord(
      workload: problem.kind.workload, cell: problem.kind.rawValue, size: problem.size.rawValue,
      variant: (problem.reference == nil ? "unroll, seeded" : "unroll, anchor data")
        + (shards > 1 ? ", \(shards) batch shards" : ""),
      threads: threads, medianMilliseconds: times.median, minimumMilliseconds: times.minimum,
      reps: times.samples.count,
      processorMedianMilliseconds: times.processorMedian, loss: last.loss,
      gradientNormWh: last.gradientNormWh,
      gigaflops: problem.nominalFlops / (times.median * 1e6))
    return (record, failures)
  }

  /// Runs `steps` training steps of each kind and size and prints the resident set size as it
  /// goes: it stays flat when every step's tape is freed. (Also the harness to profile a
  /// workload with: nothing but its steps runs.) With `shards` above 1, each step splits its
  /// batch into that many shards, as the bench's shard rows do, where the batch has more than one
  /// example.
  static func memoryRun(kinds: [RecurrentKind], sizes: [RecurrentSize], steps: Int, shards: Int) {
    for kind in kinds {
      for size in sizes where kind.sizes.contains(size) {
        memoryRun(kind, size, steps: steps, shards: size.dimensions.batch > 1 ? shards : 1)
      }
    }
  }

  /// ``memoryRun(kinds:sizes:steps:shards:)`` for one kind and size.
  static func memoryRun(_ kind: RecurrentKind, _ size: RecurrentSize, steps: Int, shards: Int) {
    let step = RecurrentProblem.seeded(kind, size).makeStep(Float.self, shards: shards)
    let checkpoints: Set = [1, 10, 100, 1000, steps]
    for index in 1...steps {
      blackHole(step.run())
      if checkpoints.contains(index) {
        let memory = ProcessFacts.memory()
        print(
          String(
            format: "%@ %@ %@%@ step %5d: resident %8.1f MiB, peak %8.1f MiB", kind.workload,
            kind.rawValue, size.rawValue, shards > 1 ? " (\(shards) shards)" : "", index,
            memory.current ?? .nan, memory.peak ?? .nan))
      }
    }
  }
}
