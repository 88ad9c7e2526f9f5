import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

// MARK: - Element types

/// The element types a safetensors header can declare, named as in the header (`"F32"`).
///
/// Every type of the reference implementation whose elements take whole bytes is known, so a file
/// holding, say, PyTorch's `int64` step counters can be read and validated; only `F16`, `BF16`,
/// `F32` and `F64` can be turned into a ``Tensor`` (see ``SafetensorsFile/tensor(named:as:)``).
/// The sub-byte types (`F4`, `F6_E2M3`, `F6_E3M2`) are not supported.
public enum SafetensorsDtype: String, Sendable, CaseIterable {
  /// Booleans, one byte each.
  case bool = "BOOL"
  /// Unsigned 8-bit integers.
  case uint8 = "U8"
  /// Signed 8-bit integers.
  case int8 = "I8"
  /// 8-bit floats with 5 exponent and 2 mantissa bits.
  case float8E5M2 = "F8_E5M2"
  /// 8-bit floats with 4 exponent and 3 mantissa bits.
  case float8E4M3 = "F8_E4M3"
  /// 8-bit exponent-only scale factors (microscaling formats).
  case float8E8M0 = "F8_E8M0"
  /// 8-bit floats, 4 exponent bits, no infinities or negative zero.
  case float8E4M3FNUZ = "F8_E4M3FNUZ"
  /// 8-bit floats, 5 exponent bits, no infinities or negative zero.
  case float8E5M2FNUZ = "F8_E5M2FNUZ"
  /// Signed 16-bit integers.
  case int16 = "I16"
  /// Unsigned 16-bit integers.
  case uint16 = "U16"
  /// IEEE 754 half precision: 1 sign, 5 exponent, 10 mantissa bits.
  case float16 = "F16"
  /// bfloat16: the top 16 bits of an IEEE single (1 sign, 8 exponent, 7 mantissa bits).
  case bfloat16 = "BF16"
  /// Signed 32-bit integers.
  case int32 = "I32"
  /// Unsigned 32-bit integers.
  case uint32 = "U32"
  /// IEEE 754 single precision.
  case float32 = "F32"
  /// Complex numbers made of two single-precision floats.
  case complex64 = "C64"
  /// Signed 64-bit integers.
  case int64 = "I64"
  /// Unsigned 64-bit integers.
  case uint64 = "U64"
  /// IEEE 754 double precision.
  case float64 = "F64"

  /// Bytes per element.
  public var byteCount: Int {
    switch self {
    case .bool, .uint8, .int8, .float8E5M2, .float8E4M3, .float8E8M0, .float8E4M3FNUZ,
      .float8E5M2FNUZ:
      return 1
    case .int16, .uint16, .float16, .bfloat16: return 2
    case .int32, .uint32, .float32: return 4
    case .complex64, .int64, .uint64, .float64: return 8
    }
  }

  /// Whether ``SafetensorsFile/tensor(named:as:)`` can read elements of this type.
  public var isConvertibleToTensor: Bool {
    switch self {
    case .float16, .bfloat16, .float32, .float64: return true
    default: return false
    }
  }
}

// MARK: - Errors

