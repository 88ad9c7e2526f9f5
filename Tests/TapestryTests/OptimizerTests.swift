import Foundation
import Tapestry
import TapestryTestSupport
import Testing

/// Reference trajectories written by Fixtures/Optimizers/make_fixtures.py with PyTorch.
private enum OptimizerFixtures {
  struct Trajectories: Decodable {
    struct Case: Decodable {
      let name: String
      let optimizer: String
      let options: [String: Double]
      /// Per step, per parameter: the flattened values after that step.
      let trajectory: [[[Double]]]
    }
    let initial: [StoredTensor]
    let gradients: [[StoredTensor]]
    let cases: [Case]
  }
  struct Schedules: Decodable {
    struct Case: Decodable {
      let name: String
      let options: [String: Double]
      let rates: [Double]
    }
    let baseLearningRate: Double
    let cases: [Case]
  }

  static func load<T: Decodable>(_ file: String, as _: T.Type) throws -> T {
    try decodeFixture(T.self, from: "Optimizers/" + file)
  }
}

/// The two-parameter model the fixtures use: the shapes of a small affine layer.
private struct TwoTensors {
  var weight: Parameter<Double>
  var bias: Parameter<Double>
}

/// Gradients equal to `targets`, through the real API: the loss Σ⟨p, target⟩ is linear in each
/// parameter, so its gradient is exactly the stored tensor.
private func gradients(of model: TwoTensors, equalTo targets: [Tensor<Double>])
  -> ParameterGradients<Double>
{
  valueWithGradient(at: model) { model in
    (model.weight.value * targets[0]).sum() + (model.bias.value * targets[1]).sum()
  }.gradient
}

/// Replays the fixture's gradients through `optimizer` and returns the parameter values after
/// each step, flattened per parameter.
private func replay<O: Optimizer>(
  _ optimizer: O, _ fixture: OptimizerFixtures.Trajectories
) -> [[[Double]]] where O.Scalar == Double {
  let model = TwoTensors(
    weight: Parameter(fixture.initial[0].tensor), bias: Parameter(fixture.initial[1].tensor))
  return fixture.gradients.map { stored in
    optimizer.update(gradients(of: model, equalTo: stored.map(\.tensor)))
    return [model.weight.value.scalars, model.bias.value.scalars]
  }
}

/// Builds the named optimiser from the fixture's options (booleans stored as 0 or 1) and replays.
private func replay(
  _ testCase: OptimizerFixtures.Trajectories.Case,
  _ fixture: OptimizerFixtures.Trajectories
) -> [[[Double]]] {
  let o = testCase.options
  let flag = { (key: String) in (o[key] ?? 0) != 0 }
  switch testCase.optimizer {
  case "SGD":
    return replay(
      SGD<Double>(
        learningRate: o["learningRate"] ?? 1e-3, momentum: o["momentum"] ?? 0,
        dampening: o["dampening"] ?? 0, weightDecay: o["weightDecay"] ?? 0,
        nesterov: flag("nesterov")), fixture)
  case "Adam":
    return replay(
      Adam<Double>(
        learningRate: o["learningRate"] ?? 1e-3, beta1: o["beta1"] ?? 0.9,
        beta2: o["beta2"] ?? 0.999, epsilon: o["epsilon"] ?? 1e-8,
        weightDecay: o["weightDecay"] ?? 0, amsgrad: flag("amsgrad")), fixture)
  case "AdamW":
    return replay(
      AdamW<Double>(
        learningRate: o["learningRate"] ?? 1e-3, beta1: o["beta1"] ?? 0.9,
        beta2: o["beta2"] ?? 0.999, epsilon: o["epsilon"] ?? 1e-8,
        weightDecay: o["weightDecay"] ?? 1e-2, amsgrad: flag("amsgrad")), fixture)
  case "RMSprop":
    return replay(
      RMSprop<Double>(
        learningRate: o["learningRate"] ?? 1e-2, alpha: o["alpha"] ?? 0.99,
        epsilon: o["epsilon"] ?? 1e-8, weightDecay: o["weightDecay"] ?? 0,
        momentum: o["momentum"] ?? 0, centered: flag("centered")), fixture)
  case "Adagrad":
    return replay(
      Adagrad<Double>(
        learningRate: o["learningRate"] ?? 1e-2, learningRateDecay: o["learningRateDecay"] ?? 0,
        weightDecay: o["weightDecay"] ?? 0,
        initialAccumulatorValue: o["initialAccumulatorValue"] ?? 0,
        epsilon: o["epsilon"] ?? 1e-10), fixture)
  default:
    Issue.record("unknown optimiser \(testCase.optimizer) in the fixture")
    return []
  }
}

