#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Writes a zip archive of stored (uncompressed) members, switching to zip64 records when
/// sizes or offsets need them (or when forced). Timestamps are fixed (1980-01-01) so that
/// equal contents give equal files.
struct ZipWriter {
  private let writer: SequentialFileWriter
  private let forceZip64: Bool
  private var directory = [UInt8]()
  private var entryCount = 0
  private static let saturated32: UInt32 = 0xFFFF_FFFF
  private static let dosDate: UInt16 = 1 << 5 | 1  // 1980-01-01

  /// Creates (or truncates) the archive file.
  /// - Throws: `FileFormatError` when the file cannot be created.
  init(url: URL, forceZip64: Bool) throws {
    writer = try SequentialFileWriter(url: url)
    self.forceZip64 = forceZip64
  }

  /// Appends a stored member.
  /// - Throws: `FileFormatError` when writing fails.
  mutating func addStored(name: String, bytes: [UInt8]) throws {
    let nameBytes = Array(name.utf8)
    let crc = CRC32.checksum(bytes)
    let offset = writer.offset
    let zip64 = forceZip64 || bytes.count >= Int(ZipWriter.saturated32) || offset >= Int(ZipWriter.saturated32)
    let version: UInt16 = zip64 ? 45 : 20
    let flags: UInt16 = name.utf8.allSatisfy { $0 < 0x80 } ? 0 : 0x0800  // UTF-8 names
    let size32 = zip64 ? ZipWriter.saturated32 : UInt32(bytes.count)

    var local = [UInt8]()
    local.appendLittleEndian(UInt32(0x0403_4B50))
    for field: UInt16 in [version, flags, 0, 0, ZipWriter.dosDate] { local.appendLittleEndian(field) }
    local.appendLittleEndian(crc)
    local.appendLittleEndian(size32)
    local.appendLittleEndian(size32)
    local.appendLittleEndian(UInt16(nameBytes.count))
    local.appendLittleEndian(UInt16(zip64 ? 20 : 0))
    local += nameBytes
    if zip64 {
      local.appendLittleEndian(UInt16(1))
      local.appendLittleEndian(UInt16(16))
      local.appendLittleEndian(UInt64(bytes.count))
      local.appendLittleEndian(UInt64(bytes.count))
    }
    try writer.write(local)
    try writer.write(bytes)

    directory.appendLittleEndian(UInt32(0x0201_4B50))
    for field: UInt16 in [3 << 8 | version, version, flags, 0, 0, ZipWriter.dosDate] { directory.appendLittleEndian(field) }
    directory.appendLittleEndian(crc)
    directory.appendLittleEndian(size32)
    directory.appendLittleEndian(size32)
    directory.appendLittleEndian(UInt16(nameBytes.count))
    directory.appendLittleEndian(UInt16(zip64 ? 28 : 0))
    for field: UInt16 in [0, 0, 0] { directory.appendLittleEndian(field) }  // comment, disk, internal
    directory.appendLittleEndian(UInt32(0o100644) << 16)  // regular file, rw-r--r--
    directory.appendLittleEndian(zip64 ? ZipWriter.saturated32 : UInt32(offset))
    directory += nameBytes
    if zip64 {
      directory.appendLittleEndian(UInt16(1))
      directory.appendLittleEndian(UInt16(24))
      directory.appendLittleEndian(UInt64(bytes.count))
      directory.appendLittleEndian(UInt64(bytes.count))
      directory.appendLittleEndian(UInt64(offset))
    }
    entryCount += 1
  }

  /// Writes the central directory and end records and closes the file.
  /// - Throws: `FileFormatError` when writing fails.
  mutating func finish() throws {
    let directoryOffset = writer.offset
    try writer.write(directory)
    let zip64 =
      forceZip64 || entryCount >= 0xFFFF || directoryOffset >= Int(ZipWriter.saturated32)
      || directory.count >= Int(ZipWriter.saturated32)
    var end = [UInt8]()
    if zip64 {
      let recordOffset = writer.offset
      end.appendLittleEndian(UInt32(0x0606_4B50))
      end.appendLittleEndian(UInt64(44))
      end.appendLittleEndian(UInt16(45))
      end.appendLittleEndian(UInt16(45))
      end.appendLittleEndian(UInt32(0))
      end.appendLittleEndian(UInt32(0))
      end.appendLittleEndian(UInt64(entryCount))
      end.appendLittleEndian(UInt64(entryCount))
      end.appendLittleEndian(UInt64(directory.count))
      end.appendLittleEndian(UInt64(directoryOffset))
      end.appendLittleEndian(UInt32(0x0706_4B50))
      end.appendLittleEndian(UInt32(0))
      end.appendLittleEndian(UInt64(recordOffset))
      end.appendLittleEndian(UInt32(1))
    }
    end.appendLittleEndian(UInt32(0x0605_4B50))
    end.appendLittleEndian(UInt16(0))
    end.appendLittleEndian(UInt16(0))
    let count16 = zip64 ? UInt16.max : UInt16(entryCount)
    end.appendLittleEndian(count16)
    end.appendLittleEndian(count16)
    end.appendLittleEndian(zip64 ? ZipWriter.saturated32 : UInt32(directory.count))
    end.appendLittleEndian(zip64 ? ZipWriter.saturated32 : UInt32(directoryOffset))
    end.appendLittleEndian(UInt16(0))
    try writer.write(end)
    try writer.close()
  }
}
