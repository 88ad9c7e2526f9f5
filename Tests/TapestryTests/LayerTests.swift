import Foundation
import Tapestry
import TapestryTestSupport
import Testing

/// A model written as a plain struct of layers, the way users write their own.
private struct Regressor: Layer {
  let hidden: Linear<Double>
  let activation = Activation<Double>.tanh
  let dropout: Dropout<Double>
  let output: Linear<Double>

  init(seed: UInt64) {
    var generator = SeededGenerator(seed: seed)
    hidden = Linear(inputSize: 3, outputSize: 8, using: &generator)
    dropout = Dropout(probability: 0.1, using: &generator)
    output = Linear(inputSize: 8, outputSize: 1, using: &generator)
  }

  func callAsFunction(_ x: Tensor<Double>) -> Tensor<Double> {
    output(dropout(activation(hidden(x))))
  }
}

@Suite("Linear")
struct LinearTests {
  @Test func valuesByHand() {
    let layer = Linear(
      weight: Tensor<Double>([[1, 2, 3], [4, 5, 6]]), bias: Tensor([0.5, -1]))
    let x = Tensor<Double>([[1, 0, -1], [2, 1, 0]])
    #expect(layer(x) == Tensor([[-1.5, -3], [4.5, 12]]))
    #expect(layer.inputSize == 3 && layer.outputSize == 2)
    let noBias = Linear(weight: Tensor<Float>([[1, 2, 3], [4, 5, 6]]))
    #expect(noBias.bias == nil)
    #expect(noBias(Tensor<Float>([[1, 0, -1]])) == Tensor([[-2, -2]]))
  }

  @Test(arguments: [[3], [4, 3], [2, 5, 3], [2, 2, 2, 3], [0, 3]])
  func anyLeadingShapeMatchesRowByRow(shape shapeSizes: [Int]) throws {
    let shape = TensorShape(shapeSizes)
    let layer = Linear<Double>(inputSize: 3, outputSize: 2, seed: 4)
    let x = randomTensor(shape, seed: 5)
    let y = layer(x)
    #expect(y.shape == shape.dropLast() + [2])
    let rows = layer(x.reshaped(to: [-1, 3]))
    #expect(y.scalars == rows.scalars)
    let weight = layer.weight.value
    let bias = try #require(layer.bias).value
    let first = try #require(shape.first)
    guard first > 0 else { return }
    for j in 0..<2 {
      let expected = (0..<3).reduce(bias.scalars[j]) { $0 + x.scalars[$1] * weight[j, $1] }
      expectClose(y.scalars[j], expected, relativeTolerance: 1e-12)
    }
  }

  @Test func defaultInitialisationIsPyTorchUniform() throws {
    let layer = Linear<Double>(inputSize: 16, outputSize: 64, seed: 3)
    let bias = try #require(layer.bias)
    #expect(layer.weight.shape == [64, 16] && bias.shape == [64])
    for values in [layer.weight.value.scalars, bias.value.scalars] {
      // U(−1/4, 1/4): inside the bound, reaching close to it, centred, variance bound²/3.
      #expect(values.allSatisfy { abs($0) < 0.25 })
      #expect(values.map(abs).max() ?? 0 > 0.23)
    }
    let weights = layer.weight.value.scalars
    let mean = weights.reduce(0, +) / Double(weights.count)
    let variance = weights.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(weights.count)
    #expect(abs(mean) < 0.02)
    #expect(abs(variance - 0.0625 / 3) < 0.003)
    #expect(Linear<Double>(inputSize: 2, outputSize: 3, bias: false, seed: 1).bias == nil)
  }

  @Test func seedAndGeneratorAreDeterministic() throws {
    let a = Linear<Float>(inputSize: 5, outputSize: 4, seed: 11)
    let b = Linear<Float>(inputSize: 5, outputSize: 4, seed: 11)
    #expect(a.weight.value == b.weight.value && a.bias?.value == b.bias?.value)
    var generator = SeededGenerator(seed: 11)
    let c = Linear<Float>(inputSize: 5, outputSize: 4, using: &generator)
    #expect(c.weight.value == a.weight.value)
    let d = Linear<Float>(inputSize: 5, outputSize: 4, using: &generator)
    #expect(d.weight.value != c.weight.value)
  }

