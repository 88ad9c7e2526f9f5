import Foundation
import Tapestry
import TapestryTestSupport
import Testing

/// Clipping reference values written by Fixtures/Optimizers/make_fixtures.py with PyTorch's
/// `clip_grad_norm_`.
private struct ClippingFixture: Decodable {
  struct Case: Decodable {
    /// A number, or the string "inf".
    let normType: NormType
    let maxNorm: Double
    let norm: Double
    let gradients: [[Double]]
  }
  struct NormType: Decodable {
    let value: Double
    init(from decoder: any Decoder) throws {
      let container = try decoder.singleValueContainer()
      value = (try? container.decode(Double.self)) ?? .infinity
    }
  }
  let gradients: [StoredTensor]
  let globalNorm: [Case]

  static func load() throws -> ClippingFixture {
    try decodeFixture(ClippingFixture.self, from: "Optimizers/clipping.json")
  }
}

private struct Recurrent {
  var inputWeight = Parameter(randomTensor([3, 2], seed: 11))
  var recurrentWeight = Parameter(randomTensor([3, 3], seed: 12))
  var bias = Parameter(randomTensor([3], seed: 13))
  var frozen = Parameter(randomTensor([2], seed: 14), isFrozen: true)
}

/// Gradients equal to `targets` (in the model's parameter order), through the real API: the loss
/// Σ⟨θ, target⟩ is linear, so its gradient is exactly each target.
private func gradients<Model>(of model: Model, equalTo targets: [Tensor<Double>])
  -> ParameterGradients<Double>
{
  valueWithGradient(at: model) { model in
    zip(trainableParameters(of: model, as: Double.self), targets)
      .map { ($0.parameter.value * $1).sum() }.reduce(Tensor(0), +)
  }.gradient
}

@Suite("Gradient clipping")
struct ClippingTests {
  @Test(arguments: 0..<4)
  func globalNormMatchesPyTorch(index: Int) throws {
    let fixture = try ClippingFixture.load()
    let reference = fixture.globalNorm[index]
    let model = fixture.gradients.map { Parameter(Tensor<Double>.zeros($0.shape)) }
    var grads = gradients(
      of: model, equalTo: fixture.gradients.map { Tensor(shape: $0.shape, scalars: $0.values) })
    let report = grads.clipGlobalNorm(to: reference.maxNorm, normType: reference.normType.value)
    expectClose(report.norm, reference.norm, relativeTolerance: 1e-12)
    #expect(report.clipped == (reference.norm > reference.maxNorm) && report.isFinite)
    for (entry, expected) in zip(grads.entries, reference.gradients) {
      expectClose(
        entry.gradient, Tensor(shape: entry.gradient.shape, scalars: expected),
        relativeTolerance: 0, absoluteTolerance: 1e-12)
    }
  }

  @Test func globalNormOfThreeFourTwelveIsThirteen() {
    let model = Recurrent()
    var grads = gradients(
      of: model,
      equalTo: [
        Tensor(shape: [3, 2], scalars: [3, 0, 0, 0, 0, 0]),
        Tensor(shape: [3, 3], scalars: [4] + Array(repeating: 0, count: 8)),
        Tensor([12, 0, 0]),
      ])
    let report = grads.clipGlobalNorm(to: 1)
    #expect(report.norm == 13 && report.clipped)
    expectClose(grads["bias"] ?? .zeros([1]), Tensor([12 / (13 + 1e-6), 0, 0]))
    // Now just under 1 (the 1e-6 in the denominator): within a larger bound, nothing changes.
    let again = grads.clipGlobalNorm(to: 1.5)
    expectClose(again.norm, 13 / (13 + 1e-6))
    #expect(!again.clipped)
  }

  @Test func eachNormClipsOnlyTheLargeOnes() {
    let model = Recurrent()
    var grads = gradients(
      of: model, equalTo: [.filled([3, 2], with: 2), .filled([3, 3], with: 0.1), .zeros([3])])
    let reports = grads.clipEachNorm(to: 1)
    #expect(reports.map(\.name) == ["inputWeight", "recurrentWeight", "bias"])
    #expect(reports.map(\.report.clipped) == [true, false, false])
    expectClose(reports[0].report.norm, 24.0.squareRoot())
    expectClose(
      grads["inputWeight"] ?? .zeros([1]), .filled([3, 2], with: 2 / (24.0.squareRoot() + 1e-6)))
    #expect(grads["recurrentWeight"] == .filled([3, 3], with: 0.1))
  }

  @Test func valuesAreClampedAndTheLargestReported() {
    var grads = gradients(
      of: Recurrent(),
      equalTo: [.filled([3, 2], with: -3), .filled([3, 3], with: 0.5), Tensor([0.1, 2, -0.2])])
    let report = grads.clipValues(to: 1)
    #expect(report.norm == 3 && report.clipped)
    #expect(grads["inputWeight"] == .filled([3, 2], with: -1))
    #expect(grads["bias"] == Tensor([0.1, 1, -0.2]))
    #expect(grads["recurrentWeight"] == .filled([3, 3], with: 0.5))
  }

