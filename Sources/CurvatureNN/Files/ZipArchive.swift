/// One file in a zip archive's central directory.
struct ZipEntry: Sendable, Equatable {
  var name: String
  /// 0 = stored, 8 = deflate.
  var method: UInt16
  var flags: UInt16
  var crc32: UInt32
  var compressedSize: Int
  var uncompressedSize: Int
  var localHeaderOffset: Int
}

/// The directory of a zip archive (PKWARE APPNOTE 6.3), including zip64 extensions, with
/// access to members' bytes. Only what `.npz` files need: no encryption, no multi-disk.
struct ZipArchive: Sendable {
  let file: RandomAccessFile
  let entries: [ZipEntry]
  private var context: ErrorContext { ErrorContext(path: file.path) }

  private static let endOfDirectorySignature: UInt32 = 0x0605_4B50
  private static let zip64EndOfDirectorySignature: UInt32 = 0x0606_4B50
  private static let zip64LocatorSignature: UInt32 = 0x0706_4B50
  private static let directorySignature: UInt32 = 0x0201_4B50
  private static let localHeaderSignature: UInt32 = 0x0403_4B50

  /// Reads and validates the central directory.
  /// - Throws: `FileFormatError` when the file is not a zip archive or its directory is
  ///   inconsistent.
  init(file: RandomAccessFile) throws {
    self.file = file
    let context = ErrorContext(path: file.path)
    let notZip = { (found: String) in
      context.error(
        "end of file", "not a zip archive (np.savez output)",
        expected: "an end-of-central-directory record (PK\\x05\\x06)", found: found)
    }
    guard file.size >= 22 else { throw notZip("a file of \(file.size) bytes") }
    // The end record is 22 bytes plus a comment of at most 65535 bytes.
    let tailStart = max(0, file.size - 22 - 0xFFFF)
    let tail = try file.bytes(at: tailStart, count: file.size - tailStart)
    var recordIndex: Int?
    var i = tail.count - 22
    while i >= 0 {
      if tail.littleEndianUInt32(at: i) == ZipArchive.endOfDirectorySignature,
        i + 22 + Int(tail.littleEndianUInt16(at: i + 20)) <= tail.count
      {
        recordIndex = i
        break
      }
      i -= 1
    }
    guard let recordIndex else {
      let start = try file.bytes(at: 0, count: min(4, file.size))
      throw notZip(start == [0x93] + Array("NUM".utf8) ? "an .npy file" : "no such record")
    }
    let recordOffset = tailStart + recordIndex
    var entryCount = Int(tail.littleEndianUInt16(at: recordIndex + 10))
    var directorySize = Int(tail.littleEndianUInt32(at: recordIndex + 12))
    var directoryOffset = Int(tail.littleEndianUInt32(at: recordIndex + 16))
    if entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
      // Zip64: a locator right before the end record points to the zip64 end record.
      guard recordOffset >= 20 else {
        throw context.error("byte \(recordOffset)", "missing zip64 locator", expected: "a zip64 locator", found: "start of file")
      }
      let locator = try file.bytes(at: recordOffset - 20, count: 20)
      guard locator.littleEndianUInt32(at: 0) == ZipArchive.zip64LocatorSignature else {
        throw context.error(
          "byte \(recordOffset - 20)", "missing zip64 locator", expected: "signature PK\\x06\\x07",
          found: "0x" + String(locator.littleEndianUInt32(at: 0), radix: 16))
      }
      let zip64Offset = locator.littleEndianUInt64(at: 8)
      guard recordOffset >= 76, zip64Offset <= UInt64(recordOffset - 76) else {
        throw context.error(
          "byte \(recordOffset - 20)", "zip64 end record out of range",
          expected: "an offset before byte \(max(0, recordOffset - 76))", found: "\(zip64Offset)")
      }
      let zip64 = try file.bytes(at: Int(zip64Offset), count: 56)
      guard zip64.littleEndianUInt32(at: 0) == ZipArchive.zip64EndOfDirectorySignature else {
        throw context.error(
          "byte \(zip64Offset)", "bad zip64 end record", expected: "signature PK\\x06\\x06",
          found: "0x" + String(zip64.littleEndianUInt32(at: 0), radix: 16))
      }
      entryCount = Int(clamping: zip64.littleEndianUInt64(at: 32))
      directorySize = Int(clamping: zip64.littleEndianUInt64(at: 40))
      directoryOffset = Int(clamping: zip64.littleEndianUInt64(at: 48))
    }
    guard directoryOffset <= file.size, directorySize <= file.size - directoryOffset else {
      throw context.error(
        "byte \(recordOffset)", "central directory out of range",
        expected: "a directory within the file's \(file.size) bytes",
        found: "\(directorySize) bytes at offset \(directoryOffset)")
    }
    let directory = try file.bytes(at: directoryOffset, count: directorySize)
    entries = try ZipArchive.parseDirectory(directory, at: directoryOffset, count: entryCount, context: context)
  }

  private static func parseDirectory(_ bytes: [UInt8], at base: Int, count: Int, context: ErrorContext) throws
    -> [ZipEntry]
  {
    var entries = [ZipEntry]()
    var p = 0
    for index in 0..<count {
      guard p + 46 <= bytes.count, bytes.littleEndianUInt32(at: p) == directorySignature else {
        throw context.error(
          "byte \(base + p)", "corrupt central directory",
          expected: "\(count) directory entries (signature PK\\x01\\x02)", found: "\(index) entries")
      }
      let nameLength = Int(bytes.littleEndianUInt16(at: p + 28))
      let extraLength = Int(bytes.littleEndianUInt16(at: p + 30))
      let commentLength = Int(bytes.littleEndianUInt16(at: p + 32))
      let end = p + 46 + nameLength + extraLength + commentLength
      guard end <= bytes.count else {
        throw context.error(
          "byte \(base + p)", "corrupt central directory", expected: "an entry within the directory",
          found: "an entry running past its end")
      }
      var entry = ZipEntry(
        name: String(decoding: bytes[(p + 46)..<(p + 46 + nameLength)], as: UTF8.self),
        method: bytes.littleEndianUInt16(at: p + 10), flags: bytes.littleEndianUInt16(at: p + 8),
        crc32: bytes.littleEndianUInt32(at: p + 16),
        compressedSize: Int(bytes.littleEndianUInt32(at: p + 20)),
        uncompressedSize: Int(bytes.littleEndianUInt32(at: p + 24)),
        localHeaderOffset: Int(bytes.littleEndianUInt32(at: p + 42)))
      // Zip64 extended information: 64-bit values for the fields saturated at 0xFFFFFFFF.
      var e = p + 46 + nameLength
      let extraEnd = e + extraLength
      while e + 4 <= extraEnd {
        let id = bytes.littleEndianUInt16(at: e)
        let size = Int(bytes.littleEndianUInt16(at: e + 2))
        guard e + 4 + size <= extraEnd else { break }
        if id == 0x0001 {
          var f = e + 4
          func next(_ value: inout Int) {
            guard value == 0xFFFF_FFFF, f + 8 <= e + 4 + size else { return }
            value = Int(clamping: bytes.littleEndianUInt64(at: f))
            f += 8
          }
          next(&entry.uncompressedSize)
          next(&entry.compressedSize)
          next(&entry.localHeaderOffset)
        }
        e += 4 + size
      }
      entries.append(entry)
      p = end
    }
    return entries
  }

  /// Where the data of `entry` start, after validating its local header.
  func dataOffset(of entry: ZipEntry, context: ErrorContext) throws -> Int {
    let offset = entry.localHeaderOffset
    guard offset <= file.size - 30 else {
      throw context.error(
        "byte \(offset)", "local header out of range", expected: "a header within the file's \(file.size) bytes",
        found: "offset \(offset)")
    }
    let header = try file.bytes(at: offset, count: 30)
    guard header.littleEndianUInt32(at: 0) == ZipArchive.localHeaderSignature else {
      throw context.error(
        "byte \(offset)", "corrupt local header", expected: "signature PK\\x03\\x04",
        found: "0x" + String(header.littleEndianUInt32(at: 0), radix: 16))
    }
    let start = offset + 30 + Int(header.littleEndianUInt16(at: 26)) + Int(header.littleEndianUInt16(at: 28))
    guard start <= file.size, entry.compressedSize <= file.size - start else {
      throw context.error(
        "byte \(start)", "member data out of range", expected: "\(entry.compressedSize) bytes within the file",
        found: "\(max(0, file.size - start)) bytes left")
    }
    return start
  }

  /// The member's bytes as a source for the `.npy` reader: a region of the file for stored
  /// members (nothing is read yet, and the CRC is not checked), or the decompressed and
  /// CRC-checked bytes for deflated members.
  func source(of entry: ZipEntry, verifyStored: Bool) throws -> ByteSource {
    let context = ErrorContext(path: file.path, prefix: "member '\(entry.name)'")
    if entry.flags & 1 != 0 {
      throw context.error("flags", "encrypted members are not supported", expected: "an unencrypted member", found: "encryption flag set")
    }
    let start = try dataOffset(of: entry, context: context)
    switch entry.method {
    case 0:
      guard entry.compressedSize == entry.uncompressedSize else {
        throw context.error(
          "central directory", "inconsistent sizes of a stored member",
          expected: "equal compressed and uncompressed sizes",
          found: "\(entry.compressedSize) and \(entry.uncompressedSize)")
      }
      let source = ByteSource.file(file, base: start, length: entry.compressedSize)
      if verifyStored { try checkCRC(of: try source.bytes(at: 0, count: source.length), entry, context) }
      return source
    case 8:
      let compressed = try file.bytes(at: start, count: entry.compressedSize)
      let bytes = try inflateNPYMember(compressed, entry)
      try checkCRC(of: bytes, entry, context)
      return .memory(bytes)
    default:
      throw context.error(
        "compression method", "unsupported compression method",
        expected: "0 (stored, np.savez) or 8 (deflate, np.savez_compressed)", found: "method \(entry.method)")
    }
  }

  /// Decompresses a deflated `.npy` member, allocating no more than its `.npy` header's
  /// shape implies: the preamble is decompressed first, and a member whose directory
  /// size disagrees with the shape, or whose stream holds more or less than that, is
  /// refused (a small archive can claim, or expand to, gigabytes).
  private func inflateNPYMember(_ compressed: [UInt8], _ entry: ZipEntry) throws -> [UInt8] {
    let context = ErrorContext(path: file.path, prefix: "member '\(entry.name)', deflate stream")
    let declared = entry.uncompressedSize
    let stream = try RawInflateStream(compressed, context: context)
    var bytes = [UInt8]()
    /// Decompresses up to `count` bytes in all; fewer means the member is shorter than declared.
    func fill(to count: Int) throws {
      try stream.inflate(appendingTo: &bytes, upTo: count - bytes.count)
      if bytes.count < count { try Inflate.finish(stream, output: bytes, expectedSize: declared, context: context) }
    }
    try fill(to: min(declared, 12))
    if let preamble = NPYHeader.preambleLength(bytes), preamble <= declared {
      try fill(to: preamble)
    }
    let header = try NPYHeader.readPreamble(
      from: .memory(bytes), length: declared, context: ErrorContext(path: file.path, prefix: "member '\(entry.name)'"))
    guard let total = header.totalByteCount, total == declared else {
      throw context.error(
        "header field 'shape'", "decompressed size differs from the declared size",
        expected: "\(declared) bytes (the zip directory's size)",
        found: "\(header.totalByteCount.map { "\($0) bytes" } ?? "more bytes than fit in memory") by the .npy header, shape \(header.shapeText) of '\(header.dtype.descr)'")
    }
    guard total <= Inflate.maximumOutput(compressedCount: compressed.count) else {
      throw context.error(
        "byte \(compressed.count)", "decompressed size differs from the declared size",
        expected: "\(declared) bytes", found: "a \(compressed.count)-byte stream, which cannot expand that far")
    }
    bytes.reserveCapacity(total)
    try fill(to: total)
    try Inflate.finish(stream, output: bytes, expectedSize: declared, context: context)
    return bytes
  }

  private func checkCRC(of bytes: [UInt8], _ entry: ZipEntry, _ context: ErrorContext) throws {
    let crc = CRC32.checksum(bytes)
    guard crc == entry.crc32 else {
      throw context.error(
        "data", "CRC-32 mismatch (corrupt member)", expected: "CRC-32 0x" + String(entry.crc32, radix: 16),
        found: "0x" + String(crc, radix: 16))
    }
  }
}
