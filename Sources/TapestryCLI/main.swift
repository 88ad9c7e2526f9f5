import Tapestry

let x = Tensor<Double>([1, 2, 3])
let (value, grad) = valueWithGradient(at: x) { x in (tanh(x) * x).sum() }
print(value.scalars, grad.scalars)
let second = gradient(at: x) { x in gradient(at: x) { x in (x * x * x).sum() }.sum() }
print("second derivative of x^3 (6x):", second.scalars)
let mixed = gradient(at: x) { x in (gradient(at: x) { y in (exp(y) * x).sum() } * x).sum() }
print(mixed.scalars)
let tape = Tape<Double>()
let (w, y) = tape.record { () -> (Tensor<Double>, Tensor<Double>) in
  let w = tape.watch(x)
  return (w, (tanh(w * w) + w).sum())
}
print(tape)
print(tape.gradients(of: y, at: [w]))
