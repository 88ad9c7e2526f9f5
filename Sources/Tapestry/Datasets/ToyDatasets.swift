import Foundation

// Small seeded datasets for examples and tests: each is a function of its arguments only, the
// same on every run. Trigonometric values come from the platform's libm, so across platforms the
// points may differ in the last bit.

extension TensorDataset {
  /// Two interleaving half circles in the plane, labelled 0 and 1: scikit-learn's `make_moons`.
  ///
  /// The first `samples / 2` points lie on the upper half circle (cos t, sin t) and the rest on
  /// the lower one (1 − cos t, 1/2 − sin t), with t evenly spaced in [0, π] on each; Gaussian
  /// noise of standard deviation `noise` is added to every coordinate, then the samples are
  /// shuffled. Not linearly separable, so it needs a hidden layer, yet a small MLP separates it
  /// within seconds.
  ///
  /// - Parameters:
  ///   - samples: the number of points, N ≥ 2.
  ///   - noise: the standard deviation of the noise (default 0.1; 0 for exact circles).
  ///   - seed: the seed of the noise and of the order.
  /// - Returns: inputs `[N, 2]` and targets `[N, 1]` holding 0 (upper moon) or 1 (lower moon),
  ///   the shape ``binaryCrossEntropy(logits:labels:reduction:)`` takes for one logit per point.
  public static func twoMoons(samples: Int, noise: Scalar = 0.1, seed: UInt64) -> TensorDataset {
    precondition(samples >= 2, "TensorDataset.twoMoons: samples \(samples) must be at least 2")
    precondition(noise >= 0, "TensorDataset.twoMoons: noise \(noise) must be ≥ 0")
    var generator = SeededGenerator(seed: seed)
    let upper = samples / 2
    var points: [(x: Double, y: Double, label: Double)] = []
    for angle in evenlySpacedAngles(upper) {
      points.append((cos(angle), sin(angle), 0))
    }
    for angle in evenlySpacedAngles(samples - upper) {
      points.append((1 - cos(angle), 0.5 - sin(angle), 1))
    }
    let order = generator.permutation(samples)
    var inputs: [Scalar] = []
    var targets: [Scalar] = []
    for index in order {
      let point = points[index]
      inputs.append(Scalar(point.x) + noise * Scalar(generator.nextStandardNormal()))
      inputs.append(Scalar(point.y) + noise * Scalar(generator.nextStandardNormal()))
      targets.append(Scalar(point.label))
    }
    return TensorDataset(
      inputs: Tensor(shape: [samples, 2], scalars: inputs),
      targets: Tensor(shape: [samples, 1], scalars: targets))
  }

  /// Points drawn uniformly from the square [−1, 1)², labelled 1 when their two coordinates have
  /// opposite signs and 0 otherwise: the XOR problem, which no linear model solves.
  ///
  /// - Parameters:
  ///   - samples: the number of points, N ≥ 1.
  ///   - seed: the seed of the points.
  /// - Returns: inputs `[N, 2]` and targets `[N, 1]` holding 0 or 1.
  public static func xor(samples: Int, seed: UInt64) -> TensorDataset {
    precondition(samples >= 1, "TensorDataset.xor: samples \(samples) must be at least 1")
    let inputs = Tensor<Scalar>.uniform([samples, 2], in: -1..<1, seed: seed)
    let labels = (0..<samples).map { row -> Scalar in
      (inputs.scalars[2 * row] < 0) != (inputs.scalars[2 * row + 1] < 0) ? 1 : 0
    }
    return TensorDataset(inputs: inputs, targets: Tensor(shape: [samples, 1], scalars: labels))
  }

  /// A one-dimensional regression: x uniform in [−1, 1), y = sin(3x) + noise·ε with ε standard
  /// normal. One period-ish of a sine needs a hidden layer; the noise sets the best reachable
  /// mean squared error, `noise²`.
  ///
  /// - Parameters:
  ///   - samples: the number of points, N ≥ 1.
  ///   - noise: the standard deviation of the noise (default 0.1).
  ///   - seed: the seed of the points and of the noise.
  /// - Returns: inputs `[N, 1]` and targets `[N, 1]`, the shapes a ``Linear`` layer of one input
  ///   and one output takes and gives.
  public static func sineRegression(samples: Int, noise: Scalar = 0.1, seed: UInt64)
    -> TensorDataset
  {
    precondition(
      samples >= 1, "TensorDataset.sineRegression: samples \(samples) must be at least 1")
    precondition(noise >= 0, "TensorDataset.sineRegression: noise \(noise) must be ≥ 0")
    var generator = SeededGenerator(seed: seed)
    let inputs = Tensor<Scalar>.uniform([samples, 1], in: -1..<1, using: &generator)
    let targets = inputs.scalars.map { x in
      Scalar(sin(3 * Double(x))) + noise * Scalar(generator.nextStandardNormal())
    }
    return TensorDataset(inputs: inputs, targets: Tensor(shape: [samples, 1], scalars: targets))
  }
}

/// `count` angles evenly spaced from 0 to π inclusive (NumPy's `linspace(0, pi, count)`).
private func evenlySpacedAngles(_ count: Int) -> [Double] {
  guard count > 1 else { return Array(repeating: 0, count: count) }
  return (0..<count).map { Double.pi * Double($0) / Double(count - 1) }
}
