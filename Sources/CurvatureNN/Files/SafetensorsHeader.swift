#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Any JSON value, decoded with `JSONDecoder` so that headers can be validated field by
/// field with precise messages.
enum HeaderJSON: Decodable, Sendable {
  case null
  case bool(Bool)
  case integer(Int)
  case number(Double)
  case string(String)
  case array([HeaderJSON])
  case object([String: HeaderJSON])

  init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let value = try? container.decode(Bool.self) {
      self = .bool(value)
    } else if let value = try? container.decode(Int.self) {
      self = .integer(value)
    } else if let value = try? container.decode(Double.self) {
      self = .number(value)
    } else if let value = try? container.decode(String.self) {
      self = .string(value)
    } else if let value = try? container.decode([HeaderJSON].self) {
      self = .array(value)
    } else {
      self = .object(try container.decode([String: HeaderJSON].self))
    }
  }

  /// The value as compact JSON-like text (for error messages).
  var text: String {
    switch self {
    case .null: "null"
    case .bool(let b): "\(b)"
    case .integer(let i): "\(i)"
    case .number(let d): "\(d)"
    case .string(let s): "\"\(s)\""
    case .array(let items): "[\(items.map(\.text).joined(separator: ","))]"
    case .object(let fields): "{\(fields.keys.sorted().map { "\"\($0)\":\(fields[$0]!.text)" }.joined(separator: ","))}"
    }
  }
}

/// The safetensors dtype names and their element sizes (every dtype of the reference
/// implementation with a whole number of bytes), and which of them can be read as floats.
enum SafetensorsDType {
  static let sizes: [String: Int] = [
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8,
  ]
  static let readable: [String: ElementKind] = ["F16": .float16, "BF16": .bfloat16, "F32": .float32, "F64": .float64]
  static let readableList = "F32, F64, F16 or BF16"
}

/// One tensor's entry in a safetensors header.
public struct SafetensorsTensorInfo: Sendable, Hashable {
  /// The tensor's name (the header key).
  public let name: String
  /// The safetensors dtype name: `"F32"`, `"BF16"`, `"I64"`, ...
  public let dtype: String
  /// The extent of each axis.
  public let shape: [Int]
  /// The tensor's bytes, relative to the start of the data buffer.
  public let dataOffsets: Range<Int>

  /// Creates an entry from its fields.
  /// - Parameters:
  ///   - name: The tensor's name.
  ///   - dtype: The safetensors dtype name.
  ///   - shape: The extent of each axis.
  ///   - dataOffsets: The tensor's bytes relative to the data buffer.
  public init(name: String, dtype: String, shape: [Int], dataOffsets: Range<Int>) {
    self.name = name
    self.dtype = dtype
    self.shape = shape
    self.dataOffsets = dataOffsets
  }
}

/// The parsed and validated header of a safetensors file.
struct SafetensorsHeader: Sendable {
  static let maximumHeaderLength = 100_000_000

  var tensors: [SafetensorsTensorInfo]
  var metadata: [String: String]
  /// The file offset of the data buffer (8 + header length).
  var dataStart: Int

