// Defining a new differentiable primitive, the Tapestry analogue of `torch.autograd.Function`:
// compute the forward value however you like, then record it with its pullback.
import Foundation
import Tapestry

/// The "swish" activation x·σ(x), written as one primitive with a hand-derived pullback instead
/// of a composition of ops: one tape entry instead of four.
///
/// d/dx x·σ(x) = σ(x) + x·σ(x)·(1 − σ(x)). The pullback is written with Tensor ops, so the
/// primitive also has correct second derivatives.
func swish(_ x: Tensor<Double>) -> Tensor<Double> {
  let value = Tensor(shape: x.shape, scalars: x.scalars.map { $0 / (1 + Foundation.exp(-$0)) })
  return value.recorded(as: "swish", from: x) { gradient, _ in
    let sigma = 1 / (1 + exp(-x))
    return [gradient * (sigma + x * sigma * (1 - sigma))]
  }
}

let x = Tensor<Double>([-2, -0.5, 0, 0.5, 2])
print("swish(x) =", swish(x))
print("d/dx Σ swish(x) =", gradient(at: x) { swish($0).sum() })

// Check the hand-written pullback against finite differences, first and second order.
let first = checkGradient(at: x) { swish($0).sum() }
print("first order:", first, first.passes() ? "(passes)" : "(FAILS)")
let second = checkGradient(at: x) { x in gradient(at: x) { swish($0).sum() }.sum() }
print("second order:", second, second.passes() ? "(passes)" : "(FAILS)")

// A wrong pullback is caught: here the σ(1 − σ) term is forgotten.
func brokenSwish(_ x: Tensor<Double>) -> Tensor<Double> {
  let value = Tensor(shape: x.shape, scalars: x.scalars.map { $0 / (1 + Foundation.exp(-$0)) })
  return value.recorded(as: "brokenSwish", from: x) { gradient, _ in
    [gradient * (1 / (1 + exp(-x)))]
  }
}
let broken = checkGradient(at: x) { brokenSwish($0).sum() }
print("broken pullback:", broken, broken.passes() ? "(passes)" : "(FAILS, as it should)")
