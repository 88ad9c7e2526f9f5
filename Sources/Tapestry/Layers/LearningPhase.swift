/// Whether layers run as in training or as in inference (PyTorch's `model.train()` and
/// `model.eval()`).
///
/// Only layers whose behaviour differs between the two read it: ``Dropout`` drops units while
/// training and is the identity otherwise.
///
/// The phase is a task-local value, set for a scope with ``withLearningPhase(_:_:)`` and read with
/// ``LearningPhase/current``, as in swift-apis. A flag stored in each layer (PyTorch's
/// `self.training`) would make switching a model to evaluation a mutation of every layer in it;
/// with a scoped value, layers stay immutable values, a model needs no `train()`/`eval()` walk,
/// and two tasks can evaluate and train the same model at once without seeing each other's phase.
/// The default is `.inference`, so code that never mentions the phase (evaluation, tests,
/// generation) is deterministic; a training loop opts in explicitly.
public enum LearningPhase: Sendable, Hashable, CaseIterable {
  /// Training: stochastic regularisers such as dropout are active.
  case training
  /// Inference (evaluation): every layer is a deterministic function of its input.
  case inference

  /// The phase in effect for the current task: the innermost ``withLearningPhase(_:_:)``, or
  /// `.inference` outside any.
  public static var current: LearningPhase { LearningContext.phase }
}

/// Runs `body` with ``LearningPhase/current`` set to `phase`, then restores the previous phase.
///
/// ```swift
/// let loss = withLearningPhase(.training) { lossOf(model(x), y) }
/// ```
/// Scopes nest (the innermost wins) and are local to the task, and to child tasks it creates.
public func withLearningPhase<Result>(
  _ phase: LearningPhase, _ body: () throws -> Result
) rethrows -> Result {
  try LearningContext.$phase.withValue(phase) { try body() }
}

/// The task-local storage behind ``LearningPhase/current``, kept internal so that the only way
/// to change the phase is a scope.
internal enum LearningContext {
  @TaskLocal static var phase: LearningPhase = .inference
}