/// Why a safetensors file could not be read or written.
///
/// Every problem in a file's bytes is reported with one of these, never a crash; the description
/// names the tensor, the offsets and the sizes involved. Offsets are relative to the start of the
/// data buffer (the bytes after the header), as in the header itself.
public enum SafetensorsError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The file has fewer than the 8 bytes that hold the header length.
  case fileTooShort(byteCount: Int)
  /// The header length (the first 8 bytes, little-endian) reaches past the end of the file.
  case headerLengthPastEnd(headerLength: UInt64, fileSize: Int)
  /// The header is not valid UTF-8 JSON.
  case invalidHeaderJSON(reason: String)
  /// The header is valid JSON but not an object.
  case headerNotAnObject
  /// A header entry (a tensor, or `__metadata__`) lacks a field or has one of the wrong type.
  case malformedEntry(name: String, reason: String)
  /// A tensor declares an element type this implementation does not know.
  case unknownDtype(tensor: String, dtype: String)
  /// A tensor's `data_offsets` end before they begin.
  case offsetsOutOfOrder(tensor: String, begin: Int, end: Int)
  /// A tensor's data begins before the previous tensor's (in offset order) ends.
  case overlappingTensors(tensor: String, begin: Int, previous: String, previousEnd: Int)
  /// A tensor's data ends past the end of the data buffer.
  case offsetsPastBuffer(tensor: String, end: Int, bufferSize: Int)
  /// A tensor's shape and element type need a different number of bytes than its offsets span.
  case shapeMismatch(
    tensor: String, shape: [Int], dtype: String, expectedBytes: Int, actualBytes: Int)
  /// Bytes of the data buffer that belong to no tensor (the reference implementation rejects such
  /// files too: every byte must be accounted for).
  case uncoveredBytes(begin: Int, end: Int)
  /// No tensor of this name is in the file.
  case noSuchTensor(name: String)
  /// The tensor's element type cannot be converted to a floating-point ``Tensor``.
  case unsupportedConversion(tensor: String, dtype: String)
  /// A tensor to be written has a name the format reserves (`__metadata__`).
  case reservedTensorName(String)
  /// The tensors to be written have an element type the writer does not support.
  case unsupportedScalarType(String)
  /// Reading or writing the file failed.
  case io(path: String, reason: String)

  /// What went wrong and where.
  public var description: String {
    switch self {
    case .fileTooShort(let byteCount):
      return "safetensors: the file has \(byteCount) bytes, fewer than the 8-byte header length"
    case .headerLengthPastEnd(let headerLength, let fileSize):
      return """
        safetensors: the header length \(headerLength) reaches past the end of the file \
        (8 + \(headerLength) bytes needed, the file has \(fileSize))
        """
    case .invalidHeaderJSON(let reason):
      return "safetensors: the header is not valid UTF-8 JSON: \(reason)"
    case .headerNotAnObject:
      return "safetensors: the header is JSON but not an object of tensor entries"
    case .malformedEntry(let name, let reason):
      return "safetensors: header entry \"\(name)\" is malformed: \(reason)"
    case .unknownDtype(let tensor, let dtype):
      return "safetensors: tensor \"\(tensor)\" has unknown dtype \"\(dtype)\""
    case .offsetsOutOfOrder(let tensor, let begin, let end):
      return "safetensors: tensor \"\(tensor)\" has data_offsets [\(begin), \(end)] that end "
        + "before they begin"
    case .overlappingTensors(let tensor, let begin, let previous, let previousEnd):
      return """
        safetensors: tensor "\(tensor)" begins at byte \(begin), inside tensor "\(previous)" \
        which ends at byte \(previousEnd)
        """
    case .offsetsPastBuffer(let tensor, let end, let bufferSize):
      return """
        safetensors: tensor "\(tensor)" ends at byte \(end), past the end of the \
        \(bufferSize)-byte data buffer
        """
    case .shapeMismatch(let tensor, let shape, let dtype, let expectedBytes, let actualBytes):
      return """
        safetensors: tensor "\(tensor)" of shape \(shape) and dtype \(dtype) needs \
        \(expectedBytes) bytes, but its data_offsets span \(actualBytes)
        """
    case .uncoveredBytes(let begin, let end):
      return "safetensors: bytes \(begin)..<\(end) of the data buffer belong to no tensor"
    case .noSuchTensor(let name):
      return "safetensors: the file has no tensor named \"\(name)\""
    case .unsupportedConversion(let tensor, let dtype):
      return """
        safetensors: tensor "\(tensor)" has dtype \(dtype); only F16, BF16, F32 and F64 \
        convert to a floating-point Tensor
        """
    case .reservedTensorName(let name):
      return "safetensors: \"\(name)\" is reserved for the metadata and cannot name a tensor"
    case .unsupportedScalarType(let type):
      return "safetensors: cannot write tensors of \(type); Float and Double are supported"
    case .io(let path, let reason):
      return "safetensors: \(path): \(reason)"
    }
  }
}

// MARK: - A file in memory

