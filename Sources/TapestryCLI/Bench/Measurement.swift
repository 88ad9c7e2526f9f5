// Timing, records and process facts shared by every workload of `tapestry bench`, following the
// rules of the anchors (/work/shared/bench/README.md): untimed warm-ups, then timed calls, fewer
// of them when a call is long, median and minimum reported.

import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Timed samples of one workload, in milliseconds.
struct Timings {
  /// Every timed sample, in the order taken: wall-clock time.
  let samples: [Double]
  /// The processor time of the same calls (all threads of the process). On a machine shared
  /// with other work, it moves far less than the wall-clock time, so it is the better figure for
  /// comparing two builds run at different moments.
  let processorSamples: [Double]

  /// The median of ``processorSamples``.
  var processorMedian: Double { Timings.median(processorSamples) }

  /// The fastest sample.
  var minimum: Double { samples.min() ?? .nan }

  /// The middle sample (the mean of the two middle ones for an even count).
  var median: Double { Timings.median(samples) }

  /// The middle value (the mean of the two middle ones for an even count); NaN for none.
  static func median(_ samples: [Double]) -> Double {
    let sorted = samples.sorted()
    guard !sorted.isEmpty else { return .nan }
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
  }
}

/// How many times to run a workload.
struct TimingPlan {
  /// Untimed calls first, which also estimate the cost of one call.
  var warmups: Int
  /// Timed calls when a call is cheap.
  var runs: Int
  /// The timed calls never go below this, however long one call takes.
  var minimumRuns: Int
  /// Seconds the timed calls should stay within; `runs` shrinks to fit, down to `minimumRuns`.
  var budget: Double

  /// The anchors' rule: 3 warm-ups, 20 timed calls, at least 5 within about 20 s.
  static let standard = TimingPlan(warmups: 3, runs: 20, minimumRuns: 5, budget: 20)
  /// A smoke test: 1 warm-up, 3 timed calls.
  static let quick = TimingPlan(warmups: 1, runs: 3, minimumRuns: 1, budget: 20)

  /// Runs `body` by this plan and returns the timed samples.
  func measure(_ body: () -> Void) -> Timings {
    let clock = ContinuousClock()
    var fastestWarmup = Double.infinity
    for _ in 0..<warmups {
      fastestWarmup = Swift.min(fastestWarmup, milliseconds(clock.measure(body)))
    }
    var count = runs
    if fastestWarmup.isFinite, fastestWarmup * Double(runs) > budget * 1000 {
      count = Swift.max(minimumRuns, Int(budget * 1000 / fastestWarmup))
    }
    var wall: [Double] = []
    var processor: [Double] = []
    for _ in 0..<count {
      let start = processorMilliseconds()
      wall.append(milliseconds(clock.measure(body)))
      processor.append(processorMilliseconds() - start)
    }
    return Timings(samples: wall, processorSamples: processor)
  }
}

/// The processor time the process has used so far, in milliseconds.
func processorMilliseconds() -> Double {
  var time = timespec()
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
  return Double(time.tv_sec) * 1e3 + Double(time.tv_nsec) * 1e-6
}

/// A duration in milliseconds.
func milliseconds(_ duration: Duration) -> Double {
  Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) * 1e-15
}

/// One measurement, as printed and as written to the JSON file. The field names are those of
/// the anchors' JSON records (`workload`, `cell`, `size`, `variant`, `threads`, `median_ms`,
/// `min_ms`, `loss`, `grad_norm_Wh`), so one script can line both up.
struct BenchRecord: Encodable {
  /// `W0` … `W6`.
  var workload: String
  /// The recurrent cell (`lstm`, `rnn`, `gru`, `peephole`), or what else was measured.
  var cell: String
  /// `S`, `M`, `L` for W1–W4; the matrix size or reservoir size otherwise.
  var size: String
  /// How the workload was written.
  var variant: String
  /// 1 (pinned to CPU 0) or 2.
  var threads: Int
  /// Median of the timed calls.
  var medianMilliseconds: Double
  /// Fastest timed call.
  var minimumMilliseconds: Double
  /// Timed calls.
  var reps: Int
  /// Median processor time of the timed calls (see ``Timings/processorSamples``).
  var processorMedianMilliseconds: Double
  /// The library, for scripts that merge these records with the anchors' (`tapestry`).
  var lib = "tapestry"
  /// Loss of the measured step (W1–W4).
  var loss: Double?
  /// ‖∂L/∂W_hh‖ of the measured step (W1–W4).
  var gradientNormWh: Double?
  /// Nominal FLOPs over the median time, where the workload has a FLOP model.
  var gigaflops: Double?
  /// Microseconds per recorded op (W6).
  var microsecondsPerOp: Double?

