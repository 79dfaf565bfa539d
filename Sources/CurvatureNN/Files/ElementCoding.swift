import CurvatureNumerics

/// The element types that the file readers can decode, with their little-endian layout.
enum ElementKind: Sendable, Hashable {
  case float16, bfloat16, float32, float64, int64, int32, uint8, bool

  /// Bytes per element.
  var byteSize: Int {
    switch self {
    case .float16, .bfloat16: 2
    case .float32, .int32: 4
    case .float64, .int64: 8
    case .uint8, .bool: 1
    }
  }

  /// Whether the elements are floating-point numbers.
  var isFloatingPoint: Bool {
    switch self {
    case .float16, .bfloat16, .float32, .float64: true
    case .int64, .int32, .uint8, .bool: false
    }
  }
}

/// Conversions between little-endian element bytes and Swift values.
enum ElementCoding {
  /// The `Float` value of IEEE binary16 bits (exact; keeps infinities and NaN).
  static func float(fromHalf bits: UInt16) -> Float {
    let sign: UInt32 = UInt32(bits & 0x8000) << 16
    let exponent = UInt32(bits >> 10) & 0x1F
    let mantissa = UInt32(bits & 0x3FF)
    if exponent == 0 {
      let magnitude = Float(mantissa) * 0x1p-24  // zero or subnormal
      return sign != 0 ? -magnitude : magnitude
    }
    if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13) }
    return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
  }

  /// The `Float` value of bfloat16 bits (the upper half of a float32).
  static func float(fromBFloat16 bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
  }

  /// Decodes `out.count` elements of `kind` from `raw` (which holds at least that many)
  /// into floating-point values; integers and booleans convert to their values.
  static func decodeFloats<T: BLASScalar>(
    _ kind: ElementKind, from raw: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<T>
  ) {
    let n = out.count
    precondition(raw.count >= n * kind.byteSize, "decodeFloats: \(raw.count) bytes for \(n) elements")
    func load<I: FixedWidthInteger>(_ i: Int, _: I.Type) -> I {
      I(littleEndian: raw.loadUnaligned(fromByteOffset: i * MemoryLayout<I>.size, as: I.self))
    }
    #if _endian(little)
      if (kind == .float32 && T.self == Float.self) || (kind == .float64 && T.self == Double.self) {
        if n > 0 { UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: raw.baseAddress!, byteCount: n * kind.byteSize) }
        return
      }
    #endif
    switch kind {
    case .float16: for i in 0..<n { out[i] = T(float(fromHalf: load(i, UInt16.self))) }
    case .bfloat16: for i in 0..<n { out[i] = T(float(fromBFloat16: load(i, UInt16.self))) }
    case .float32: for i in 0..<n { out[i] = T(Float(bitPattern: load(i, UInt32.self))) }
    case .float64: for i in 0..<n { out[i] = T(Double(bitPattern: load(i, UInt64.self))) }
    case .int64: for i in 0..<n { out[i] = T(load(i, Int64.self)) }
    case .int32: for i in 0..<n { out[i] = T(load(i, Int32.self)) }
    case .uint8, .bool: for i in 0..<n { out[i] = T(raw[i]) }
    }
  }

  /// Decodes `out.count` elements of `kind` from `raw` into integers.
  /// - Returns: The index of the first element that is not an exact integer representable
  ///   as `Int` (a fraction, NaN, an infinity or too large), or `nil` when all are.
  static func decodeIntegers(
    _ kind: ElementKind, from raw: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<Int>
  ) -> Int? {
    let n = out.count
    precondition(raw.count >= n * kind.byteSize, "decodeIntegers: \(raw.count) bytes for \(n) elements")
    func load<I: FixedWidthInteger>(_ i: Int, _: I.Type) -> I {
      I(littleEndian: raw.loadUnaligned(fromByteOffset: i * MemoryLayout<I>.size, as: I.self))
    }
    func store(_ i: Int, _ value: Int?) -> Bool {
      guard let value else { return false }
      out[i] = value
      return true
    }
    switch kind {
    case .int64: for i in 0..<n { out[i] = Int(load(i, Int64.self)) }
    case .int32: for i in 0..<n { out[i] = Int(load(i, Int32.self)) }
    case .uint8, .bool: for i in 0..<n { out[i] = Int(raw[i]) }
    case .float16: for i in 0..<n where !store(i, Int(exactly: float(fromHalf: load(i, UInt16.self)))) { return i }
    case .bfloat16: for i in 0..<n where !store(i, Int(exactly: float(fromBFloat16: load(i, UInt16.self)))) { return i }
    case .float32: for i in 0..<n where !store(i, Int(exactly: Float(bitPattern: load(i, UInt32.self)))) { return i }
    case .float64: for i in 0..<n where !store(i, Int(exactly: Double(bitPattern: load(i, UInt64.self)))) { return i }
    }
    return nil
  }

  /// The value at `index` of `raw` as text, for error messages.
  static func describeElement(_ kind: ElementKind, in raw: UnsafeRawBufferPointer, at index: Int) -> String {
    var value: Double = 0
    withUnsafeMutablePointer(to: &value) { pointer in
      let one = UnsafeRawBufferPointer(rebasing: raw[(index * kind.byteSize)...])
      decodeFloats(kind, from: one, into: UnsafeMutableBufferPointer(start: pointer, count: 1))
    }
    return "\(value)"
  }

  /// The index of the first NaN or infinity, or `nil` when all values are finite.
  static func firstNonFinite<T: BLASScalar>(_ values: UnsafeBufferPointer<T>) -> Int? {
    // The scalar type's kernel: this generic code runs unspecialized.
    T.firstNonFinite(values)
  }

  /// The elements as little-endian bytes.
  static func littleEndianBytes<T: BLASScalar>(_ scalars: [T]) -> [UInt8] {
    #if _endian(little)
      return scalars.withUnsafeBytes { Array($0) }
    #else
      var bytes = [UInt8]()
      bytes.reserveCapacity(scalars.count * MemoryLayout<T>.size)
      for value in scalars {
        if let single = value as? Float {
          withUnsafeBytes(of: single.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        } else {
          withUnsafeBytes(of: Double(value).bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
      }
      return bytes
    #endif
  }

  /// Integers as little-endian `Int64` bytes.
  static func littleEndianBytes(int64 values: [Int]) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: values.count * 8)
    bytes.withUnsafeMutableBytes { raw in
      for (i, value) in values.enumerated() {
        raw.storeBytes(of: Int64(value).littleEndian, toByteOffset: i * 8, as: Int64.self)
      }
    }
    return bytes
  }
}

