import CurvatureNumerics

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

extension SafetensorsFile {
  /// Writes arrays as a safetensors file (`F32` for `Float`, `F64` for `Double`); the
  /// same as `SafetensorsWriter.write(_:to:metadata:)`.
  /// - Parameters:
  ///   - arrays: Names and arrays; names must be distinct, non-empty and not `__metadata__`.
  ///   - url: The destination; an existing file is replaced.
  ///   - metadata: Free-form string pairs stored under `"__metadata__"`.
  /// - Throws: `FileFormatError` for invalid names or when writing fails.
  public static func write<T: BLASScalar>(
    _ arrays: [(name: String, array: NDArray<T>)], to url: URL, metadata: [String: String] = [:]
  ) throws {
    try SafetensorsWriter.write(arrays, to: url, metadata: metadata)
  }
}

/// Writes safetensors files; read them back with `SafetensorsFile`.
public enum SafetensorsWriter {
  /// Writes arrays as a safetensors file (`F32` for `Float`, `F64` for `Double`).
  ///
  /// The header lists `"__metadata__"` first (when not empty, keys sorted), then the
  /// tensors in the given order with contiguous data offsets; it is compact JSON padded
  /// with spaces to a multiple of 8 bytes, like the reference implementation.
  /// - Parameters:
  ///   - arrays: Names and arrays; names must be distinct, non-empty and not `__metadata__`.
  ///   - url: The destination; an existing file is replaced.
  ///   - metadata: Free-form string pairs stored under `"__metadata__"`.
  /// - Throws: `FileFormatError` for invalid names or when writing fails.
  public static func write<T: BLASScalar>(
    _ arrays: [(name: String, array: NDArray<T>)], to url: URL, metadata: [String: String] = [:]
  ) throws {
    let dtype = T.self == Float.self ? "F32" : "F64"
    var seen = Set<String>()
    for (name, _) in arrays where name.isEmpty || name == "__metadata__" || !seen.insert(name).inserted {
      throw FileFormatError(
        path: url.path, location: "tensor '\(name)'", problem: "invalid tensor name",
        expected: "distinct, non-empty names other than __metadata__", found: "'\(name)'")
    }
    var fields = [String]()
    if !metadata.isEmpty {
      let entries = try metadata.keys.sorted().map { "\(try jsonString($0)):\(try jsonString(metadata[$0]!))" }
      fields.append("\"__metadata__\":{\(entries.joined(separator: ","))}")
    }
    var offset = 0
    for (name, array) in arrays {
      let size = array.count * MemoryLayout<T>.size
      let shape = array.shape.map(String.init).joined(separator: ",")
      fields.append("\(try jsonString(name)):{\"dtype\":\"\(dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + size)]}")
      offset += size
    }
    // The layout is the reference implementation's (fields in this order, no spaces), so
    // it is assembled here; `JSONEncoder` escapes the strings but cannot order keys so.
    var header = Array("{\(fields.joined(separator: ","))}".utf8)
    header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
    let writer = try SequentialFileWriter(url: url)
    var prefix = [UInt8]()
    prefix.appendLittleEndian(UInt64(header.count))
    try writer.write(prefix)
    try writer.write(header)
    for (_, array) in arrays {
      #if _endian(little)
        try array.scalars.withUnsafeBytes { try writer.write($0) }
      #else
        try writer.write(ElementCoding.littleEndianBytes(array.scalars))
      #endif
    }
    try writer.close()
  }

  /// `text` as a JSON string literal, escaped by `JSONEncoder`.
  static func jsonString(_ text: String) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .withoutEscapingSlashes
    return String(decoding: try encoder.encode(text), as: UTF8.self)
  }
}
