import Foundation
import Synchronization
import Tapestry
import TapestryTestSupport
import Testing

@Suite("Reverse-mode autodiff on the tape")
struct AutodiffTests {
  @Test func gradientOfSquareSum() {
    let x = Tensor<Double>([1, -2, 3])
    let (value, grad) = valueWithGradient(at: x) { ($0 * $0).sum() }
    #expect(value.scalar == 14)
    #expect(grad.scalars == [2, -4, 6])
    #expect(!grad.isRecorded && !value.isRecorded)
  }

  @Test func tensorUsedSeveralTimesAccumulates() {
    let x = Tensor<Double>([0.5, 2])
    // f = Σ x·x·x + x  →  f' = 3x² + 1, with x read four times.
    let grad = gradient(at: x) { x in (x * x * x + x).sum() }
    expectClose(grad, Tensor<Double>([1.75, 13]))
  }

  @Test func twoAndThreeArgumentForms() {
    let a = Tensor<Double>([1, 2])
    let b = Tensor<Double>([3, 4])
    let c = Tensor<Double>([5, 6])
    let (ga, gb) = gradient(at: a, b) { ($0 * $1).sum() }
    #expect(ga == b && gb == a)
    let (value, (da, db, dc)) = valueWithGradient(at: a, b, c) { ($0 * $1 * $2).sum() }
    #expect(value.scalar == 1 * 3 * 5 + 2 * 4 * 6)
    #expect(da == b * c && db == a * c && dc == a * b)
    let grads = gradients(at: [a, b, c]) { xs in (xs[0] + xs[1] * xs[2]).sum() }
    #expect(grads == [Tensor([1, 1]), c, b])
  }

  @Test func unusedInputGetsZeros() {
    let (ga, gb) = gradient(
      at: Tensor<Double>([1, 2]), Tensor<Double>(shape: [2, 2], scalars: [1, 2, 3, 4])
    ) {
      a, _ in a.sum()
    }
    #expect(ga.scalars == [1, 1])
    #expect(gb == Tensor.zeros([2, 2]))
  }

  @Test func broadcastGradientsAreSummedBackToInputShape() {
    let matrix = randomTensor([3, 4], seed: 3)
    let row = randomTensor([4], seed: 4)
    let column = randomTensor([3, 1], seed: 5)
    let (gm, gr, gc) = gradient(at: matrix, row, column) { m, r, c in (m * r + c).sum() }
    #expect(gm.shape == [3, 4] && gr.shape == [4] && gc.shape == [3, 1])
    expectClose(gr, matrix.sum(alongAxis: 0))
    expectClose(gc, Tensor(shape: [3, 1], scalars: [4, 4, 4]))
    expectClose(gm, row.broadcasted(to: [3, 4]))
  }

  @Test func secondDerivativeThroughNestedGradients() {
    let x = Tensor<Double>([1, 2, 3])
    let second = gradient(at: x) { x in gradient(at: x) { ($0 * $0 * $0).sum() }.sum() }
    expectClose(second, Tensor([6, 12, 18]))
    let third = gradient(at: x) { x in
      gradient(at: x) { x in gradient(at: x) { ($0 * $0 * $0 * $0).sum() }.sum() }.sum()
    }
    expectClose(third, x * 24)
  }

  @Test func innerDerivativeTreatsCapturedOuterValuesAsConstantsButOuterSeesThem() {
    // g(x) = Σ (∂/∂y Σ eʸ·x)|_{y=x} · x = Σ eˣ·x²;  g'(x) = eˣ(x² + 2x).
    let x = Tensor<Double>([0.5, 1, 1.5])
    let grad = gradient(at: x) { x in (gradient(at: x) { y in (exp(y) * x).sum() } * x).sum() }
    expectClose(grad, Tensor(x.scalars.map { Foundation.exp($0) * ($0 * $0 + 2 * $0) }))
  }

  @Test func withoutDerivativeStopsTheGradient() {
    let x = Tensor<Double>([2, 3])
    let grad = gradient(at: x) { x in (x * withoutDerivative(at: x)).sum() }
    #expect(grad == x)
  }

  @Test func withoutRecordingRecordsNothing() {
    let tape = Tape<Double>()
    tape.record {
      let x = tape.watch(Tensor([1, 2]))
      let constant = withoutRecording { (x * x).sum() }
      #expect(!constant.isRecorded)
      #expect(tape.entries.count == 1)
      let recorded = (x * x).sum()
      #expect(recorded.isRecorded)
      #expect(tape.entries.count == 3)
    }
  }

