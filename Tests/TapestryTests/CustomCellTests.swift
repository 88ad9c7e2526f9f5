import Foundation
import Tapestry
import TapestryTestSupport
import Testing

/// The minimal gated unit of `Examples/CustomCell` and `Docs/CustomCells.md`, as a user writes
/// it (Zhou et al. 2016): f = σ(W_f [h, x] + b_f), h̃ = tanh(W_h [f ⊙ h, x] + b_h),
/// h′ = (1 − f) ⊙ h + f ⊙ h̃. The test below keeps the three copies identical.
struct MinimalGatedUnit<Scalar: TensorScalar>: RecurrentCell {
  let forget: Linear<Scalar>
  let candidate: Linear<Scalar>
  let inputSize: Int
  let hiddenSize: Int

  init(inputSize: Int, hiddenSize: Int, using generator: inout SeededGenerator) {
    // Each layer reads [h, x] concatenated: one matrix instead of separate W and U.
    let joined = hiddenSize + inputSize
    forget = Linear(inputSize: joined, outputSize: hiddenSize, using: &generator)
    candidate = Linear(inputSize: joined, outputSize: hiddenSize, using: &generator)
    self.inputSize = inputSize
    self.hiddenSize = hiddenSize
  }

  func zeroState(batchSize: Int) -> Tensor<Scalar> { Tensor.zeros([batchSize, hiddenSize]) }

  func callAsFunction(_ x: Tensor<Scalar>, _ h: Tensor<Scalar>)
    -> (output: Tensor<Scalar>, state: Tensor<Scalar>)
  {
    checkInput(x)
    checkState(h, named: "state", batchSize: x.shape[0])
    let f = sigmoid(forget(concatenate([h, x], alongAxis: 1)))
    let proposal = tanh(candidate(concatenate([f * h, x], alongAxis: 1)))
    let next = (1 - f) * h + f * proposal
    return (next, next)
  }
}

/// The lines from `struct MinimalGatedUnit` to the first closing brace in column 0.
private func cellSource(in relativePath: String) throws -> [Substring] {
  let root = fixtureURL("").deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  let text = try String(contentsOf: root.appendingPathComponent(relativePath), encoding: .utf8)
  let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
  guard let start = lines.firstIndex(where: { $0.hasPrefix("struct MinimalGatedUnit") }),
    let end = lines[start...].firstIndex(of: "}")
  else { return [] }
  return Array(lines[start...end])
}

@Suite("A user-defined recurrent cell")
struct CustomCellTests {
  @Test("the cell in the test, the example and the guide is the same code")
  func copiesAgree() throws {
    let example = try cellSource(in: "Examples/CustomCell/main.swift")
    #expect(!example.isEmpty)
    #expect(try cellSource(in: "Docs/CustomCells.md") == example)
    #expect(try cellSource(in: "Tests/TapestryTests/CustomCellTests.swift") == example)
  }

  @Test("its parameters are discovered and named after its properties")
  func parameterNames() {
    var generator = SeededGenerator(seed: 1)
    let cell = MinimalGatedUnit<Float>(inputSize: 2, hiddenSize: 4, using: &generator)
    let named = namedParameters(of: cell, as: Float.self)
    #expect(
      named.map(\.name) == ["forget.weight", "forget.bias", "candidate.weight", "candidate.bias"])
    #expect(named.map(\.parameter.shape) == [[4, 6], [4], [4, 6], [4]])
  }

  @Test("unrolled, its gradients through time match finite differences in Double")
  func gradientCheck() {
    var generator = SeededGenerator(seed: 2)
    let cell = MinimalGatedUnit<Double>(inputSize: 2, hiddenSize: 3, using: &generator)
    let parameters = namedParameters(of: cell, as: Double.self).map(\.parameter)
    let originals = parameters.map(\.value)
    let inputs = randomTensor([5, 2, 2], seed: 3)
    let initialState = randomTensor([2, 3], seed: 4)
    let weights = randomTensor([5, 2, 3], seed: 5)
    let report = checkGradients(at: originals + [inputs, initialState]) { values in
      for (parameter, value) in zip(parameters, values) { parameter.value = value }
      let outputs = unroll(cell, inputs: values[4], initialState: values[5]).outputs
      return (outputs * weights).sum()
    }
    for (parameter, original) in zip(parameters, originals) { parameter.value = original }
    #expect(report.passes(), "\(report)")
  }

  @Test("a few Adam steps on the adding problem lower the loss")
  func trainingLowersLoss() {
    var generator = SeededGenerator(seed: 6)
    let cell = MinimalGatedUnit<Float>(inputSize: 2, hiddenSize: 8, using: &generator)
    let readout = Linear<Float>(inputSize: 8, outputSize: 1, using: &generator)
    let model = (cell: cell, readout: readout)
    let batch = AddingProblem(length: 6).batch(size: 64, seed: 7, as: Float.self)
    func loss(_ model: (cell: MinimalGatedUnit<Float>, readout: Linear<Float>)) -> Tensor<Float> {
      let outputs = unroll(model.cell, inputs: batch.inputs).outputs
      return meanSquaredError(
        predicted: model.readout(outputs.select(5, alongAxis: 0)), expected: batch.targets)
    }
    let before = loss(model).scalar
    let optimizer = Adam<Float>(learningRate: 0.01)
    for _ in 0..<30 { optimizer.update(valueWithGradient(at: model, of: loss).gradient) }
    let after = loss(model).scalar
    #expect(after < 0.7 * before, "loss \(before) → \(after)")
  }
}
