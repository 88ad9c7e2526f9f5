import Tapestry
import TapestryTestSupport
import Testing

/// The reference a permutation is checked against: every output element looked up through its
/// multi-index, with no collapsing or tiling.
private func naivelyPermuted(_ x: Tensor<Double>, _ permutation: [Int]) -> Tensor<Double> {
  let axes = permutation.map { $0 < 0 ? $0 + x.rank : $0 }
  let outputShape = axes.map { x.shape[$0] }
  var strides = [Int](repeating: 1, count: x.rank)
  for axis in stride(from: x.rank - 2, through: 0, by: -1) {
    strides[axis] = strides[axis + 1] * x.shape[axis + 1]
  }
  let scalars = (0..<x.count).map { flat -> Double in
    var remainder = flat
    var offset = 0
    for position in stride(from: axes.count - 1, through: 0, by: -1) {
      offset += (remainder % outputShape[position]) * strides[axes[position]]
      remainder /= outputShape[position]
    }
    return x.scalars[offset]
  }
  return Tensor(shape: TensorShape(outputShape), scalars: scalars)
}

@Suite struct ShapeOpTests {
  // MARK: - Reshape and broadcast

  @Test func reshapeInfersTheDimensionMarkedMinusOne() {
    let x = Tensor<Float>([[1, 2, 3], [4, 5, 6]])
    #expect(x.reshaped(to: [-1]) == Tensor([1, 2, 3, 4, 5, 6]))
    #expect(x.reshaped(to: [3, -1]) == Tensor([[1, 2], [3, 4], [5, 6]]))
    #expect(x.reshaped(to: [-1, 1, 2]).shape == [3, 1, 2])
  }

  @Test(arguments: [[-1], [3, -1], [1, -1, 2, 1]])
  func reshapeGradient(target targetSizes: [Int]) {
    let target = TensorShape(targetSizes)
    expectGradientsMatchFiniteDifferences(at: [randomTensor([2, 3])]) { xs in
      xs[0].reshaped(to: target) * xs[0].reshaped(to: target)
    }
  }

  @Test func broadcastRepeatsAlongSizeOneAndMissingAxes() {
    let column = Tensor<Float>([[1], [2]])
    #expect(column.broadcasted(to: [2, 3]) == Tensor([[1, 1, 1], [2, 2, 2]]))
    #expect(Tensor<Float>([1, 2]).broadcasted(to: [2, 2]) == Tensor([[1, 2], [1, 2]]))
  }

  @Test func broadcastGradientSumsOverTheRepeatedAxes() {
    let x = Tensor<Double>([[1], [2]])
    #expect(gradient(at: x) { $0.broadcasted(to: [4, 2, 3]).sum() } == Tensor([[12], [12]]))
    expectGradientsMatchFiniteDifferences(at: [randomTensor([3, 1])]) { xs in
      xs[0].broadcasted(to: [2, 3, 4])
    }
    expectGradientsMatchFiniteDifferences(at: [randomTensor([2, 3]), randomTensor([3], seed: 2)]) {
      xs in xs[0] * (xs[0] + xs[1])
    }
  }

  // MARK: - Transpose

  @Test func transposeOfAMatrix() {
    let x = Tensor<Float>([[1, 2, 3], [4, 5, 6]])
    #expect(x.transposed() == Tensor([[1, 4], [2, 5], [3, 6]]))
    #expect(x.transposed().transposed() == x)
  }

  @Test func transposeOfABatchSwapsTheLastTwoAxes() {
    let x = randomTensor([2, 3, 4])
    #expect(x.transposed() == naivelyPermuted(x, [0, 2, 1]))
  }

  @Test(
    arguments: [
      ([2, 3, 4], [2, 0, 1]), ([2, 3, 4], [1, 0, 2]), ([2, 3, 4], [0, 2, 1]),
      ([2, 3, 4], [-1, 0, -2]), ([2, 1, 3, 4], [3, 1, 0, 2]), ([3, 2, 2, 3], [0, 3, 1, 2]),
      ([1, 5], [1, 0]), ([37, 70], [1, 0]), ([3, 33, 35], [2, 1, 0]),
      ([2, 3, 4, 5], [1, 3, 0, 2]),
    ])
  func permutationMatchesTheReference(shape shapeSizes: [Int], permutation: [Int]) {
    let shape = TensorShape(shapeSizes)
    let x = randomTensor(shape)
    #expect(x.transposed(permutation: permutation) == naivelyPermuted(x, permutation))
  }

  @Test(arguments: [[1, 0, 2], [2, 0, 1], [-1, -3, -2], [0, 2, 1]])
  func permutationGradient(permutation: [Int]) {
    expectGradientsMatchFiniteDifferences(at: [randomTensor([2, 3, 4])]) { xs in
      xs[0].transposed(permutation: permutation)
    }
    expectSecondDerivativesMatchFiniteDifferences(at: [randomTensor([2, 1, 3])]) { xs in
      let y = xs[0].transposed(permutation: permutation)
      return y * y * y
    }
  }

