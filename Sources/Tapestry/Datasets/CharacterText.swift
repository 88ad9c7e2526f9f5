// The data of a character-level language model: a text as a sequence of character ids, and the
// windows a model is trained on. Training reads the text as `B` parallel streams, so that the
// recurrent state at the end of one window is the right initial state for the next one (what
// truncated backpropagation through time carries), and every window is a function of the step
// number, so a run resumed at step n reads exactly what an uninterrupted run would.

/// Why a text cannot be used as asked.
public enum CharacterTextError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A character that the vocabulary does not have.
  case unknownCharacter(Character)
  /// The text is empty, so there is no vocabulary.
  case emptyText
  /// The text has `characters` characters; the batching asked for needs at least `needed`.
  case textTooShort(characters: Int, needed: Int)

  /// What is wrong.
  public var description: String {
    switch self {
    case .unknownCharacter(let character):
      return "character \(String(reflecting: String(character))) is not in the vocabulary"
    case .emptyText:
      return "the text is empty"
    case .textTooShort(let characters, let needed):
      return "the text has \(characters) characters; this batch size and window length need "
        + "at least \(needed)"
    }
  }
}

/// The characters of a text, each with an id: its position in the sorted list of the distinct
/// characters (`Character`s, so a grapheme such as "é" is one character however it is encoded).
public struct CharacterVocabulary: Sendable, Equatable {
  /// The characters in id order (sorted).
  public let characters: [Character]
  private let ids: [Character: Int]

  /// The vocabulary of every distinct character in `text`. Throws
  /// ``CharacterTextError/emptyText`` for an empty text.
  public init(of text: String) throws(CharacterTextError) {
    guard !text.isEmpty else { throw .emptyText }
    characters = Set(text).sorted()
    ids = Dictionary(uniqueKeysWithValues: characters.enumerated().map { ($1, $0) })
  }

  /// The number of characters, which is the number of classes a model predicts.
  public var count: Int { characters.count }

  /// The id of every character of `text`, in order; throws
  /// ``CharacterTextError/unknownCharacter(_:)`` for the first character without one.
  public func encode(_ text: String) throws(CharacterTextError) -> [Int] {
    var result: [Int] = []
    result.reserveCapacity(text.count)
    for character in text {
      guard let id = ids[character] else { throw .unknownCharacter(character) }
      result.append(id)
    }
    return result
  }

  /// The text whose character ids are `ids`. Traps on an id outside `0..<count`.
  public func decode(_ ids: [Int]) -> String {
    String(
      ids.map { id in
        precondition(
          characters.indices.contains(id),
          "CharacterVocabulary.decode: id \(id) is outside 0..<\(count)")
        return characters[id]
      })
  }
}

/// A text encoded with its own vocabulary, and split into a training part and a held-out part.
public struct CharacterText: Sendable {
  /// The text's characters.
  public let vocabulary: CharacterVocabulary
  /// The id of every character of the text, in order.
  public let ids: [Int]

  /// `text`, encoded with the vocabulary of its own characters. Throws
  /// ``CharacterTextError/emptyText`` for an empty text.
  public init(_ text: String) throws(CharacterTextError) {
    vocabulary = try CharacterVocabulary(of: text)
    ids = try vocabulary.encode(text)
  }

  /// The first part of the text for training and the rest, `validationFraction` of it (rounded
  /// down), held out for measuring: a contiguous split, so no line of the held-out part was seen
  /// in training. Traps unless `validationFraction` is in [0, 1).
  public func split(validationFraction: Double) -> (training: [Int], validation: [Int]) {
    precondition(
      validationFraction >= 0 && validationFraction < 1,
      "CharacterText.split: validationFraction \(validationFraction) is outside [0, 1)")
    let trainingCount = ids.count - Int(Double(ids.count) * validationFraction)
    return (Array(ids[..<trainingCount]), Array(ids[trainingCount...]))
  }
}

/// A text read as `batchSize` parallel streams, in windows of `length` characters: the batches
/// of a character-level language model trained with truncated backpropagation through time.
///
/// The text is cut into `batchSize` contiguous segments of equal length; stream `b` reads segment
/// `b` from start to end, one window per step, so that the state a model ends a window with is
/// the state the next window of the same stream starts from. A *pass* is one trip through the
/// segments (``windowsPerPass`` steps); each pass after the first starts at an offset in
/// `0..<length` drawn from `seed` and the pass number, so that windows do not always break a
/// line at the same place. Everything is a function of the step number: no generator state to
/// carry or save.
public struct CharacterStreams: Sendable {
  /// The character ids being read.
  public let ids: [Int]
  /// The number of parallel streams B.
  public let batchSize: Int
  /// The number of characters T of every window.
  public let length: Int
  /// The seed of the pass offsets.
  public let seed: UInt64
  /// The number of characters of each stream's segment.
  public let segmentLength: Int

