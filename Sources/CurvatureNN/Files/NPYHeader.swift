/// The element type of an `.npy` array, as NumPy names it.
///
/// Only little-endian (or single-byte) types are supported; the file's `descr` string is
/// `"<f4"`, `"<f8"`, `"<f2"`, `"<i8"`, `"<i4"`, `"|u1"` or `"|b1"`.
public enum NPYDType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  /// IEEE half precision, `'<f2'`.
  case float16
  /// IEEE single precision, `'<f4'`.
  case float32
  /// IEEE double precision, `'<f8'`.
  case float64
  /// 64-bit signed integers, `'<i8'`.
  case int64
  /// 32-bit signed integers, `'<i4'`.
  case int32
  /// Unsigned bytes, `'|u1'`.
  case uint8
  /// Booleans stored as one byte 0 or 1, `'|b1'`.
  case bool

  /// The NumPy type string written in headers, such as `"<f4"`.
  public var descr: String {
    switch self {
    case .float16: "<f2"
    case .float32: "<f4"
    case .float64: "<f8"
    case .int64: "<i8"
    case .int32: "<i4"
    case .uint8: "|u1"
    case .bool: "|b1"
    }
  }

  /// Bytes per element.
  public var itemSize: Int { kind.byteSize }

  /// Whether the elements are floating-point numbers.
  public var isFloatingPoint: Bool { kind.isFloatingPoint }

  /// The NumPy name, such as `float32`.
  public var description: String { rawValue }

  var kind: ElementKind {
    switch self {
    case .float16: .float16
    case .float32: .float32
    case .float64: .float64
    case .int64: .int64
    case .int32: .int32
    case .uint8: .uint8
    case .bool: .bool
    }
  }

  static let supportedList = "one of " + NPYDType.allCases.map { "'\($0.descr)'" }.joined(separator: ", ")

  /// The dtype of a header's `descr` value.
  static func parse(_ value: PythonLiteral, context: ErrorContext) throws -> NPYDType {
    let location = "header field 'descr'"
    guard case .string(let descr) = value else {
      throw context.error(
        location, "unsupported dtype: structured arrays (record dtypes) are not supported",
        expected: supportedList, found: value.repr)
    }
    var order: Character = "|"
    var body = Substring(descr)
    if let first = body.first, "<>|=".contains(first) {
      order = first
      body = body.dropFirst()
    }
    let plain: NPYDType? =
      switch body {
      case "f2": .float16
      case "f4": .float32
      case "f8": .float64
      case "i8": .int64
      case "i4": .int32
      case "u1": .uint8
      case "b1", "?": .bool
      default: nil
      }
    if let plain {
      if order == ">" && plain.itemSize > 1 {
        throw context.error(
          location, "big-endian data is not supported; convert with a.astype('\(plain.descr)') before saving",
          expected: "little-endian '\(plain.descr)'", found: "'\(descr)'")
      }
      return plain
    }
    throw context.error(
      location, "unsupported dtype \(describe(body))", expected: supportedList, found: "'\(descr)'")
  }

  /// A readable name for a NumPy type code such as `c8` or `U3`.
  private static func describe(_ code: Substring) -> String {
    switch code.first {
    case "c": "(complex numbers)"
    case "U": "(Unicode strings)"
    case "S", "a": "(byte strings)"
    case "O": "(Python objects, stored with pickle)"
    case "V": "(raw or structured records)"
    case "M", "m": "(dates or time deltas)"
    case "f": "(floating point of this size)"
    case "i", "u": "(integers of this size)"
    default: "(unknown type code)"
    }
  }
}

/// The parsed preamble of an `.npy` file: version, dtype, shape and where the data start.
struct NPYHeader: Sendable, Equatable {
  var major: UInt8
  var minor: UInt8
  var dtype: NPYDType
  var shape: [Int]
  /// The offset of the first data byte from the start of the `.npy` bytes.
  var dataOffset: Int
  /// The number of elements.
  var count: Int

