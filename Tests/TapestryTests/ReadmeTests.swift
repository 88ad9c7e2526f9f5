import Foundation
import Tapestry
import Testing

@Suite("Documentation stays true")
struct ReadmeTests {
  /// The package root, found from this file's path (Tests/TapestryTests/ReadmeTests.swift).
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

  @Test func quickStartInReadmeIsTheCompiledExample() throws {
    let readme = try String(
      contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
    let example = try String(
      contentsOf: Self.root.appendingPathComponent("Examples/QuickStart/main.swift"),
      encoding: .utf8)
    let afterHeading = try #require(readme.range(of: "## Quick start")).upperBound
    let fenceStart = try #require(
      readme.range(of: "```swift\n", range: afterHeading..<readme.endIndex))
    let fenceEnd = try #require(
      readme.range(of: "```", range: fenceStart.upperBound..<readme.endIndex))
    #expect(String(readme[fenceStart.upperBound..<fenceEnd.lowerBound]) == example)
  }
}

/// The README's hand-written training loop, as written there (the trainer for fewer epochs), so it keeps compiling
/// and keeps training.
private struct Classifier: Layer {
  var hidden = Linear<Float>(inputSize: 2, outputSize: 16, seed: 1)
  var output = Linear<Float>(inputSize: 16, outputSize: 1, seed: 2)
  func callAsFunction(_ x: Tensor<Float>) -> Tensor<Float> { output(tanh(hidden(x))) }
}

@Test func readmeTrainingLoopLearnsTwoMoons() throws {
  let data = TensorDataset<Float>.twoMoons(samples: 200, noise: 0.1, seed: 1)
  let model = Classifier()
  let optimizer = Adam<Float>(learningRate: 0.03)
  var generator = SeededGenerator(seed: 0)
  for _ in 0..<30 {
    for indices in data.batchIndices(size: 16, shuffledWith: &generator) {
      let batch = data.samples(at: indices)
      let (_, gradients) = valueWithGradient(at: model) { model in
        binaryCrossEntropy(logits: model(batch.inputs), labels: batch.targets)
      }
      optimizer.update(gradients)
    }
  }
  var trainer = Trainer(model: model, optimizer: Adam<Float>(learningRate: 0.03)) {
    model, inputs, labels in binaryCrossEntropy(logits: model(inputs), labels: labels)
  }
  trainer.batchSize = 16
  trainer.verbosity = .silent
  trainer.earlyStopping = EarlyStopping(patience: 10, minDelta: 1e-4)
  let history = trainer.fit(data, epochs: 2)
  let url = FileManager.default.temporaryDirectory.appendingPathComponent(
    "readme-history-\(UUID().uuidString).csv")
  try history.write(to: url)
  try FileManager.default.removeItem(at: url)
  let logits = model(data.inputs)
  let hits = zip(logits.scalars, data.targets.scalars).filter { ($0 > 0) == ($1 > 0.5) }.count
  #expect(Double(hits) / Double(data.count) > 0.9)
}