  /// Streams over `ids`. Throws ``CharacterTextError/textTooShort(characters:needed:)`` unless
  /// each of the `batchSize` segments holds at least two windows (`2 · length` characters), so
  /// that a pass has at least one window whatever its offset. Traps unless `batchSize` and
  /// `length` are positive.
  public init(ids: [Int], batchSize: Int, length: Int, seed: UInt64) throws(CharacterTextError) {
    precondition(
      batchSize > 0 && length > 0,
      "CharacterStreams: batchSize \(batchSize) and length \(length) must be positive")
    let needed = batchSize * 2 * length
    guard ids.count >= needed else { throw .textTooShort(characters: ids.count, needed: needed) }
    self.ids = ids
    self.batchSize = batchSize
    self.length = length
    self.seed = seed
    segmentLength = ids.count / batchSize
  }

  /// The number of windows, and so steps, in one pass. Each window's targets reach one character
  /// past it, and the offset of a pass can be up to `length − 1`, so a pass has
  /// ⌊(segmentLength − length) / length⌋ windows.
  public var windowsPerPass: Int { (segmentLength - length) / length }

  /// Whether step `step` is the first of a pass, where a model's carried state should restart
  /// (the stream jumps back to the start of its segment).
  public func startsPass(at step: Int) -> Bool { step % windowsPerPass == 0 }

  /// The window of step `step` (from 0): `inputs`, the ids of `[T, B]` characters time-major
  /// (`inputs[t · B + b]` is stream `b`'s character `t`), and `targets`, the character after each.
  public func window(at step: Int) -> (inputs: [Int], targets: [Int]) {
    precondition(step >= 0, "CharacterStreams.window: step \(step) must be ≥ 0")
    let pass = step / windowsPerPass
    var generator = SeededGenerator(seed: seed, stream: UInt64(pass))
    let offset = pass == 0 ? 0 : generator.nextInt(below: length)
    let start = offset + (step % windowsPerPass) * length
    var inputs = [Int](repeating: 0, count: length * batchSize)
    var targets = inputs
    for stream in 0..<batchSize {
      let base = stream * segmentLength + start
      for t in 0..<length {
        inputs[t * batchSize + stream] = ids[base + t]
        targets[t * batchSize + stream] = ids[base + t + 1]
      }
    }
    return (inputs, targets)
  }

  /// The ids of ``window(at:)`` as `[T, B]` tensors (ids are whole numbers, exact in any
  /// floating-point type for a vocabulary below 2²⁴): what
  /// ``TruncatedBPTT/train(_:inputs:targets:from:step:loss:update:)`` takes as a stream.
  public func tensors<Scalar: TensorScalar>(at step: Int, as _: Scalar.Type = Scalar.self)
    -> (inputs: Tensor<Scalar>, targets: Tensor<Scalar>)
  {
    let window = window(at: step)
    return (
      Tensor(shape: [length, batchSize], scalars: window.inputs.map { Scalar($0) }),
      Tensor(shape: [length, batchSize], scalars: window.targets.map { Scalar($0) })
    )
  }

  /// All of `ids` read once as `batchSize` streams side by side, for measuring a model on a
  /// held-out text: `inputs` and `targets` `[T, B]` time-major, T = ⌊(ids.count − 1) / B⌋ (the
  /// last few characters are dropped so the streams have one length). Throws
  /// ``CharacterTextError/textTooShort(characters:needed:)`` unless every stream gets at least
  /// one character to predict.
  public static func wholeText(_ ids: [Int], batchSize: Int) throws(CharacterTextError)
    -> (inputs: [Int], targets: [Int], length: Int)
  {
    precondition(batchSize > 0, "CharacterStreams.wholeText: batchSize \(batchSize) must be > 0")
    let length = (ids.count - 1) / batchSize
    guard length >= 1 else { throw .textTooShort(characters: ids.count, needed: batchSize + 1) }
    var inputs = [Int](repeating: 0, count: length * batchSize)
    var targets = inputs
    for stream in 0..<batchSize {
      for t in 0..<length {
        inputs[t * batchSize + stream] = ids[stream * length + t]
        targets[t * batchSize + stream] = ids[stream * length + t + 1]
      }
    }
    return (inputs, targets, length)
  }
}
