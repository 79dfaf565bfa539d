#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A NumPy `.npz` archive: a zip file of `.npy` members, as written by `np.savez` (stored
/// members) and `np.savez_compressed` (deflate-compressed members).
///
/// Opening reads only the zip directory. `array(named:)` loads one member, checking its
/// CRC-32; `reader(named:)` returns an `NPYFileReader` for batches of rows. For stored
/// members the reader reads rows by offset straight from the archive (memory: the batch);
/// compressed members are decompressed whole into memory when the reader is created.
///
/// ```swift
/// let npz = try NPZFile(contentsOf: url)
/// let x = try npz.array(named: "X").floats(as: Float.self)
/// let y = try npz.array(named: "y").integers()
/// try NPZFile.write([("X", NPYArray(x)), ("y", NPYArray(integers: y))], to: outputURL)
/// ```
public struct NPZFile: Sendable {
  /// The archive's path.
  public let path: String
  /// The array names in archive order: member names without the `.npy` extension.
  public let names: [String]
  private let archive: ZipArchive

  /// Opens an archive and reads its directory.
  /// - Parameter url: The `.npz` file.
  /// - Throws: `FileFormatError` when the file cannot be read or is not a zip archive.
  public init(contentsOf url: URL) throws {
    path = url.path
    archive = try ZipArchive(file: try RandomAccessFile(path: url.path))
    names = archive.entries.map { $0.name.hasSuffix(".npy") ? String($0.name.dropLast(4)) : $0.name }
  }

  /// Loads one array, verifying the member's CRC-32.
  /// - Parameter name: The array's name (`"X"` for the member `X.npy`).
  /// - Returns: The array with its stored dtype.
  /// - Throws: `FileFormatError` for a missing member, an unsupported compression
  ///   method, a corrupt deflate stream, a CRC mismatch, or an invalid `.npy` member.
  public func array(named name: String) throws -> NPYArray {
    let entry = try entry(named: name)
    return try NPYArray(source: try archive.source(of: entry, verifyStored: true), context: memberContext(entry))
  }

  /// A reader for batches of rows of one array.
  /// - Parameter name: The array's name.
  /// - Returns: A reader that reads stored members by offset (without a CRC check) and
  ///   holds compressed members decompressed in memory (CRC checked).
  /// - Throws: `FileFormatError` as `array(named:)`.
  public func reader(named name: String) throws -> NPYFileReader {
    let entry = try entry(named: name)
    return try NPYFileReader(source: try archive.source(of: entry, verifyStored: false), context: memberContext(entry))
  }

  /// Loads every array, in archive order.
  /// - Returns: The arrays with their names.
  /// - Throws: `FileFormatError` as `array(named:)`.
  public func arrays() throws -> [(name: String, array: NPYArray)] {
    try names.map { ($0, try array(named: $0)) }
  }

  /// Writes arrays as an uncompressed `.npz` archive (like `np.savez`), members in order.
  /// - Parameters:
  ///   - arrays: Names (without `.npy`) and arrays; names must be distinct.
  ///   - url: The destination; an existing file is replaced.
  ///   - forceZip64: Whether to write zip64 records even when the sizes do not need
  ///     them (they are written automatically for members or archives beyond 4 GiB).
  /// - Throws: `FileFormatError` for duplicate or empty names or when writing fails.
  public static func write(_ arrays: [(name: String, array: NPYArray)], to url: URL, forceZip64: Bool = false) throws {
    var seen = Set<String>()
    for (name, _) in arrays where name.isEmpty || !seen.insert(name).inserted {
      throw FileFormatError(
        path: url.path, location: "array '\(name)'", problem: name.isEmpty ? "empty array name" : "duplicate array name",
        expected: "distinct, non-empty names", found: "'\(name)' \(name.isEmpty ? "" : "twice")")
    }
    var zip = try ZipWriter(url: url, forceZip64: forceZip64)
    for (name, array) in arrays {
      try zip.addStored(name: name + ".npy", bytes: array.npyBytes())
    }
    try zip.finish()
  }

  private func entry(named name: String) throws -> ZipEntry {
    if let entry = archive.entries.first(where: { $0.name == name + ".npy" }) ?? archive.entries.first(where: { $0.name == name }) {
      return entry
    }
    let fileName = path.split(separator: "/").last.map(String.init) ?? path
    throw FileFormatError(
      path: path, location: "archive", problem: "\(fileName) has no array '\(name)'",
      expected: "a member '\(name).npy'",
      found: names.isEmpty ? "no members" : "members: \(names.joined(separator: ", "))")
  }

  private func memberContext(_ entry: ZipEntry) -> ErrorContext {
    ErrorContext(path: path, prefix: "member '\(entry.name)'")
  }
}