  @Test(arguments: [Double.nan, .infinity, -.infinity])
  func nonFiniteGradientIsReportedAndNothingIsScaled(bad: Double) {
    var targets: [Tensor<Double>] = [
      .filled([3, 2], with: 5), .filled([3, 3], with: 5), .zeros([3]),
    ]
    targets[2] = Tensor([1, bad, 1])
    let original = gradients(of: Recurrent(), equalTo: targets)
    let expectedNorm: Double = bad.isNaN ? .nan : .infinity

    var global = original
    let report = global.clipGlobalNorm(to: 1)
    #expect(!report.isFinite && !report.clipped)
    #expect(report.norm.isNaN == expectedNorm.isNaN)
    #expect(global["inputWeight"] == original["inputWeight"])

    var each = original
    let reports = each.clipEachNorm(to: 1)
    #expect(reports.map(\.report.isFinite) == [true, true, false])
    #expect(reports.map(\.report.clipped) == [true, true, false])
    #expect(each["bias"]?.scalars[0] == 1)

    var values = original
    #expect(!values.clipValues(to: 1).isFinite)
    #expect(values["recurrentWeight"] == .filled([3, 3], with: 5))
  }

  @Test func infinityNormIsTheLargestMagnitude() {
    var grads = gradients(
      of: Recurrent(), equalTo: [.filled([3, 2], with: -4), .zeros([3, 3]), Tensor([1, 2, 3])])
    let report = grads.clipGlobalNorm(to: 2, normType: .infinity)
    #expect(report.norm == 4 && report.clipped)
    expectClose(grads["bias"] ?? .zeros([1]), Tensor([1, 2, 3]) * (2 / (4 + 1e-6)))
  }
}

@Suite("Weight penalties")
struct PenaltyTests {
  let x = randomTensor([4, 3], seed: 21)

  private func loss(_ model: Recurrent) -> Tensor<Double> {
    tanh(matmul(x, model.recurrentWeight.value) + model.bias.value).sum()
      + square(tanh(matmul(x, model.inputWeight.value))).sum()
  }

  @Test func l2GradientIsTwoLambdaTheta() {
    let model = Recurrent()
    let (_, plain) = valueWithGradient(at: model) { loss($0) }
    let (value, penalised) = valueWithGradient(at: model) { model in
      loss(model) + l2Penalty(of: model, weight: 0.3)
    }
    let all = trainableParameters(of: model, as: Double.self)
    let expectedPenalty =
      all.map { ($0.parameter.value * $0.parameter.value).sum().scalar }
      .reduce(0, +) * 0.3
    expectClose(value.scalar, loss(model).scalar + expectedPenalty)
    for named in all {
      expectClose(
        penalised[named.name] ?? .zeros([1]),
        (plain[named.name] ?? .zeros([1])) + 2 * 0.3 * named.parameter.value)
    }
  }

  @Test func l1GradientIsLambdaSign() {
    let model = Recurrent()
    model.bias.value = Tensor([-0.5, 0, 2])
    let (value, grads) = valueWithGradient(at: model) { l1Penalty(of: $0, weight: 0.1) }
    #expect(grads["bias"] == Tensor([-0.1, 0, 0.1]))
    let w = model.recurrentWeight.value
    #expect(
      grads["recurrentWeight"]
        == Tensor(shape: w.shape, scalars: w.scalars.map { $0 > 0 ? 0.1 : -0.1 }))
    let total = trainableParameters(of: model, as: Double.self)
      .map { abs($0.parameter.value).sum().scalar }.reduce(0, +)
    expectClose(value.scalar, 0.1 * total)
  }

  @Test func penaltyOnChosenParametersOnly() {
    let model = Recurrent()
    let byName = valueWithGradient(at: model) {
      l2Penalty(of: $0, weight: 0.5, only: ["recurrentWeight"])
    }
    let byParameter = valueWithGradient(at: model) { model in
      l2Penalty(on: [model.recurrentWeight], weight: 0.5)
    }
    let w = model.recurrentWeight.value
    #expect(byName.gradient["recurrentWeight"] == w)
    #expect(byName.gradient["inputWeight"] == .zeros([3, 2]))
    #expect(byName.gradient["bias"] == .zeros([3]))
    #expect(byParameter.gradient.entries.map(\.gradient) == byName.gradient.entries.map(\.gradient))
    expectClose(byName.value.scalar, 0.5 * (w * w).sum().scalar)
  }

  @Test func l2PenaltyWithSGDIsSGDWeightDecay() {
    let decayed = Recurrent()
    let penalised = Recurrent()
    let withDecay = SGD<Double>(learningRate: 0.1, momentum: 0.9, weightDecay: 0.02)
    let withPenalty = SGD<Double>(learningRate: 0.1, momentum: 0.9)
    for _ in 0..<5 {
      withDecay.update(valueWithGradient(at: decayed) { loss($0) }.gradient)
      withPenalty.update(
        valueWithGradient(at: penalised) { model in loss(model) + l2Penalty(of: model, weight: 0.01)
        }
        .gradient)
    }
    expectClose(penalised.recurrentWeight.value, decayed.recurrentWeight.value)
    expectClose(penalised.bias.value, decayed.bias.value)
  }
}