  /// The number of data bytes the shape and dtype require.
  var dataByteCount: Int { count * dtype.itemSize }

  static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
  /// NumPy pads the header so that the data start at a multiple of this.
  static let alignment = 64
  /// NumPy leaves this many digits of room for the leading extent to grow in place.
  static let growthAxisDigits = 21

  /// Reads and validates the header of the `.npy` bytes in `source`, including that the
  /// data that follow have exactly the size the shape requires.
  /// - Throws: `FileFormatError` for every deviation from the format.
  static func read(from source: ByteSource, context: ErrorContext) throws -> NPYHeader {
    let header = try readPreamble(from: source, length: source.length, context: context)
    let available = source.length - header.dataOffset
    if available != header.dataByteCount {
      throw context.error(
        "byte \(header.dataOffset)",
        available < header.dataByteCount ? "data truncated: size does not match the shape" : "data size does not match the shape (extra bytes)",
        expected: "\(header.dataByteCount) bytes (\(header.count) elements of '\(header.dtype.descr)' for shape \(header.shapeText))",
        found: "\(available) bytes")
    }
    return header
  }

  /// Reads and validates the preamble (magic, version and header) of `.npy` bytes of
  /// `length` bytes in all, of which `source` needs to hold only the preamble: at least
  /// `min(length, 12)` bytes, and the whole header when its length fits in `length`.
  /// The data size is not checked.
  /// - Throws: `FileFormatError` for every deviation from the format.
  static func readPreamble(from source: ByteSource, length: Int, context: ErrorContext) throws -> NPYHeader {
    let prefix = try source.bytes(at: 0, count: min(length, 12))
    let magicPart = Array(prefix.prefix(6))
    guard magicPart == Array(magic.prefix(magicPart.count)) else {
      throw context.error(
        "byte 0", "not an .npy file (bad magic)", expected: "the magic string \\x93NUMPY",
        found: magicPart.map { $0 >= 0x20 && $0 < 0x7F ? String(UnicodeScalar($0)) : "\\x" + hex($0) }.joined())
    }
    guard length >= 10 else {
      throw context.error(
        "byte \(length)", "truncated header", expected: "at least 10 bytes (magic, version, header length)",
        found: "\(length) bytes")
    }
    let major = prefix[6]
    let minor = prefix[7]
    guard (1...3).contains(major), minor == 0 else {
      throw context.error(
        "byte 6", "unsupported .npy format version", expected: "version 1.0, 2.0 or 3.0",
        found: "version \(major).\(minor)")
    }
    let headerStart = major == 1 ? 10 : 12
    guard length >= headerStart else {
      throw context.error(
        "byte \(length)", "truncated header", expected: "a 4-byte header length at byte 8", found: "\(length) bytes in total")
    }
    let headerLength = major == 1 ? Int(prefix.littleEndianUInt16(at: 8)) : Int(prefix.littleEndianUInt32(at: 8))
    guard headerLength <= length - headerStart else {
      throw context.error(
        "byte \(headerStart)", "truncated header", expected: "\(headerLength) header bytes",
        found: "\(length - headerStart) bytes left in the file")
    }
    let text = try source.bytes(at: headerStart, count: headerLength)
    let literal: PythonLiteral
    do {
      literal = try PythonLiteralParser.parse(text)
    } catch {
      throw context.error(
        "byte \(headerStart + error.offset)", "header is not a Python dict literal",
        expected: "a dict like {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", found: error.message)
    }
    guard case .dict = literal else {
      throw context.error(
        "byte \(headerStart)", "header is not a Python dict literal",
        expected: "a dict like {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", found: literal.repr)
    }
    func field(_ key: String) throws -> PythonLiteral {
      guard let value = literal[key] else {
        throw context.error(
          "header field '\(key)'", "missing header field '\(key)'",
          expected: "the keys 'descr', 'fortran_order' and 'shape'", found: literal.repr)
      }
      return value
    }
    let dtype = try NPYDType.parse(try field("descr"), context: context)
    let shapeValue = try field("shape")
    let orderValue = try field("fortran_order")
    guard case .boolean(let fortranOrder) = orderValue else {
      throw context.error(
        "header field 'fortran_order'", "invalid fortran_order", expected: "True or False", found: orderValue.repr)
    }
    let shape: [Int]
    switch shapeValue {
    case .tuple(let items), .list(let items):
      shape = try items.map { item in
        guard case .integer(let extent) = item, extent >= 0 else {
          throw context.error(
            "header field 'shape'", "invalid shape", expected: "a tuple of non-negative integers",
            found: shapeValue.repr)
        }
        return extent
      }
    default:
      throw context.error(
        "header field 'shape'", "invalid shape", expected: "a tuple of non-negative integers", found: shapeValue.repr)
    }
    if fortranOrder && shape.count > 1 {
      throw context.error(
        "header field 'fortran_order'", "Fortran order is not supported; save with np.ascontiguousarray",
        expected: "False (C order)", found: "True for shape \(shapeValue.repr)")
    }
    guard let count = checkedElementCount(shape), count <= Int.max / dtype.itemSize else {
      throw context.error(
        "header field 'shape'", "shape too large", expected: "an element count that fits in memory",
        found: shapeValue.repr)
    }
    return NPYHeader(
      major: major, minor: minor, dtype: dtype, shape: shape, dataOffset: headerStart + headerLength, count: count)
  }