/// A parsed and validated safetensors file: its tensors' descriptions, its metadata and its bytes.
///
/// Reading validates the whole header (see ``Safetensors/decode(_:)``), so every entry here is
/// consistent with the data; elements are converted only when asked for, by name.
public struct SafetensorsFile: Sendable {
  /// One tensor as the header describes it.
  public struct Entry: Sendable, Equatable {
    /// The element type.
    public let dtype: SafetensorsDtype
    /// The size of each axis (`[]` for a scalar).
    public let shape: [Int]
    /// Where the elements lie, in bytes from the start of the data buffer.
    public let dataOffsets: Range<Int>

    /// An entry with these fields (they are checked against a file only when one is decoded).
    public init(dtype: SafetensorsDtype, shape: [Int], dataOffsets: Range<Int>) {
      self.dtype = dtype
      self.shape = shape
      self.dataOffsets = dataOffsets
    }
  }

  /// The tensors, by name.
  public let entries: [String: Entry]
  /// The free-form string pairs stored under `__metadata__` (empty when there are none).
  public let metadata: [String: String]
  /// The whole file.
  private let bytes: Data
  /// Where the data buffer begins, counted from the start of `bytes`.
  private let bufferStart: Int

  fileprivate init(
    entries: [String: Entry], metadata: [String: String], bytes: Data, bufferStart: Int
  ) {
    self.entries = entries
    self.metadata = metadata
    self.bytes = bytes
    self.bufferStart = bufferStart
  }

  /// The tensor names in byte-wise order (the order the writer lays tensors out in).
  public var names: [String] { entries.keys.sorted(by: Safetensors.byteOrder) }

  /// The tensor called `name`, its elements converted to `Scalar`.
  ///
  /// `F32` and `F64` elements convert like `Scalar(x)` (so `F64` into `Float` rounds); `F16` and
  /// `BF16` are widened exactly, infinities and NaNs included. Throws
  /// ``SafetensorsError/noSuchTensor(name:)``, or
  /// ``SafetensorsError/unsupportedConversion(tensor:dtype:)`` for an integer or 8-bit type.
  public func tensor<Scalar: TensorScalar>(named name: String, as _: Scalar.Type = Scalar.self)
    throws -> Tensor<Scalar>
  {
    guard let entry = entries[name] else { throw SafetensorsError.noSuchTensor(name: name) }
    guard entry.dtype.isConvertibleToTensor else {
      throw SafetensorsError.unsupportedConversion(tensor: name, dtype: entry.dtype.rawValue)
    }
    let count = entry.dataOffsets.count / entry.dtype.byteCount
    let start = bufferStart + entry.dataOffsets.lowerBound
    let scalars = bytes.withUnsafeBytes { raw -> [Scalar] in
      // Little-endian on disk; `loadUnaligned` because offsets need not be aligned.
      func word<Word: FixedWidthInteger>(_ index: Int, _: Word.Type) -> Word {
        Word(
          littleEndian: raw.loadUnaligned(
            fromByteOffset: start + index * MemoryLayout<Word>.size, as: Word.self))
      }
      switch entry.dtype {
      case .float32:
        return (0..<count).map { Scalar(Float(bitPattern: word($0, UInt32.self))) }
      case .float64:
        return (0..<count).map { Scalar(Double(bitPattern: word($0, UInt64.self))) }
      case .float16:
        return (0..<count).map { Scalar(Safetensors.floatFromHalf(word($0, UInt16.self))) }
      default:
        return (0..<count).map { Scalar(Safetensors.floatFromBFloat16(word($0, UInt16.self))) }
      }
    }
    return Tensor(shape: TensorShape(entry.shape), scalars: scalars)
  }

  /// Every tensor, converted to `Scalar`; throws if any has a type that does not convert.
  public func tensors<Scalar: TensorScalar>(as _: Scalar.Type = Scalar.self) throws
    -> [String: Tensor<Scalar>]
  {
    var result: [String: Tensor<Scalar>] = [:]
    for name in names { result[name] = try tensor(named: name, as: Scalar.self) }
    return result
  }
}

// MARK: - Reading and writing