  @Test func tapeIsPrintableLinePerEntry() {
    let tape = Tape<Double>()
    tape.record {
      let x = tape.watch(Tensor([1, 2, 3]))
      _ = (tanh(x * x) + 1).sum()
    }
    let lines = tape.description.split(separator: "\n").map(String.init)
    #expect(lines.count == 6)
    #expect(lines[0] == "Tape<float64> with 5 entries")
    #expect(lines[1].hasPrefix("  %0 = variable") && lines[1].hasSuffix("() -> [3]"))
    #expect(lines[2].contains("mul") && lines[2].hasSuffix("(0, 0) -> [3]"))
    #expect(lines[3].contains("tanh") && lines[3].hasSuffix("(1) -> [3]"))
    #expect(lines[5].contains("sum") && lines[5].hasSuffix("(3) -> []"))
  }

  /// Entries store only a constant input's shape and read a recorded input's from its own entry;
  /// every input's shape must still come back, constants in any slot included.
  @Test func entriesGiveTheShapeOfEveryInput() {
    let tape = Tape<Double>()
    tape.record {
      let x = tape.watch(Tensor([[1, 2, 3], [4, 5, 6]]))
      let row = Tensor<Double>([10, 20, 30])
      _ = row * x
      _ = x + row
      _ = x.recorded(as: "three", from: row, Tensor([1]), x) { g, _ in [nil, nil, g] }
      _ = tape.watch(x)
    }
    let entries = tape.entries
    #expect(entries.map(\.op) == ["variable", "mul", "add", "three", "variable"])
    #expect(entries[1].inputs == [nil, 0] && entries[1].inputShapes == [[3], [2, 3]])
    #expect(entries[2].inputs == [0, nil] && entries[2].inputShapes == [[2, 3], [3]])
    #expect(entries[3].inputs == [nil, nil, 0])
    #expect(entries[3].inputShapes == [[3], [1], [2, 3]])
    #expect(entries[4].inputs == [0] && entries[4].inputShapes == [[2, 3]])
    #expect(entries.map(\.outputShape) == [[2, 3], [2, 3], [2, 3], [2, 3], [2, 3]])
  }

  /// Custom primitives of one or two inputs are recorded without arrays of positions and shapes;
  /// a constant in either slot must still be recorded as one, and its gradient dropped.
  @Test(
    "a two-input primitive records its constant slot and routes the gradients",
    arguments: [(true, true), (true, false), (false, true)])
  func twoInputPrimitiveWithConstants(recordFirst: Bool, recordSecond: Bool) {
    func product(_ x: Tensor<Double>, _ y: Tensor<Double>) -> Tensor<Double> {
      Tensor(shape: x.shape, scalars: zip(x.scalars, y.scalars).map(*))
        .recorded(as: "product", from: x, y) { g, _ in [g * y, g * x] }
    }
    let tape = Tape<Double>()
    let first = Tensor<Double>([1, 2, 3])
    let second = Tensor<Double>([4, 5, 6])
    let (x, y, loss) = tape.record { () -> (Tensor<Double>, Tensor<Double>, Tensor<Double>) in
      let x = recordFirst ? tape.watch(first) : first
      let y = recordSecond ? tape.watch(second) : second
      return (x, y, product(x, y).sum())
    }
    let entry = tape.entries.first { $0.op == "product" }
    let firstPosition = recordFirst ? 0 : nil
    let secondPosition = recordSecond ? (recordFirst ? 1 : 0) : nil
    #expect(entry?.inputs == [firstPosition, secondPosition])
    #expect(entry?.inputShapes == [[3], [3]])
    let recorded = [recordFirst ? x : nil, recordSecond ? y : nil].compactMap { $0 }
    let gradients = tape.gradients(of: loss, at: recorded)
    let expected = [recordFirst ? second : nil, recordSecond ? first : nil].compactMap { $0 }
    #expect(gradients.map(\.scalars) == expected.map(\.scalars))
  }