  @Test func transposeOfAVectorTraps() async {
    await #expect(processExitsWith: .failure) {
      _ = Tensor<Double>([1, 2, 3]).transposed()
    }
  }

  @Test func permutationWithARepeatedAxisTraps() async {
    await #expect(processExitsWith: .failure) {
      _ = Tensor<Double>.zeros([2, 3]).transposed(permutation: [0, 0])
    }
  }

  // MARK: - Concatenate and stack

  @Test func concatenateJoinsAlongTheAxis() {
    let a = Tensor<Float>([[1, 2], [3, 4]])
    let b = Tensor<Float>([[5, 6]])
    let c = Tensor<Float>([[7], [8]])
    #expect(concatenate([a, b], alongAxis: 0) == Tensor([[1, 2], [3, 4], [5, 6]]))
    #expect(concatenate([a, c], alongAxis: -1) == Tensor([[1, 2, 7], [3, 4, 8]]))
    #expect(concatenate([a], alongAxis: 1) == a)
  }

  @Test(
    arguments: [
      ([[2, 3], [4, 3]], 0), ([[2, 3], [2, 1], [2, 2]], 1), ([[2, 3], [2, 1]], -1),
      ([[2, 2, 3], [2, 1, 3]], 1), ([[2, 3, 1], [2, 3, 2]], 2), ([[1, 2, 2], [3, 2, 2]], -3),
      ([[2, 0], [2, 2]], 1),
    ])
  func concatenateGradient(shapes shapesSizes: [[Int]], axis: Int) {
    let shapes = shapesSizes.map { TensorShape($0) }
    let points = shapes.enumerated().map { randomTensor($0.element, seed: UInt64($0.offset + 1)) }
    expectGradientsMatchFiniteDifferences(at: points) { xs in
      concatenate(xs, alongAxis: axis)
    }
  }

  @Test func concatenateSecondDerivatives() {
    expectSecondDerivativesMatchFiniteDifferences(
      at: [randomTensor([2, 3]), randomTensor([2, 2], seed: 2)]
    ) { xs in
      let joined = concatenate(xs, alongAxis: 1)
      return joined * joined * joined
    }
  }

  @Test func concatenateOfMismatchedShapesTraps() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = concatenate([Tensor<Double>.zeros([2, 3]), Tensor.zeros([3, 4])], alongAxis: 0)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("concatenate: shapes [2, 3] and [3, 4] differ outside axis 0"))
  }

  @Test func stackAddsAnAxis() {
    let a = Tensor<Float>([1, 2])
    let b = Tensor<Float>([3, 4])
    #expect(stack([a, b]) == Tensor([[1, 2], [3, 4]]))
    #expect(stack([a, b], alongAxis: -1) == Tensor([[1, 3], [2, 4]]))
    #expect(stack([a, b, a], alongAxis: 1).shape == [2, 3])
  }

  @Test(arguments: [0, 1, 2, -1, -3])
  func stackGradient(axis: Int) {
    let points = (1...3).map { randomTensor([2, 3], seed: UInt64($0)) }
    expectGradientsMatchFiniteDifferences(at: points) { xs in stack(xs, alongAxis: axis) }
    expectSecondDerivativesMatchFiniteDifferences(at: points) { xs in
      let stacked = stack(xs, alongAxis: axis)
      return stacked * stacked * stacked
    }
  }

  @Test(arguments: [0, 1, -1])
  func unstackedUndoesStack(axis: Int) {
    let x = randomTensor([3, 2, 4])
    let parts = x.unstacked(alongAxis: axis)
    #expect(parts.count == x.shape[axis < 0 ? axis + 3 : axis])
    #expect(stack(parts, alongAxis: axis) == x)
    expectGradientsMatchFiniteDifferences(at: [x]) { xs in
      let steps = xs[0].unstacked(alongAxis: axis)
      return steps[0] * steps[1] + steps[steps.count - 1]
    }
  }

  @Test func stackOfDifferentShapesTraps() async {
    await #expect(processExitsWith: .failure) {
      _ = stack([Tensor<Double>.zeros([2]), Tensor.zeros([3])])
    }
  }

  // MARK: - Split and chunk

  @Test func splitCutsConsecutivePieces() {
    let x = Tensor<Float>([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]])
    let parts = x.split(sizes: [2, 0, 3], alongAxis: -1)
    #expect(parts.map(\.shape) == [[2, 2], [2, 0], [2, 3]])
    #expect(parts[0] == Tensor([[1, 2], [6, 7]]))
    #expect(parts[2] == Tensor([[3, 4, 5], [8, 9, 10]]))
    #expect(x.split(sizes: [1, 1], alongAxis: 0)[1] == Tensor([[6, 7, 8, 9, 10]]))
  }

  @Test(arguments: [([4, 3], [1, 3], 0), ([2, 5], [2, 0, 3], 1), ([2, 3, 4], [3, 1], -1)])
  func splitGradient(shape shapeSizes: [Int], sizes: [Int], axis: Int) {
    let shape = TensorShape(shapeSizes)
    expectGradientsMatchFiniteDifferences(at: [randomTensor(shape)]) { xs in
      let parts = xs[0].split(sizes: sizes, alongAxis: axis)
      return concatenate([parts[parts.count - 1] * 2, parts[0] * parts[0]], alongAxis: axis)
    }
  }

  @Test func chunkedCutsTheLSTMGates() {
    let z = Tensor<Float>([[1, 2, 3, 4, 5, 6, 7, 8]])
    let gates = z.chunked(into: 4, alongAxis: 1)
    #expect(gates.map(\.scalars) == [[1, 2], [3, 4], [5, 6], [7, 8]])
    expectGradientsMatchFiniteDifferences(at: [randomTensor([3, 8])]) { xs in
      let g = xs[0].chunked(into: 4, alongAxis: -1)
      return tanh(g[0]) * g[1] + exp(g[3])
    }
  }

  @Test func chunkingIntoAnUnevenCountTraps() async {
    await #expect(processExitsWith: .failure) {
      _ = Tensor<Double>.zeros([2, 6]).chunked(into: 4, alongAxis: 1)
    }
  }

  @Test func splitSizesThatDoNotAddUpTrap() async {
    await #expect(processExitsWith: .failure) {
      _ = Tensor<Double>.zeros([2, 6]).split(sizes: [2, 3], alongAxis: 1)
    }
  }
}
