// A minimal .npy reader and writer for `curv toeplitz`: float64 and float32, 1-D and 2-D,
// C order, little-endian — exactly what the command needs.
//
// REPLACED BY CURVATURE'S NPY READER WHEN IT LANDS: the library's full NumPy support is
// being written separately; once it is available, `curv toeplitz` should call it and this
// file should be deleted.
import Foundation

/// A 1-D or 2-D array read from, or to be written to, a `.npy` file, as Double.
struct NPYArray {
  /// `[n]` or `[rows, columns]`.
  var shape: [Int]
  /// The elements in C (row-major) order.
  var values: [Double]
}

/// Why a `.npy` file could not be read or written; the message names the file.
struct NPYError: Error, CustomStringConvertible {
  var description: String
  init(_ path: String, _ message: String) { description = "\(path): \(message)" }
}

enum ToeplitzNPY {
  static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"

  /// Reads a float64 or float32, 1-D or 2-D, C-order, little-endian `.npy` file.
  /// - Throws: `NPYError` naming the file and what is wrong with it.
  static func read(_ path: String) throws(NPYError) -> NPYArray {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw NPYError(path, "cannot read the file (does it exist?)")
    }
    let bytes = [UInt8](data)
    guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
      throw NPYError(path, "not a .npy file (the magic string \\x93NUMPY is missing)")
    }
    let major = bytes[6]
    let headerLength: Int, headerStart: Int
    switch major {
    case 1:
      headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
      headerStart = 10
    case 2, 3:
      guard bytes.count >= 12 else { throw NPYError(path, "truncated header") }
      headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
      headerStart = 12
    default:
      throw NPYError(path, "unsupported .npy format version \(major)")
    }
    guard bytes.count >= headerStart + headerLength,
      let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .utf8)
    else { throw NPYError(path, "truncated or unreadable header") }

    guard let descr = field("descr", in: header) else { throw NPYError(path, "the header has no 'descr'") }
    let itemSize: Int
    switch descr {
    case "'<f8'": itemSize = 8
    case "'<f4'": itemSize = 4
    case "'>f8'", "'>f4'": throw NPYError(path, "big-endian data (\(descr)) is not supported; save little-endian float64 or float32")
    default: throw NPYError(path, "dtype \(descr) is not supported; save float64 or float32")
    }
    guard let shapeText = field("shape", in: header),
      shapeText.hasPrefix("("), shapeText.hasSuffix(")")
    else { throw NPYError(path, "the header has no readable 'shape'") }
    let parts = shapeText.dropFirst().dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    var shape = [Int]()
    for part in parts {
      guard let extent = Int(part), extent >= 0 else { throw NPYError(path, "bad shape \(shapeText)") }
      shape.append(extent)
    }
    guard shape.count == 1 || shape.count == 2 else {
      throw NPYError(path, "a \(shape.count)-D array of shape \(shape); expected a 1-D or 2-D array")
    }
    if field("fortran_order", in: header) == "True" && shape.count == 2 && shape.allSatisfy({ $0 > 1 }) {
      throw NPYError(path, "Fortran-order arrays are not supported; save with np.ascontiguousarray")
    }
    let count = shape.reduce(1, *)
    let start = headerStart + headerLength
    guard bytes.count - start == count * itemSize else {
      throw NPYError(path, "holds \(bytes.count - start) data bytes, but shape \(shape) of \(descr) needs \(count * itemSize)")
    }
    var values = [Double](repeating: 0, count: count)
    bytes.withUnsafeBytes { raw in
      for i in 0..<count {
        let offset = start + i * itemSize
        if itemSize == 8 {
          values[i] = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
        } else {
          values[i] = Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))))
        }
      }
    }
    return NPYArray(shape: shape, values: values)
  }

  /// The raw text of a header dictionary entry, e.g. `'<f8'`, `False`, `(3, 4)`.
  static func field(_ key: String, in header: String) -> String? {
    guard let keyRange = header.range(of: "'\(key)'") else { return nil }
    var rest = header[keyRange.upperBound...].drop { $0 == " " || $0 == ":" }
    if rest.hasPrefix("(") {
      guard let close = rest.firstIndex(of: ")") else { return nil }
      return String(rest[...close])
    }
    rest = rest.prefix { $0 != "," && $0 != "}" }
    return rest.trimmingCharacters(in: .whitespaces)
  }

  /// Writes a float64 C-order `.npy` file (format 1.0): to a temporary file next to `path`,
  /// then renamed over it, so readers never see a partial file.
  /// - Throws: `NPYError` when the file cannot be written.
  static func write(_ array: NPYArray, to path: String) throws(NPYError) {
    let shapeText = array.shape.count == 1 ? "(\(array.shape[0]),)" : "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
    var header = "{'descr': '<f8', 'fortran_order': False, 'shape': \(shapeText), }"
    // Pad with spaces so that the data starts at a multiple of 64 bytes; end with a newline.
    let unpadded = 10 + header.utf8.count + 1
    header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
    var bytes = magic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
    bytes += Array(header.utf8)
    bytes.reserveCapacity(bytes.count + 8 * array.values.count)
    for value in array.values {
      withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
    }
    let temporary = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
    guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes)) else {
      throw NPYError(path, "cannot write the file (is the directory writable?)")
    }
    guard rename(temporary, path) == 0 else {
      try? FileManager.default.removeItem(atPath: temporary)
      throw NPYError(path, "cannot move the written file into place")
    }
  }
}