  @Test func graphvizDeclaresEveryNodeItConnects() {
    let tape = Tape<Float>()
    tape.record {
      let x = tape.watch(Tensor([1, 2, 3]))
      let w = tape.watch(Tensor([4, 5, 6]))
      _ = tanh(x * w + x).sum()
    }
    let dot = tape.graphviz()
    #expect(dot.hasPrefix("digraph \"tape\" {") && dot.hasSuffix("}"))
    #expect(dot.filter { $0 == "{" }.count == dot.filter { $0 == "}" }.count)
    let declared = Set(
      dot.split(separator: "\n").compactMap { line -> String? in
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("n"), trimmed.contains("[label=") else { return nil }
        return String(trimmed.prefix { $0 != " " })
      })
    #expect(declared.count == tape.entries.count)
    let edges = dot.split(separator: "\n").filter { $0.contains("->") }
    #expect(edges.count == 6)
    for edge in edges {
      let ends = edge.replacingOccurrences(of: ";", with: "").split(separator: " ").filter {
        $0 != "->"
      }
      #expect(ends.allSatisfy { declared.contains(String($0)) }, "\(edge)")
    }
  }

  @Test func gradientHooksReadAndReplaceGradients() {
    let tape = Tape<Double>()
    var seen: [Tensor<Double>] = []
    let (x, loss) = tape.record { () -> (Tensor<Double>, Tensor<Double>) in
      let x = tape.watch(Tensor([1, 2]))
      let hidden = x * 3
      tape.addGradientHook(to: hidden) { gradient in
        seen.append(gradient)
        return gradient * 10
      }
      return (x, (hidden * hidden).sum())
    }
    let grad = tape.gradients(of: loss, at: [x])[0]
    #expect(seen == [Tensor([6, 12])])
    // d loss/d x = 3 · (10 · 2 · hidden) once the hook has scaled the hidden gradient.
    #expect(grad == Tensor([180, 360]))
  }

  /// The recording tape belongs to the thread that called `record`: another thread sees none,
  /// and two threads record on two tapes at once, each getting the gradients it would alone.
  @Test func eachThreadRecordsOnItsOwnTape() {
    let tape = Tape<Double>()
    let activeElsewhere = tape.record { () -> Bool in
      let seen = Mutex(true)
      let done = DispatchSemaphore(value: 0)
      Thread {
        seen.withLock { $0 = Tape<Double>.active != nil }
        done.signal()
      }.start()
      done.wait()
      return seen.withLock { $0 }
    }
    #expect(!activeElsewhere)
    #expect(Tape<Double>.active == nil)

    let points = (0..<2).map { Tensor<Double>([1, 2, 3]) * Double($0 + 1) }
    @Sendable func gradientAlone(_ x: Tensor<Double>) -> Tensor<Double> {
      gradient(at: x) { x in (0..<200).reduce(x) { y, _ in tanh(y) * x }.sum() }
    }
    let alone = points.map(gradientAlone)
    let together = Mutex([Tensor<Double>?](repeating: nil, count: 2))
    DispatchQueue.concurrentPerform(iterations: 2) { k in
      let result = gradientAlone(points[k])
      together.withLock { $0[k] = result }
    }
    #expect(together.withLock { $0 } == alone)
  }

  /// Pullbacks of sigmoid, tanh and products write their result over the gradient they are
  /// handed; a gradient that something else still holds (a hook, a requested intermediate, the
  /// other branch of a sum) must be copied first, never changed under its holder.
  @Test func pullbacksThatOverwriteTheirGradientLeaveSharedGradientsIntact() {
    let tape = Tape<Double>()
    var seen: [Tensor<Double>] = []
    let (x, inner, loss) = tape.record { () -> (Tensor<Double>, Tensor<Double>, Tensor<Double>) in
      let x = tape.watch(Tensor([0.5, -1, 2]))
      let inner = tanh(x)
      let activated = sigmoid(inner)
      tape.addGradientHook(to: activated) { gradient in
        seen.append(gradient)
        return gradient
      }
      // `inner` feeds both terms: the sum hands one gradient buffer to both branches.
      let product = activated * inner
      return (x, inner, (product + tanh(inner)).sum())
    }
    let gradients = tape.gradients(of: loss, at: [x, inner])
    let t = x.scalars.map { Foundation.tanh($0) }
    let s = t.map { 1 / (1 + Foundation.exp(-$0)) }
    #expect(seen == [Tensor(t)], "the hook's copy of ∂L/∂sigmoid is what arrived: inner")
    let innerGradient: [Double] = (0..<3).map { i in
      let throughSigmoid: Double = t[i] * s[i] * (1 - s[i])
      let tanhOfInner: Double = Foundation.tanh(t[i])
      return throughSigmoid + s[i] + (1 - tanhOfInner * tanhOfInner)
    }
    let xGradient: [Double] = (0..<3).map { i in innerGradient[i] * (1 - t[i] * t[i]) }
    #expect(gradients[1].isClose(to: Tensor(innerGradient), relativeTolerance: 1e-12))
    #expect(gradients[0].isClose(to: Tensor(xGradient), relativeTolerance: 1e-12))
  }

