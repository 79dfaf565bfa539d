/// The CRC-32 checksum of zip, gzip and PNG (reflected polynomial `0xEDB88320`).
///
/// ```swift
/// CRC32.checksum(Array("123456789".utf8))  // 0xCBF43926
/// ```
public enum CRC32 {
  /// Eight lookup tables for slicing-by-8: `tables[k][b]` is the CRC of byte `b`
  /// followed by `k` zero bytes.
  private static let tables: [UInt32] = {
    var tables = [UInt32](repeating: 0, count: 8 * 256)
    for byte in 0..<256 {
      var crc = UInt32(byte)
      for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
      tables[byte] = crc
    }
    for k in 1..<8 {
      for byte in 0..<256 {
        let previous = tables[(k - 1) * 256 + byte]
        tables[k * 256 + byte] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
      }
    }
    return tables
  }()

  /// The checksum of `bytes`, continuing from the checksum of earlier bytes.
  /// - Parameters:
  ///   - bytes: The data.
  ///   - previous: The checksum of the bytes before `bytes` (0 to start).
  /// - Returns: The checksum of all bytes so far.
  public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
    var crc = ~previous
    guard var pointer = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return previous }
    var remaining = bytes.count
    tables.withUnsafeBufferPointer { t in
      while remaining >= 8 {
        let low = crc ^ (UInt32(pointer[0]) | UInt32(pointer[1]) << 8 | UInt32(pointer[2]) << 16 | UInt32(pointer[3]) << 24)
        let high = UInt32(pointer[4]) | UInt32(pointer[5]) << 8 | UInt32(pointer[6]) << 16 | UInt32(pointer[7]) << 24
        crc = t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
          ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
          ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
          ^ t[1 * 256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
        pointer += 8
        remaining -= 8
      }
      while remaining > 0 {
        crc = (crc >> 8) ^ t[Int((crc ^ UInt32(pointer[0])) & 0xFF)]
        pointer += 1
        remaining -= 1
      }
    }
    return ~crc
  }

  /// The checksum of `bytes`.
  /// - Parameters:
  ///   - bytes: The data.
  ///   - previous: The checksum of the bytes before `bytes` (0 to start).
  /// - Returns: The checksum of all bytes so far.
  public static func checksum(_ bytes: [UInt8], continuing previous: UInt32 = 0) -> UInt32 {
    bytes.withUnsafeBytes { checksum($0, continuing: previous) }
  }
}
