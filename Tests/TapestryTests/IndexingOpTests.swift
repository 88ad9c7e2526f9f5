import Tapestry
import TapestryTestSupport
import Testing

@Suite struct IndexingOpTests {
  // MARK: - Slice and pad

  @Test func sliceKeepsTheAxis() {
    let x = Tensor<Float>([[1, 2, 3], [4, 5, 6]])
    #expect(x.slice(alongAxis: 1, 1..<3) == Tensor([[2, 3], [5, 6]]))
    #expect(x.slice(alongAxis: -1, ..<1) == Tensor([[1], [4]]))
    #expect(x.slice(alongAxis: 0, 1...) == Tensor([[4, 5, 6]]))
    #expect(x.slice(alongAxis: 0, 1..<1).shape == [0, 3])
    #expect(x.slice(alongAxis: 1, 0...2) == x)
  }

  @Test(
    arguments: [
      ([5], 0, 1..<4), ([3, 4], 0, 0..<2), ([3, 4], -1, 1..<3), ([2, 3, 4], 1, 1..<2),
      ([2, 3, 4], 2, 3..<4), ([2, 3, 4], -3, 1..<2),
    ])
  func sliceGradient(shape shapeSizes: [Int], axis: Int, range: Range<Int>) {
    let shape = TensorShape(shapeSizes)
    expectGradientsMatchFiniteDifferences(at: [randomTensor(shape)]) { xs in
      xs[0].slice(alongAxis: axis, range)
    }
    expectSecondDerivativesMatchFiniteDifferences(at: [randomTensor(shape)]) { xs in
      let part = xs[0].slice(alongAxis: axis, range)
      return part * part * part
    }
  }

  @Test func slicesAddIntoTheGradientOfTheWhole() {
    // The slices overlap, and the whole is also used directly, so each slice's gradient lands on
    // a total that already holds something; the tape keeps the total of a slice it returns.
    let tape = Tape<Double>()
    let (x, part, loss) = tape.record { () -> (Tensor<Double>, Tensor<Double>, Tensor<Double>) in
      let x = tape.watch(Tensor([[1, 2, 3], [4, 5, 6]]))
      let part = x.slice(alongAxis: 1, 0..<2)
      let loss = (part * 10).sum() + (x.slice(alongAxis: 1, 1..<3) * 100).sum() + x.sum()
      return (x, part, loss)
    }
    let gradients = tape.gradients(of: loss, at: [x, part])
    #expect(gradients[0] == Tensor([[11, 111, 101], [11, 111, 101]]))
    #expect(gradients[1] == Tensor([[10, 10], [10, 10]]))
  }

