import Foundation
import Tapestry
import TapestryTestSupport
import Testing

/// The fixtures made by Fixtures/Safetensors/make_fixtures.py, found from this file's path.
private let fixtures = fixtureURL("Safetensors")

/// A linear layer named like PyTorch's `nn.Linear`: `weight` is `[out, in]`.
private struct TinyLinear<Scalar: TensorScalar> {
  var weight: Parameter<Scalar>
  var bias: Parameter<Scalar>
  init(inputs: Int, outputs: Int) {
    weight = Parameter(Tensor.zeros([outputs, inputs]))
    bias = Parameter(Tensor.zeros([outputs]))
  }
}

/// The Tapestry twin of `TinyNet` in make_fixtures.py: the same property names give the same
/// parameter names as its `state_dict`.
private struct TinyNet<Scalar: TensorScalar> {
  var layer = TinyLinear<Scalar>(inputs: 3, outputs: 2)
  var blocks = [TinyLinear<Scalar>(inputs: 2, outputs: 2)]
  var scale = Parameter<Scalar>(Tensor.zeros([2]), isFrozen: true)

  var values: [String: Tensor<Scalar>] {
    Dictionary(
      uniqueKeysWithValues: namedParameters(of: self, as: Scalar.self).map {
        ($0.name, $0.parameter.value)
      })
  }
}

/// Expected values written by make_fixtures.py next to each fixture.
private struct ExpectedTensor: Decodable {
  let shape: TensorShape
  let values: [Double]?
  let float32Bits: [UInt32]?

  enum CodingKeys: String, CodingKey {
    case shape
    case values
    case float32Bits = "float32_bits"
  }
}

/// The expected values in the fixture JSON file `name`, by tensor name.
private func expected(_ name: String) throws -> [String: ExpectedTensor] {
  let data = try Data(contentsOf: fixtures.appendingPathComponent(name))
  return try JSONDecoder().decode([String: ExpectedTensor].self, from: data)
}

/// A unique path in the temporary directory (the file is not created).
private func temporaryURL(_ suffix: String = ".safetensors") -> URL {
  FileManager.default.temporaryDirectory.appendingPathComponent(
    "tapestry-safetensors-\(UUID().uuidString)\(suffix)")
}

/// The tensors of the Tapestry-written fixtures (make_fixtures.py builds the same ones): element i
/// of each is i · 0.25 − 1.
private func rampTensors<Scalar: TensorScalar>(_: Scalar.Type) -> [String: Tensor<Scalar>] {
  func ramp(_ shape: TensorShape) -> Tensor<Scalar> {
    Tensor(
      shape: shape, scalars: (0..<shape.elementCount).map { Scalar($0) * 0.25 - 1 })
  }
  return [
    "encoder.weight": ramp([2, 3]), "encoder.bias": ramp([3]), "step": Tensor(Scalar(7)),
    "empty": ramp([0, 2]),
  ]
}

/// The metadata of the Tapestry-written fixtures.
private let metadata = ["source": "Tapestry"]

/// The bytes of a safetensors file with this header text (padded to 8 bytes) and data buffer.
private func fileBytes(header: String, buffer: [UInt8] = []) -> [UInt8] {
  var json = Array(header.utf8)
  json += Array(repeating: UInt8(ascii: " "), count: (8 - json.count % 8) % 8)
  return withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init) + json + buffer
}

/// A hand-made broken file and the error it must raise.
struct BadFile: Sendable, CustomTestStringConvertible {
  let label: String
  let bytes: [UInt8]
  let error: SafetensorsError
  var testDescription: String { label }
}

private let entryA = #""a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#

