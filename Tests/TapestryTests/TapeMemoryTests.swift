import Tapestry
import Testing

/// Holds a tape weakly, so a test can tell whether anything still keeps it alive.
private final class WeakTape<Scalar: TensorScalar> {
  weak var tape: Tape<Scalar>?
}

/// Checks that nothing outlives a training step: no tape is kept alive by the tensors a step
/// leaves behind (gradients, updated parameters, the loss), and every step records the same
/// number of entries, so memory stays flat however long training runs. No timing.
@Suite("Tape memory")
struct TapeMemoryTests {
  @Test func everyTapeOfAnLSTMTrainingRunIsFreed() {
    let cell = LSTMCell<Float>(inputSize: 2, hiddenSize: 3, seed: 7)
    let optimizer = Adam<Float>(learningRate: 0.01)
    let inputs = (0..<4).map { Tensor<Float>.uniform([2, 2], in: -1..<1, seed: UInt64($0)) }
    let target = Tensor<Float>.uniform([2, 3], in: -0.5..<0.5, seed: 9)
    var liveTapes = 0
    var entryCounts = Set<Int>()
    for _ in 0..<1000 {
      let probe = WeakTape<Float>()
      let (loss, gradients) = valueWithGradient(at: cell) { cell in
        var state = cell.zeroState(batchSize: 2)
        for input in inputs { state = cell(input, state).state }
        let loss = (state.hidden - target).squared().mean()
        probe.tape = Tape<Float>.active
        entryCounts.insert(Tape<Float>.active?.entryCount ?? -1)
        return loss
      }
      optimizer.update(gradients)
      if probe.tape != nil { liveTapes += 1 }
      #expect(!loss.isRecorded)
    }
    #expect(liveTapes == 0)
    #expect(entryCounts.count == 1 && !entryCounts.contains(-1))
    for named in namedParameters(of: cell, as: Float.self) {
      #expect(!named.parameter.value.isRecorded, "\(named.name)")
    }
  }

  @Test func aBackwardPassEmptiesTheTapeUnlessToldToKeepIt() {
    let tape = Tape<Double>()
    let (x, y) = tape.record { () -> (Tensor<Double>, Tensor<Double>) in
      let x = tape.watch(Tensor([1, 2, 3]))
      return (x, (exp(x) * x).sum())
    }
    _ = tape.gradients(of: y, at: [x], retainTape: true)
    #expect(tape.entryCount == 4 && tape.entries.map(\.op) == ["variable", "exp", "mul", "sum"])
    let again = tape.gradients(of: y, at: [x])
    #expect(again[0].isClose(to: exp(Tensor([1, 2, 3])) * Tensor([2, 3, 4])))
    #expect(tape.entryCount == 0)
  }

  @Test func nestedDerivativesFreeTheirTapes() {
    let probe = WeakTape<Double>()
    let second = gradient(at: Tensor<Double>([1, 2])) { x in
      probe.tape = Tape<Double>.active
      return gradient(at: x) { (tanh($0) * $0).sum() }.sum()
    }
    #expect(second.shape == [2])
    #expect(probe.tape == nil)
  }
}