/// Little-endian integer fields of binary headers.
extension Array where Element == UInt8 {
  /// The little-endian `UInt16` at `offset` (the caller checks the bounds).
  func littleEndianUInt16(at offset: Int) -> UInt16 {
    UInt16(self[offset]) | UInt16(self[offset + 1]) << 8
  }

  /// The little-endian `UInt32` at `offset` (the caller checks the bounds).
  func littleEndianUInt32(at offset: Int) -> UInt32 {
    UInt32(littleEndianUInt16(at: offset)) | UInt32(littleEndianUInt16(at: offset + 2)) << 16
  }

  /// The little-endian `UInt64` at `offset` (the caller checks the bounds).
  func littleEndianUInt64(at offset: Int) -> UInt64 {
    UInt64(littleEndianUInt32(at: offset)) | UInt64(littleEndianUInt32(at: offset + 4)) << 32
  }

  /// Appends `value` in little-endian byte order.
  mutating func appendLittleEndian<I: FixedWidthInteger>(_ value: I) {
    Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
  }
}

/// The product of the extents, or `nil` on overflow or a negative extent.
func checkedElementCount(_ shape: [Int]) -> Int? {
  var count = 1
  for extent in shape {
    guard extent >= 0 else { return nil }
    let (product, overflow) = count.multipliedReportingOverflow(by: extent)
    if overflow { return nil }
    count = product
  }
  return count
}

/// "N bytes" for a shape and element size, or a note that the size overflows.
func byteCountText(_ shape: [Int], _ itemSize: Int) -> String {
  guard let count = checkedElementCount(shape) else { return "an impossible number of bytes" }
  let (bytes, overflow) = count.multipliedReportingOverflow(by: itemSize)
  return overflow ? "more than Int.max bytes" : "\(bytes) bytes"
}
