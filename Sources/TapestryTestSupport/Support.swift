import Foundation
import Tapestry
import Testing

/// Seeded random `Double` tensor with elements uniform in `range`: test inputs that are the same
/// on every run and platform.
public func randomTensor(_ shape: TensorShape, in range: Range<Double> = -1..<1, seed: UInt64 = 1)
  -> Tensor<Double>
{
  Tensor.uniform(shape, in: range, seed: seed)
}

/// Expects `actual` to have `expected`'s shape and every element within
/// `absoluteTolerance + relativeTolerance · |expected|`; reports the worst element otherwise.
public func expectClose<Scalar: TensorScalar>(
  _ actual: Tensor<Scalar>, _ expected: Tensor<Scalar>, relativeTolerance: Scalar = 1e-9,
  absoluteTolerance: Scalar = 1e-12, _ comment: Comment? = nil,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  guard actual.shape == expected.shape else {
    Issue.record(
      "shape \(actual.shape) differs from expected \(expected.shape) \(comment.map { "\($0)" } ?? "")",
      sourceLocation: sourceLocation)
    return
  }
  var worst: (index: Int, excess: Scalar)? = nil
  for (index, (a, e)) in zip(actual.scalars, expected.scalars).enumerated() {
    let excess = abs(a - e) - (absoluteTolerance + relativeTolerance * abs(e))
    if !(excess <= 0), worst.map({ excess > $0.excess }) ?? true { worst = (index, excess) }
  }
  if let worst {
    Issue.record(
      """
      element \(worst.index): \(actual.scalars[worst.index]) vs expected \
      \(expected.scalars[worst.index]) (tolerance rtol \(relativeTolerance), atol \
      \(absoluteTolerance)) \(comment.map { "\($0)" } ?? "")
      """,
      sourceLocation: sourceLocation)
  }
}

/// Expects `actual` within `absoluteTolerance + relativeTolerance · |expected|` of `expected`.
public func expectClose<Scalar: TensorScalar>(
  _ actual: Scalar, _ expected: Scalar, relativeTolerance: Scalar = 1e-9,
  absoluteTolerance: Scalar = 1e-12, sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(
    abs(actual - expected) <= absoluteTolerance + relativeTolerance * abs(expected),
    "\(actual) vs expected \(expected)", sourceLocation: sourceLocation)
}

/// Checks the tape's gradients of `f` against central finite differences in Double, with
/// PyTorch's `gradcheck` tolerances (atol 1e-5, rtol 1e-3) unless given.
///
/// A non-scalar result is reduced with fixed random weights, so every output element counts.
public func expectGradientsMatchFiniteDifferences(
  at points: [Tensor<Double>], absoluteTolerance: Double = 1e-5,
  relativeTolerance: Double = 1e-3, sourceLocation: SourceLocation = #_sourceLocation,
  of f: @escaping ([Tensor<Double>]) -> Tensor<Double>
) {
  let weighted = weightedToScalar(f, at: points)
  let report = checkGradients(at: points, of: weighted)
  #expect(
    report.passes(absoluteTolerance: absoluteTolerance, relativeTolerance: relativeTolerance),
    "\(report)", sourceLocation: sourceLocation)
}

/// Checks second derivatives: the gradient of `x ↦ ⟨∇f(x), w⟩` (w fixed and random), which the
/// tape gets by differentiating its own backward pass, against finite differences of it.
public func expectSecondDerivativesMatchFiniteDifferences(
  at points: [Tensor<Double>], absoluteTolerance: Double = 1e-5,
  relativeTolerance: Double = 1e-3, sourceLocation: SourceLocation = #_sourceLocation,
  of f: @escaping ([Tensor<Double>]) -> Tensor<Double>
) {
  let weighted = weightedToScalar(f, at: points)
  let directions = points.enumerated().map {
    randomTensor($0.element.shape, seed: 100 + UInt64($0.offset))
  }
  let gradientAlongDirections: ([Tensor<Double>]) -> Tensor<Double> = { xs in
    let grads = gradients(at: xs, of: weighted)
    return zip(grads, directions).map { ($0 * $1).sum() }.reduce(Tensor(0.0), +)
  }
  let report = checkGradients(at: points, of: gradientAlongDirections)
  #expect(
    report.passes(absoluteTolerance: absoluteTolerance, relativeTolerance: relativeTolerance),
    "second order: \(report)", sourceLocation: sourceLocation)
}

/// `f` followed by a weighted sum with fixed random weights (identity for a one-element result).
private func weightedToScalar(
  _ f: @escaping ([Tensor<Double>]) -> Tensor<Double>, at points: [Tensor<Double>]
) -> ([Tensor<Double>]) -> Tensor<Double> {
  let shape = withoutRecording { f(points).shape }
  if shape.elementCount == 1 { return { f($0).sum() } }
  let weights = randomTensor(shape, seed: 99)
  return { (f($0) * weights).sum() }
}

/// The URL of a fixture under `Tests/TapestryTests/Fixtures/` (e.g. `"Recurrent/cells.json"`).
///
/// Fixtures live in the source tree beside the scripts that generate them, not in a resource
/// bundle; they are found from this file's path, `Sources/TapestryTestSupport/Support.swift`.
public func fixtureURL(_ path: String) -> URL {
  URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Tests/TapestryTests/Fixtures")
    .appendingPathComponent(path)
}

/// Decodes the JSON fixture at `path` under `Tests/TapestryTests/Fixtures/`.
public func decodeFixture<T: Decodable>(_: T.Type, from path: String) throws -> T {
  try JSONDecoder().decode(T.self, from: Data(contentsOf: fixtureURL(path)))
}

/// A tensor as the fixture scripts store it in JSON: `{"shape": [...], "values": [...]}`, the
/// values flattened in row-major order.
public struct StoredTensor: Decodable, Sendable {
  /// The tensor's shape.
  public let shape: TensorShape
  /// The elements in row-major order.
  public let values: [Double]

  /// The stored tensor as a `Tensor<Double>`.
  public var tensor: Tensor<Double> { Tensor(shape: shape, scalars: values) }
}
