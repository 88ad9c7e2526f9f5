// Data parallelism over the cores of one machine: a batch cut into shards whose forward and
// backward passes run at the same time, each on a tape of its own, meeting once to add their
// gradients.

import Dispatch

/// The value of a loss averaged over a batch and its gradient with respect to every trainable
/// parameter of `model`, with the batch cut into `shards` parts whose forward and backward passes
/// run at the same time on separate threads: data parallelism within one process, as JAX's `pmap`
/// with a `pmean` of the gradients, or PyTorch's `DistributedDataParallel` with one process per
/// core.
///
/// `loss(model, rows)` must be the loss of the examples `rows` of the batch alone, as a mean over
/// them (`meanSquaredError` or `crossEntropy` of a slice of the batch): the value returned is
/// Σ (|rows| / batchSize) · loss(model, rows), which for a mean over examples is the loss of the
/// whole batch, and the gradients are the same weighted sums of each shard's. They equal
/// ``valueWithGradient(at:of:)`` of the whole batch up to the order of Float additions.
///
/// Why: the matrix products and elementwise ops of one recurrent time step are too small to
/// split between two cores op by op (a handoff per op, thousands per training step, costs more
/// than it saves); two shards of half the batch each run every op of the step on one core and
/// meet once. Each shard records on a tape of its own. The parameter boxes hold the same watched
/// tensors for all of them (see ``Tape/init(sharingIdentityWith:)``) and are restored on return.
///
/// `loss` runs on several threads at once, so it must only read what it captures, and a layer
/// that draws random numbers (``Dropout``) hands them to the shards in the order they ask, which
/// varies from run to run. The shards run one after another on the calling thread, as one loss
/// on one tape (same value, one core), when `shards` is 1, when a tape of the same scalar type is
/// recording around this call (a nested derivative, which must see one graph), and inside
/// ``withAnomalyDetection(_:)`` or a ``GradientFlowRecorder`` recording, whose recorders belong
/// to one thread.
///
/// - Parameters:
///   - batchSize: the number of examples B, at least 1; shard k of s gets rows
///     `k·B/s ..< (k+1)·B/s`.
///   - shards: how many parts, at least 1 (at most `batchSize` are used); defaults to
///     ``ComputeSettings/threads``, which reads 1 within a shard: its matrix products and
///     elementwise ops run on its own thread.
///   - loss: the mean loss of the examples `rows`, returning one element.
public func valueWithGradient<Model, Scalar>(
  at model: Model, batchSize: Int, shards: Int = ComputeSettings.threads,
  of loss: @Sendable (Model, Range<Int>) -> Tensor<Scalar>
) -> (value: Tensor<Scalar>, gradient: ParameterGradients<Scalar>) {
  precondition(
    batchSize >= 1 && shards >= 1,
    "valueWithGradient(at:batchSize:shards:of:): batch size \(batchSize) and shards \(shards) "
      + "must be at least 1")
  let count = min(shards, batchSize)
  let ranges = (0..<count).map { k in k * batchSize / count..<(k + 1) * batchSize / count }
  let weights = ranges.map { Scalar($0.count) / Scalar(batchSize) }
  let outerTapeRecords = Tape<Scalar>.active?.isRecording ?? false
  let listening =
    GradientProbeContext.listening.load(ordering: .relaxed) > 0
    && GradientProbeContext.recorder != nil
  guard count > 1, !outerTapeRecords, AnomalyRecorder.current == nil, !listening else {
    return valueWithGradient(at: model) { model in
      guard count > 1 else { return loss(model, ranges[0]) }
      let weighted = zip(ranges, weights).map { rows, weight in loss(model, rows) * weight }
      return weighted.dropFirst().reduce(weighted[0], +)
    }
  }

  let trainable = trainableParameters(of: model, as: Scalar.self)
  let originals = trainable.map(\.parameter.value)
  defer { for (named, original) in zip(trainable, originals) { named.parameter.value = original } }
  let first = Tape<Scalar>()
  let tapes = [first] + (1..<count).map { _ in Tape<Scalar>(sharingIdentityWith: first) }
  // Every tape watches the parameters first and in the same order, so entry i is parameter i on
  // each, and the first tape's watched tensors are every tape's.
  let watched = originals.map { first.watch($0) }
  for tape in tapes.dropFirst() { for original in originals { _ = tape.watch(original) } }
  for (named, tensor) in zip(trainable, watched) { named.parameter.value = tensor }

  let results = ShardResults<Scalar>(count: count)
  let shared = SharedShardInputs(model: model, phase: LearningPhase.current)
  withoutActuallyEscaping(loss) { loss in
    let shard: @Sendable (Int) -> Void = { k in
      let tape = tapes[k]
      let result = LearningContext.$phase.withValue(shared.phase) {
        ShardContext.$isInsideShard.withValue(true) {
          tape.record {
            let value = loss(shared.model, ranges[k])
            precondition(
              value.count == 1,
              "valueWithGradient(at:batchSize:shards:of:): the loss has shape \(value.shape); "
                + "reduce it to one element")
            let seed = Tensor<Scalar>(repeating: weights[k], shape: value.shape)
            let gradients = tape.gradients(of: value, at: watched, seed: seed)
            return (withoutDerivative(at: value) * weights[k], gradients)
          }
        }
      }
      results.store(result, at: k)
    }
    // Counted before any shard binds its task-local, so that no shard's kernels miss it.
    ComputeSettings.shardRegions.add(1, ordering: .relaxed)
    defer { ComputeSettings.shardRegions.subtract(1, ordering: .relaxed) }
    if count == 2 {
      Kernels.StepWorker.shared.run(shard)
    } else {
      DispatchQueue.concurrentPerform(iterations: count, execute: shard)
    }
  }

  var (value, gradients) = results.take(0)
  for k in 1..<count {
    let (shardValue, shardGradients) = results.take(k)
    value.add(shardValue)
    for index in gradients.indices { gradients[index].add(shardGradients[index]) }
  }
  return (
    value,
    ParameterGradients(entries: zip(trainable, gradients).map { ($0.name, $0.parameter, $1) })
  )
}

/// The model and learning phase every shard reads.
///
/// `@unchecked Sendable` because a model is usually not `Sendable` (parameters are mutable
/// boxes): while the shards run nothing writes to it, since its boxes were set before they
/// started and are restored after all have returned.
private struct SharedShardInputs<Model>: @unchecked Sendable {
  let model: Model
  let phase: LearningPhase
}

/// One slot per shard for its loss and gradients, each written by that shard's thread only and
/// read by the caller after all have returned. The slots are a buffer allocated up front, so
/// that a write touches nothing but its own slot.
private final class ShardResults<Scalar: TensorScalar>: @unchecked Sendable {
  private let slots:
    UnsafeMutableBufferPointer<(value: Tensor<Scalar>, gradients: [Tensor<Scalar>])?>

  init(count: Int) {
    slots = .allocate(capacity: count)
    slots.initialize(repeating: nil)
  }

  deinit {
    _ = slots.deinitialize()
    slots.deallocate()
  }

  /// Writes slot `index`.
  func store(_ result: (value: Tensor<Scalar>, gradients: [Tensor<Scalar>]), at index: Int) {
    slots[index] = result
  }

  /// Moves the result out of slot `index`; traps if that shard did not run, which would be a bug
  /// of the dispatch above.
  func take(_ index: Int) -> (value: Tensor<Scalar>, gradients: [Tensor<Scalar>]) {
    guard let result = slots[index].take() else {
      preconditionFailure("valueWithGradient(at:batchSize:shards:of:): shard \(index) did not run")
    }
    return result
  }
}
