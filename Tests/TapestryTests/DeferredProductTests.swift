import Testing

@testable import Tapestry

/// A weight multiplied at several steps by inputs of a few rows, as a recurrent weight is.
struct ShallowSteps: CustomTestStringConvertible, Sendable {
  let batch: Int
  let steps: Int
  let transposeB: Bool

  var testDescription: String {
    "\(steps) steps of batch \(batch)\(transposeB ? ", x·Wᵀ" : ", x·W")"
  }

  let inputs = 5
  let outputs = 7

  /// The weight: `[outputs, inputs]` for `x·Wᵀ`, `[inputs, outputs]` for `x·W`.
  var weightShape: TensorShape { transposeB ? [outputs, inputs] : [inputs, outputs] }
}

/// Batches up to `deepestDeferred` (deferred) and above (multiplied at once), step counts that stay
/// below `flushDepth` rows and that cross it (so pending products are multiplied early too).
private let shallowSteps: [ShallowSteps] = [1, 3, 32, 64, 65].flatMap { batch in
  [5, 300].flatMap { steps in
    [true, false].map { ShallowSteps(batch: batch, steps: steps, transposeB: $0) }
  }
}

/// The inputs `x_t` `[batch, inputs]` and the constant weights `c_t` `[batch, outputs]` of the
/// loss `Σ_t sum((x_t·op(W)) ⊙ c_t)`, whose gradient with respect to `op(W)` is `Σ_t x_tᵀ·c_t`.
private func stepValues(_ case: ShallowSteps) -> (x: [Tensor<Double>], c: [Tensor<Double>]) {
  var generator = SeededGenerator(seed: 11)
  let x = (0..<`case`.steps).map { _ in
    Tensor<Double>.uniform([`case`.batch, `case`.inputs], in: -1..<1, using: &generator)
  }
  let c = (0..<`case`.steps).map { _ in
    Tensor<Double>.uniform([`case`.batch, `case`.outputs], in: -1..<1, using: &generator)
  }
  return (x, c)
}

/// `Σ_t x_tᵀ·c_t`, laid out as the weight is, summed element by element.
private func referenceGradient(_ case: ShallowSteps, x: [Tensor<Double>], c: [Tensor<Double>])
  -> [Double]
{
  var total = [Double](repeating: 0, count: `case`.inputs * `case`.outputs)
  for (xs, cs) in zip(x, c) {
    for row in 0..<`case`.batch {
      for i in 0..<`case`.inputs {
        for o in 0..<`case`.outputs {
          let term = xs.scalars[row * `case`.inputs + i] * cs.scalars[row * `case`.outputs + o]
          total[`case`.transposeB ? o * `case`.inputs + i : i * `case`.outputs + o] += term
        }
      }
    }
  }
  return total
}

private func loss(
  _ case: ShallowSteps, weight: Tensor<Double>, x: [Tensor<Double>], c: [Tensor<Double>]
) -> Tensor<Double> {
  zip(x, c).map { xs, cs in (matmul(xs, weight, transposeB: `case`.transposeB) * cs).sum() }
    .reduce(Tensor(0), +)
}

/// A tape holding the loss of `steps` recorded with a watched weight drawn from `seed`, and the
/// reference gradient.
private func recordedLoss(_ steps: ShallowSteps, seed: UInt64)
  -> (tape: Tape<Double>, weight: Tensor<Double>, value: Tensor<Double>, expected: [Double])
{
  let (x, c) = stepValues(steps)
  let tape = Tape<Double>()
  let (weight, value) = tape.record { () -> (Tensor<Double>, Tensor<Double>) in
    let weight = tape.watch(Tensor<Double>.uniform(steps.weightShape, in: -1..<1, seed: seed))
    return (weight, loss(steps, weight: weight, x: x, c: c))
  }
  return (tape, weight, value, referenceGradient(steps, x: x, c: c))
}

private func expectClose(_ actual: [Double], _ expected: [Double]) {
  #expect(actual.count == expected.count)
  let error = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
  #expect(error < 1e-10, "largest difference \(error)")
}

@Suite("Weight gradients of shallow products, deferred to one product")
struct DeferredProductTests {
  @Test("a weight's total is the sum of its steps' products", arguments: shallowSteps)
  func totalMatchesTheSumOfTheSteps(_ case: ShallowSteps) {
    let (x, c) = stepValues(`case`)
    let weight = Tensor<Double>.uniform(`case`.weightShape, in: -1..<1, seed: 3)
    let dW = gradient(at: weight) { loss(`case`, weight: $0, x: x, c: c) }
    #expect(dW.shape == `case`.weightShape)
    expectClose(dW.scalars, referenceGradient(`case`, x: x, c: c))
  }