/// Reading and writing the safetensors format of Hugging Face, the format PyTorch checkpoints
/// are commonly shared in.
///
/// A file is: 8 bytes holding the header length N (little-endian `UInt64`); N bytes of UTF-8 JSON,
/// `{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
/// "__metadata__": {"key": "value"}}`; then the data buffer, which the offsets index. Tensors are
/// contiguous, row-major and little-endian, and cover the buffer exactly, without gaps.
///
/// The writer produces the same bytes as the reference implementation (`safetensors.torch.save`)
/// for the same tensors and metadata: compact JSON with metadata first, tensors laid out in
/// byte-wise name order, the header padded with spaces to a multiple of 8 bytes so the data that
/// follows is aligned.
public enum Safetensors {
  /// The header key that holds the metadata rather than a tensor.
  public static let metadataKey = "__metadata__"

  /// Reads the whole file at `url` into memory and validates it.
  ///
  /// Throws ``SafetensorsError`` for any problem: ``SafetensorsError/io(path:reason:)`` if the file
  /// cannot be read, the other cases as ``decode(_:)`` does.
  public static func read(from url: URL) throws -> SafetensorsFile {
    let data: Data
    do {
      // Not memory-mapped: a mapped file truncated by another process would crash the reader.
      data = try Data(contentsOf: url)
    } catch {
      throw SafetensorsError.io(path: url.path, reason: describe(error))
    }
    return try decode(data)
  }

