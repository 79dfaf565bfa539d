#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The safetensors dtype names and their element sizes (every dtype of the reference
/// implementation with a whole number of bytes), and which of them can be read as floats.
enum SafetensorsDType {
  static let sizes: [String: Int] = [
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8,
  ]
  static let readable: [String: ElementKind] = ["F16": .float16, "BF16": .bfloat16, "F32": .float32, "F64": .float64]
  static let readableList = "F32, F64, F16 or BF16"
  /// The integer and boolean dtypes a model's buffers may use, read as exact numbers.
  static let integers: [String: ElementKind] = ["I64": .int64, "I32": .int32, "BOOL": .bool]
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
    let json: SafetensorsHeaderJSON
    do {
      json = try decodeJSONWithoutDuplicateKeys(SafetensorsHeaderJSON.self, from: headerBytes, firstByte: 8)
    } catch let error as JSONFieldError {
      throw error.located(in: file.path)
    } catch {
      let preview = String(decoding: headerBytes.prefix(40), as: UTF8.self)
      throw context.error(
        "byte 8", "header is not valid JSON", expected: "a UTF-8 JSON object of \(length) bytes",
        found: "text starting with '\(preview)'")
    }
    let dataStart = 8 + Int(length)
    let bufferLength = file.size - dataStart
    var tensors = [SafetensorsTensorInfo]()
    for (name, entry) in json.tensors {
      tensors.append(try entry.checked(name: name, bufferLength: bufferLength, context: context))
    }
    let metadata = json.metadata
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
}

/// A safetensors header as decoded: each tensor's entry and the `"__metadata__"` strings.
struct SafetensorsHeaderJSON: Decodable {
  var tensors: [(name: String, entry: SafetensorsTensorEntry)] = []
  var metadata: [String: String] = [:]

  init(from decoder: any Decoder) throws {
    guard let object = try? decoder.container(keyedBy: JSONKey.self) else {
      throw JSONFieldError(
        "byte 8", "header is not a JSON object", expected: "a JSON object", found: JSONValue.found(in: decoder).compactText)
    }
    for key in object.allKeys {
      guard key.stringValue == "__metadata__" else {
        tensors.append((key.stringValue, try object.decode(SafetensorsTensorEntry.self, forKey: key)))
        continue
      }
      guard let entries = try? object.decode([String: JSONValue].self, forKey: key) else {
        let value = (try? object.decode(JSONValue.self, forKey: key)) ?? .null
        throw JSONFieldError("key '__metadata__'", "invalid metadata", expected: "an object of strings", found: value.compactText)
      }
      for (name, entry) in entries {
        guard case .string(let text) = entry else {
          throw JSONFieldError(
            "key '__metadata__'", "invalid metadata", expected: "a string value for '\(name)'", found: entry.compactText)
        }
        metadata[name] = text
      }
    }
  }
}

/// One tensor's entry in a safetensors header, with the types of its fields checked.
struct SafetensorsTensorEntry: Decodable {
  var dtype: String
  var itemSize: Int
  var shape: [Int]
  var dataOffsets: Range<Int>

  init(from decoder: any Decoder) throws {
    let location = "tensor '\(decoder.codingPath.last?.stringValue ?? "")'"
    let whole = JSONValue.found(in: decoder)
    guard let fields = try? decoder.container(keyedBy: JSONKey.self) else {
      throw JSONFieldError(location, "invalid tensor entry", expected: "an object with dtype, shape, data_offsets", found: whole.compactText)
    }
    func value(_ key: String) throws -> JSONValue {
      guard fields.contains(JSONKey(key)) else {
        throw JSONFieldError(location, "missing '\(key)'", expected: "the fields dtype, shape and data_offsets", found: whole.compactText)
      }
      return (try? fields.decode(JSONValue.self, forKey: JSONKey(key))) ?? .null
    }
    /// Non-negative integers, or nil.
    func integers(_ key: String) -> [Int]? {
      guard let items = try? fields.decode([Int].self, forKey: JSONKey(key)), items.allSatisfy({ $0 >= 0 }) else { return nil }
      return items
    }
    guard case .string(let dtype) = try value("dtype") else {
      throw JSONFieldError(location, "invalid dtype", expected: "a dtype string such as \"F32\"", found: try value("dtype").compactText)
    }
    guard let itemSize = SafetensorsDType.sizes[dtype] else {
      throw JSONFieldError(
        location, "unknown dtype '\(dtype)'", expected: "a safetensors dtype (\(SafetensorsDType.readableList) to read)",
        found: "'\(dtype)'")
    }
    let shapeValue = try value("shape")
    guard let shape = integers("shape") else {
      throw JSONFieldError(location, "invalid shape", expected: "an array of non-negative integers", found: shapeValue.compactText)
    }
    let offsetsValue = try value("data_offsets")
    guard let offsets = integers("data_offsets"), offsets.count == 2, offsets[0] <= offsets[1] else {
      throw JSONFieldError(
        location, "invalid data_offsets", expected: "[begin, end] with 0 <= begin <= end", found: offsetsValue.compactText)
    }
    self.dtype = dtype
    self.itemSize = itemSize
    self.shape = shape
    dataOffsets = offsets[0]..<offsets[1]
  }

  /// The entry, checked against the data buffer: offsets within it, and a byte count
  /// that matches shape × dtype.
  /// - Throws: `FileFormatError` naming the tensor.
  func checked(name: String, bufferLength: Int, context: ErrorContext) throws -> SafetensorsTensorInfo {
    let location = "tensor '\(name)'"
    let offsets = [dataOffsets.lowerBound, dataOffsets.upperBound]
    guard dataOffsets.upperBound <= bufferLength else {
      throw context.error(
        location, "data offsets out of range", expected: "offsets within the \(bufferLength)-byte data buffer",
        found: "\(offsets)")
    }
    guard let count = checkedElementCount(shape), count <= Int.max / itemSize, count * itemSize == dataOffsets.count
    else {
      throw context.error(
        location, "data offsets do not match shape and dtype",
        expected: "\(byteCountText(shape, itemSize)) for shape \(shape) of \(dtype)",
        found: "\(dataOffsets.count) bytes (data_offsets \(offsets))")
    }
    return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: dataOffsets)
  }
}