  @Test("the store keeps shallow products until the weight's position, or until they are deep")
  func storeDefersAndMultiplies() {
    let store = DeferredProducts<Double>()
    let a = Tensor<Double>.uniform([1, 4], in: -1..<1, seed: 1)
    let b = Tensor<Double>.uniform([1, 3], in: -1..<1, seed: 2)
    #expect(store.defers(a, b, total: nil, shape: [4, 3]))
    let deepest = DeferredProducts<Double>.deepestDeferred
    #expect(
      store.defers(
        Tensor.zeros([deepest, 4]), Tensor.zeros([deepest, 3]), total: nil, shape: [4, 3]))
    #expect(
      !store.defers(
        Tensor.zeros([deepest + 1, 4]), Tensor.zeros([deepest + 1, 3]), total: nil, shape: [4, 3]))
    #expect(!store.defers(a, Tensor.zeros([2, 3]), total: nil, shape: [4, 3]))
    var total: Tensor<Double>? = nil
    store.add(a, b, at: 5, into: &total)
    store.add(a, b, at: 5, into: &total)
    #expect(total == nil)
    #expect(store.highestPosition == 5)
    store.flush(at: 4, into: &total)
    #expect(total == nil)
    store.flush(at: 5, into: &total)
    #expect(store.highestPosition == -1)
    let expected = (0..<4).flatMap { i in (0..<3).map { j in 2 * a.scalars[i] * b.scalars[j] } }
    expectClose(total?.scalars ?? [], expected)

    var deep: Tensor<Double>? = nil
    for _ in 0..<DeferredProducts<Double>.flushDepth { store.add(a, b, at: 2, into: &deep) }
    let depth = Double(DeferredProducts<Double>.flushDepth)
    expectClose(deep?.scalars ?? [], expected.map { $0 / 2 * depth })
    store.flush(at: 2, into: &deep)
    expectClose(deep?.scalars ?? [], expected.map { $0 / 2 * depth })
  }

  @Test("pending products join the gradient that reached the weight another way")
  func pendingProductsAddToOtherGradients() {
    let steps = ShallowSteps(batch: 1, steps: 20, transposeB: true)
    let (x, c) = stepValues(steps)
    let weight = Tensor<Double>.uniform(steps.weightShape, in: -1..<1, seed: 4)
    let dW = gradient(at: weight) { w in loss(steps, weight: w, x: x, c: c) + (w * w).sum() }
    let expected = zip(referenceGradient(steps, x: x, c: c), weight.scalars).map { $0 + 2 * $1 }
    expectClose(dW.scalars, expected)
  }

  @Test("a weight computed from another passes its complete gradient on")
  func pendingProductsFlowThroughTheOpThatMadeTheWeight() {
    let steps = ShallowSteps(batch: 2, steps: 30, transposeB: false)
    let (x, c) = stepValues(steps)
    let base = Tensor<Double>.uniform(steps.weightShape, in: -1..<1, seed: 5)
    let dBase = gradient(at: base) { b in loss(steps, weight: b * 3, x: x, c: c) }
    expectClose(dBase.scalars, referenceGradient(steps, x: x, c: c).map { 3 * $0 })
  }

  @Test("a gradient hook on the weight sees the complete gradient")
  func hookSeesTheCompleteGradient() {
    let (tape, weight, value, expected) = recordedLoss(
      ShallowSteps(batch: 1, steps: 12, transposeB: true), seed: 6)
    let seen = Box()
    tape.addGradientHook(to: weight) { gradient in
      seen.scalars = gradient.scalars
      return gradient
    }
    let dW = tape.gradients(of: value, at: [weight])[0]
    expectClose(seen.scalars, expected)
    expectClose(dW.scalars, expected)
  }

  @Test("a retained tape gives the same gradient on a second pass, and a graph-creating pass too")
  func retainedAndGraphCreatingPasses() {
    let (tape, weight, value, expected) = recordedLoss(
      ShallowSteps(batch: 1, steps: 10, transposeB: true), seed: 7)
    let first = tape.gradients(of: value, at: [weight], retainTape: true)[0]
    let second = tape.gradients(of: value, at: [weight], retainTape: true)[0]
    let recorded = tape.gradients(of: value, at: [weight], createGraph: true)[0]
    expectClose(first.scalars, expected)
    #expect(second.scalars == first.scalars)
    expectClose(recorded.scalars, expected)
  }

  @Test("a shallow recurrent chain's weight gradient passes a finite-difference check")
  func recurrentChainPassesGradientCheck() {
    var generator = SeededGenerator(seed: 8)
    let inputs = (0..<6).map { _ in Tensor<Double>.uniform([1, 3], in: -1..<1, using: &generator) }
    let weight = Tensor<Double>.uniform([3, 3], in: -0.8..<0.8, using: &generator)
    func chain(_ w: Tensor<Double>) -> Tensor<Double> {
      var state = Tensor<Double>.zeros([1, 3])
      for input in inputs { state = tanh(matmul(state, w, transposeB: true) + input) }
      return (state * state).sum()
    }
    let analytic = gradient(at: weight, of: chain)
    let step = 1e-6
    let numeric = weight.scalars.indices.map { index -> Double in
      var up = weight.scalars
      var down = weight.scalars
      up[index] += step
      down[index] -= step
      let plus = chain(Tensor(shape: weight.shape, scalars: up)).scalar
      let minus = chain(Tensor(shape: weight.shape, scalars: down)).scalar
      return (plus - minus) / (2 * step)
    }
    let error = zip(analytic.scalars, numeric).map { abs($0 - $1) }.max() ?? 0
    #expect(error < 1e-8, "largest difference \(error)")
  }
}

/// Where a gradient hook leaves what it saw.
private final class Box {
  var scalars: [Double] = []
}