private let badFiles: [BadFile] = [
  BadFile(label: "file too short", bytes: [1, 0, 0], error: .fileTooShort(byteCount: 3)),
  BadFile(
    label: "header length past the end",
    bytes: withUnsafeBytes(of: UInt64(100).littleEndian, Array.init) + Array("{}".utf8),
    error: .headerLengthPastEnd(headerLength: 100, fileSize: 10)),
  BadFile(
    label: "header length near UInt64.max",
    bytes: Array(repeating: 0xff, count: 8) + Array("{}".utf8),
    error: .headerLengthPastEnd(headerLength: .max, fileSize: 10)),
  BadFile(
    label: "header not an object", bytes: fileBytes(header: "[1, 2]"), error: .headerNotAnObject),
  BadFile(
    label: "entry without data_offsets",
    bytes: fileBytes(header: #"{"a":{"dtype":"F32","shape":[0]}}"#),
    error: .malformedEntry(name: "a", reason: "missing field \"data_offsets\"")),
  BadFile(
    label: "entry with a string dimension",
    bytes: fileBytes(header: #"{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}"#),
    error: .malformedEntry(name: "a", reason: "field \"shape.0\" is not of type Int")),
  BadFile(
    label: "entry not an object", bytes: fileBytes(header: #"{"a":3}"#),
    error: .malformedEntry(
      name: "a", reason: "the entry itself is not of type Dictionary<String, Any>")),
  BadFile(
    label: "entry with three offsets",
    bytes: fileBytes(header: #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0,0]}}"#),
    error: .malformedEntry(name: "a", reason: "data_offsets has 3 numbers, not 2")),
  BadFile(
    label: "entry with a negative dimension",
    bytes: fileBytes(header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#),
    error: .malformedEntry(name: "a", reason: "shape [-1] has a negative dimension")),
  BadFile(
    label: "metadata value not a string",
    bytes: fileBytes(header: #"{"__metadata__":{"epoch":3}}"#),
    error: .malformedEntry(name: "__metadata__", reason: "field \"epoch\" is not of type String")),
  BadFile(
    label: "unknown dtype",
    bytes: fileBytes(
      header: #"{"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}}"#,
      buffer: .init(repeating: 0, count: 8)),
    error: .unknownDtype(tensor: "a", dtype: "Q9")),
  BadFile(
    label: "offsets out of order",
    bytes: fileBytes(
      header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#,
      buffer: .init(repeating: 0, count: 8)),
    error: .offsetsOutOfOrder(tensor: "a", begin: 8, end: 4)),
  BadFile(
    label: "overlapping tensors",
    bytes: fileBytes(
      header: "{\(entryA),"
        + #""b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
      buffer: .init(repeating: 0, count: 8)),
    error: .overlappingTensors(tensor: "b", begin: 4, previous: "a", previousEnd: 8)),
  BadFile(
    label: "offsets past the buffer",
    bytes: fileBytes(
      header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
      buffer: .init(repeating: 0, count: 8)),
    error: .offsetsPastBuffer(tensor: "a", end: 16, bufferSize: 8)),
  BadFile(
    label: "shape disagrees with data length",
    bytes: fileBytes(
      header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
      buffer: .init(repeating: 0, count: 8)),
    error: .shapeMismatch(tensor: "a", shape: [3], dtype: "F32", expectedBytes: 12, actualBytes: 8)
  ),
  BadFile(
    label: "shape too large to address",
    bytes: fileBytes(
      header:
        #"{"a":{"dtype":"F64","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,0]}}"#),
    error: .malformedEntry(
      name: "a",
      reason: "shape [2147483647, 2147483647, 2147483647] has too many elements to address")),
  BadFile(
    label: "dimension beyond 32 bits",
    bytes: fileBytes(
      header: #"{"a":{"dtype":"F64","shape":[4294967296,0],"data_offsets":[0,0]}}"#),
    error: .malformedEntry(
      name: "a",
      reason: "shape [4294967296, 0] has more than 8 axes or a dimension above 2³¹ − 1")),
  BadFile(
    label: "more axes than a tensor can have",
    bytes: fileBytes(
      header: #"{"a":{"dtype":"F64","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,8]}}"#,
      buffer: .init(repeating: 0, count: 8)),
    error: .malformedEntry(
      name: "a",
      reason: "shape [1, 1, 1, 1, 1, 1, 1, 1, 1] has more than 8 axes or a dimension above 2³¹ − 1")),
  BadFile(
    label: "trailing bytes no tensor covers",
    bytes: fileBytes(header: "{\(entryA)}", buffer: .init(repeating: 0, count: 12)),
    error: .uncoveredBytes(begin: 8, end: 12)),
  BadFile(
    label: "gap before a tensor",
    bytes: fileBytes(
      header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
      buffer: .init(repeating: 0, count: 8)),
    error: .uncoveredBytes(begin: 0, end: 4)),
]

@Suite("Safetensors files and checkpoints")
struct SafetensorsTests {
  // MARK: Format

  @Test func floatAndDoubleRoundTripBitForBit() throws {
    let special: [Float] = [0, -0.0, 1, -2.5, .infinity, -.infinity, .nan, .leastNonzeroMagnitude]
    let floats: [String: Tensor<Float>] = [
      "special": Tensor(special), "matrix": Tensor([[1, 2, 3], [4, 5, 6]]),
      "scalar": Tensor(Float(3)), "empty": Tensor.zeros([0, 4]), "ünïcode \"quoted\"\n": [1],
    ]
    let url = temporaryURL()
    defer { try? FileManager.default.removeItem(at: url) }
    try Safetensors.write(floats, metadata: ["note": "a \"quoted\"\tvalue"], to: url)
    let file = try Safetensors.read(from: url)
    #expect(file.metadata == ["note": "a \"quoted\"\tvalue"])
    #expect(file.names == floats.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
    for (name, tensor) in floats {
      let read = try file.tensor(named: name, as: Float.self)
      #expect(read.shape == tensor.shape)
      #expect(read.scalars.map(\.bitPattern) == tensor.scalars.map(\.bitPattern), "\(name)")
      #expect(file.entries[name]?.dtype == .float32)
    }

    let doubles = floats.mapValues { $0.converted(to: Double.self) }
    let doubleFile = try Safetensors.decode(Safetensors.encode(doubles))
    #expect(doubleFile.metadata.isEmpty)
    for (name, tensor) in doubles {
      let read = try doubleFile.tensor(named: name, as: Double.self)
      #expect(read.scalars.map(\.bitPattern) == tensor.scalars.map(\.bitPattern), "\(name)")
      #expect(doubleFile.entries[name]?.dtype == .float64)
    }
  }

  @Test(arguments: ["", "m", "mm", "mmmmmmm", "mmmmmmmm"])
  func headerIsPaddedToEightBytesAndTensorsFollowInNameOrder(metadataValue: String) throws {
    let tensors: [String: Tensor<Float>] = [
      "b": [1, 2], "a": [3], "c": Tensor(shape: [0], scalars: []),
    ]
    let bytes = [UInt8](try Safetensors.encode(tensors, metadata: ["k": metadataValue]))
    let headerLength = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
    #expect(headerLength % 8 == 0)
    #expect(bytes.count == 8 + headerLength + 12)
    let header = try #require(String(bytes: bytes[8..<(8 + headerLength)], encoding: .utf8))
    #expect(
      header.trimmingCharacters(in: .whitespaces)
        == #"{"__metadata__":{"k":""# + metadataValue + #""},"#
        + #""a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"#
        + #""b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"#
        + #""c":{"dtype":"F32","shape":[0],"data_offsets":[12,12]}}"#)
  }

  @Test func tapestryWrittenFixturesStayTheBytesTapestryWrites() throws {
    // make_fixtures.py loads these files in PyTorch and checks `safetensors.torch.save` writes the
    // same bytes; here Tapestry re-writes them, so the committed files stay Tapestry's output.
    let written: [(String, Data)] = [
      ("tapestry_float32", try Safetensors.encode(rampTensors(Float.self), metadata: metadata)),
      ("tapestry_float64", try Safetensors.encode(rampTensors(Double.self), metadata: metadata)),
    ]
    for (stem, data) in written {
      let url = fixtures.appendingPathComponent("\(stem).safetensors")
      // Set after a deliberate change to the writer, then re-run make_fixtures.py to re-check.
      if ProcessInfo.processInfo.environment["TAPESTRY_RECORD_FIXTURES"] != nil {
        try data.write(to: url)
      }
      #expect(try Data(contentsOf: url) == data, "\(stem)")
    }
  }

  @Test func torchFixtureHasTheValuesTorchSaved() throws {
    let file = try Safetensors.read(
      from: fixtures.appendingPathComponent("torch_model.safetensors"))
    let reference = try expected("torch_model.json")
    #expect(Set(file.names) == Set(reference.keys))
    for (name, tensor) in reference {
      let values = try #require(tensor.values)
      let asFloat = try file.tensor(named: name, as: Float.self)
      #expect(asFloat == Tensor(shape: tensor.shape, scalars: values.map { Float($0) }), "\(name)")
      let asDouble = try file.tensor(named: name, as: Double.self)
      #expect(asDouble == Tensor(shape: tensor.shape, scalars: values), "\(name)")
    }
  }

  @Test(arguments: [("float16", SafetensorsDtype.float16), ("bfloat16", .bfloat16)])
  func halfPrecisionWidensLikeTorch(stem: String, dtype: SafetensorsDtype) throws {
    let file = try Safetensors.read(from: fixtures.appendingPathComponent("\(stem).safetensors"))
    for (name, tensor) in try expected("\(stem).json") {
      #expect(file.entries[name]?.dtype == dtype)
      let bits = try #require(tensor.float32Bits)
      let asFloat = try file.tensor(named: name, as: Float.self)
      let asDouble = try file.tensor(named: name, as: Double.self)
      #expect(asFloat.shape == tensor.shape && asDouble.shape == tensor.shape)
      for (index, expectedBits) in bits.enumerated() {
        let value = Float(bitPattern: expectedBits)
        if value.isNaN {
          #expect(asFloat.scalars[index].isNaN && asDouble.scalars[index].isNaN)
        } else {
          #expect(asFloat.scalars[index].bitPattern == expectedBits, "\(name)[\(index)]")
          #expect(asDouble.scalars[index] == Double(value), "\(name)[\(index)]")
        }
      }
    }
  }

  #if !(os(macOS) && arch(x86_64))
    @Test func everyHalfBitPatternWidensLikeFloat16() throws {
      let count = 1 << 16
      var buffer: [UInt8] = []
      for bits in 0..<count { buffer += [UInt8(bits & 0xff), UInt8(bits >> 8)] }
      let bytes = fileBytes(
        header: #"{"all":{"dtype":"F16","shape":[65536],"data_offsets":[0,131072]}}"#,
        buffer: buffer)
      let widened = try Safetensors.decode(Data(bytes)).tensor(named: "all", as: Float.self)
      for bits in 0..<count {
        let reference = Float(Float16(bitPattern: UInt16(bits)))
        let value = widened.scalars[bits]
        #expect(
          value.bitPattern == reference.bitPattern || (value.isNaN && reference.isNaN),
          "F16 bits \(String(bits, radix: 16)): \(value) vs \(reference)")
      }
    }
  #endif

  @Test(arguments: badFiles)
  func badFileIsRejectedWithItsError(_ bad: BadFile) throws {
    #expect(throws: bad.error) { try Safetensors.decode(Data(bad.bytes)) }
  }

  /// Broken headers, and the reason reported when it is ours rather than the JSON parser's
  /// (whose wording differs between Linux and macOS).
  static let invalidHeaders: [(header: [UInt8], reason: String?)] = [
    (Array(#"{"a": "#.utf8), nil),
    (Array(#"{"a" 1}"#.utf8), nil),
    ([0x7b, 0xff, 0x7d], nil),
    (
      Array(#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,0]}}"#.utf8),
      "a shape or offset number is fractional or too large for an integer"
    ),
  ]

  @Test(arguments: invalidHeaders)
  func invalidJSONIsRejectedWithAReason(header: [UInt8], reason: String?) throws {
    let padded = header + Array(repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
    let bytes = withUnsafeBytes(of: UInt64(padded.count).littleEndian, Array.init) + padded
    let error = #expect(throws: SafetensorsError.self) { try Safetensors.decode(Data(bytes)) }
    guard case .invalidHeaderJSON(let actual) = error else {
      Issue.record("expected invalidHeaderJSON, got \(String(describing: error))")
      return
    }
    #expect(actual == reason ?? actual && !actual.isEmpty)
    #expect(!actual.contains("The given data was not valid JSON"))
  }

  @Test func errorDescriptionsNameTensorsAndSizes() {
    let overlap = SafetensorsError.overlappingTensors(
      tensor: "b", begin: 4, previous: "a", previousEnd: 8)
    #expect("\(overlap)".contains("\"b\"") && "\(overlap)".contains("\"a\""))
    let shape = SafetensorsError.shapeMismatch(
      tensor: "w", shape: [3], dtype: "F32", expectedBytes: 12, actualBytes: 8)
    #expect("\(shape)".contains("[3]") && "\(shape)".contains("12") && "\(shape)".contains("8"))
    let mismatch = CheckpointError.shapeMismatch(
      name: "layer.bias", modelShape: [2], fileShape: [3])
    #expect("\(mismatch)".contains("layer.bias") && "\(mismatch)".contains("[3]"))
  }

  @Test func unconvertibleAndAbsentTensorsThrow() throws {
    let bytes = fileBytes(
      header: #"{"steps":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#,
      buffer: [7, 0, 0, 0, 0, 0, 0, 0])
    let file = try Safetensors.decode(Data(bytes))
    #expect(file.entries["steps"] == .init(dtype: .int64, shape: [1], dataOffsets: 0..<8))
    #expect(throws: SafetensorsError.unsupportedConversion(tensor: "steps", dtype: "I64")) {
      try file.tensor(named: "steps", as: Float.self)
    }
    #expect(throws: SafetensorsError.noSuchTensor(name: "nope")) {
      try file.tensor(named: "nope", as: Float.self)
    }
    #expect(throws: SafetensorsError.reservedTensorName("__metadata__")) {
      try Safetensors.encode(["__metadata__": Tensor<Float>([1])])
    }
  }

  // MARK: Files on disk

  @Test func ioErrorsAreTypedAndFailedWritesLeaveNothingBehind() throws {
    let missing = temporaryURL()
    let readError = #expect(throws: SafetensorsError.self) { try Safetensors.read(from: missing) }
    guard case .io(let path, _) = readError else {
      Issue.record("expected an I/O error, got \(String(describing: readError))")
      return
    }
    #expect(path == missing.path)

    let noDirectory = temporaryURL("-absent").appendingPathComponent("model.safetensors")
    #expect(throws: SafetensorsError.self) {
      try Safetensors.write(["a": Tensor<Float>([1])], to: noDirectory)
    }

    // Renaming a file over a directory fails after the temporary file was written.
    let directory = temporaryURL("-dir")
    let target = directory.appendingPathComponent("model.safetensors")
    try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let writeError = #expect(throws: SafetensorsError.self) {
      try Safetensors.write(["a": Tensor<Float>([1])], to: target)
    }
    #expect(writeError.map { "\($0)".contains(target.path) } ?? false)
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: directory.path) == [
        target.lastPathComponent
      ])
  }

  @Test func writeReplacesAnExistingFile() throws {
    let url = temporaryURL()
    defer { try? FileManager.default.removeItem(at: url) }
    try Safetensors.write(["old": Tensor<Double>([1, 2])], to: url)
    try Safetensors.write(["new": Tensor<Double>([3])], to: url)
    #expect(try Safetensors.read(from: url).names == ["new"])
    let siblings = try FileManager.default.contentsOfDirectory(
      atPath: url.deletingLastPathComponent().path)
    #expect(!siblings.contains { $0.hasPrefix(".\(url.lastPathComponent)") })
  }

  // MARK: Checkpoints

  @Test func torchCheckpointLoadsIntoTheTapestryTwinAndSavesBackToTheSameBytes() throws {
    let torchFile = fixtures.appendingPathComponent("torch_model.safetensors")
    let reference = try expected("torch_model.json")
    let model = TinyNet<Float>()
    let report = try loadParameters(into: model, from: torchFile, as: Float.self)
    #expect(
      report.loaded == ["layer.weight", "layer.bias", "blocks.0.weight", "blocks.0.bias", "scale"])
    #expect(report.missing.isEmpty && report.unexpected.isEmpty)
    for (name, tensor) in reference {
      let values = try #require(tensor.values)
      #expect(model.values[name] == Tensor(shape: tensor.shape, scalars: values.map { Float($0) }))
    }

    // The frozen `scale` is saved too, and the bytes are those `save_file` wrote.
    let url = temporaryURL()
    defer { try? FileManager.default.removeItem(at: url) }
    try saveParameters(of: model, to: url, as: Float.self)
    #expect(try Data(contentsOf: url) == Data(contentsOf: torchFile))
  }

  @Test func floatCheckpointLoadsIntoADoubleModel() throws {
    let model = TinyNet<Double>()
    try loadParameters(
      into: model, from: fixtures.appendingPathComponent("torch_model.safetensors"), as: Double.self
    )
    for (name, tensor) in try expected("torch_model.json") {
      #expect(model.values[name] == Tensor(shape: tensor.shape, scalars: tensor.values ?? []))
    }
  }

  @Test func doubleModelRoundTripsWithMetadata() throws {
    let source = TinyNet<Double>()
    for (offset, named) in namedParameters(of: source, as: Double.self).enumerated() {
      named.parameter.value = randomTensor(named.parameter.shape, seed: UInt64(offset))
    }
    let url = temporaryURL()
    defer { try? FileManager.default.removeItem(at: url) }
    try saveParameters(of: source, to: url, as: Double.self, metadata: ["epoch": "3"])
    #expect(try Safetensors.read(from: url).metadata == ["epoch": "3"])
    let target = TinyNet<Double>()
    try loadParameters(into: target, from: url, as: Double.self)
    #expect(target.values == source.values)
  }

  /// Files that do not fit `TinyNet`, and the error a strict load raises.
  static let mismatches:
    [(
      label: String, change: @Sendable (inout [String: Tensor<Float>]) -> Void,
      error: CheckpointError
    )] = [
      ("unexpected", { $0["extra.weight"] = [1] }, .unexpectedParameters(["extra.weight"])),
      ("missing", { $0["blocks.0.bias"] = nil }, .missingParameters(["blocks.0.bias"])),
      (
        "shape", { $0["layer.bias"] = [1, 2, 3] },
        .shapeMismatch(name: "layer.bias", modelShape: [2], fileShape: [3])
      ),
    ]

  @Test(arguments: 0..<3)
  func mismatchedCheckpointIsRejectedAndLeavesTheModelUnchanged(index: Int) throws {
    let (label, change, error) = Self.mismatches[index]
    var tensors = TinyNet<Float>().values.mapValues { $0 + 1 }
    change(&tensors)
    let url = temporaryURL()
    defer { try? FileManager.default.removeItem(at: url) }
    try Safetensors.write(tensors, to: url)
    let model = TinyNet<Float>()
    let before = model.values
    #expect(throws: error, "\(label)") {
      try loadParameters(into: model, from: url, as: Float.self)
    }
    #expect(model.values == before)
  }

  @Test func nonStrictLoadSkipsUnexpectedAndMissingNamesButNotShapes() throws {
    var tensors = TinyNet<Float>().values.mapValues { $0 + 1 }
    tensors["blocks.0.bias"] = nil
    tensors["running_mean"] = [5]
    let url = temporaryURL()
    defer { try? FileManager.default.removeItem(at: url) }
    try Safetensors.write(tensors, to: url)
    let model = TinyNet<Float>()
    let report = try loadParameters(into: model, from: url, as: Float.self, strict: false)
    #expect(report.missing == ["blocks.0.bias"] && report.unexpected == ["running_mean"])
    #expect(report.loaded == ["layer.weight", "layer.bias", "blocks.0.weight", "scale"])
    #expect(model.values["layer.weight"] == Tensor.ones([2, 3]))
    #expect(model.values["blocks.0.bias"] == Tensor.zeros([2]))

    tensors["scale"] = [1]
    try Safetensors.write(tensors, to: url)
    #expect(throws: CheckpointError.shapeMismatch(name: "scale", modelShape: [2], fileShape: [1])) {
      try loadParameters(into: TinyNet<Float>(), from: url, as: Float.self, strict: false)
    }
  }
}
