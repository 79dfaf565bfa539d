#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The element type of a graph value: how its numbers are to be read. Integer and boolean
/// values are carried as exact floating-point numbers (`bool` as 0 and 1).
public enum GraphDType: String, Sendable, Hashable, CaseIterable {
  /// Floating-point numbers (the default).
  case float
  /// 64-bit integers (token ids, positions).
  case int64
  /// Booleans (masks).
  case bool
}

/// A named tensor of a graph model's file: a graph input, a parameter or a buffer.
public struct GraphValueSpec: Sendable, Hashable {
  /// The name (a `state_dict` name for parameters and buffers).
  public var name: String
  /// The shape; a graph input's first extent is `-1`, the batch axis.
  public var shape: [Int]
  /// How its numbers are read.
  public var dtype: GraphDType

  /// A value description from its parts.
  public init(name: String, shape: [Int], dtype: GraphDType = .float) {
    self.name = name
    self.shape = shape
    self.dtype = dtype
  }
}

/// One entry of `nodes`, as written: its fields type-checked, its op and attributes not yet.
struct GraphNodeDescription: Sendable {
  var name: String
  var op: String
  var inputs: [String]
  var attributes: [String: JSONValue]
  var shape: [Int]
  /// `node 'name' (nodes[i])`, for error messages.
  var location: String
}

/// The `loss` object of a format-2 file: format 1's fields and cross-entropy's two more.
struct GraphLossDescription: Sendable {
  var kind: LossKind
  var reduction: LossReduction
  var ignoreIndex: Int
  var labelSmoothing: Double
}

/// `model.json` format 2 as decoded (through `JSONDecoder`, refusing repeated keys), each
/// field checked for its JSON type, with errors that name the file and the field. The
/// graph's meaning (names, ops, shapes) is checked by `GraphModel`.
struct GraphDocument: Sendable {
  var inputs: [GraphValueSpec]
  var parameters: [GraphValueSpec]
  var buffers: [GraphValueSpec]
  var nodes: [GraphNodeDescription]
  var output: String
  var loss: GraphLossDescription
  /// The file's text, written back unchanged by `ModelFile.write`.
  var text: Data

  static let topLevelFields: Set<String> = ["format", "inputs", "parameters", "buffers", "nodes", "output", "loss"]

  /// Decodes a format-2 document.
  /// - Throws: `FileFormatError` at `path` for text that is not JSON, a repeated key, or a
  ///   field that is missing, unknown or of the wrong type.
  init(json: Data, path: String) throws {
    let root: JSONValue
    do {
      root = try decodeJSONWithoutDuplicateKeys(JSONValue.self, from: [UInt8](json))
    } catch let error as JSONFieldError {
      throw error.located(in: path)
    } catch {
      throw FileFormatError(
        path: path, location: "document", problem: "not valid JSON", expected: "a JSON object with 'format': 2 and a graph",
        found: "unparsable text")
    }
    let reader = try JSONObjectReader(root, location: "document", path: path, expected: "a JSON object")
    guard case .number(2) = try reader.required("format") else {
      throw reader.error(
        "format", "unsupported model format", expected: "2 (format-1 files have no 'format' field)",
        found: try reader.required("format").summary)
    }
    try reader.allowOnly(Self.topLevelFields, what: "top-level field")
    inputs = try reader.objects("inputs").map { try Self.valueSpec($0, kind: "input") }
    parameters = try reader.objects("parameters").map { try Self.valueSpec($0, kind: "parameter") }
    buffers = reader.has("buffers") ? try reader.objects("buffers").map { try Self.valueSpec($0, kind: "buffer") } : []
    nodes = try reader.objects("nodes").enumerated().map { index, node in try Self.node(node, index: index) }
    output = try reader.string("output")
    let lossReader = try JSONObjectReader(
      try reader.required("loss"), location: "field 'loss'", path: path, expected: "an object with 'type' and 'reduction'")
    loss = try Self.loss(lossReader)
    text = json
  }

  /// An entry of `inputs`, `parameters` or `buffers`.
  static func valueSpec(_ reader: JSONObjectReader, kind: String) throws -> GraphValueSpec {
    let allowed: Set<String> = kind == "parameter" ? ["name", "shape"] : ["name", "shape", "dtype"]
    try reader.allowOnly(allowed, what: "field of a \(kind)")
    let name = try reader.string("name")
    let shape = try reader.integers("shape")
    var dtype = GraphDType.float
    if reader.has("dtype") {
      let text = try reader.string("dtype")
      guard let parsed = GraphDType(rawValue: text) else {
        throw reader.error("dtype", "unknown dtype", expected: "float, int64 or bool", found: "\"\(text)\"")
      }
      dtype = parsed
    }
    return GraphValueSpec(name: name, shape: shape, dtype: dtype)
  }

  /// An entry of `nodes`.
  static func node(_ reader: JSONObjectReader, index: Int) throws -> GraphNodeDescription {
    try reader.allowOnly(["name", "op", "inputs", "attributes", "shape"], what: "field of a node")
    let name = try reader.string("name")
    let named = JSONObjectReader(reader.object, location: "node '\(name)' (nodes[\(index)])", path: reader.path)
    var attributes = [String: JSONValue]()
    if named.has("attributes") {
      guard case .object(let object) = try named.required("attributes") else {
        throw named.error("attributes", "wrong type", expected: "an object", found: try named.required("attributes").summary)
      }
      attributes = object
    }
    return GraphNodeDescription(
      name: name, op: try named.string("op"), inputs: try named.strings("inputs"), attributes: attributes,
      shape: try named.integers("shape"), location: named.location)
  }

