// An optional training helper: the loop every small experiment writes (shuffle, batch, step,
// measure, stop), written once. Nothing in Tapestry depends on it; a hand-written loop of
// `valueWithGradient` and `optimizer.update` does the same thing, and Examples/TwoMoons shows both.

// MARK: - Datasets

/// Inputs and targets paired sample by sample along axis 0 (PyTorch's `TensorDataset`).
///
/// `inputs` is `[N, ...]` and `targets` `[N, ...]` with the same `N`; the rest of each shape is
/// free (`[N, 2]` points with `[N, 1]` labels, `[N, T, F]` sequences with `[N, T]` targets).
public struct TensorDataset<Scalar: TensorScalar>: Sendable {
  /// The inputs, sample axis first.
  public let inputs: Tensor<Scalar>
  /// The targets, sample axis first.
  public let targets: Tensor<Scalar>

  /// Pairs `inputs[i]` with `targets[i]`. Recording links are dropped: data is a constant.
  ///
  /// Traps, naming both shapes, unless both have a sample axis of the same length.
  public init(inputs: Tensor<Scalar>, targets: Tensor<Scalar>) {
    precondition(
      inputs.rank >= 1 && targets.rank >= 1 && inputs.shape[0] == targets.shape[0],
      "TensorDataset: inputs \(inputs.shape) and targets \(targets.shape) do not have the same "
        + "number of samples along axis 0")
    self.inputs = withoutDerivative(at: inputs)
    self.targets = withoutDerivative(at: targets)
  }

  /// The number of samples, N.
  public var count: Int { inputs.shape[0] }

  /// The samples at `indices`, in that order (repeats allowed). Traps on an index outside
  /// `0..<count`.
  public func samples(at indices: [Int]) -> TensorDataset {
    TensorDataset(
      inputs: inputs.gathering(indices: indices), targets: targets.gathering(indices: indices))
  }

  /// The sample indices of each mini-batch of `size` samples, in order; the last batch holds
  /// the remainder when `size` does not divide ``count`` (it is kept, not dropped: every sample
  /// counts in every epoch). Traps unless `size` > 0.
  public func batchIndices(size: Int) -> [[Int]] {
    batches(of: Array(0..<count), size: size)
  }

  /// ``batchIndices(size:)`` over a random order: a permutation of `0..<count` drawn from
  /// `generator` (Fisher–Yates), cut into batches. Each call draws a new order, so calling it
  /// once per epoch on one generator gives every epoch its own order, all fixed by the seed.
  public func batchIndices(size: Int, shuffledWith generator: inout SeededGenerator) -> [[Int]] {
    batches(of: generator.permutation(count), size: size)
  }

  private func batches(of order: [Int], size: Int) -> [[Int]] {
    precondition(size > 0, "TensorDataset: batch size \(size) must be positive")
    return stride(from: 0, to: order.count, by: size).map {
      Array(order[$0..<Swift.min($0 + size, order.count)])
    }
  }
}

// MARK: - Configuration

/// A named measurement of a model on a batch, such as accuracy, averaged over an epoch's data.
///
/// The closure gets the model, a batch's inputs and its targets and returns the batch's value.
/// ``Trainer`` runs it in inference phase with recording off, over the data in batches, and
/// averages the batch values weighted by batch size, which is exact for any per-sample mean
/// (accuracy, mean absolute error).
public struct Metric<Model, Scalar: TensorScalar> {
  /// The column name in the history and its CSV (`accuracy`; validation adds `val_`).
  public let name: String
  /// The measurement on one batch: `(model, inputs, targets) -> value`.
  public let measure: (Model, Tensor<Scalar>, Tensor<Scalar>) -> Double

  /// A metric called `name` computed by `measure`.
  public init(
    _ name: String, _ measure: @escaping (Model, Tensor<Scalar>, Tensor<Scalar>) -> Double
  ) {
    self.name = name
    self.measure = measure
  }
}

/// Stops training when the monitored loss has not improved for `patience` epochs in a row:
/// the validation loss when there is validation data, the training loss otherwise (Keras's
/// `EarlyStopping`).
///
/// An epoch improves when its loss is below the best so far by more than `minDelta`.
public struct EarlyStopping: Sendable, Equatable {
  /// Epochs without improvement tolerated before stopping; at least 1.
  public var patience: Int
  /// The decrease that counts as an improvement; 0 by default (any decrease).
  public var minDelta: Double
  /// Whether to put back the parameter values of the best epoch when stopping (default false:
  /// the model keeps its last values, as in Keras).
  public var restoresBestParameters: Bool

