import Foundation
import Tapestry
import Testing

@Suite("TensorShape") struct TensorShapeTests {
  @Test func behavesLikeAnArrayOfSizes() {
    var shape: TensorShape = [2, 3, 4]
    #expect(shape.count == 3)
    #expect(Array(shape) == [2, 3, 4])
    #expect(shape.dimensions == [2, 3, 4])
    #expect(shape[1] == 3)
    #expect(shape.elementCount == 24)
    #expect(shape.description == "[2, 3, 4]")
    #expect("\(shape)" == "\([2, 3, 4])")
    shape[1] = 5
    #expect(shape == [2, 5, 4])
    shape.insert(1, at: 0)
    #expect(shape == [1, 2, 5, 4])
    shape.removeLast()
    #expect(shape == [1, 2, 5])
    #expect(shape + [7] == [1, 2, 5, 7])
    #expect(TensorShape(shape.dropFirst()) == [2, 5])
    #expect(TensorShape().isEmpty && TensorShape().elementCount == 1)
    #expect(TensorShape().description == "[]")
  }

  /// Lanes above the rank stay zero through every edit, so equal shapes compare and hash equal
  /// however they were built.
  @Test func equalShapesAreEqualHoweverBuilt() {
    var edited: TensorShape = [9, 9, 9, 9, 9, 9, 9, 9]
    edited.removeSubrange(2...)
    edited[0] = 2
    edited[1] = 3
    let literal: TensorShape = [2, 3]
    #expect(edited == literal)
    #expect(edited.hashValue == literal.hashValue)
    #expect(Set([edited, literal, [3, 2]]).count == 2)
    #expect(literal != [2, 3, 1])
    #expect(TensorShape([2, 3]) == literal)
  }

  @Test func holdsUpToTheMaximumRank() {
    let sizes = Array(repeating: 1, count: TensorShape.maximumRank)
    #expect(TensorShape(sizes).count == TensorShape.maximumRank)
    #expect(TensorShape(validating: sizes + [1]) == nil)
    #expect(TensorShape(validating: [Int(Int32.max) + 1]) == nil)
    #expect(TensorShape(validating: [2, -1]) == nil)
    #expect(TensorShape(validating: [Int(Int32.max), 3]) == [Int(Int32.max), 3])
  }

  @Test func roundTripsThroughJSONAsAnArray() throws {
    let shape: TensorShape = [4, 1, 7]
    let data = try JSONEncoder().encode(shape)
    #expect(String(decoding: data, as: UTF8.self) == "[4,1,7]")
    #expect(try JSONDecoder().decode(TensorShape.self, from: data) == shape)
    #expect(throws: DecodingError.self) {
      try JSONDecoder().decode(TensorShape.self, from: Data("[1,1,1,1,1,1,1,1,1]".utf8))
    }
  }

  @Test func tensorsReportTheirShape() {
    let x = Tensor<Float>.zeros([2, 3])
    #expect(x.shape == [2, 3])
    #expect(x.select(1, alongAxis: 0).shape == [3])
    #expect(x.sum(alongAxis: 1, keepingDims: true).shape == [2, 1])
  }

  @Test func aNinthAxisTraps() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = TensorShape(Array(repeating: 1, count: 9))
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("TensorShape: more than 8 axes in [1, 1, 1, 1, 1, 1, 1, 1] + [1]"))
  }

  @Test func aSizeBeyond32BitsTraps() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = Tensor<Float>.zeros([1 << 33, 0])
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("TensorShape: size 8589934592 does not fit in 32 bits in []"))
  }
}
