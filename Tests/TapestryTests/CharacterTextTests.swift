import Tapestry
import Testing

@Suite("character text") struct CharacterTextTests {
  @Test(arguments: ["hello, world", "Ünïcödé ⁂ and\nlines\r\n", "a"])
  func encodingAndDecodingRoundTrip(text: String) throws {
    let encoded = try CharacterText(text)
    #expect(encoded.vocabulary.characters == Set(text).sorted())
    #expect(encoded.ids.count == text.count)
    #expect(encoded.vocabulary.decode(encoded.ids) == text)
    #expect(try encoded.vocabulary.encode(text) == encoded.ids)
  }

  @Test func idsAreSortedPositions() throws {
    let text = try CharacterText("banana")
    #expect(text.vocabulary.characters == ["a", "b", "n"])
    #expect(text.ids == [1, 0, 2, 0, 2, 0])
  }

  @Test func unknownCharactersAndEmptyTextsThrow() throws {
    let vocabulary = try CharacterVocabulary(of: "abc")
    #expect(throws: CharacterTextError.unknownCharacter("d")) { try vocabulary.encode("cad") }
    #expect(throws: CharacterTextError.emptyText) { try CharacterText("") }
  }

  @Test func theShippedTextIsSmallAndPlain() throws {
    let sonnets = CharacterText.shakespeareSonnets
    #expect(sonnets.utf8.count <= 100_000)
    #expect(sonnets.utf8.count > 15_000)
    #expect(sonnets.unicodeScalars.allSatisfy { $0.isASCII })
    #expect(sonnets.contains("Shall I compare thee to a summer's day?"))
    let text = try CharacterText(sonnets)
    #expect(text.vocabulary.decode(text.ids) == sonnets)
  }

  @Test func theHeldOutPartIsTheEnd() throws {
    let text = try CharacterText("abcdefghij")
    let split = text.split(validationFraction: 0.3)
    #expect(split.training == Array(text.ids[..<7]))
    #expect(split.validation == Array(text.ids[7...]))
  }

  @Test(arguments: [(2, 3), (3, 4), (1, 5)])
  func windowsAreStreamsOfNextCharacters(batchSize: Int, length: Int) throws {
    let ids = Array(0..<100)
    let streams = try CharacterStreams(ids: ids, batchSize: batchSize, length: length, seed: 7)
    #expect(streams.segmentLength == 100 / batchSize)
    for step in 0..<(3 * streams.windowsPerPass) {
      let window = streams.window(at: step)
      #expect(window.inputs.count == length * batchSize)
      #expect(window.targets == window.inputs.map { $0 + 1 }, "targets are the next characters")
      for stream in 0..<batchSize {
        let first = window.inputs[stream]
        let last = window.targets[(length - 1) * batchSize + stream]
        #expect(first / streams.segmentLength == stream, "stream \(stream) left its segment")
        #expect(last / streams.segmentLength == stream, "stream \(stream) left its segment")
        if !streams.startsPass(at: step + 1) {
          #expect(
            streams.window(at: step + 1).inputs[stream] == last,
            "the next window continues the stream")
        }
      }
    }
    let tensors = streams.tensors(at: 1, as: Float.self)
    #expect(tensors.inputs.shape == [length, batchSize])
    #expect(tensors.targets.scalars == streams.window(at: 1).targets.map(Float.init))
  }

  @Test func passesAfterTheFirstStartAtSeededOffsets() throws {
    let ids = Array(0..<1000)
    let streams = try CharacterStreams(ids: ids, batchSize: 2, length: 10, seed: 3)
    let again = try CharacterStreams(ids: ids, batchSize: 2, length: 10, seed: 3)
    let offsets = (0..<8).map { streams.window(at: $0 * streams.windowsPerPass).inputs[0] }
    #expect(offsets[0] == 0)
    #expect(offsets.allSatisfy { (0..<10).contains($0) })
    #expect(Set(offsets).count > 1, "every pass starts at the same offset")
    #expect(offsets == (0..<8).map { again.window(at: $0 * again.windowsPerPass).inputs[0] })
  }

  @Test func aTextTooShortForTheBatchingThrows() {
    #expect(throws: CharacterTextError.textTooShort(characters: 30, needed: 32)) {
      try CharacterStreams(ids: Array(0..<30), batchSize: 4, length: 4, seed: 0)
    }
    #expect(throws: CharacterTextError.textTooShort(characters: 3, needed: 5)) {
      try CharacterStreams.wholeText([0, 1, 2], batchSize: 4)
    }
  }

  @Test func theWholeTextIsReadOnceAsParallelStreams() throws {
    let whole = try CharacterStreams.wholeText(Array(0..<11), batchSize: 3)
    #expect(whole.length == 3)
    #expect(whole.inputs == [0, 3, 6, 1, 4, 7, 2, 5, 8])
    #expect(whole.targets == whole.inputs.map { $0 + 1 })
  }

  @Test func streamsOfOneSeedAreIndependentAndRepeatable() {
    var a = SeededGenerator(seed: 5, stream: 0)
    var b = SeededGenerator(seed: 5, stream: 1)
    var c = SeededGenerator(seed: 5, stream: 1)
    let first = (0..<4).map { _ in a.next() }
    let second = (0..<4).map { _ in b.next() }
    #expect(first != second)
    #expect(second == (0..<4).map { _ in c.next() })
  }
}