  /// Early stopping after `patience` epochs without a decrease of more than `minDelta`.
  /// Traps unless `patience` ≥ 1 and `minDelta` ≥ 0.
  public init(patience: Int, minDelta: Double = 0, restoresBestParameters: Bool = false) {
    precondition(patience >= 1, "EarlyStopping: patience \(patience) must be at least 1")
    precondition(
      minDelta.isFinite && minDelta >= 0, "EarlyStopping: minDelta \(minDelta) must be ≥ 0")
    self.patience = patience
    self.minDelta = minDelta
    self.restoresBestParameters = restoresBestParameters
  }
}

/// What an epoch-end callback asks the trainer to do next.
public enum TrainingControl: Sendable, Hashable {
  /// Go on with the next epoch.
  case proceed
  /// Stop now; the history records ``StopReason/callback``.
  case stop
}

// MARK: - Trainer

/// Trains a model on a ``TensorDataset`` for a number of epochs of shuffled mini-batches: the
/// usual loop, optional, with metrics, validation, callbacks, early stopping and a progress bar.
///
/// ```swift
/// var trainer = Trainer(model: model, optimizer: Adam<Float>(learningRate: 0.01)) {
///   model, inputs, targets in binaryCrossEntropy(logits: model(inputs), labels: targets)
/// }
/// trainer.metrics = [Metric("accuracy") { model, x, y in accuracy(model(x), y) }]
/// trainer.earlyStopping = EarlyStopping(patience: 5)
/// let history = trainer.fit(train, validation: test, epochs: 100)
/// try history.write(to: URL(fileURLWithPath: "history.csv"))
/// ```
///
/// Each step runs the loss inside `withLearningPhase(.training)` (so dropout is active), takes
/// the gradient of every trainable parameter with ``valueWithGradient(at:of:)`` (or, made with
/// ``init(model:optimizer:shards:loss:)``, ``valueWithGradient(at:batchSize:shards:of:)``), optionally
/// clips it by global norm and hands it to the optimiser. After each epoch the metrics, and the
/// loss and metrics on the validation data, are measured in inference phase with recording off.
/// The model's parameters are updated in place, through their ``Parameter`` boxes.
public struct Trainer<Model, Opt: Optimizer> {
  /// The tensors' element type, the optimiser's.
  public typealias Scalar = Opt.Scalar
  /// The loss of a batch: `(model, inputs, targets) -> rank-0 tensor`.
  public typealias Loss = (Model, Tensor<Scalar>, Tensor<Scalar>) -> Tensor<Scalar>
  /// A loss that may run on several threads at once, for ``init(model:optimizer:shards:loss:)``.
  public typealias SendableLoss =
    @Sendable (Model, Tensor<Scalar>, Tensor<Scalar>) -> Tensor<Scalar>

  /// The model being trained; its parameters change in place.
  public let model: Model
  /// The optimiser; a class, so its state (moments, step count) carries over between `fit`s.
  public let optimizer: Opt
  /// The training objective, evaluated on every batch, and on the validation data. Assigning it
  /// turns sharding off (``shards`` becomes 1): a loss assigned here is not known to be safe to
  /// run on several threads.
  public var loss: Loss {
    didSet { sharding = nil }
  }
  /// How many parts each training batch is cut into, along the sample axis, with their forward
  /// and backward passes run at the same time on separate threads
  /// (``valueWithGradient(at:batchSize:shards:of:)``): 1 unless the trainer was made with
  /// ``init(model:optimizer:shards:loss:)``.
  public var shards: Int { sharding?.shards ?? 1 }
  /// The shard count and the loss the shards run (the same closure as ``loss``), while sharding
  /// is on.
  private var sharding: (shards: Int, loss: SendableLoss)?
  /// Samples per mini-batch (default 32); the last batch of an epoch may be smaller.
  public var batchSize = 32
  /// Whether each epoch visits the samples in a new random order (default true).
  public var shuffles = true
  /// The seed of the shuffling (default 0): one generator per `fit`, one permutation per epoch,
  /// so a run is reproducible.
  public var seed: UInt64 = 0
  /// When set, gradients are scaled so that their global norm is at most this value before each
  /// update (``ParameterGradients/clipGlobalNorm(to:normType:)``; the remedy for exploding
  /// gradients in recurrent networks). Default `nil`: no clipping.
  public var clipGlobalNorm: Scalar?
  /// Measurements recorded each epoch on the training and validation data; names must be unique.
  public var metrics: [Metric<Model, Scalar>] = []
  /// Stops when the monitored loss stalls; default `nil`: run every epoch.
  public var earlyStopping: EarlyStopping?
  /// Called after each epoch, in order, with the history so far (its last record is the epoch
  /// that just ended); all are called, and if any returns ``TrainingControl/stop`` training
  /// stops (before early stopping is considered).
  public var callbacks: [(TrainingHistory) -> TrainingControl] = []
  /// Whether each step runs inside ``withAnomalyDetection(_:)`` (default false): the first op
  /// that produces a NaN or infinity from finite values, forward or backward, stops training
  /// before that batch's update, with ``StopReason/anomaly(_:)`` naming the op. It checks every
  /// value an op produces, so switch it on to find where a loss turns NaN, not for every run.
  public var detectsAnomalies = false
  /// What to print (default ``Verbosity/automatic``: a bar on a terminal, lines otherwise).
  public var verbosity = Verbosity.automatic
  /// Where the progress text goes; standard output by default. Replace it to log elsewhere, or
  /// to capture the lines in a test.
  public var output: (String) -> Void = writeToStandardOutput
  /// Whether ``output`` is a terminal, which decides what ``Verbosity/automatic`` draws;
  /// by default, whether standard output is one (`isatty`).
  public var outputIsTerminal = standardOutputIsTerminal()