  @Test(arguments: [[4, 3], [2, 5, 3], [3], [2, 1, 2, 3]])
  func gradientsMatchFiniteDifferences(shape shapeSizes: [Int]) throws {
    let shape = TensorShape(shapeSizes)
    let layer = Linear<Double>(inputSize: 3, outputSize: 2, seed: 7)
    let bias = try #require(layer.bias)
    expectGradientsMatchFiniteDifferences(
      at: [randomTensor(shape, seed: 8), layer.weight.value, bias.value]
    ) { xs in
      layer.weight.value = xs[1]
      bias.value = xs[2]
      return layer(xs[0])
    }
  }

  @Test func mismatchedInputTrapsNamingLayerAndShapes() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = Linear<Double>(inputSize: 3, outputSize: 2, seed: 1)(Tensor.zeros([4, 5]))
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("Linear: input shape [4, 5] does not match weight shape [2, 3]"))
  }
}

@Suite("Embedding")
struct EmbeddingTests {
  @Test func lookupReturnsRowsInIndexShape() {
    let table = Tensor<Double>([[0, 1], [10, 11], [20, 21]])
    let layer = Embedding(weight: table)
    #expect(layer.vocabularySize == 3 && layer.dimension == 2)
    #expect(layer([2, 0, 2]) == Tensor([[20, 21], [0, 1], [20, 21]]))
    #expect(
      layer([1, 2, 0, 1], shape: [2, 2])
        == Tensor([[[10, 11], [20, 21]], [[0, 1], [10, 11]]]))
  }

  @Test func defaultInitialisationIsStandardNormal() {
    let layer = Embedding<Double>(vocabularySize: 100, dimension: 50, seed: 2)
    let values = layer.weight.value.scalars
    let mean = values.reduce(0, +) / Double(values.count)
    let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
    #expect(layer.weight.shape == [100, 50])
    #expect(abs(mean) < 0.05 && abs(variance - 1) < 0.06)
  }

  @Test func repeatedIndicesAccumulateGradient() {
    let layer = Embedding<Double>(vocabularySize: 4, dimension: 3, seed: 1)
    let (_, gradients) = valueWithGradient(at: layer) { layer in layer([2, 0, 2]).sum() }
    #expect(
      gradients["weight"] == Tensor([[1, 1, 1], [0, 0, 0], [2, 2, 2], [0, 0, 0]]))
    expectGradientsMatchFiniteDifferences(at: [layer.weight.value]) { xs in
      layer.weight.value = xs[0]
      return layer([3, 1, 3, 3, 0, 1], shape: [3, 2])
    }
  }

  @Test func outOfRangeIndexTrapsNamingLayer() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = Embedding<Double>(vocabularySize: 4, dimension: 3, seed: 1)([1, 4])
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("Embedding: index 4 is out of range for vocabulary size 4"))
  }
}

