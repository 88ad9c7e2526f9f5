import Foundation

/// The spectral radius and largest singular value of a recurrent weight, with the verdict they
/// suggest: a figure to log during training.
///
/// One step of h_t = φ(W h_{t−1} + …) multiplies the gradient by diag(φ′)·W; over many steps
/// its size follows the spectral radius ρ of W (for |φ′| ≤ 1, ρ < 1 makes it vanish), and the
/// largest singular value σ₁ ≥ ρ bounds any single step: σ₁ ≤ 1 rules out explosion. The
/// verdict is ρ's. For gated cells it is only a rough guide: the gates rescale every step, so
/// measure the flow itself with ``measureGradientFlow(through:inputs:initialState:loss:)``.
public struct RecurrentWeightDiagnosis: Sendable, Hashable, CustomStringConvertible {
  /// max |λᵢ|; for a stacked gate weight `[k·H, H]`, the largest over the `k` square blocks.
  public let spectralRadius: Double
  /// σ₁ = ‖W‖₂ of the whole weight.
  public let largestSingularValue: Double
  /// ``GradientVerdict/init(perStepFactor:tolerance:)`` of the spectral radius.
  public let verdict: GradientVerdict

  /// Diagnoses `weight`: a square `[H, H]` matrix, or gate blocks stacked as `[k·H, H]` (the
  /// `weight_hh` of `LSTMCell` or `GRUCell`). Traps on any other shape or a non-finite weight.
  public init<Scalar>(of weight: Tensor<Scalar>, tolerance: Double = 0.05) {
    precondition(
      weight.rank == 2 && weight.shape[1] > 0 && weight.shape[0] % weight.shape[1] == 0,
      "RecurrentWeightDiagnosis: weight shape \(weight.shape) is not [H, H] or [k·H, H]")
    let size = weight.shape[1]
    let blocks = weight.chunked(into: weight.shape[0] / size, alongAxis: 0)
    spectralRadius = blocks.map { Tapestry.spectralRadius(of: $0) }.max() ?? 0
    largestSingularValue = Tapestry.largestSingularValue(of: weight)
    verdict = GradientVerdict(perStepFactor: spectralRadius, tolerance: tolerance)
  }

  /// `ρ = 0.980, σ₁ = 1.310: stable`.
  public var description: String {
    String(format: "ρ = %.3f, σ₁ = %.3f: ", spectralRadius, largestSingularValue) + verdict.rawValue
  }
}