  /// Parses and validates the bytes of a safetensors file.
  ///
  /// Checks, in this order: the header length fits in the file; the header is a JSON object whose
  /// entries each have a known `dtype`, a `shape` of non-negative integers and two non-negative
  /// `data_offsets`, and whose `__metadata__` (if any) maps strings to strings; then, walking the
  /// tensors in offset order, that each one's offsets are ordered, lie inside the buffer, span
  /// exactly the bytes its shape and dtype need, and begin where the previous one ended; finally
  /// that the last one ends at the end of the buffer.
  public static func decode(_ data: Data) throws -> SafetensorsFile {
    // Work with offsets from 0 whatever `data.startIndex` is (a slice of a larger `Data`).
    let fileSize = data.count
    guard fileSize >= 8 else { throw SafetensorsError.fileTooShort(byteCount: fileSize) }
    let headerLength = data.withUnsafeBytes {
      UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))
    }
    guard headerLength <= UInt64(fileSize - 8) else {
      throw SafetensorsError.headerLengthPastEnd(headerLength: headerLength, fileSize: fileSize)
    }
    let bufferStart = 8 + Int(headerLength)
    let headerStart = data.index(data.startIndex, offsetBy: 8)
    let headerEnd = data.index(data.startIndex, offsetBy: bufferStart)
    let header = try parseHeader(data[headerStart..<headerEnd])
    let bufferSize = fileSize - bufferStart

    var entries: [String: SafetensorsFile.Entry] = [:]
    // In name order, so a file with several problems always reports the same one.
    for (name, raw) in header.tensors.sorted(by: { byteOrder($0.name, $1.name) }) {
      guard let dtype = SafetensorsDtype(rawValue: raw.dtype) else {
        throw SafetensorsError.unknownDtype(tensor: name, dtype: raw.dtype)
      }
      guard raw.begin <= raw.end else {
        throw SafetensorsError.offsetsOutOfOrder(tensor: name, begin: raw.begin, end: raw.end)
      }
      guard raw.end <= bufferSize else {
        throw SafetensorsError.offsetsPastBuffer(tensor: name, end: raw.end, bufferSize: bufferSize)
      }
      let actualBytes = raw.end - raw.begin
      let expectedBytes = raw.shape.reduce(Optional(dtype.byteCount)) { product, dimension in
        product.flatMap { value in
          let (result, overflow) = value.multipliedReportingOverflow(by: dimension)
          return overflow ? nil : result
        }
      }
      guard let expectedBytes else {
        throw SafetensorsError.malformedEntry(
          name: name, reason: "shape \(raw.shape) has too many elements to address")
      }
      guard expectedBytes == actualBytes else {
        throw SafetensorsError.shapeMismatch(
          tensor: name, shape: raw.shape, dtype: dtype.rawValue, expectedBytes: expectedBytes,
          actualBytes: actualBytes)
      }
      entries[name] = SafetensorsFile.Entry(
        dtype: dtype, shape: raw.shape, dataOffsets: raw.begin..<raw.end)
    }

    // Like the reference: sorted by offsets, each tensor must begin where the previous one ended.
    let ordered = entries.sorted {
      ($0.value.dataOffsets.lowerBound, $0.value.dataOffsets.upperBound, $0.key)
        < ($1.value.dataOffsets.lowerBound, $1.value.dataOffsets.upperBound, $1.key)
    }
    var covered = 0
    var previous = ""
    for (name, entry) in ordered {
      if entry.dataOffsets.lowerBound < covered {
        throw SafetensorsError.overlappingTensors(
          tensor: name, begin: entry.dataOffsets.lowerBound, previous: previous,
          previousEnd: covered)
      }
      if entry.dataOffsets.lowerBound > covered {
        throw SafetensorsError.uncoveredBytes(begin: covered, end: entry.dataOffsets.lowerBound)
      }
      covered = entry.dataOffsets.upperBound
      previous = name
    }
    guard covered == bufferSize else {
      throw SafetensorsError.uncoveredBytes(begin: covered, end: bufferSize)
    }
    return SafetensorsFile(
      entries: entries, metadata: header.metadata, bytes: data, bufferStart: bufferStart)
  }

  /// The bytes of a safetensors file holding `tensors` (as `F32` for `Float`, `F64` for `Double`)
  /// and `metadata` (omitted from the header when empty, as the reference does).
  ///
  /// Throws ``SafetensorsError/reservedTensorName(_:)`` for a tensor named `__metadata__`.
  public static func encode<Scalar: TensorScalar>(
    _ tensors: [String: Tensor<Scalar>], metadata: [String: String] = [:]
  ) throws -> Data {
    let dtype: SafetensorsDtype
    if Scalar.self == Float.self {
      dtype = .float32
    } else if Scalar.self == Double.self {
      dtype = .float64
    } else {
      throw SafetensorsError.unsupportedScalarType("\(Scalar.self)")
    }
    if tensors[metadataKey] != nil { throw SafetensorsError.reservedTensorName(metadataKey) }
    let ordered = tensors.sorted { byteOrder($0.key, $1.key) }

    var json = "{"
    var fields: [String] = []
    if !metadata.isEmpty {
      let pairs = metadata.sorted { byteOrder($0.key, $1.key) }.map { key, value in
        "\(jsonString(key)):\(jsonString(value))"
      }
      fields.append("\(jsonString(metadataKey)):{\(pairs.joined(separator: ","))}")
    }
    var offset = 0
    for (name, tensor) in ordered {
      let end = offset + tensor.count * dtype.byteCount
      let shape = tensor.shape.map(String.init).joined(separator: ",")
      fields.append(
        "\(jsonString(name)):{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(shape)],"
          + "\"data_offsets\":[\(offset),\(end)]}")
      offset = end
    }
    json += fields.joined(separator: ",") + "}"
    var header = Array(json.utf8)
    // Spaces are JSON whitespace, so the padding keeps the header valid.
    header += Array(repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)

    var bytes: [UInt8] = []
    bytes.reserveCapacity(8 + header.count + offset)
    appendLittleEndian(UInt64(header.count), to: &bytes)
    bytes += header
    for (_, tensor) in ordered {
      for scalar in tensor.scalars {
        switch dtype {
        case .float32: appendLittleEndian(Float(scalar).bitPattern, to: &bytes)
        default: appendLittleEndian(Double(scalar).bitPattern, to: &bytes)
        }
      }
    }
    return Data(bytes)
  }

  /// Writes `tensors` and `metadata` to `url` as ``encode(_:metadata:)`` lays them out.
  ///
  /// The write is atomic: the bytes go to a temporary file in the same directory, which is flushed
  /// to disk and then renamed over `url`, so a reader (or a crash) never sees half a checkpoint.
  /// The temporary file is removed if anything fails.
  public static func write<Scalar: TensorScalar>(
    _ tensors: [String: Tensor<Scalar>], metadata: [String: String] = [:], to url: URL
  ) throws {
    try writeAtomically(encode(tensors, metadata: metadata), to: url)
  }

  // MARK: Helpers

  /// Orders names by their UTF-8 bytes, as the reference implementation (Rust) does.
  static func byteOrder(_ lhs: String, _ rhs: String) -> Bool {
    lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
  }

  /// Widens an IEEE half-precision bit pattern to `Float` exactly.
  ///
  /// Written with bit operations because `Float16` is unavailable on macOS on Intel.
  static func floatFromHalf(_ half: UInt16) -> Float {
    let sign: UInt32 = UInt32(half >> 15) << 31
    let exponent = UInt32(half >> 10) & 0x1f
    let mantissa = UInt32(half) & 0x3ff
    switch exponent {
    case 0:
      // Zero or subnormal: mantissa · 2^-24, exact in Float.
      let magnitude = Float(mantissa) * 0x1p-24
      return sign == 0 ? magnitude : -magnitude
    case 0x1f:
      // Infinity or NaN; the NaN payload moves to the top of the wider mantissa.
      return Float(bitPattern: sign | 0x7f80_0000 | mantissa << 13)
    default:
      return Float(bitPattern: sign | (exponent + 127 - 15) << 23 | mantissa << 13)
    }
  }

  /// Widens a bfloat16 bit pattern to `Float` exactly: it is the top half of a `Float`.
  static func floatFromBFloat16(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
  }

  /// Appends the little-endian bytes of `value`.
  private static func appendLittleEndian<Word: FixedWidthInteger>(
    _ value: Word, to bytes: inout [UInt8]
  ) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
  }

  /// `string` as a JSON string literal, escaped the way serde_json (the reference) escapes it:
  /// quote, backslash and control characters only; other characters stay raw UTF-8.
  private static func jsonString(_ string: String) -> String {
    var result = "\""
    for scalar in string.unicodeScalars {
      switch scalar {
      case "\"": result += "\\\""
      case "\\": result += "\\\\"
      case "\n": result += "\\n"
      case "\r": result += "\\r"
      case "\t": result += "\\t"
      case "\u{08}": result += "\\b"
      case "\u{0C}": result += "\\f"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: result.unicodeScalars.append(scalar)
      }
    }
    return result + "\""
  }

  /// A readable reason from a Foundation error.
  static func describe(_ error: any Error) -> String {
    let nsError = error as NSError
    if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError {
      return "\(nsError.localizedDescription) (\(underlying.localizedDescription))"
    }
    return nsError.localizedDescription
  }

  /// Writes `data` to a temporary file next to `url`, flushes it and renames it over `url`.
  static func writeAtomically(_ data: Data, to url: URL) throws {
    let temporary = url.deletingLastPathComponent().appendingPathComponent(
      ".\(url.lastPathComponent).\(UUID().uuidString).tmp")
    do {
      try data.write(to: temporary, options: .withoutOverwriting)
      // Flush before the rename, or a crash could leave the new name on an empty file.
      let handle = try FileHandle(forWritingTo: temporary)
      defer { try? handle.close() }
      try handle.synchronize()
    } catch {
      try? FileManager.default.removeItem(at: temporary)
      throw SafetensorsError.io(
        path: url.path,
        reason: "cannot write the temporary file \(temporary.lastPathComponent): "
          + describe(error))
    }
    guard rename(temporary.path, url.path) == 0 else {
      let reason = String(cString: strerror(errno))
      try? FileManager.default.removeItem(at: temporary)
      throw SafetensorsError.io(
        path: url.path,
        reason: "cannot rename \(temporary.lastPathComponent) over it: \(reason)")
    }
  }
}