  @Test func padSurroundsWithZeros() {
    let x = Tensor<Float>([[1, 2], [3, 4]])
    #expect(
      x.padded(alongAxis: 1, before: 1, after: 2) == Tensor([[0, 1, 2, 0, 0], [0, 3, 4, 0, 0]]))
    #expect(x.padded(alongAxis: -2, before: 0, after: 1) == Tensor([[1, 2], [3, 4], [0, 0]]))
  }

  /// Every layout of runs and gaps, against the same tensor built by concatenating zeros, in a
  /// result whose buffer comes uninitialised from the allocator.
  @Test(arguments: [
    ([5], 0, 3, 0), ([5], 0, 0, 4), ([3, 17], 1, 5, 9), ([3, 17], 0, 2, 1), ([4, 3, 5], 1, 0, 2),
    ([4, 3, 5], 2, 7, 0), ([2, 33], 1, 31, 31),
  ])
  func padMatchesConcatenatedZeros(shape shapeSizes: [Int], axis: Int, before: Int, after: Int) {
    let x = randomTensor(TensorShape(shapeSizes), in: 1..<2)
    func zeros(_ count: Int) -> Tensor<Double> {
      var shape = x.shape
      shape[axis] = count
      return Tensor.zeros(shape)
    }
    let expected = concatenate([zeros(before), x, zeros(after)], alongAxis: axis)
    // A freed buffer of the result's size full of sevens, which the allocator is likely to hand
    // out again for the result: gaps left unwritten would show.
    #expect((Tensor<Double>.ones(expected.shape) * 7).scalars.allSatisfy { $0 == 7 })
    #expect(x.padded(alongAxis: axis, before: before, after: after) == expected)
  }

  @Test(arguments: [([3], 0, 2, 1), ([2, 3], 1, 0, 2), ([2, 3, 2], -2, 1, 1)])
  func padGradient(shape shapeSizes: [Int], axis: Int, before: Int, after: Int) {
    let shape = TensorShape(shapeSizes)
    expectGradientsMatchFiniteDifferences(at: [randomTensor(shape)]) { xs in
      xs[0].padded(alongAxis: axis, before: before, after: after)
    }
    expectSecondDerivativesMatchFiniteDifferences(at: [randomTensor(shape)]) { xs in
      let y = xs[0].padded(alongAxis: axis, before: before, after: after)
      return y * y * y
    }
  }

  @Test func sliceOutOfBoundsTraps() async {
    await #expect(processExitsWith: .failure) {
      _ = Tensor<Double>.zeros([2, 3]).slice(alongAxis: 1, 2..<4)
    }
  }

  // MARK: - Select and subscript

  @Test func selectDropsTheAxis() {
    let x = Tensor<Float>([[1, 2, 3], [4, 5, 6]])
    #expect(x.select(1, alongAxis: 0) == Tensor([4, 5, 6]))
    #expect(x.select(1, alongAxis: 1) == Tensor([2, 5]))
    #expect(x.select(-1, alongAxis: -1) == Tensor([3, 6]))
    #expect(x[0] == Tensor([1, 2, 3]))
    #expect(x[-1] == Tensor([4, 5, 6]))
    #expect(x[1][2] == Tensor(6))
    let sequence = Tensor<Float>([[[1, 2], [3, 4]], [[5, 6], [7, 8]], [[9, 10], [11, 12]]])
    #expect(sequence[2] == Tensor([[9, 10], [11, 12]]))
  }

  @Test func scalarSubscriptsStillReadAndWriteElements() {
    var v = Tensor<Double>([1, 2, 3])
    v[1] = 20
    let element: Double = v[2]
    #expect(v.scalars == [1, 20, 3] && element == 3)
    let m = Tensor<Double>([[1, 2], [3, 4]])
    #expect(m[1, 0] == 3)
  }

  @Test(arguments: [
    ([4], 2, 0), ([3, 2], 0, 0), ([3, 2], 1, -1), ([4, 2, 3], 3, 0), ([2, 4, 3], -2, 1),
  ])
  func selectGradient(shape shapeSizes: [Int], index: Int, axis: Int) {
    let shape = TensorShape(shapeSizes)
    expectGradientsMatchFiniteDifferences(at: [randomTensor(shape)]) { xs in
      xs[0].select(index, alongAxis: axis)
    }
    expectSecondDerivativesMatchFiniteDifferences(at: [randomTensor(shape)]) { xs in
      let y = xs[0].select(index, alongAxis: axis)
      return y * y * y
    }
  }

  @Test func subscriptGradientOverTimeSteps() {
    expectGradientsMatchFiniteDifferences(at: [randomTensor([3, 2, 2])]) { xs in
      xs[0][0] * xs[0][1] + tanh(xs[0][2])
    }
  }

  @Test func selectOutOfRangeTraps() async {
    await #expect(processExitsWith: .failure) {
      _ = Tensor<Double>.zeros([3, 2])[3]
    }
  }

  // MARK: - Gather and scatter

  @Test func gatherLooksUpRows() {
    let table = Tensor<Float>([[1, 2], [3, 4], [5, 6]])
    #expect(table.gathering(indices: [2, 0, 2]) == Tensor([[5, 6], [1, 2], [5, 6]]))
    #expect(
      table.gathering(indices: [1, 1], alongAxis: -1) == Tensor([[2, 2], [4, 4], [6, 6]]))
    let tokens = table.gathering(indices: [0, 1, 2, 0], indexShape: [2, 2])
    #expect(tokens == Tensor([[[1, 2], [3, 4]], [[5, 6], [1, 2]]]))
    #expect(table.gathering(indices: []).shape == [0, 2])
  }

  @Test func gatherGradientCountsRepeatedIndices() {
    let table = Tensor<Double>.zeros([4, 3])
    let g = gradient(at: table) { $0.gathering(indices: [1, 1, 3, 1]).sum() }
    #expect(g == Tensor([[0, 0, 0], [3, 3, 3], [0, 0, 0], [1, 1, 1]]))
  }

  @Test(
    arguments: [
      ([5, 3], [0, 4, 4, 2], [4], 0), ([5, 3], [1, 1, 0, 2, 1, 3], [2, 3], 0),
      ([2, 4, 3], [3, 0, 3], [3], 1), ([2, 4, 3], [2, 2], [1, 2], -1), ([4], [3, 3, 0], [3], 0),
    ])
  func gatherGradient(shape shapeSizes: [Int], indices: [Int], indexShape: [Int], axis: Int) {
    let shape = TensorShape(shapeSizes)
    expectGradientsMatchFiniteDifferences(at: [randomTensor(shape)]) { xs in
      xs[0].gathering(indices: indices, indexShape: indexShape, alongAxis: axis)
    }
    expectSecondDerivativesMatchFiniteDifferences(at: [randomTensor(shape)]) { xs in
      let y = xs[0].gathering(indices: indices, indexShape: indexShape, alongAxis: axis)
      return y * y * y
    }
  }

  @Test func scatterAddsRepeatedIndices() {
    let rows = Tensor<Float>([[1, 2], [3, 4], [5, 6]])
    #expect(
      rows.scattered(to: [2, 0, 2], size: 4) == Tensor([[3, 4], [0, 0], [6, 8], [0, 0]]))
    let columns = rows.scattered(to: [1, 1], alongAxis: 1, size: 3)
    #expect(columns == Tensor([[0, 3, 0], [0, 7, 0], [0, 11, 0]]))
  }

  @Test func scatterGradient() {
    expectGradientsMatchFiniteDifferences(at: [randomTensor([2, 3, 2])]) { xs in
      xs[0].scattered(to: [4, 0, 4, 1, 1, 2], indexShape: [2, 3], alongAxis: 0, size: 5)
    }
    expectSecondDerivativesMatchFiniteDifferences(at: [randomTensor([2, 3])]) { xs in
      let y = xs[0].scattered(to: [1, 0, 1], alongAxis: -1, size: 2)
      return y * y * y
    }
  }

  @Test func gatherOutOfRangeIndexTraps() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = Tensor<Double>.zeros([3, 2]).gathering(indices: [0, 3])
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("gather: index 3 is out of range for size 3"))
  }

  @Test func gatherNegativeIndexTraps() async {
    await #expect(processExitsWith: .failure) {
      _ = Tensor<Double>.zeros([3, 2]).gathering(indices: [-1])
    }
  }

  // MARK: - Where

  @Test func whereChoosesElementwiseWithBroadcasting() {
    let mask = Tensor<Float>([1, 0, 2])
    let a = Tensor<Float>([1, 2, 3])
    let b = Tensor<Float>([-1, -2, -3])
    #expect(Tensor.where(mask, a, b) == Tensor([1, -2, 3]))
    let rows = Tensor<Float>([[1], [0]])
    #expect(Tensor.where(rows, a, Tensor(0)) == Tensor([[1, 2, 3], [0, 0, 0]]))
    let long = Tensor<Float>(shape: [20], scalars: (0..<20).map { Float($0 % 3) })
    let chosen = Tensor.where(long, Tensor.ones([20]), Tensor(-1))
    #expect(chosen.scalars == long.scalars.map { $0 != 0 ? 1 : -1 })
  }

  @Test func whereKeepsNaNInTheBranchNotTakenOut() {
    let mask = Tensor<Double>([0, 1])
    let a = Tensor<Double>([.nan, 1])
    let b = Tensor<Double>([2, 3])
    #expect(Tensor.where(mask, a, b) == Tensor([2, 1]))
    let (ga, gb) = gradient(at: a, b) { Tensor.where(mask, $0, $1).sum() }
    #expect(ga == Tensor([0, 1]) && gb == Tensor([1, 0]))
  }

  @Test(arguments: [
    ([3], [3], [3]), ([2, 1], [3], []), ([2, 3], [2, 1], [1, 3]), ([4], [2, 1], [1]),
  ])
  func whereGradient(
    maskShape maskShapeSizes: [Int], aShape aShapeSizes: [Int], bShape bShapeSizes: [Int]
  ) {
    let maskShape = TensorShape(maskShapeSizes)
    let aShape = TensorShape(aShapeSizes)
    let bShape = TensorShape(bShapeSizes)
    let mask = randomTensor(maskShape, seed: 7).scalars.map { $0 > 0 ? 1.0 : 0.0 }
      .reshaped(like: Tensor<Double>.zeros(maskShape))
    let points = [randomTensor(aShape, seed: 1), randomTensor(bShape, seed: 2)]
    expectGradientsMatchFiniteDifferences(at: points) { xs in Tensor.where(mask, xs[0], xs[1]) }
    expectSecondDerivativesMatchFiniteDifferences(at: points) { xs in
      Tensor.where(mask, xs[0] * xs[0] * xs[0], xs[1] * xs[1])
    }
  }

  @Test func whereGivesTheMaskNoGradient() {
    let (gMask, _, _) = gradient(at: Tensor<Double>([1, 0]), Tensor([1, 2]), Tensor([3, 4])) {
      Tensor.where($0, $1, $2).sum()
    }
    #expect(gMask == Tensor([0, 0]))
  }
}