@Suite("Dropout and the learning phase")
struct DropoutTests {
  @Test func phaseDefaultsToInferenceAndScopesNest() {
    #expect(LearningPhase.current == .inference)
    withLearningPhase(.training) {
      #expect(LearningPhase.current == .training)
      withLearningPhase(.inference) { #expect(LearningPhase.current == .inference) }
      #expect(LearningPhase.current == .training)
    }
    #expect(LearningPhase.current == .inference)
  }

  @Test func identityInInference() {
    let layer = Dropout<Double>(probability: 0.5, seed: 1)
    let x = randomTensor([5, 4], seed: 2)
    #expect(layer(x) == x)
    #expect(withLearningPhase(.inference) { layer(x) } == x)
  }

  @Test(arguments: [0.1, 0.5, 0.8])
  func trainingZeroesOrScalesAndPreservesTheMean(probability: Double) {
    let layer = Dropout<Double>(probability: probability, seed: 3)
    let count = 20_000
    let y = withLearningPhase(.training) { layer(Tensor.ones([count])) }
    let scale = 1 / (1 - probability)
    #expect(y.scalars.allSatisfy { $0 == 0 || abs($0 - scale) < 1e-12 })
    let dropped = Double(y.scalars.count { $0 == 0 }) / Double(count)
    // Binomial standard deviation √(p(1 − p)/n) is below 0.004; allow about five of them.
    #expect(abs(dropped - probability) < 0.02)
    #expect(abs(y.mean().scalar - 1) < 0.02 * scale)
  }

  @Test func masksAreDeterministicPerSeedAndFreshPerCall() {
    let x = randomTensor([64], seed: 4)
    let (first, second) = withLearningPhase(.training) {
      let layer = Dropout<Double>(probability: 0.5, seed: 9)
      return (layer(x), layer(x))
    }
    let again = withLearningPhase(.training) { Dropout<Double>(probability: 0.5, seed: 9)(x) }
    #expect(first == again)
    #expect(first != second)
  }

  @Test func gradientIsTheScaledMask() {
    let x = Tensor<Double>.ones([50])
    // With x = 1 the output is the scaled mask itself, and so is the gradient of its sum.
    let (output, inputGradient) = withLearningPhase(.training) {
      (
        Dropout<Double>(probability: 0.25, seed: 5)(x),
        gradient(at: x) { x in Dropout<Double>(probability: 0.25, seed: 5)(x).sum() }
      )
    }
    #expect(inputGradient == output)
    #expect(output.scalars.contains(0) && output.scalars.contains(4 / 3))
  }

  @Test func extremeProbabilities() {
    let x = randomTensor([3, 3], seed: 6)
    withLearningPhase(.training) {
      #expect(Dropout<Double>(probability: 0, seed: 1)(x) == x)
      #expect(Dropout<Double>(probability: 1, seed: 1)(x) == Tensor.zeros([3, 3]))
    }
  }
}

@Suite("LayerNorm")
struct LayerNormTests {
  @Test func valuesByHand() {
    // Mean 2, biased variance 2/3: (x − 2)·√(3/2).
    let layer = LayerNorm<Double>(size: 3, epsilon: 0)
    let y = layer(Tensor([[1, 2, 3], [-4, -4, -4]]))
    let root = (1.5).squareRoot()
    expectClose(y.slice(alongAxis: 0, 0..<1), Tensor([[-root, 0, root]]), relativeTolerance: 1e-14)
    // A constant row has zero variance; ε keeps it finite (zero).
    let constant = LayerNorm<Double>(size: 3)(Tensor([[-4, -4, -4]]))
    #expect(constant == Tensor.zeros([1, 3]))
  }

  @Test func affineParametersAndTrailingAxes() throws {
    let layer = LayerNorm<Double>(shape: [2, 2], epsilon: 1e-5)
    let weight = try #require(layer.weight)
    let bias = try #require(layer.bias)
    #expect(weight.value == Tensor.ones([2, 2]) && bias.value == Tensor.zeros([2, 2]))
    weight.value = Tensor([[1, 2], [3, 4]])
    bias.value = Tensor([[0, 0], [0, 10]])
    let y = layer(Tensor([[[1, 2], [3, 4]]]))
    // Mean 2.5, biased variance 1.25.
    let s = 1 / (1.25 + 1e-5).squareRoot()
    expectClose(
      y, Tensor([[[-1.5 * s, -0.5 * 2 * s], [0.5 * 3 * s, 1.5 * 4 * s + 10]]]),
      relativeTolerance: 1e-12)
    let plain = LayerNorm<Double>(size: 4, elementwiseAffine: false)
    #expect(plain.weight == nil && plain.bias == nil)
    #expect(namedParameters(of: plain, as: Double.self).isEmpty)
  }

  @Test(arguments: [[[4, 3], [3]], [[2, 3, 4], [3, 4]], [[5], [5]]])
  func gradientsMatchFiniteDifferences(shapes shapesSizes: [[Int]]) throws {
    let shapes = shapesSizes.map { TensorShape($0) }
    let layer = LayerNorm<Double>(shape: shapes[1])
    let weight = try #require(layer.weight)
    let bias = try #require(layer.bias)
    expectGradientsMatchFiniteDifferences(
      at: [
        randomTensor(shapes[0], seed: 1), randomTensor(shapes[1], seed: 2),
        randomTensor(shapes[1], seed: 3),
      ]
    ) { xs in
      weight.value = xs[1]
      bias.value = xs[2]
      return layer(xs[0])
    }
  }