// MARK: - Header parsing

/// A tensor entry as the JSON spells it, before validation against the data.
private struct RawEntry: Decodable {
  let dtype: String
  let shape: [Int]
  let begin: Int
  let end: Int

  enum CodingKeys: String, CodingKey {
    case dtype
    case shape
    case dataOffsets = "data_offsets"
  }

  init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    dtype = try container.decode(String.self, forKey: .dtype)
    shape = try container.decode([Int].self, forKey: .shape)
    let offsets = try container.decode([Int].self, forKey: .dataOffsets)
    guard offsets.count == 2 else {
      throw RawEntryProblem("data_offsets has \(offsets.count) numbers, not 2")
    }
    guard shape.allSatisfy({ $0 >= 0 }) else {
      throw RawEntryProblem("shape \(shape) has a negative dimension")
    }
    guard TensorShape(validating: shape) != nil else {
      throw RawEntryProblem(
        "shape \(shape) has more than \(TensorShape.maximumRank) axes or a dimension above 2³¹ − 1")
    }
    guard offsets.allSatisfy({ $0 >= 0 }) else {
      throw RawEntryProblem("data_offsets \(offsets) has a negative offset")
    }
    begin = offsets[0]
    end = offsets[1]
  }
}

/// A problem inside one entry found while decoding it; the caller adds the entry's name.
private struct RawEntryProblem: Error {
  let reason: String
  init(_ reason: String) { self.reason = reason }
}

