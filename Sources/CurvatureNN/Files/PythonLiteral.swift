/// A value of the small subset of Python literal syntax that `.npy` headers use: the header
/// is the `repr` of a dict such as `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
enum PythonLiteral: Sendable, Equatable {
  case string(String)
  case integer(Int)
  case boolean(Bool)
  case none
  case tuple([PythonLiteral])
  case list([PythonLiteral])
  case dict([(key: PythonLiteral, value: PythonLiteral)])

  static func == (a: PythonLiteral, b: PythonLiteral) -> Bool {
    switch (a, b) {
    case (.string(let x), .string(let y)): x == y
    case (.integer(let x), .integer(let y)): x == y
    case (.boolean(let x), .boolean(let y)): x == y
    case (.none, .none): true
    case (.tuple(let x), .tuple(let y)), (.list(let x), .list(let y)): x == y
    case (.dict(let x), .dict(let y)):
      x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    default: false
    }
  }

  /// The literal as Python would print it (for error messages).
  var repr: String {
    switch self {
    case .string(let s): "'\(s)'"
    case .integer(let i): "\(i)"
    case .boolean(let b): b ? "True" : "False"
    case .none: "None"
    case .tuple(let items): items.count == 1 ? "(\(items[0].repr),)" : "(\(items.map(\.repr).joined(separator: ", ")))"
    case .list(let items): "[\(items.map(\.repr).joined(separator: ", "))]"
    case .dict(let pairs): "{\(pairs.map { "\($0.key.repr): \($0.value.repr)" }.joined(separator: ", "))}"
    }
  }

  /// The value for a string key of a dict.
  subscript(key: String) -> PythonLiteral? {
    guard case .dict(let pairs) = self else { return nil }
    return pairs.first { $0.key == .string(key) }?.value
  }
}

/// A recursive-descent parser for `PythonLiteral`s.
struct PythonLiteralParser {
  /// Why parsing stopped, and at which byte of the text.
  struct Failure: Error {
    var offset: Int
    var message: String
  }

  private let bytes: [UInt8]
  private var position = 0
  private var depth = 0
  private static let maximumDepth = 64

  /// Parses `text`, which must hold exactly one literal (surrounding whitespace allowed).
  static func parse(_ bytes: [UInt8]) throws(Failure) -> PythonLiteral {
    var parser = PythonLiteralParser(bytes: bytes)
    let value = try parser.parseValue()
    parser.skipWhitespace()
    guard parser.position == bytes.count else {
      throw Failure(offset: parser.position, message: "unexpected text after the literal: \(parser.preview)")
    }
    return value
  }

  private init(bytes: [UInt8]) { self.bytes = bytes }

  private var preview: String {
    let slice = bytes[position..<min(bytes.count, position + 12)]
    return slice.isEmpty ? "end of header" : "'\(String(decoding: slice, as: UTF8.self))'"
  }

  private mutating func skipWhitespace() {
    while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
  }

  private mutating func parseValue() throws(Failure) -> PythonLiteral {
    skipWhitespace()
    guard position < bytes.count else { throw Failure(offset: position, message: "unexpected end of header") }
    switch bytes[position] {
    case UInt8(ascii: "'"), UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "("): return .tuple(try parseSequence(close: UInt8(ascii: ")")))
    case UInt8(ascii: "["): return .list(try parseSequence(close: UInt8(ascii: "]")))
    case UInt8(ascii: "{"): return try parseDict()
    case UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .integer(try parseInteger())
    default:
      for (word, value) in [("True", PythonLiteral.boolean(true)), ("False", .boolean(false)), ("None", .none)]
      where bytes[position...].starts(with: word.utf8) {
        position += word.utf8.count
        return value
      }
      throw Failure(offset: position, message: "expected a Python literal, found \(preview)")
    }
  }

  private mutating func enter() throws(Failure) {
    depth += 1
    if depth > Self.maximumDepth { throw Failure(offset: position, message: "literal nested too deeply") }
  }

  private mutating func parseString() throws(Failure) -> String {
    let quote = bytes[position]
    let start = position
    position += 1
    var text = [UInt8]()
    while position < bytes.count {
      let byte = bytes[position]
      position += 1
      if byte == quote { return String(decoding: text, as: UTF8.self) }
      if byte == UInt8(ascii: "\\") {
        guard position < bytes.count else { break }
        let escaped = bytes[position]
        position += 1
        switch escaped {
        case UInt8(ascii: "n"): text.append(0x0A)
        case UInt8(ascii: "t"): text.append(0x09)
        case UInt8(ascii: "r"): text.append(0x0D)
        case UInt8(ascii: "0"): text.append(0)
        default: text.append(escaped)  // \\, \', \" and anything else verbatim
        }
      } else if byte == 0x0A {
        break
      } else {
        text.append(byte)
      }
    }
    throw Failure(offset: start, message: "unterminated string")
  }

  private mutating func parseInteger() throws(Failure) -> Int {
    let start = position
    var negative = false
    if bytes[position] == UInt8(ascii: "-") || bytes[position] == UInt8(ascii: "+") {
      negative = bytes[position] == UInt8(ascii: "-")
      position += 1
    }
    var value = 0
    var digits = 0
    while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
      let (times10, o1) = value.multipliedReportingOverflow(by: 10)
      let (sum, o2) = times10.addingReportingOverflow(Int(bytes[position] - UInt8(ascii: "0")))
      if o1 || o2 { throw Failure(offset: start, message: "integer too large") }
      value = sum
      digits += 1
      position += 1
    }
    guard digits > 0 else { throw Failure(offset: start, message: "expected digits, found \(preview)") }
    if position < bytes.count, bytes[position] == UInt8(ascii: "L") || bytes[position] == UInt8(ascii: "l") {
      position += 1  // Python 2 long suffix, as in headers written by old NumPy versions
    }
    if position < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[position]) {
      throw Failure(offset: start, message: "expected an integer, found a floating-point number")
    }
    return negative ? -value : value
  }

  private mutating func parseSequence(close: UInt8) throws(Failure) -> [PythonLiteral] {
    try enter()
    defer { depth -= 1 }
    position += 1
    var items = [PythonLiteral]()
    while true {
      skipWhitespace()
      if position < bytes.count, bytes[position] == close {
        position += 1
        return items
      }
      items.append(try parseValue())
      skipWhitespace()
      guard position < bytes.count else { throw Failure(offset: position, message: "unexpected end of header") }
      if bytes[position] == UInt8(ascii: ",") {
        position += 1
      } else if bytes[position] != close {
        throw Failure(offset: position, message: "expected ',' or '\(Character(Unicode.Scalar(close)))', found \(preview)")
      }
    }
  }

  private mutating func parseDict() throws(Failure) -> PythonLiteral {
    try enter()
    defer { depth -= 1 }
    position += 1
    var pairs = [(key: PythonLiteral, value: PythonLiteral)]()
    while true {
      skipWhitespace()
      if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
        position += 1
        return .dict(pairs)
      }
      let key = try parseValue()
      skipWhitespace()
      guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
        throw Failure(offset: position, message: "expected ':' after the key \(key.repr), found \(preview)")
      }
      position += 1
      pairs.append((key, try parseValue()))
      skipWhitespace()
      guard position < bytes.count else { throw Failure(offset: position, message: "unexpected end of header") }
      if bytes[position] == UInt8(ascii: ",") {
        position += 1
      } else if bytes[position] != UInt8(ascii: "}") {
        throw Failure(offset: position, message: "expected ',' or '}', found \(preview)")
      }
    }
  }
}
