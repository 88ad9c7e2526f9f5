import Tapestry

// Fit a one-layer tanh network by gradient descent; the tape derives every gradient.
let x = Tensor<Double>.normal([8, 3], seed: 1)
let y = tanh(matmul(x, Tensor([[0.5], [-1.0], [2.0]])))
var w = Tensor<Double>.zeros([3, 1])
for step in 0..<200 {
  let (loss, dw) = valueWithGradient(at: w) { w in
    meanSquaredError(predicted: tanh(matmul(x, w)), expected: y)
  }
  w = w - 0.5 * dw
  if step % 50 == 0 { print("step \(step): loss \(loss.scalar)") }
}
print("learned weights:", w)