  /// A trainer of `model` by `optimizer` on the objective `loss`, with the defaults above.
  public init(model: Model, optimizer: Opt, loss: @escaping Loss) {
    self.model = model
    self.optimizer = optimizer
    self.loss = loss
  }

  /// A trainer that cuts each training batch into `shards` parts whose forward and backward
  /// passes run at the same time on separate threads, then adds their gradients: worth it on a
  /// machine with idle cores when a batch's ops are too small to split one by one (a recurrent
  /// model at batch 16–64; `Docs/Training.md`). `loss` must be a mean over the samples it is
  /// given (the gradients are the whole batch's only then) and runs on several threads at once,
  /// hence `@Sendable`. Validation and metrics run as with one shard. Traps unless `shards` ≥ 1.
  public init(model: Model, optimizer: Opt, shards: Int, loss: @escaping SendableLoss) {
    precondition(shards >= 1, "Trainer: shards \(shards) must be at least 1")
    self.init(model: model, optimizer: optimizer, loss: loss)
    sharding = (shards, loss)
  }

  /// Trains for up to `epochs` epochs on `data`, measuring on `validation` after each, and
  /// returns the history.
  ///
  /// Training ends early when ``earlyStopping`` or a callback says so, when a batch loss is not
  /// finite (that batch's update is skipped, so the parameters stay finite), or, with
  /// ``detectsAnomalies``, at the first anomaly (the epoch it happens in is not recorded). Traps if a loss
  /// is not rank 0, if `data` or `validation` is empty, if ``batchSize`` < 1 or if `epochs` < 0.
  @discardableResult
  public func fit(
    _ data: TensorDataset<Scalar>, validation: TensorDataset<Scalar>? = nil, epochs: Int
  ) -> TrainingHistory {
    precondition(epochs >= 0, "Trainer.fit: epochs \(epochs) must be ≥ 0")
    precondition(data.count > 0, "Trainer.fit: the training data is empty")
    precondition(
      validation.map { $0.count > 0 } ?? true, "Trainer.fit: the validation data is empty")
    precondition(batchSize > 0, "Trainer.fit: batch size \(batchSize) must be positive")
    var history = TrainingHistory(
      metricNames: metrics.map(\.name), hasValidation: validation != nil)
    var reporter = ProgressReporter(
      verbosity: verbosity, isTerminal: outputIsTerminal, epochs: epochs,
      metricNames: history.metricNames, write: output)
    var generator = SeededGenerator(seed: seed)
    var monitor = earlyStopping.map { LossMonitor($0, model: model, scalar: Scalar.self) }

    for epoch in stride(from: 1, through: epochs, by: 1) {
      reporter?.epochStarted()
      let batches =
        shuffles
        ? data.batchIndices(size: batchSize, shuffledWith: &generator)
        : data.batchIndices(size: batchSize)
      var lossSum = 0.0
      var seen = 0
      var anomaly: AnomalyError?
      for (number, indices) in batches.enumerated() {
        let batch = data.samples(at: indices)
        let value: Double
        do {
          value = try step(on: batch)
        } catch {
          anomaly = error as? AnomalyError
          break
        }
        lossSum += value * Double(indices.count)
        seen += indices.count
        guard value.isFinite else { break }
        reporter?.batchEnded(
          epoch: epoch, batch: number + 1, batches: batches.count,
          runningLoss: lossSum / Double(seen)
        )
      }
      if let anomaly {
        history.stopReason = .anomaly(anomaly)
        reporter?.note("stopped at epoch \(epoch): \(anomaly)")
        break
      }
      let record = EpochRecord(
        epoch: epoch, loss: lossSum / Double(seen), metrics: measure(on: data),
        validationLoss: validation.map(evaluateLoss),
        validationMetrics: validation.map(measure) ?? [])
      history.records.append(record)
      reporter?.epochEnded(record, batches: batches.count)

      if !record.loss.isFinite {
        history.stopReason = .nonFiniteLoss
        reporter?.note("stopped at epoch \(epoch): a batch loss was not finite")
        break
      }
      if callbacks.map({ $0(history) }).contains(.stop) {
        history.stopReason = .callback
        reporter?.note("stopped at epoch \(epoch) by a callback")
        break
      }
      let monitored = record.validationLoss ?? record.loss
      if let bestEpoch = monitor?.shouldStop(after: epoch, loss: monitored) {
        history.stopReason = .earlyStopping(bestEpoch: bestEpoch)
        let name = validation == nil ? "loss" : "val_loss"
        let patience = epoch - bestEpoch
        reporter?.note(
          "stopped early at epoch \(epoch): \(name) has not improved for \(patience) "
            + (patience == 1 ? "epoch" : "epochs") + " (best: epoch \(bestEpoch))")
        break
      }
    }
    return history
  }

