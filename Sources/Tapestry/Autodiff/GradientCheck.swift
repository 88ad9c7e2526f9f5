/// The outcome of comparing the tape's gradients with finite differences.
public struct GradientCheckReport<Scalar: TensorScalar>: Sendable, CustomStringConvertible {
  /// The largest |analytic − numeric| over every element of every input.
  public var maxAbsoluteError: Scalar
  /// The largest |analytic − numeric| / max(|analytic|, |numeric|, tiny) over every element.
  public var maxRelativeError: Scalar
  /// The gradients the tape computed, one per input.
  public var analytic: [Tensor<Scalar>]
  /// The central finite-difference estimates, one per input.
  public var numeric: [Tensor<Scalar>]

  /// Whether every element satisfies |analytic − numeric| ≤ atol + rtol · |numeric| (PyTorch's
  /// `gradcheck` criterion; its defaults are atol 1e-5, rtol 1e-3).
  public func passes(absoluteTolerance atol: Scalar = 1e-5, relativeTolerance rtol: Scalar = 1e-3)
    -> Bool
  {
    zip(analytic, numeric).allSatisfy { a, n in
      zip(a.scalars, n.scalars).allSatisfy { abs($0 - $1) <= atol + rtol * abs($1) }
    }
  }

  /// A one-line summary of both errors.
  public var description: String {
    "gradient check: max absolute error \(maxAbsoluteError), max relative error \(maxRelativeError)"
  }
}

/// Compares the gradients the tape computes for `f` at `points` with central finite differences
/// `(f(x + ε) − f(x − ε)) / 2ε`, element by element, and reports the largest errors.
///
/// Use `Double`: in `Float` the finite differences themselves are too inaccurate to check much.
/// `f` must return one element (reduce it, or weight its outputs by a fixed random tensor, which
/// checks every output at once). Costs two evaluations of `f` per input element.
public func checkGradients<Scalar>(
  at points: [Tensor<Scalar>], epsilon: Scalar = 1e-6, of f: ([Tensor<Scalar>]) -> Tensor<Scalar>
) -> GradientCheckReport<Scalar> {
  let analytic = gradients(at: points, of: f)
  var numeric: [Tensor<Scalar>] = []
  var maxAbsolute: Scalar = 0
  var maxRelative: Scalar = 0
  withoutRecording {
    for (which, point) in points.enumerated() {
      var estimate = [Scalar](repeating: 0, count: point.count)
      for element in 0..<point.count {
        var shifted = points
        shifted[which].elements[element] = point.scalars[element] + epsilon
        let plus = f(shifted).scalar
        shifted[which].elements[element] = point.scalars[element] - epsilon
        let minus = f(shifted).scalar
        estimate[element] = (plus - minus) / (2 * epsilon)
        let a = analytic[which].scalars[element]
        let difference = abs(a - estimate[element])
        maxAbsolute = max(maxAbsolute, difference)
        let scale = max(abs(a), abs(estimate[element]), Scalar.leastNormalMagnitude)
        maxRelative = max(maxRelative, difference / scale)
      }
      numeric.append(Tensor(uncheckedShape: point.shape, scalars: estimate))
    }
  }
  return GradientCheckReport(
    maxAbsoluteError: maxAbsolute, maxRelativeError: maxRelative, analytic: analytic,
    numeric: numeric)
}

/// ``checkGradients(at:epsilon:of:)`` for a function of one tensor.
public func checkGradient<Scalar>(
  at x: Tensor<Scalar>, epsilon: Scalar = 1e-6, of f: (Tensor<Scalar>) -> Tensor<Scalar>
) -> GradientCheckReport<Scalar> {
  checkGradients(at: [x], epsilon: epsilon) { f($0[0]) }
}