  @Test func nonRetainingBackwardReleasesTheTape() {
    weak var released: Tape<Double>?
    do {
      let tape = Tape<Double>()
      released = tape
      let (x, y) = tape.record { () -> (Tensor<Double>, Tensor<Double>) in
        let x = tape.watch(Tensor.ones([100]))
        return (x, tanh(x * x).sum())
      }
      _ = tape.gradients(of: y, at: [x])
      #expect(tape.entries.isEmpty)
      // Tensors recorded before the release are constants on the renewed tape.
      tape.record { #expect(!(y * 2).isRecorded) }
    }
    #expect(released == nil)
  }

  @Test func retainedTapeAllowsASecondBackwardPass() {
    let tape = Tape<Double>()
    let (x, y) = tape.record { () -> (Tensor<Double>, Tensor<Double>) in
      let x = tape.watch(Tensor([1, 2]))
      return (x, (x * x).sum())
    }
    let first = tape.gradients(of: y, at: [x], retainTape: true)[0]
    #expect(tape.entries.count == 3)
    let second = tape.gradients(of: y, at: [x])[0]
    #expect(first == second && first == Tensor([2, 4]))
  }

  @Test func vectorJacobianProductWithASeed() {
    let x = Tensor<Double>([1, 2, 3])
    let seed = Tensor<Double>([1, 0, -1])
    let (value, grads) = valueWithPullback(at: [x], seed: seed) { $0[0] * $0[0] }
    #expect(value == Tensor([1, 4, 9]))
    #expect(grads[0] == Tensor([2, 0, -6]))
  }

  @Test func longChainBackpropagatesWithoutRecursion() {
    // 50,000 steps of v ← v·a + b: 100,000 recorded ops. dv/dx = a^T.
    let steps = 50_000
    let a = 0.99999
    let (value, grad) = valueWithGradient(at: Tensor<Double>([0.5])) { x in
      var v = x
      for _ in 0..<steps { v = v * a + 0.001 }
      return v.sum()
    }
    let decay = Foundation.pow(a, Double(steps))
    expectClose(grad.scalar, decay, relativeTolerance: 1e-9)
    expectClose(value.scalar, 0.5 * decay + 0.001 * (1 - decay) / (1 - a), relativeTolerance: 1e-9)
  }

  @Test func worksInFloatToo() {
    let x = Tensor<Float>([0.5, -0.25])
    let grad = gradient(at: x) { tanh($0).sum() }
    let expected = x.scalars.map { 1 - Foundation.tanh($0) * Foundation.tanh($0) }
    #expect(zip(grad.scalars, expected).allSatisfy { abs($0 - $1) < 1e-6 })
  }

  @Test func gradientCheckerCatchesAWrongPullback() {
    func wrongCube(_ x: Tensor<Double>) -> Tensor<Double> {
      Tensor(shape: x.shape, scalars: x.scalars.map { $0 * $0 * $0 })
        .recorded(as: "cube", from: x) { g, _ in [g * 2 * x * x] }
    }
    let report = checkGradient(at: Tensor([0.5, 1.5])) { wrongCube($0).sum() }
    #expect(!report.passes())
    #expect(report.maxRelativeError > 0.3)
  }

  @Test func customPrimitiveWithDifferentiablePullbackHasSecondDerivatives() {
    func cube(_ x: Tensor<Double>) -> Tensor<Double> {
      Tensor(shape: x.shape, scalars: x.scalars.map { $0 * $0 * $0 })
        .recorded(as: "cube", from: x) { g, _ in [g * 3 * x * x] }
    }
    let x = randomTensor([4], seed: 8)
    expectGradientsMatchFiniteDifferences(at: [x]) { cube($0[0]) }
    expectSecondDerivativesMatchFiniteDifferences(at: [x]) { cube($0[0]) }
  }

  @Test func nonScalarGradientTraps() async {
    await #expect(processExitsWith: .failure) {
      _ = gradient(at: Tensor<Double>([1, 2])) { $0 * 2 }
    }
  }

  @Test func pullbackReturningTheWrongCountTraps() async {
    await #expect(processExitsWith: .failure) {
      _ = gradient(at: Tensor<Double>([1, 2])) { x in
        x.recorded(as: "broken", from: x) { g, _ in [g, g] }.sum()
      }
    }
  }
}
