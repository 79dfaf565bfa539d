import Foundation

extension JSONValue: Codable {
  /// Decodes any JSON value.
  /// - Throws: `DecodingError` when the value is not JSON.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let value = try? container.decode(Bool.self) {
      self = .bool(value)
    } else if let value = try? container.decode(Double.self) {
      self = .number(value)
    } else if let value = try? container.decode(String.self) {
      self = .string(value)
    } else if let value = try? container.decode([JSONValue].self) {
      self = .array(value)
    } else {
      self = .object(try container.decode([String: JSONValue].self))
    }
  }

  /// Encodes the value as JSON.
  /// - Throws: What the encoder throws.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    switch self {
    case .null: try container.encodeNil()
    case let .bool(value): try container.encode(value)
    case let .number(value):
      if value == value.rounded(), abs(value) < 1e15 { try container.encode(Int(value)) } else { try container.encode(value) }
    case let .string(value): try container.encode(value)
    case let .array(value): try container.encode(value)
    case let .object(value): try container.encode(value)
    }
  }

  /// A short rendering for error messages.
  var summary: String {
    switch self {
    case .null: return "null"
    case let .bool(value): return "\(value)"
    case let .number(value): return value == value.rounded() && abs(value) < 1e15 ? "\(Int(value))" : "\(value)"
    case let .string(value): return "\"\(value)\""
    case let .array(values): return "[" + values.map(\.summary).joined(separator: ", ") + "]"
    case .object: return "an object"
    }
  }

  /// The value as compact JSON with sorted keys (for error messages).
  var compactText: String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? summary
  }

  /// The value `decoder` is at, for an error message about it.
  static func found(in decoder: any Decoder) -> JSONValue {
    (try? decoder.singleValueContainer().decode(JSONValue.self)) ?? .null
  }
}

/// A key of a JSON object whose keys are data (tensor names) or are checked one by one.
struct JSONKey: CodingKey, Hashable {
  var stringValue: String
  var intValue: Int? { nil }
  init(_ string: String) { stringValue = string }
  init(stringValue: String) { self.stringValue = stringValue }
  init?(intValue: Int) { nil }
}

/// What is wrong with one field of a JSON document, found while decoding it into
/// Curvature's types; the reader adds the file's path to make a `FileFormatError`.
struct JSONFieldError: Error {
  var location: String
  var problem: String
  var expected: String
  var found: String

  init(_ location: String, _ problem: String, expected: String, found: String) {
    self.location = location
    self.problem = problem
    self.expected = expected
    self.found = found
  }

  /// The error for the file at `path`.
  func located(in path: String, prefix: String = "") -> FileFormatError {
    ErrorContext(path: path, prefix: prefix).error(location, problem, expected: expected, found: found)
  }
}

/// Decodes `T` from JSON text, and refuses text in which an object repeats a key.
/// - Throws: `JSONFieldError` from `T`'s decoding or for a repeated key, and
///   `DecodingError` when the text is not JSON.
func decodeJSONWithoutDuplicateKeys<T: Decodable>(_: T.Type, from text: [UInt8], firstByte: Int = 0) throws -> T {
  func duplicateKeyError() -> JSONFieldError? {
    JSONDuplicateKeys.first(in: text).map { duplicate in
      JSONFieldError(
        "byte \(firstByte + duplicate.offset)", "duplicate key '\(duplicate.key)'",
        expected: "each key once per object (JSON readers disagree on which one counts)",
        found: "'\(duplicate.key)' a second time")
    }
  }
  let value: T
  do {
    value = try JSONDecoder().decode(T.self, from: Data(text))
  } catch let error as JSONFieldError {
    // A repeated key is the more basic problem: the field found wrong may be the one
    // another reader would not even look at.
    throw duplicateKeyError() ?? error
  }
  if let error = duplicateKeyError() { throw error }
  return value
}