  /// One optimisation step on `batch`; returns the batch loss. A non-finite loss skips the
  /// update; with ``detectsAnomalies``, an anomaly is thrown (an ``AnomalyError``) instead.
  private func step(on batch: TensorDataset<Scalar>) throws -> Double {
    let differentiate = {
      withLearningPhase(.training) {
        guard let (shards, shardedLoss) = sharding else {
          return valueWithGradient(at: model) { model in loss(model, batch.inputs, batch.targets) }
        }
        return valueWithGradient(at: model, batchSize: batch.count, shards: shards) {
          model, rows in
          shardedLoss(
            model, batch.inputs.slice(alongAxis: 0, rows), batch.targets.slice(alongAxis: 0, rows))
        }
      }
    }
    var (value, gradients) =
      detectsAnomalies ? try withAnomalyDetection(differentiate) : differentiate()
    precondition(value.rank == 0, "Trainer: the loss has shape \(value.shape), not rank 0")
    let scalar = Double(value.scalar)
    guard scalar.isFinite else { return scalar }
    if let clipGlobalNorm { _ = gradients.clipGlobalNorm(to: clipGlobalNorm) }
    optimizer.update(gradients)
    return scalar
  }

  /// The loss on `data` in inference phase without recording, averaged over batches weighted by
  /// size.
  private func evaluateLoss(on data: TensorDataset<Scalar>) -> Double {
    averaged(over: data) { inputs, targets in
      let value = loss(model, inputs, targets)
      precondition(value.rank == 0, "Trainer: the loss has shape \(value.shape), not rank 0")
      return [Double(value.scalar)]
    }[0]
  }

  /// Every metric on `data`, in inference phase without recording.
  private func measure(on data: TensorDataset<Scalar>) -> [Double] {
    guard !metrics.isEmpty else { return [] }
    return averaged(over: data) { inputs, targets in
      metrics.map { $0.measure(model, inputs, targets) }
    }
  }

  /// The batch-size-weighted means over `data`'s batches of the values `body` returns.
  private func averaged(
    over data: TensorDataset<Scalar>, _ body: (Tensor<Scalar>, Tensor<Scalar>) -> [Double]
  ) -> [Double] {
    withoutRecording {
      withLearningPhase(.inference) {
        var sums: [Double] = []
        for indices in data.batchIndices(size: batchSize) {
          let batch = data.samples(at: indices)
          let values = body(batch.inputs, batch.targets).map { $0 * Double(indices.count) }
          sums = sums.isEmpty ? values : zip(sums, values).map(+)
        }
        return sums.map { $0 / Double(Swift.max(data.count, 1)) }
      }
    }
  }
}

// MARK: - Early stopping state

/// The running state of ``EarlyStopping``: the best loss so far, its epoch, and the parameter
/// values then when they are to be restored.
private struct LossMonitor<Scalar: TensorScalar> {
  let rule: EarlyStopping
  let parameters: [Parameter<Scalar>]
  var best = Double.infinity
  var bestEpoch = 0
  var bestValues: [Tensor<Scalar>] = []

  init(_ rule: EarlyStopping, model: Any, scalar _: Scalar.Type) {
    self.rule = rule
    parameters =
      rule.restoresBestParameters
      ? namedParameters(of: model, as: Scalar.self).map(\.parameter) : []
  }

  /// Records `loss` for `epoch`; returns the best epoch when training should stop, after putting
  /// its parameter values back if asked to.
  mutating func shouldStop(after epoch: Int, loss: Double) -> Int? {
    if loss < best - rule.minDelta {
      best = loss
      bestEpoch = epoch
      bestValues = parameters.map(\.value)
      return nil
    }
    guard epoch - bestEpoch >= rule.patience else { return nil }
    for (parameter, value) in zip(parameters, bestValues) { parameter.value = value }
    return bestEpoch
  }
}