@Suite("Optimisers match PyTorch")
struct OptimizerTests {
  static let caseNames = [
    "sgd", "sgd-momentum", "sgd-momentum-dampening-decay", "sgd-nesterov", "adam",
    "adam-lr-betas-decay", "adam-amsgrad", "adamw", "adamw-decay-amsgrad", "rmsprop",
    "rmsprop-centered-momentum-decay", "rmsprop-centered", "adagrad", "adagrad-decay-accumulator",
  ]

  @Test func fixtureHoldsEveryCase() throws {
    let fixture = try OptimizerFixtures.load(
      "optimizers.json", as: OptimizerFixtures.Trajectories.self)
    #expect(fixture.cases.map(\.name) == Self.caseNames)
    #expect(fixture.gradients.count == 10)
  }

  @Test(arguments: caseNames)
  func trajectoryMatchesPyTorch(name: String) throws {
    let fixture = try OptimizerFixtures.load(
      "optimizers.json", as: OptimizerFixtures.Trajectories.self)
    let testCase = try #require(fixture.cases.first { $0.name == name })
    let actual = replay(testCase, fixture)
    try #require(actual.count == testCase.trajectory.count)
    for (step, (got, expected)) in zip(actual, testCase.trajectory).enumerated() {
      for (index, shape) in fixture.initial.map(\.shape).enumerated() {
        expectClose(
          Tensor(shape: shape, scalars: got[index]), Tensor(shape: shape, scalars: expected[index]),
          relativeTolerance: 0, absoluteTolerance: 1e-10,
          "\(name), step \(step + 1), tensor \(index)")
      }
    }
  }

  @Test func frozenParametersAreSkippedAndStateFollowsIdentity() {
    let model = TwoTensors(
      weight: Parameter(randomTensor([3, 2], seed: 3)), bias: Parameter(randomTensor([2], seed: 4)))
    let grads = gradients(of: model, equalTo: [.ones([3, 2]), .ones([2])])
    let frozenBias = model.bias.value
    model.bias.isFrozen = true
    let optimizer = SGD<Double>(learningRate: 0.5, momentum: 0.9)
    let weight = model.weight.value
    optimizer.update(grads)
    optimizer.update(grads)
    #expect(model.bias.value == frozenBias)
    #expect(optimizer.states.count == 1 && optimizer.states[model.bias] == nil)
    // Momentum: the second step moves by (1 + 0.9) · 0.5.
    expectClose(model.weight.value, weight - 0.5 - 0.95)
    #expect(optimizer.step == 2 && !model.weight.value.isRecorded)
  }

  @Test func learningRateChangesTakeEffectAtTheNextStep() {
    let model = TwoTensors(weight: Parameter(.zeros([3, 2])), bias: Parameter(.zeros([2])))
    let grads = gradients(of: model, equalTo: [.ones([3, 2]), .ones([2])])
    let optimizer = SGD<Double>(learningRate: 0.1)
    optimizer.update(grads)
    optimizer.learningRate = 0.01
    optimizer.update(grads)
    expectClose(model.bias.value, Tensor([-0.11, -0.11]))
  }

