import Tapestry
import Testing

@Suite("Anomaly detection")
struct AnomalyDetectionTests {
  @Test func forwardAnomalyNamesTheOpItsEntryAndInputShapes() {
    let x = Tensor<Double>([1, 2])
    // Entries: %0 the variable, %1 x·2, %2 − 2, %3 log, which meets log(0) = −inf.
    let expected = AnomalyError(op: "log", tapeIndex: 3, inputShapes: [[2]], phase: .forward)
    #expect(throws: expected) {
      try withAnomalyDetection { gradient(at: x) { x in log(x * 2 - 2).sum() } }
    }
  }

  @Test func logOfZeroIsCaughtWhereItHappens() throws {
    let x = Tensor<Double>([1, 0, 2])
    do {
      _ = try withAnomalyDetection { valueWithGradient(at: x) { log($0).sum() } }
      Issue.record("log(0) was not reported")
    } catch let anomaly as AnomalyError {
      #expect(anomaly == AnomalyError(op: "log", tapeIndex: 1, inputShapes: [[3]], phase: .forward))
      #expect(anomaly.description.contains("log (tape entry %1, inputs [3])"))
      #expect(anomaly.description.contains("forward pass"))
    }
  }

  @Test func backwardAnomalyNamesThePullbackThatProducedIt() {
    // √x is finite at 0 but its derivative 1 / (2√x) is not: the forward pass is clean.
    let x = Tensor<Double>([0, 4])
    let expected = AnomalyError(op: "sqrt", tapeIndex: 1, inputShapes: [[2]], phase: .backward)
    #expect(throws: expected) {
      try withAnomalyDetection { gradient(at: x) { sqrt($0).sum() } }
    }
  }

  @Test func backwardAnomalyFromZeroTimesInfinityInACustomPrimitive() {
    // A primitive whose pullback multiplies by an infinite slope. The scale by 0 below it then
    // turns that inf into 0·inf = NaN, which is not blamed on the scale: its input was not finite.
    func step(_ x: Tensor<Double>) -> Tensor<Double> {
      withoutDerivative(at: x).recorded(as: "hardStep", from: x) { g, _ in
        [g * Tensor(repeating: .infinity, shape: x.shape)]
      }
    }
    let x = Tensor<Double>([1, 2])
    let expected = AnomalyError(
      op: "hardStep", tapeIndex: 2, inputShapes: [[2]], phase: .backward)
    #expect(throws: expected) {
      try withAnomalyDetection { gradient(at: x) { step($0 * 0).sum() } }
    }
  }

  @Test func aTapeRecordedByHandIsChecked() {
    let tape = Tape<Double>()
    #expect(
      throws: AnomalyError(op: "div", tapeIndex: 2, inputShapes: [[1], [1]], phase: .forward)
    ) {
      try withAnomalyDetection {
        tape.record {
          let x = tape.watch(Tensor([1]))
          let zero = tape.watch(Tensor([0]))
          _ = x / zero
        }
      }
    }
  }

  @Test func cleanRunsReturnTheirResultAndNonFiniteInputsAreNotBlamed() throws {
    let x = Tensor<Double>([1, 2])
    let (value, grad) = try withAnomalyDetection {
      valueWithGradient(at: x) { ($0 * $0).sum() }
    }
    #expect(value.scalar == 5 && grad.scalars == [2, 4])
    // The NaN comes in with the data; the ops that pass it on did not produce it.
    let nan = try withAnomalyDetection {
      withoutRecording { exp(Tensor<Double>([.nan])) }
    }
    #expect(nan.scalars[0].isNaN)
    let passedOn = try withAnomalyDetection {
      gradient(at: x) { ($0 + Tensor([Double.nan, 0])).sum() }
    }
    #expect(passedOn.scalars == [1, 1])
  }

  @Test func withoutDetectionNothingIsThrownAndNaNFlowsThrough() {
    let grad = gradient(at: Tensor<Double>([0])) { log($0).sum() }
    #expect(grad.scalars == [.infinity])
  }

  @Test func secondDerivativesAreCheckedToo() {
    // d/dx (d/dx √x) at 0 is infinite: the inner gradient 1/(2√x) is already infinite, so the
    // first pullback that produced it, √x's, is named.
    let x = Tensor<Double>([0])
    #expect(throws: AnomalyError.self) {
      try withAnomalyDetection {
        gradient(at: x) { x in gradient(at: x) { sqrt($0).sum() }.sum() }
      }
    }
  }
}
