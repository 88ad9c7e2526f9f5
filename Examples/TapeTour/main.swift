// A walk through the tape, entry by entry: the program behind Docs/Autodiff.md.
import Tapestry

let tape = Tape<Double>()
let (x, w, loss) = tape.record { () -> (Tensor<Double>, Tensor<Double>, Tensor<Double>) in
  let x = tape.watch(Tensor([0.5, -1.0]))
  let w = tape.watch(Tensor([2.0, 3.0]))
  let hidden = tanh(x * w)
  return (x, w, (hidden * hidden + x).sum())
}

print("loss =", loss.scalar)
print(tape)
print()
print(tape.graphviz(name: "tour"))
print()

let grads = tape.gradients(of: loss, at: [x, w])
print("dloss/dx =", grads[0])
print("dloss/dw =", grads[1])
print("entries left after the backward pass:", tape.entries.count)

// The same numbers from the everyday entry point, and a second derivative by nesting it.
let (dx, dw) = gradient(at: Tensor([0.5, -1.0]), Tensor([2.0, 3.0])) { x, w in
  let hidden = tanh(x * w)
  return (hidden * hidden + x).sum()
}
print("gradient(at:_:of:) agrees:", dx == grads[0] && dw == grads[1])

let curvature = gradient(at: Tensor<Double>([0.5, -1.0])) { x in
  gradient(at: x) { x in
    let hidden = tanh(x * Tensor([2.0, 3.0]))
    return (hidden * hidden + x).sum()
  }.sum()
}
print("d/dx of (dloss/dx) summed =", curvature)