  @Test func floatParametersFollowTheDoubleTrajectory() throws {
    let fixture = try OptimizerFixtures.load(
      "optimizers.json", as: OptimizerFixtures.Trajectories.self)
    let testCase = try #require(fixture.cases.first { $0.name == "adam-amsgrad" })
    let weight = Parameter(fixture.initial[0].tensor.converted(to: Float.self))
    let bias = Parameter(fixture.initial[1].tensor.converted(to: Float.self))
    let model = [weight, bias]
    let optimizer = Adam<Float>(learningRate: 0.05, amsgrad: true)
    for stored in fixture.gradients {
      let targets = stored.map { $0.tensor.converted(to: Float.self) }
      optimizer.update(
        valueWithGradient(at: model) { model in
          (model[0].value * targets[0]).sum() + (model[1].value * targets[1]).sum()
        }.gradient)
    }
    let expected = try #require(testCase.trajectory.last)
    expectClose(
      weight.value, Tensor(shape: [3, 2], scalars: expected[0].map(Float.init)),
      relativeTolerance: 1e-4, absoluteTolerance: 1e-5)
  }
}

/// Trains a linear regression y = xW + b from zero for 60 steps with `optimizer`, warm-up and
/// global-norm clipping, and returns the first and last losses.
private func trainRegression<O: Optimizer>(_ optimizer: O) -> (first: Double, last: Double)
where O.Scalar == Double {
  let x = randomTensor([16, 3], seed: 31)
  let y = matmul(x, randomTensor([3, 2], seed: 32)) + Tensor([0.5, -0.25])
  let model = TwoTensors(weight: Parameter(.zeros([3, 2])), bias: Parameter(.zeros([2])))
  let schedule = LinearWarmup(warmupSteps: 5, then: ConstantLearningRate(optimizer.learningRate))
  var losses: [Double] = []
  for _ in 0..<60 {
    var (loss, grads) = valueWithGradient(at: model) { model in
      meanSquaredError(predicted: matmul(x, model.weight.value) + model.bias.value, expected: y)
    }
    let clipping = grads.clipGlobalNorm(to: 1)
    #expect(clipping.isFinite)
    optimizer.follow(schedule)
    optimizer.update(grads)
    losses.append(loss.scalar)
  }
  return (losses[0], losses[losses.count - 1])
}

@Suite("Optimisers train a model")
struct OptimizerTrainingTests {
  @Test(arguments: ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
  func lossFallsTenfold(name: String) {
    let result =
      switch name {
      case "SGD": trainRegression(SGD<Double>(learningRate: 0.1, momentum: 0.9, nesterov: true))
      case "Adam": trainRegression(Adam<Double>(learningRate: 0.1))
      case "AdamW": trainRegression(AdamW<Double>(learningRate: 0.1))
      case "RMSprop": trainRegression(RMSprop<Double>(learningRate: 0.02, centered: true))
      default: trainRegression(Adagrad<Double>(learningRate: 0.5))
      }
    #expect(result.last < result.first / 10, "\(name): loss \(result.first) → \(result.last)")
  }
}

@Suite("Learning-rate schedules match PyTorch")
struct LearningRateScheduleTests {
  fileprivate static func schedule(_ testCase: OptimizerFixtures.Schedules.Case, base: Double)
    -> (any LearningRateSchedule)?
  {
    let o = testCase.options
    switch testCase.name {
    case "step":
      return StepDecay(initial: base, stepSize: Int(o["stepSize"] ?? 0), gamma: o["gamma"] ?? 0)
    case "exponential": return ExponentialDecay(initial: base, gamma: o["gamma"] ?? 0)
    case "cosine":
      return CosineAnnealing(initial: base, tMax: Int(o["tMax"] ?? 0), etaMin: o["etaMin"] ?? 0)
    case "warmup-constant":
      return LinearWarmup(
        warmupSteps: Int(o["warmupSteps"] ?? 0), startFactor: o["startFactor"] ?? 0,
        then: ConstantLearningRate(base))
    case "warmup-cosine":
      return LinearWarmup(
        warmupSteps: Int(o["warmupSteps"] ?? 0), startFactor: o["startFactor"] ?? 0,
        then: CosineAnnealing(initial: base, tMax: Int(o["tMax"] ?? 0), etaMin: o["etaMin"] ?? 0))
    default: return nil
    }
  }

