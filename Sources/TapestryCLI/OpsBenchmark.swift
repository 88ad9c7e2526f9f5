// `tapestry bench ops`: the Swift side of the anchor workloads W6 (per-op overhead) and W0
// (square matrix products), timed by the rules of /work/shared/bench (warm-ups, then timed runs;
// median and minimum), so that the numbers compare with the PyTorch and OpenBLAS ones.

import Foundation
import Tapestry

/// The `bench ops` suite.
enum OpsBenchmark {
  /// The options of `bench ops`.
  struct Options: Equatable {
    /// Threads for matrix products.
    var threads = 1
    /// One warm-up and three timed runs instead of three and twenty.
    var quick = false
    /// Where to write the records as JSON, if anywhere.
    var jsonPath: String?
  }

  /// One measured workload, as written to the JSON file.
  struct Record: Encodable {
    let workload: String
    let variant: String
    let size: Int
    let threads: Int
    let medianMilliseconds: Double
    let minimumMilliseconds: Double
    let gigaflops: Double?
    let microsecondsPerOp: Double?

    enum CodingKeys: String, CodingKey {
      case workload, variant, size, threads
      case medianMilliseconds = "median_ms"
      case minimumMilliseconds = "min_ms"
      case gigaflops = "gflops"
      case microsecondsPerOp = "us_per_op"
    }
  }

  /// Runs every workload, prints a table and writes the JSON file if asked.
  ///
  /// Besides W6 and W0 it times the skinny products of a recurrent step (`matmul_skinny`).
  static func run(_ options: Options) throws {
    ComputeSettings.threads = options.threads
    let (warmups, runs) = options.quick ? (1, 3) : (3, 20)
    print("workload          variant                 size threads  median ms    min ms    per op")
    var records: [Record] = []
    func report(_ record: Record) {
      records.append(record)
      let perOp =
        record.gigaflops.map { String(format: "%7.1f GFLOP/s", $0) }
        ?? record.microsecondsPerOp.map { String(format: "%7.3f µs/op", $0) } ?? ""
      print(
        record.workload.padding(toLength: 17, withPad: " ", startingAt: 0)
          + " " + record.variant.padding(toLength: 21, withPad: " ", startingAt: 0)
          + String(
            format: " %6d %7d %10.3f %9.3f  ", record.size, record.threads,
            record.medianMilliseconds, record.minimumMilliseconds) + perOp)
    }

    for size in [1, 32] {
      for recordParameters in [true, false] {
        let times = measure(warmups: warmups, runs: runs) {
          elementwiseChain(size: size, recordParameters: recordParameters)
        }
        report(
          Record(
            workload: "w6_elementwise",
            variant: recordParameters ? "a,b recorded" : "only x recorded", size: size,
            threads: options.threads, medianMilliseconds: times.median,
            minimumMilliseconds: times.minimum, gigaflops: nil,
            microsecondsPerOp: times.median * 1000 / Double(2 * elementwisePairs)))
      }
    }

    let chain = matmulChainInputs()
    let chainTimes = measure(warmups: warmups, runs: runs) { matmulChain(chain) }
    let chainFlops = 3 * 2 * pow(Double(chainSize), 3) * Double(chainLength)
    report(
      Record(
        workload: "w6_matmul_chain", variant: "fwd+bwd", size: chainSize,
        threads: options.threads, medianMilliseconds: chainTimes.median,
        minimumMilliseconds: chainTimes.minimum,
        gigaflops: chainFlops / (chainTimes.median * 1e6),
        microsecondsPerOp: chainTimes.median * 1000 / Double(chainLength)))

    for n in [64, 128, 256, 512, 1024] {
      let a = Tensor<Float>.normal([n, n], seed: 0)
      let b = Tensor<Float>.normal([n, n], seed: 1)
      let flops = 2 * pow(Double(n), 3)
      let inner = max(1, Int(3e9 / flops))
      let times = measure(warmups: warmups, runs: runs) {
        for _ in 0..<inner { blackHole(matmul(a, b)) }
      }
      let median = times.median / Double(inner)
      report(
        Record(
          workload: "w0_matmul", variant: "square", size: n, threads: options.threads,
          medianMilliseconds: median, minimumMilliseconds: times.minimum / Double(inner),
          gigaflops: flops / (median * 1e6), microsecondsPerOp: nil))
    }

    // The products of a recurrent step, batch × hidden times hidden × 4·hidden (an LSTM's
    // recurrent weights), at the M and L sizes of W1: skinny, so a different shape of problem.
    for (batch, hidden) in [(32, 128), (64, 512)] {
      let h = Tensor<Float>.normal([batch, hidden], seed: 4)
      let w = Tensor<Float>.normal([hidden, 4 * hidden], seed: 5)
      let flops = 2 * Double(batch * hidden * 4 * hidden)
      let inner = max(1, Int(3e9 / flops))
      let times = measure(warmups: warmups, runs: runs) {
        for _ in 0..<inner { blackHole(matmul(h, w)) }
      }
      let median = times.median / Double(inner)
      report(
        Record(
          workload: "matmul_skinny", variant: "\(batch)x\(hidden) · \(hidden)x\(4 * hidden)",
          size: hidden, threads: options.threads, medianMilliseconds: median,
          minimumMilliseconds: times.minimum / Double(inner), gigaflops: flops / (median * 1e6),
          microsecondsPerOp: nil))
    }

    if let path = options.jsonPath { try writeAtomically(records, to: path) }
  }