  enum CodingKeys: String, CodingKey {
    case workload, cell, size, variant, threads, reps, lib, loss
    case medianMilliseconds = "median_ms"
    case minimumMilliseconds = "min_ms"
    case gradientNormWh = "grad_norm_Wh"
    case processorMedianMilliseconds = "cpu_median_ms"
    case gigaflops = "gflops"
    case microsecondsPerOp = "us_per_op"
  }

  /// The row of the table printed on standard output.
  var tableRow: String {
    let extra =
      gigaflops.map { String(format: "%8.1f GFLOP/s", $0) }
      ?? microsecondsPerOp.map { String(format: "%8.3f µs/op", $0) } ?? ""
    let check = loss.map { l in
      String(format: "  loss %.7f |dWh| %.6f", l, gradientNormWh ?? .nan)
    }
    return workload.padding(toLength: 4, withPad: " ", startingAt: 0)
      + cell.padding(toLength: 16, withPad: " ", startingAt: 0)
      + size.padding(toLength: 7, withPad: " ", startingAt: 0)
      + variant.padding(toLength: 30, withPad: " ", startingAt: 0)
      + String(
        format: "%2d %11.3f %10.3f %10.3f %4d ", threads, medianMilliseconds,
        minimumMilliseconds, processorMedianMilliseconds, reps)
      + extra + (check ?? "")
  }

  /// The header over ``tableRow``.
  static let tableHeader =
    "wl  cell            size   variant                       t   median ms     min ms     cpu ms reps"
}

/// Writes `records` as JSON to a temporary file next to `path`, then renames it into place, so a
/// reader never sees a half-written file.
func writeAtomically(_ records: [BenchRecord], to path: String) throws {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
  let data = try encoder.encode(records)
  let temporary = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
  try data.write(to: URL(fileURLWithPath: temporary))
  guard rename(temporary, path) == 0 else {
    let reason = String(cString: strerror(errno))
    try? FileManager.default.removeItem(atPath: temporary)
    throw BenchError.cannotWrite(path: path, reason: reason)
  }
}

/// Why a benchmark could not finish.
enum BenchError: Error, CustomStringConvertible {
  /// The JSON file could not be put in place.
  case cannotWrite(path: String, reason: String)
  /// A step's result disagrees with its reference: the numbers measured are not to be trusted.
  case mismatch(String)

  var description: String {
    switch self {
    case .cannotWrite(let path, let reason): "cannot write \(path): \(reason)"
    case .mismatch(let message): "check failed: \(message)"
    }
  }
}

/// What the process looks like to the operating system.
enum ProcessFacts {
  /// Pins the process to CPU 0, as the anchors do for their one-thread runs, so that the kernel
  /// cannot move it between cores mid-measurement. Returns whether it is pinned; on platforms
  /// without `sched_setaffinity` (Darwin) nothing is pinned.
  static func pinToFirstCPU() -> Bool {
    #if canImport(Glibc)
      // Swift's Glibc module does not export sched_setaffinity (it sits behind _GNU_SOURCE), so
      // it is looked up in the C library that is already loaded.
      typealias SetAffinity = @convention(c) (pid_t, Int, UnsafeRawPointer) -> Int32
      guard let symbol = dlsym(nil, "sched_setaffinity") else { return false }
      let setAffinity = unsafeBitCast(symbol, to: SetAffinity.self)
      var set = cpu_set_t()
      withUnsafeMutableBytes(of: &set) { bytes in
        bytes.storeBytes(of: UInt8(1), toByteOffset: 0, as: UInt8.self)
      }
      return withUnsafeBytes(of: &set) { bytes in
        guard let address = bytes.baseAddress else { return false }
        return setAffinity(0, MemoryLayout<cpu_set_t>.size, address) == 0
      }
    #else
      return false
    #endif
  }

  /// The resident set size now and its peak so far, in MiB: `VmRSS` and `VmHWM` from
  /// `/proc/self/status` on Linux; elsewhere only the peak, from `getrusage`.
  static func memory() -> (current: Double?, peak: Double?) {
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) {
      func field(_ name: String) -> Double? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") })
        else { return nil }
        let kibibytes = line.split(separator: " ").compactMap { Double($0) }.first
        return kibibytes.map { $0 / 1024 }
      }
      return (field("VmRSS"), field("VmHWM"))
    }
    #if canImport(Darwin)
      var usage = rusage()
      guard getrusage(RUSAGE_SELF, &usage) == 0 else { return (nil, nil) }
      // Darwin reports ru_maxrss in bytes.
      return (nil, Double(usage.ru_maxrss) / 1_048_576)
    #else
      return (nil, nil)
    #endif
  }

  /// The CPU's model name from `/proc/cpuinfo`, or `nil` where there is none.
  static func cpuModel() -> String? {
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
      let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
      let colon = line.firstIndex(of: ":")
    else { return nil }
    return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
  }
}

/// Keeps the optimiser from removing a computation whose result is otherwise unused.
@inline(never)
func blackHole<T>(_ value: T) {
  withExtendedLifetime(value) {}
}
