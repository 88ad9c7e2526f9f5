import Foundation
import Tapestry
import TapestryTestSupport
import Testing

@Suite("Tensor values")
struct TensorTests {
  @Test func initialisersAgreeOnShapeAndOrder() {
    let matrix = Tensor<Float>([[1, 2, 3], [4, 5, 6]])
    #expect(matrix.shape == [2, 3] && matrix.rank == 2 && matrix.count == 6)
    #expect(matrix.scalars == [1, 2, 3, 4, 5, 6])
    #expect(matrix == Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]))
    #expect(matrix[1, 0] == 4 && matrix[0, 2] == 3)
    let cube = Tensor<Double>([[[1, 2], [3, 4]], [[5, 6], [7, 8]]])
    #expect(cube.shape == [2, 2, 2] && cube[1, 0, 1] == 6)
    let literal: Tensor<Double> = [1, 2, 3]
    #expect(literal.shape == [3])
    #expect(Tensor<Double>(7).shape == [] && Tensor<Double>(7).scalar == 7)
    #expect(Tensor<Float>.zeros([2, 2]).scalars == [0, 0, 0, 0])
    #expect(Tensor<Float>.ones([3]).scalars == [1, 1, 1])
    #expect(Tensor<Float>.filled([2], with: 9).scalars == [9, 9])
    #expect(Tensor<Float>.zeros([0, 3]).count == 0)
  }

  @Test func valueSemantics() {
    let original = Tensor<Double>([1, 2, 3])
    var copy = original
    copy[1] = 20
    #expect(original.scalars == [1, 2, 3])
    #expect(copy.scalars == [1, 20, 3])
  }

  @Test func writingAnElementDetachesItFromTheTape() {
    let tape = Tape<Double>()
    tape.record {
      var x = tape.watch(Tensor([1, 2]))
      #expect(x.isRecorded)
      x[0] = 5
      #expect(!x.isRecorded)
    }
  }

  @Test func descriptionPrintsLikeNumPy() {
    let matrix = Tensor<Float>([[1, 2, 3], [4, 5, 6]])
    #expect(matrix.description == "[[1.0, 2.0, 3.0],\n [4.0, 5.0, 6.0]] shape [2, 3], float32")
    #expect(Tensor<Double>(2.5).description == "2.5 shape [], float64")
    let large = Tensor<Double>(shape: [2000], scalars: (0..<2000).map(Double.init))
    #expect(
      large.description == "[0.0, 1.0, 2.0, ..., 1997.0, 1998.0, 1999.0] shape [2000], float64")
    let grid = Tensor<Float>.zeros([40, 40])
    let rows = grid.description.split(separator: "\n")
    #expect(rows.count == 7)
    #expect(rows[3] == " ...,")
  }

  @Test func conversionBetweenScalarTypes() {
    let x = Tensor<Float>([1.5, -2])
    #expect(x.converted(to: Double.self).scalars == [1.5, -2])
  }

  @Test func closenessAndFiniteness() {
    let x = Tensor<Double>([1, 2])
    #expect(x.isClose(to: Tensor([1 + 1e-9, 2])))
    #expect(!x.isClose(to: Tensor([1.1, 2])))
    #expect(!x.isClose(to: Tensor([1, 2, 3])))
    #expect(x.isFinite && !Tensor<Double>([.nan]).isFinite)
  }

  @Test func shapeAndScalarCountMustAgree() async {
    await #expect(processExitsWith: .failure) {
      _ = Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3])
    }
  }

  @Test func subscriptOutOfRangeTraps() async {
    await #expect(processExitsWith: .failure) {
      _ = Tensor<Float>([[1, 2], [3, 4]])[2, 0]
    }
  }
}
