import Foundation

/// What one epoch of ``Trainer/fit(_:validation:epochs:)`` measured.
public struct EpochRecord: Sendable, Equatable {
  /// The epoch's number, counted from 1.
  public var epoch: Int
  /// The mean of the batch losses over the epoch, each weighted by its batch's size: the loss
  /// while the parameters were moving, as Keras and PyTorch loops report it.
  public var loss: Double
  /// Each metric on the training data, measured after the epoch in inference phase; in the order
  /// of ``TrainingHistory/metricNames``.
  public var metrics: [Double]
  /// The loss on the validation data after the epoch (inference phase), or `nil` without
  /// validation data.
  public var validationLoss: Double?
  /// Each metric on the validation data, in the order of ``TrainingHistory/metricNames``; empty
  /// without validation data.
  public var validationMetrics: [Double]

  /// A record with the given values (for tests and for histories rebuilt from elsewhere).
  public init(
    epoch: Int, loss: Double, metrics: [Double] = [], validationLoss: Double? = nil,
    validationMetrics: [Double] = []
  ) {
    self.epoch = epoch
    self.loss = loss
    self.metrics = metrics
    self.validationLoss = validationLoss
    self.validationMetrics = validationMetrics
  }
}

/// Why training ended.
public enum StopReason: Sendable, Equatable {
  /// Every requested epoch ran.
  case completed
  /// The monitored loss stopped improving (see ``EarlyStopping``); `bestEpoch` had the lowest.
  case earlyStopping(bestEpoch: Int)
  /// An epoch-end callback returned ``TrainingControl/stop``.
  case callback
  /// A batch loss was NaN or infinite; that batch's update was not applied.
  case nonFiniteLoss
  /// With ``Trainer/detectsAnomalies``, an op produced a NaN or infinity; that batch's update
  /// was not applied.
  case anomaly(AnomalyError)
}

/// The per-epoch losses and metrics of a training run, as ``Trainer/fit(_:validation:epochs:)``
/// returns them and as its callbacks see them, exportable as CSV.
public struct TrainingHistory: Sendable, Equatable {
  /// The metrics' names, which are the CSV's column names (validation columns get a `val_`
  /// prefix, as in Keras).
  public let metricNames: [String]
  /// Whether the run had validation data, so whether records carry validation values.
  public let hasValidation: Bool
  /// One record per completed epoch, in order.
  public var records: [EpochRecord] = []
  /// Why the run ended; `.completed` while it is still running.
  public var stopReason: StopReason = .completed

  /// An empty history for a run with these metrics, with or without validation data.
  ///
  /// Traps if two columns would share a name (two metrics with one name, a metric called
  /// `loss`, ...): they could not be told apart in the CSV.
  public init(metricNames: [String], hasValidation: Bool) {
    self.metricNames = metricNames
    self.hasValidation = hasValidation
    precondition(
      Set(columnNames).count == columnNames.count,
      "TrainingHistory: the metric names \(metricNames) repeat a column name of \(columnNames)")
  }

  /// The training loss of each epoch.
  public var losses: [Double] { records.map(\.loss) }

  /// The validation loss of each epoch (empty without validation data).
  public var validationLosses: [Double] { records.compactMap(\.validationLoss) }

  /// The values of the training metric called `name`, one per epoch, or `nil` if there is none.
  public func metric(_ name: String) -> [Double]? {
    metricNames.firstIndex(of: name).map { index in records.map { $0.metrics[index] } }
  }

  /// The values of the metric called `name` on the validation data, one per epoch, or `nil` if
  /// there is no such metric or no validation data.
  public func validationMetric(_ name: String) -> [Double]? {
    guard hasValidation, let index = metricNames.firstIndex(of: name) else { return nil }
    return records.map { $0.validationMetrics[index] }
  }

  /// The column names: `epoch`, `loss`, each metric, then `val_loss` and `val_` + each metric
  /// when there is validation data.
  public var columnNames: [String] {
    ["epoch", "loss"] + metricNames
      + (hasValidation ? ["val_loss"] + metricNames.map { "val_" + $0 } : [])
  }

  /// The history as CSV (RFC 4180): a header of ``columnNames``, then one line per epoch, lines
  /// ended by `\n`.
  ///
  /// Numbers are written in Swift's shortest form that reads back to the same `Double`
  /// (`0.1`, `1e-05`, `nan`, `inf`), which pandas and spreadsheets parse; names holding a comma,
  /// a quote or a line break are quoted.
  public var csv: String {
    var lines = [columnNames.map(csvField).joined(separator: ",")]
    for record in records {
      var fields = [String(record.epoch), "\(record.loss)"] + record.metrics.map { "\($0)" }
      if hasValidation {
        fields.append(record.validationLoss.map { "\($0)" } ?? "")
        fields += record.validationMetrics.map { "\($0)" }
      }
      lines.append(fields.joined(separator: ","))
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// Writes ``csv`` to `url` atomically: a reader, or a crash, never sees half a file, and an
  /// existing file is replaced in one step.
  ///
  /// Throws ``TrainingHistoryError/cannotWrite(path:reason:)`` when the directory is missing or
  /// not writable.
  public func write(to url: URL) throws(TrainingHistoryError) {
    do {
      try Safetensors.writeAtomically(Data(csv.utf8), to: url)
    } catch SafetensorsError.io(_, let reason) {
      throw .cannotWrite(path: url.path, reason: reason)
    } catch {
      throw .cannotWrite(path: url.path, reason: "\(error)")
    }
  }
}

/// Why a ``TrainingHistory`` could not be written.
public enum TrainingHistoryError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The file at `path` could not be written, for `reason`.
  case cannotWrite(path: String, reason: String)

  /// The path and the reason.
  public var description: String {
    switch self {
    case .cannotWrite(let path, let reason):
      return "cannot write the training history to \(path): \(reason)"
    }
  }
}

/// `field` as a CSV field: quoted, with quotes doubled, when it holds a comma, a quote or a line
/// break. Shared with the plots' CSV files.
func csvField(_ field: String) -> String {
  guard field.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return field }
  return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
