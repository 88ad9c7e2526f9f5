import Tapestry
import TapestryTestSupport
import Testing

/// A 2-layer MLP written by hand from ops, differentiated end to end.
@Suite("Hand-written MLP")
struct MLPTests {
  static let inputs = randomTensor([5, 3], seed: 31)
  static let targets = randomTensor([5, 2], seed: 32)
  static let parameters = [
    randomTensor([3, 4], seed: 33), randomTensor([4], seed: 34),
    randomTensor([4, 2], seed: 35), randomTensor([2], seed: 36),
  ]

  /// mean((tanh(x·W1 + b1)·W2 + b2 − y)²)
  static func loss(_ p: [Tensor<Double>]) -> Tensor<Double> {
    let hidden = tanh(matmul(inputs, p[0]) + p[1])
    return meanSquaredError(predicted: matmul(hidden, p[2]) + p[3], expected: targets)
  }

  @Test func gradientsMatchFiniteDifferencesToOneInAMillion() {
    let report = checkGradients(at: Self.parameters, of: Self.loss)
    #expect(report.passes(absoluteTolerance: 1e-10, relativeTolerance: 1e-6), "\(report)")
  }

  @Test func gradientsMatchTheChainRuleWrittenOut() {
    let p = Self.parameters
    let grads = gradients(at: p, of: Self.loss)
    // Backpropagation by hand, with tape-free arithmetic on the same tensors.
    withoutRecording {
      let hidden = tanh(matmul(Self.inputs, p[0]) + p[1])
      let output = matmul(hidden, p[2]) + p[3]
      let dOutput = (output - Self.targets) * (2.0 / Double(output.count))
      let dHidden = matmul(dOutput, p[2], transposeB: true) * (1 - hidden * hidden)
      expectClose(grads[2], matmul(hidden, dOutput, transposeA: true))
      expectClose(grads[3], dOutput.sum(alongAxis: 0))
      expectClose(grads[0], matmul(Self.inputs, dHidden, transposeA: true))
      expectClose(grads[1], dHidden.sum(alongAxis: 0))
    }
  }

  @Test func hessianVectorProductMatchesFiniteDifferencesOfGradients() {
    let p = Self.parameters
    let direction = p.enumerated().map {
      randomTensor($0.element.shape, seed: 40 + UInt64($0.offset))
    }
    // Hv = ∇⟨∇f(θ), v⟩, by differentiating the backward pass.
    let hessianVector = gradients(at: p) { p in
      zip(gradients(at: p, of: Self.loss), direction).map { ($0 * $1).sum() }.reduce(Tensor(0.0), +)
    }
    let epsilon = 1e-5
    let plus = gradients(at: zip(p, direction).map { $0 + $1 * epsilon }, of: Self.loss)
    let minus = gradients(at: zip(p, direction).map { $0 - $1 * epsilon }, of: Self.loss)
    for (index, (analytic, (up, down))) in zip(hessianVector, zip(plus, minus)).enumerated() {
      expectClose(
        analytic, (up - down) / (2 * epsilon), relativeTolerance: 1e-6, absoluteTolerance: 1e-9,
        "parameter \(index)")
    }
  }
}