  // MARK: - Workloads

  /// Multiply-add pairs in the elementwise chain: 10,000 ops, as in W6.
  static let elementwisePairs = 5000
  /// Matrix size and length of the matmul chain.
  static let chainSize = 128
  static let chainLength = 1000

  /// `y = x; repeat: y = y*a; y = y+b`, then `sum(y)` and the backward pass.
  ///
  /// `y` converges to b / (1 − a) = 1, so no value overflows or becomes subnormal.
  static func elementwiseChain(size: Int, recordParameters: Bool) {
    let x = Tensor<Float>.uniform([size], in: -1..<1, seed: 0)
    let a = Tensor<Float>.filled([size], with: 0.9)
    let b = Tensor<Float>.filled([size], with: 0.1)
    let points = recordParameters ? [x, a, b] : [x]
    blackHole(
      gradients(at: points) { variables in
        let (a, b) = recordParameters ? (variables[1], variables[2]) : (a, b)
        var y = variables[0]
        for _ in 0..<elementwisePairs {
          y = y * a
          y = y + b
        }
        return y.sum()
      })
  }

  /// X ~ N(0, 1) and an orthogonal W (a Householder reflection, I − 2vvᵀ/‖v‖²), which keeps the
  /// values of the chain O(1) however long it is.
  static func matmulChainInputs() -> (x: Tensor<Float>, w: Tensor<Float>) {
    let n = chainSize
    let v = Tensor<Float>.normal([n], seed: 2).scalars
    let norm = v.reduce(0) { $0 + $1 * $1 }
    var w = [Float](repeating: 0, count: n * n)
    for i in 0..<n {
      for j in 0..<n { w[i * n + j] = (i == j ? 1 : 0) - 2 * v[i] * v[j] / norm }
    }
    return (Tensor<Float>.normal([n, n], seed: 3), Tensor(shape: [n, n], scalars: w))
  }

  /// `y = X; repeat: y = y·W`, then `sum(y)` and the backward pass to X and W.
  static func matmulChain(_ inputs: (x: Tensor<Float>, w: Tensor<Float>)) {
    blackHole(
      gradients(at: [inputs.x, inputs.w]) { variables in
        var y = variables[0]
        for _ in 0..<chainLength { y = matmul(y, variables[1]) }
        return y.sum()
      })
  }

  // MARK: - Timing and output

  /// Runs `body` `warmups` times untimed, then `runs` times timed; returns milliseconds.
  static func measure(warmups: Int, runs: Int, _ body: () -> Void) -> Timings {
    for _ in 0..<warmups { body() }
    let clock = ContinuousClock()
    let samples = (0..<runs).map { _ in
      let duration = clock.measure(body)
      return Double(duration.components.seconds) * 1e3
        + Double(duration.components.attoseconds) * 1e-15
    }
    return Timings(samples: samples)
  }

  /// Timed samples in milliseconds.
  struct Timings {
    let samples: [Double]
    var minimum: Double { samples.min() ?? .nan }
    var median: Double {
      let sorted = samples.sorted()
      guard !sorted.isEmpty else { return .nan }
      let middle = sorted.count / 2
      return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
  }

  /// Writes the records to a temporary file next to `path`, then renames it into place, so a
  /// reader never sees a half-written file.
  static func writeAtomically(_ records: [Record], to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let data = try encoder.encode(records)
    let temporary = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
    try data.write(to: URL(fileURLWithPath: temporary))
    guard rename(temporary, path) == 0 else {
      let reason = String(cString: strerror(errno))
      try? FileManager.default.removeItem(atPath: temporary)
      throw BenchmarkError.cannotWrite(path: path, reason: reason)
    }
  }

  /// Why a benchmark could not finish.
  enum BenchmarkError: Error, CustomStringConvertible {
    case cannotWrite(path: String, reason: String)

    var description: String {
      switch self {
      case .cannotWrite(let path, let reason): "cannot write \(path): \(reason)"
      }
    }
  }
}

/// Keeps the optimiser from removing a computation whose result is otherwise unused.
@inline(never)
func blackHole<T>(_ value: T) {
  withExtendedLifetime(value) {}
}
