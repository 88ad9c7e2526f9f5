import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// How much ``Trainer`` prints while it trains.
public enum Verbosity: Sendable, Hashable, CaseIterable {
  /// Nothing.
  case silent
  /// One plain line per epoch (`epoch 3/10  loss 0.4312  val_loss 0.5`), and one line when
  /// training stops early: what logs, pipes and CI want.
  case lines
  /// A progress bar redrawn in place on one line while an epoch runs, when the output is a
  /// terminal; ``lines`` otherwise, so a redirected run does not fill a log with `\r` frames.
  case automatic
}

/// Whether standard output is a terminal, so that `\r` redraws one line rather than leaving
/// every frame in a file.
public func standardOutputIsTerminal() -> Bool {
  #if canImport(Glibc) || canImport(Darwin)
    return isatty(STDOUT_FILENO) != 0
  #else
    return false
  #endif
}

/// Writes `text` to standard output and flushes it, so a partial line (a progress bar frame)
/// shows at once and stays in order with `print`, which writes through the same C stream.
public func writeToStandardOutput(_ text: String) {
  print(text, terminator: "")
  #if canImport(Glibc) || canImport(Darwin)
    // nil flushes every C stream, which avoids naming the `stdout` global (a mutable C variable
    // that Swift 6 concurrency checking rejects).
    fflush(nil)
  #endif
}

/// Formats and writes a training run's progress: either one plain line per epoch, or a bar
/// redrawn with `\r` while the epoch's batches run, then kept as that epoch's line.
///
/// ``Trainer`` reports through it; a hand-written loop can too (`tapestry train` does, with a
/// `unit` of "round" for a tenth of its steps).
public struct ProgressReporter {
  /// The two ways of showing progress.
  enum Style {
    case bar
    case lines
  }

  let style: Style
  let epochs: Int
  let metricNames: [String]
  let unit: String
  let write: (String) -> Void
  private var epochStart = ContinuousClock.now
  private var lastFrame: ContinuousClock.Instant?

  /// Bar frames are drawn at most this often: a fast epoch of thousands of batches would
  /// otherwise spend its time writing to the terminal.
  private static let frameInterval = Duration.milliseconds(50)
  private static let barWidth = 24
  /// The ANSI "erase to end of line" sequence: a frame shorter than the one before it would
  /// otherwise leave that frame's tail on screen.
  private static let eraseToEndOfLine = "\u{1B}[K"

  /// A reporter for `verbosity` writing through `write`, or `nil` when silent; `isTerminal`
  /// decides what `.automatic` means. Lines name each of the `epochs` parts of the run with
  /// `unit` (`epoch 3/10`), and show the training loss and `metricNames`' values.
  public init?(
    verbosity: Verbosity, isTerminal: Bool, epochs: Int, metricNames: [String],
    unit: String = "epoch", write: @escaping (String) -> Void
  ) {
    switch verbosity {
    case .silent: return nil
    case .lines: style = .lines
    case .automatic: style = isTerminal ? .bar : .lines
    }
    self.epochs = epochs
    self.metricNames = metricNames
    self.unit = unit
    self.write = write
  }

  /// Marks the start of an epoch, for its duration on the bar.
  public mutating func epochStarted() {
    epochStart = .now
    lastFrame = nil
  }

  /// Redraws the bar after batch `batch` (from 1) of `batches`, with the epoch's running loss.
  public mutating func batchEnded(epoch: Int, batch: Int, batches: Int, runningLoss: Double) {
    guard style == .bar else { return }
    let now = ContinuousClock.now
    if let lastFrame, now - lastFrame < Self.frameInterval, batch < batches { return }
    lastFrame = now
    write(
      "\r" + barPrefix(epoch: epoch, batch: batch, batches: batches) + "  loss "
        + Self.format(runningLoss) + Self.eraseToEndOfLine)
  }

  /// Writes the epoch's line: the finished bar with the epoch's values on a terminal, or a plain
  /// line.
  public func epochEnded(_ record: EpochRecord, batches: Int) {
    switch style {
    case .lines:
      write(Self.line(for: record, epochs: epochs, metricNames: metricNames, unit: unit) + "\n")
    case .bar:
      let seconds = (ContinuousClock.now - epochStart) / .seconds(1)
      write(
        "\r" + barPrefix(epoch: record.epoch, batch: batches, batches: batches) + "  "
          + Self.values(of: record, metricNames: metricNames)
          + String(format: "  %.1fs", seconds) + Self.eraseToEndOfLine + "\n")
    }
  }

  /// Writes a one-line note, such as why training stopped.
  public func note(_ message: String) {
    write(message + "\n")
  }

  /// `epoch 3/10  loss 0.431  accuracy 0.95  val_loss 0.5  val_accuracy 0.9`: the plain line of
  /// one epoch, values with six significant digits.
  static func line(
    for record: EpochRecord, epochs: Int, metricNames: [String], unit: String = "epoch"
  ) -> String {
    "\(unit) \(record.epoch)/\(epochs)  " + values(of: record, metricNames: metricNames)
  }

  private static func values(of record: EpochRecord, metricNames: [String]) -> String {
    var pairs = [("loss", record.loss)] + zip(metricNames, record.metrics).map { ($0, $1) }
    if let validationLoss = record.validationLoss {
      pairs.append(("val_loss", validationLoss))
      pairs += zip(metricNames, record.validationMetrics).map { ("val_" + $0, $1) }
    }
    return pairs.map { "\($0) \(format($1))" }.joined(separator: "  ")
  }

  private static func format(_ value: Double) -> String {
    String(format: "%.6g", value)
  }

  private func barPrefix(epoch: Int, batch: Int, batches: Int) -> String {
    let filled = batches == 0 ? Self.barWidth : Self.barWidth * batch / batches
    let bar =
      String(repeating: "=", count: filled)
      + String(repeating: " ", count: Self.barWidth - filled)
    return "\(unit) \(epoch)/\(epochs) [\(bar)] \(batch)/\(batches)"
  }
}
