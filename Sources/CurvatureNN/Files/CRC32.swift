/// The CRC-32 checksum of zip, gzip and PNG (reflected polynomial `0xEDB88320`), by the
/// system zlib.
///
/// ```swift
/// CRC32.checksum(Array("123456789".utf8))  // 0xCBF43926
/// ```
public enum CRC32 {
  /// The checksum of `bytes`, continuing from the checksum of earlier bytes.
  /// - Parameters:
  ///   - bytes: The data.
  ///   - previous: The checksum of the bytes before `bytes` (0 to start).
  /// - Returns: The checksum of all bytes so far.
  /// - Complexity: O(`bytes.count`).
  public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
    zlibCRC32(bytes, continuing: previous)
  }

  /// The checksum of `bytes`.
  /// - Parameters:
  ///   - bytes: The data.
  ///   - previous: The checksum of the bytes before `bytes` (0 to start).
  /// - Returns: The checksum of all bytes so far.
  /// - Complexity: O(`bytes.count`).
  public static func checksum(_ bytes: [UInt8], continuing previous: UInt32 = 0) -> UInt32 {
    bytes.withUnsafeBytes { checksum($0, continuing: previous) }
  }
}