  /// The length of the preamble (magic, version, header length and header) that `prefix`,
  /// the first bytes of an `.npy` file, announces, or nil when it is not the start of a
  /// supported `.npy` file.
  static func preambleLength(_ prefix: [UInt8]) -> Int? {
    guard prefix.count >= 10, Array(prefix.prefix(6)) == magic, (1...3).contains(prefix[6]) else { return nil }
    if prefix[6] == 1 { return 10 + Int(prefix.littleEndianUInt16(at: 8)) }
    return prefix.count >= 12 ? 12 + Int(prefix.littleEndianUInt32(at: 8)) : nil
  }

  /// The shape as NumPy writes it: `(3, 4)`, `(5,)`, `()`.
  var shapeText: String {
    shape.count == 1 ? "(\(shape[0]),)" : "(\(shape.map(String.init).joined(separator: ", ")))"
  }

  /// The number of `.npy` bytes (preamble and data) the header implies, or nil when that
  /// overflows.
  var totalByteCount: Int? {
    let (total, overflow) = dataOffset.addingReportingOverflow(dataByteCount)
    return overflow ? nil : total
  }

  /// The preamble (magic, version, length and padded header) NumPy writes for a C-order
  /// array: version 1.0 unless the header needs more than 65535 bytes.
  static func encode(dtype: NPYDType, shape: [Int]) -> [UInt8] {
    let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(\(shape.map(String.init).joined(separator: ", ")))"
    var dict = "{'descr': '\(dtype.descr)', 'fortran_order': False, 'shape': \(shapeText), }"
    if let leading = shape.first { dict += String(repeating: " ", count: max(0, growthAxisDigits - String(leading).count)) }
    let text = Array(dict.utf8)
    for major: UInt8 in [1, 2] {
      let prefixLength = major == 1 ? 10 : 12
      let unpadded = text.count + 1
      let padding = alignment - (prefixLength + unpadded) % alignment
      let headerLength = unpadded + padding
      if major == 1 && headerLength > Int(UInt16.max) { continue }
      var bytes = magic + [major, 0]
      if major == 1 { bytes.appendLittleEndian(UInt16(headerLength)) } else { bytes.appendLittleEndian(UInt32(headerLength)) }
      bytes += text
      bytes += [UInt8](repeating: 0x20, count: padding)
      bytes.append(0x0A)
      return bytes
    }
    preconditionFailure("unreachable: a version 2.0 header always fits")
  }
}

/// Two hexadecimal digits.
func hex(_ byte: UInt8) -> String {
  let digits = Array("0123456789abcdef")
  return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
}