  /// Reads the header of `file` and validates every entry against the data buffer: known
  /// dtypes, non-negative integer shapes, offsets within the buffer whose length matches
  /// shape × dtype, and tensors that tile the buffer without gaps or overlaps.
  /// - Throws: `FileFormatError` naming the path, the tensor or byte, and the problem.
  static func read(from file: RandomAccessFile) throws -> SafetensorsHeader {
    let context = ErrorContext(path: file.path)
    guard file.size >= 8 else {
      throw context.error(
        "byte 0", "file too short for a safetensors header", expected: "at least 8 bytes (the header length)",
        found: "\(file.size) bytes")
    }
    let length = try file.bytes(at: 0, count: 8).littleEndianUInt64(at: 0)
    guard length <= UInt64(maximumHeaderLength) else {
      throw context.error(
        "byte 0", "header length too large (not a safetensors file?)",
        expected: "at most \(maximumHeaderLength) bytes", found: "\(length) bytes")
    }
    guard Int(length) <= file.size - 8 else {
      throw context.error(
        "byte 0", "header length beyond the end of the file", expected: "at most \(file.size - 8) bytes",
        found: "\(length) bytes")
    }
    let headerBytes = try file.bytes(at: 8, count: Int(length))
    let json: HeaderJSON
    do {
      json = try JSONDecoder().decode(HeaderJSON.self, from: Data(headerBytes))
    } catch {
      let preview = String(decoding: headerBytes.prefix(40), as: UTF8.self)
      throw context.error(
        "byte 8", "header is not valid JSON", expected: "a UTF-8 JSON object of \(length) bytes",
        found: "text starting with '\(preview)'")
    }
    guard case .object(let fields) = json else {
      throw context.error("byte 8", "header is not a JSON object", expected: "a JSON object", found: json.text)
    }
    let dataStart = 8 + Int(length)
    let bufferLength = file.size - dataStart
    var metadata = [String: String]()
    var tensors = [SafetensorsTensorInfo]()
    for (name, value) in fields {
      if name == "__metadata__" {
        guard case .object(let entries) = value else {
          throw context.error("key '__metadata__'", "invalid metadata", expected: "an object of strings", found: value.text)
        }
        for (key, entry) in entries {
          guard case .string(let text) = entry else {
            throw context.error(
              "key '__metadata__'", "invalid metadata", expected: "a string value for '\(key)'", found: entry.text)
          }
          metadata[key] = text
        }
        continue
      }
      tensors.append(try parseTensor(name, value, bufferLength: bufferLength, context: context))
    }
    tensors.sort { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound, $0.name) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound, $1.name) }
    var expectedStart = 0
    for tensor in tensors {
      guard tensor.dataOffsets.lowerBound == expectedStart else {
        let what = tensor.dataOffsets.lowerBound > expectedStart ? "gap before" : "overlapping"
        throw context.error(
          "tensor '\(tensor.name)'", "data offsets not contiguous (\(what) the tensor)",
          expected: "a start at buffer offset \(expectedStart)", found: "\(tensor.dataOffsets)")
      }
      expectedStart = tensor.dataOffsets.upperBound
    }
    guard expectedStart == bufferLength else {
      throw context.error(
        "byte \(dataStart + expectedStart)", "data buffer has bytes that belong to no tensor",
        expected: "a buffer of \(expectedStart) bytes", found: "\(bufferLength) bytes")
    }
    return SafetensorsHeader(tensors: tensors, metadata: metadata, dataStart: dataStart)
  }

  private static func parseTensor(_ name: String, _ value: HeaderJSON, bufferLength: Int, context: ErrorContext) throws
    -> SafetensorsTensorInfo
  {
    let location = "tensor '\(name)'"
    guard case .object(let fields) = value else {
      throw context.error(location, "invalid tensor entry", expected: "an object with dtype, shape, data_offsets", found: value.text)
    }
    func field(_ key: String) throws -> HeaderJSON {
      guard let value = fields[key] else {
        throw context.error(
          location, "missing '\(key)'", expected: "the fields dtype, shape and data_offsets", found: value.text)
      }
      return value
    }
    func integers(_ key: String) throws -> [Int]? {
      guard case .array(let items) = try field(key) else { return nil }
      var result = [Int]()
      for item in items {
        guard case .integer(let number) = item, number >= 0 else { return nil }
        result.append(number)
      }
      return result
    }
    guard case .string(let dtype) = try field("dtype") else {
      throw context.error(location, "invalid dtype", expected: "a dtype string such as \"F32\"", found: try field("dtype").text)
    }
    guard let itemSize = SafetensorsDType.sizes[dtype] else {
      throw context.error(
        location, "unknown dtype '\(dtype)'", expected: "a safetensors dtype (\(SafetensorsDType.readableList) to read)",
        found: "'\(dtype)'")
    }
    guard let shape = try integers("shape") else {
      throw context.error(location, "invalid shape", expected: "an array of non-negative integers", found: try field("shape").text)
    }
    guard let offsets = try integers("data_offsets"), offsets.count == 2, offsets[0] <= offsets[1] else {
      throw context.error(
        location, "invalid data_offsets", expected: "[begin, end] with 0 <= begin <= end",
        found: try field("data_offsets").text)
    }
    guard offsets[1] <= bufferLength else {
      throw context.error(
        location, "data offsets out of range", expected: "offsets within the \(bufferLength)-byte data buffer",
        found: "\(offsets)")
    }
    guard let count = checkedElementCount(shape), count <= Int.max / itemSize, count * itemSize == offsets[1] - offsets[0]
    else {
      throw context.error(
        location, "data offsets do not match shape and dtype",
        expected: "\(byteCountText(shape, itemSize)) for shape \(shape) of \(dtype)",
        found: "\(offsets[1] - offsets[0]) bytes (data_offsets \(offsets))")
    }
    return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: offsets[0]..<offsets[1])
  }
}