  @Test func secondDerivativesMatchFiniteDifferences() {
    // Composed from differentiable ops, LayerNorm is differentiable twice with no extra code.
    let layer = LayerNorm<Double>(size: 4, elementwiseAffine: false)
    expectSecondDerivativesMatchFiniteDifferences(at: [randomTensor([3, 4], seed: 4)]) { xs in
      layer(xs[0])
    }
  }
}

@Suite("Activation and Sequential")
struct ActivationSequentialTests {
  @Test func activationsMatchTheirOps() {
    let x = Tensor<Double>([[-2, -0.5, 0, 1.5]])
    #expect(Activation.tanh(x) == tanh(x))
    #expect(Activation.sigmoid(x) == sigmoid(x))
    #expect(Activation.relu(x) == Tensor([[0, 0, 0, 1.5]]))
    #expect(Activation.leakyRelu(negativeSlope: 0.5)(x) == Tensor([[-1, -0.25, 0, 1.5]]))
    #expect(Activation.softplus(x) == softplus(x))
    #expect(Activation.elu(alpha: 2)(x) == elu(x, alpha: 2))
    #expect(Activation.softmax(alongAxis: -1)(x) == softmax(x, alongAxis: -1))
    #expect(Activation.logSoftmax()(x) == logSoftmax(x))
    #expect(Activation.identity(x) == x)
    #expect(Activation(name: "double") { 2 * $0 }(x) == 2 * x)
    #expect("\(Activation<Float>.leakyRelu(negativeSlope: 0.2))" == "Activation(leakyRelu(0.2))")
  }

  @Test func sequentialAppliesInOrderAndNamesParametersByPosition() {
    var generator = SeededGenerator(seed: 1)
    let first = Linear<Double>(inputSize: 3, outputSize: 4, using: &generator)
    let last = Linear<Double>(inputSize: 4, outputSize: 2, bias: false, using: &generator)
    let model = Sequential<Double> {
      first
      Activation.tanh
      last
    }
    let x = randomTensor([5, 3], seed: 2)
    #expect(model(x) == last(tanh(first(x))))
    #expect(
      namedParameters(of: model, as: Double.self).map(\.name) == [
        "layers.0.weight", "layers.0.bias", "layers.2.weight",
      ])
    let deeper = model.appending(Activation.sigmoid)
    #expect(deeper(x) == sigmoid(model(x)))
    #expect(deeper.layers.count == 4 && model.layers.count == 3)
    #expect(Sequential<Double> {}(x) == x)
  }

  @Test func sequentialGradientFlowsToEveryLayer() {
    var generator = SeededGenerator(seed: 1)
    let depth = 2
    let model = Sequential<Double> {
      Linear(inputSize: 2, outputSize: 3, using: &generator)
      LayerNorm(size: 3)
      for _ in 0..<depth {
        Activation.relu
        Linear(inputSize: 3, outputSize: 3, using: &generator)
      }
      if depth > 5 { Activation.tanh }
      Linear(inputSize: 3, outputSize: 1, using: &generator)
    }
    let x = randomTensor([6, 2], seed: 3)
    let (_, gradients) = valueWithGradient(at: model) { model in model(x).squared().mean() }
    #expect(
      gradients.names == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "layers.3.weight",
        "layers.3.bias", "layers.5.weight", "layers.5.bias", "layers.6.weight", "layers.6.bias",
      ])
    #expect(model.layers.count == 7)
    #expect(gradients.entries.allSatisfy { $0.gradient.shape == $0.parameter.shape })
  }
}

@Suite("Training a model of layers")
struct LayerTrainingTests {
  @Test func gradientDescentReducesTheLoss() {
    let model = Regressor(seed: 42)
    #expect(
      trainableParameters(of: model, as: Double.self).map(\.name) == [
        "hidden.weight", "hidden.bias", "output.weight", "output.bias",
      ])
    let x = randomTensor([32, 3], seed: 1)
    let y = tanh(matmul(x, Tensor([[1.0], [-2.0], [0.5]]))) * 0.8
    func loss() -> Double { meanSquaredError(predicted: model(x), expected: y).scalar }
    let initial = loss()
    for _ in 0..<100 {
      let (_, gradients) = withLearningPhase(.training) {
        valueWithGradient(at: model) { model in
          meanSquaredError(predicted: model(x), expected: y)
        }
      }
      for entry in gradients.entries {
        entry.parameter.value = entry.parameter.value - 0.3 * entry.gradient
      }
    }
    #expect(loss() < 0.25 * initial)
  }
}