  @Test(arguments: ["step", "exponential", "cosine", "warmup-constant", "warmup-cosine"])
  func ratesMatchPyTorch(name: String) throws {
    let fixture = try OptimizerFixtures.load("schedules.json", as: OptimizerFixtures.Schedules.self)
    let testCase = try #require(fixture.cases.first { $0.name == name })
    let schedule = try #require(Self.schedule(testCase, base: fixture.baseLearningRate))
    for (step, expected) in testCase.rates.enumerated() {
      expectClose(
        schedule.learningRate(at: step), expected, relativeTolerance: 1e-12,
        absoluteTolerance: 1e-15)
    }
  }

  @Test func optimiserFollowsASchedule() {
    let schedule = StepDecay(initial: 0.1, stepSize: 2, gamma: 0.5)
    let optimizer = SGD<Double>(learningRate: 1)
    let model = TwoTensors(weight: Parameter(.zeros([3, 2])), bias: Parameter(.zeros([2])))
    let grads = gradients(of: model, equalTo: [.ones([3, 2]), .ones([2])])
    var rates: [Double] = []
    for _ in 0..<5 {
      optimizer.follow(schedule)
      rates.append(optimizer.learningRate)
      optimizer.update(grads)
    }
    #expect(rates == [0.1, 0.1, 0.05, 0.05, 0.025])
    expectClose(model.bias.value, Tensor([-0.325, -0.325]))
  }
}

@Suite("Optimiser misuse traps with a message")
struct OptimizerMisuseTests {
  /// Each misuse and a fragment of the message it must trap with.
  static let misuses: [(message: String, misuse: @Sendable () -> Void)] = [
    ("SGD: invalid learning rate -0.1", { _ = SGD<Double>(learningRate: -0.1) }),
    ("SGD: Nesterov momentum needs momentum > 0", { _ = SGD<Double>(nesterov: true) }),
    ("Adam<Double>: invalid beta1 1.0", { _ = Adam<Double>(beta1: 1) }),
    ("AdamW<Float>: invalid beta2 -0.5", { _ = AdamW<Float>(beta2: -0.5) }),
    ("RMSprop: invalid alpha -1.0", { _ = RMSprop<Double>(alpha: -1) }),
    ("Adagrad: invalid epsilon -1.0", { _ = Adagrad<Double>(epsilon: -1) }),
    ("Adam<Double>: invalid learning rate -1.0", { Adam<Double>().learningRate = -1 }),
    (
      "SGD<Double>.update: gradient of shape [3] for parameter 'bias' of shape [2]",
      {
        let model = TwoTensors(weight: Parameter(.zeros([3, 2])), bias: Parameter(.zeros([2])))
        var grads = gradients(of: model, equalTo: [.zeros([3, 2]), .zeros([2])])
        grads.entries[1].gradient = .zeros([3])
        SGD<Double>().update(grads)
      }
    ),
    ("StepDecay: step size 0 must be positive", { _ = StepDecay(initial: 1, stepSize: 0) }),
    (
      "l2Penalty(of:weight:only:): no parameter named 'weight_hh_l0'",
      {
        let model = TwoTensors(weight: Parameter(.zeros([3, 2])), bias: Parameter(.zeros([2])))
        _ = l2Penalty(of: model, weight: 0.1, only: ["weight_hh_l0"])
      }
    ),
    (
      "clipGlobalNorm(to:normType:): invalid maxNorm -1.0",
      {
        let model = TwoTensors(weight: Parameter(.zeros([3, 2])), bias: Parameter(.zeros([2])))
        var grads = gradients(of: model, equalTo: [.zeros([3, 2]), .zeros([2])])
        _ = grads.clipGlobalNorm(to: -1)
      }
    ),
  ]

  @Test(arguments: misuses.indices)
  func trapsNamingTheProblem(index: Int) async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) { [index] in
      OptimizerMisuseTests.misuses[index].misuse()
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains(Self.misuses[index].message), "\(message)")
  }
}