  /// The `loss` object.
  static func loss(_ reader: JSONObjectReader) throws -> GraphLossDescription {
    let kinds = LossKind.allCases.map(\.rawValue).joined(separator: ", ")
    let typeName = try reader.string("type")
    guard let kind = LossKind(rawValue: typeName) else {
      throw reader.error("type", "unknown loss type", expected: "one of \(kinds)", found: "\"\(typeName)\"")
    }
    try reader.allowOnly(
      kind == .crossEntropy ? ["type", "reduction", "ignore_index", "label_smoothing"] : ["type", "reduction"],
      what: "field of a \(typeName) loss")
    var reduction = LossReduction.mean
    if reader.has("reduction") {
      let text = try reader.string("reduction")
      guard let parsed = LossReduction(rawValue: text) else {
        throw reader.error("reduction", "unknown reduction", expected: "mean or sum", found: "\"\(text)\"")
      }
      reduction = parsed
    }
    let ignoreIndex = reader.has("ignore_index") ? try reader.integer("ignore_index") : -100
    var smoothing = 0.0
    if reader.has("label_smoothing") {
      guard case .number(let value) = try reader.required("label_smoothing"), value >= 0, value <= 1 else {
        throw reader.error(
          "label_smoothing", "not a valid label smoothing", expected: "a number in [0, 1]",
          found: try reader.required("label_smoothing").summary)
      }
      smoothing = value
    }
    return GraphLossDescription(kind: kind, reduction: reduction, ignoreIndex: ignoreIndex, labelSmoothing: smoothing)
  }
}

/// Typed access to the fields of one JSON object, with errors naming the file, the object
/// and the field.
struct JSONObjectReader {
  let object: [String: JSONValue]
  /// The object, e.g. `node 'ln' (nodes[1])`.
  let location: String
  let path: String

  init(_ object: [String: JSONValue], location: String, path: String) {
    self.object = object
    self.location = location
    self.path = path
  }

  /// A reader for `value`, which must be an object.
  init(_ value: JSONValue, location: String, path: String, expected: String) throws {
    guard case .object(let object) = value else {
      throw FileFormatError(path: path, location: location, problem: "not a JSON object", expected: expected, found: value.summary)
    }
    self.init(object, location: location, path: path)
  }

  /// An error about field `key`.
  func error(_ key: String, _ problem: String, expected: String, found: String) -> FileFormatError {
    FileFormatError(path: path, location: "\(location), field '\(key)'", problem: problem, expected: expected, found: found)
  }

  func has(_ key: String) -> Bool { object[key] != nil }

  /// Refuses keys outside `allowed`.
  func allowOnly(_ allowed: Set<String>, what: String) throws {
    if let key = object.keys.sorted().first(where: { !allowed.contains($0) }) {
      throw error(key, "unknown \(what)", expected: "one of \(allowed.sorted().joined(separator: ", "))", found: "'\(key)'")
    }
  }

  func required(_ key: String) throws -> JSONValue {
    guard let value = object[key] else { throw error(key, "missing field", expected: "a value", found: "nothing") }
    return value
  }

  func string(_ key: String) throws -> String {
    guard case .string(let text) = try required(key) else {
      throw error(key, "wrong type", expected: "a string", found: try required(key).summary)
    }
    return text
  }

  func integer(_ key: String) throws -> Int {
    guard let value = JSONObjectReader.integer(try required(key)) else {
      throw error(key, "wrong type", expected: "an integer", found: try required(key).summary)
    }
    return value
  }

  func integers(_ key: String) throws -> [Int] {
    let value = try required(key)
    guard case .array(let items) = value, let numbers = Optional(items.compactMap(JSONObjectReader.integer)),
      numbers.count == items.count
    else { throw error(key, "wrong type", expected: "an array of integers", found: value.summary) }
    return numbers
  }

  func strings(_ key: String) throws -> [String] {
    let value = try required(key)
    guard case .array(let items) = value else { throw error(key, "wrong type", expected: "an array of names", found: value.summary) }
    return try items.map { item in
      guard case .string(let text) = item else { throw error(key, "wrong type", expected: "an array of names", found: value.summary) }
      return text
    }
  }

  /// The items of an array of objects, each with a reader located at `key[i]`.
  func objects(_ key: String) throws -> [JSONObjectReader] {
    let value = try required(key)
    guard case .array(let items) = value else { throw error(key, "wrong type", expected: "an array of objects", found: value.summary) }
    return try items.enumerated().map { index, item in
      try JSONObjectReader(item, location: "\(key)[\(index)]", path: path, expected: "an object")
    }
  }

  /// An integral JSON number (below 2⁵³ in magnitude, so exact), or nil.
  static func integer(_ value: JSONValue) -> Int? {
    guard case .number(let number) = value, number == number.rounded(), Swift.abs(number) < 9.0e15 else { return nil }
    return Int(number)
  }
}