/// Any JSON object key.
private struct AnyKey: CodingKey {
  let stringValue: String
  var intValue: Int? { nil }
  init(stringValue: String) { self.stringValue = stringValue }
  init?(intValue: Int) { nil }
}

/// The whole header: tensor entries by name, and the metadata.
private struct RawHeader: Decodable {
  var tensors: [(name: String, entry: RawEntry)] = []
  var metadata: [String: String] = [:]

  init(from decoder: any Decoder) throws {
    let container: KeyedDecodingContainer<AnyKey>
    do {
      container = try decoder.container(keyedBy: AnyKey.self)
    } catch {
      throw SafetensorsError.headerNotAnObject
    }
    for key in container.allKeys {
      let name = key.stringValue
      do {
        if name == Safetensors.metadataKey {
          metadata = try container.decode([String: String].self, forKey: key)
        } else {
          tensors.append((name, try container.decode(RawEntry.self, forKey: key)))
        }
      } catch let problem as RawEntryProblem {
        throw SafetensorsError.malformedEntry(name: name, reason: problem.reason)
      } catch let error as DecodingError {
        throw SafetensorsError.malformedEntry(name: name, reason: reason(for: error))
      }
    }
  }

  /// A short reason for a decoding error inside one entry: which field, what was wrong.
  private func reason(for error: DecodingError) -> String {
    func field(_ path: [any CodingKey]) -> String {
      let inner = path.dropFirst().map { $0.intValue.map(String.init) ?? $0.stringValue }
      return inner.isEmpty ? "the entry itself" : "field \"\(inner.joined(separator: "."))\""
    }
    switch error {
    case .keyNotFound(let key, _): return "missing field \"\(key.stringValue)\""
    case .typeMismatch(let type, let context):
      return "\(field(context.codingPath)) is not of type \(type)"
    case .valueNotFound(let type, let context):
      return "\(field(context.codingPath)) is null, expected \(type)"
    case .dataCorrupted(let context):
      return "\(field(context.codingPath)): \(context.debugDescription)"
    @unknown default: return "\(error)"
    }
  }
}

extension Safetensors {
  /// Decodes the header JSON, mapping each failure to the matching ``SafetensorsError``.
  fileprivate static func parseHeader(_ bytes: Data) throws -> RawHeader {
    do {
      return try JSONDecoder().decode(RawHeader.self, from: bytes)
    } catch let error as SafetensorsError {
      throw error
    } catch DecodingError.dataCorrupted {
      // JSONDecoder says only "not valid JSON"; JSONSerialization says where the syntax breaks.
      do {
        _ = try JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed])
      } catch {
        let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
        throw SafetensorsError.invalidHeaderJSON(reason: detail ?? describe(error))
      }
      // Syntactically fine, so a number JSONDecoder could not take as an `Int` is the culprit.
      throw SafetensorsError.invalidHeaderJSON(
        reason: "a shape or offset number is fractional or too large for an integer")
    } catch {
      throw SafetensorsError.invalidHeaderJSON(reason: describe(error))
    }
  }
}
