import CurvatureNumerics

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A safetensors file: named tensors with a JSON header, as written by the `safetensors`
/// library (Hugging Face).
///
/// Layout: an 8-byte little-endian header length `N`, `N` bytes of JSON mapping each name
/// to `{"dtype", "shape", "data_offsets": [begin, end]}` (plus an optional
/// `"__metadata__"` map of strings), then the data buffer. Opening reads and validates
/// only the header; tensors are read on demand with `pread`, so a file can be read tensor
/// by tensor with memory for one tensor at a time. `F32`, `F64`, `F16` and `BF16` tensors
/// convert to the requested scalar type; other dtypes (integers, 8-bit floats) are listed
/// but reading them throws.
///
/// ```swift
/// let file = try SafetensorsFile(contentsOf: url)
/// for (name, weights) in try file.read(as: Float.self) { print(name, weights.shape) }
/// try SafetensorsFile.write([("w", w), ("b", b)], to: outputURL)
/// ```
public struct SafetensorsFile: Sendable {
  /// The file's path.
  public let path: String
  /// The tensors in the order of their data in the file (the order they were written).
  public let tensors: [SafetensorsTensorInfo]
  /// The `"__metadata__"` string map (empty when absent).
  public let metadata: [String: String]
  private let file: RandomAccessFile
  private let dataStart: Int

  /// Opens a safetensors file and validates its header against the file size.
  /// - Parameter url: The file.
  /// - Throws: `FileFormatError` for a file shorter than 8 bytes, a header length that is
  ///   too large or runs past the end, a header that is not a JSON object, a tensor entry
  ///   with a missing or invalid `dtype`, `shape` or `data_offsets`, offsets outside the
  ///   data buffer or not matching shape × dtype size, or tensors that do not tile the
  ///   buffer exactly.
  public init(contentsOf url: URL) throws {
    file = try RandomAccessFile(path: url.path)
    let header = try SafetensorsHeader.read(from: file)
    path = url.path
    tensors = header.tensors
    metadata = header.metadata
    dataStart = header.dataStart
  }

  /// The tensor names, in file order.
  public var names: [String] { tensors.map(\.name) }

  /// The header entry of a tensor.
  /// - Parameter name: The tensor's name.
  /// - Returns: The entry, or `nil` when there is no such tensor.
  public func info(named name: String) -> SafetensorsTensorInfo? {
    tensors.first { $0.name == name }
  }

  /// Reads one tensor converted to `T`.
  /// - Parameters:
  ///   - name: The tensor's name.
  ///   - type: `Float` or `Double`.
  ///   - requireFinite: Whether to reject NaN and infinities (after conversion).
  /// - Returns: The tensor with its shape.
  /// - Throws: `FileFormatError` when there is no such tensor, its dtype is not `F32`,
  ///   `F64`, `F16` or `BF16`, it holds a non-finite value (with `requireFinite`), or the
  ///   file cannot be read.
  public func array<T: BLASScalar>(named name: String, as type: T.Type = T.self, requireFinite: Bool = false) throws
    -> NDArray<T>
  {
    try array(named: name, as: T.self, requireFinite: requireFinite, allowingIntegers: false)
  }

  /// Reads one tensor converted to `T`, optionally also from the integer and boolean
  /// dtypes `I64`, `I32` and `BOOL` (a model's integer buffers), converted exactly.
  /// - Parameters:
  ///   - name: The tensor's name.
  ///   - type: `Float` or `Double`.
  ///   - requireFinite: Whether to reject NaN and infinities (after conversion).
  ///   - allowingIntegers: Whether `I64`, `I32` and `BOOL` tensors are read too (`BOOL` as 0
  ///     and 1).
  /// - Returns: The tensor with its shape.
  /// - Throws: `FileFormatError` as `array(named:as:requireFinite:)`, and for an integer
  ///   that `T` cannot hold exactly (magnitude 2²⁴ or more in `Float`).
  public func array<T: BLASScalar>(
    named name: String, as type: T.Type = T.self, requireFinite: Bool = false, allowingIntegers: Bool
  ) throws -> NDArray<T> {
    guard let info = info(named: name) else {
      throw FileFormatError(
        path: path, location: "header", problem: "no tensor named '\(name)'", expected: "a tensor '\(name)'",
        found: tensors.isEmpty ? "no tensors" : "tensors: \(names.joined(separator: ", "))")
    }
    if allowingIntegers, let kind = SafetensorsDType.integers[info.dtype] {
      return try readIntegers(info, kind, as: T.self)
    }
    return try read(info, as: T.self, requireFinite: requireFinite)
  }

  private func readIntegers<T: BLASScalar>(_ info: SafetensorsTensorInfo, _ kind: ElementKind, as _: T.Type) throws -> NDArray<T> {
    let count = info.dataOffsets.count / kind.byteSize
    let raw = try file.bytes(at: dataStart + info.dataOffsets.lowerBound, count: info.dataOffsets.count)
    let values = raw.withUnsafeBytes { bytes in
      [Int](unsafeUninitializedCapacity: count) { buffer, initialized in
        _ = ElementCoding.decodeIntegers(kind, from: bytes, into: buffer)
        initialized = count
      }
    }
    // Every integer of magnitude up to 2^(significand bits + 1) is exact; 2^24 in Float.
    let limit = 1 << (T.significandBitCount + 1)
    if let bad = values.firstIndex(where: { $0 >= limit || $0 <= -limit }) {
      throw ErrorContext(path: path).error(
        "tensor '\(info.name)'", "integer too large for \(T.dtypeName)", expected: "magnitudes below \(limit) (exact in \(T.dtypeName))",
        found: "\(values[bad]) at flat index \(bad) (multi-index \(NPYArray.multiIndex(bad, shape: info.shape)))")
    }
    return NDArray(shape: info.shape, scalars: values.map { T($0) })
  }

  /// Reads every tensor converted to `T`, in file order.
  /// - Parameters:
  ///   - type: `Float` or `Double`.
  ///   - requireFinite: Whether to reject NaN and infinities (after conversion).
  /// - Returns: The names and arrays.
  /// - Throws: `FileFormatError` as `array(named:as:requireFinite:)`.
  public func read<T: BLASScalar>(as type: T.Type = T.self, requireFinite: Bool = false) throws
    -> [(name: String, array: NDArray<T>)]
  {
    try tensors.map { ($0.name, try read($0, as: T.self, requireFinite: requireFinite)) }
  }

  private func read<T: BLASScalar>(_ info: SafetensorsTensorInfo, as _: T.Type, requireFinite: Bool) throws -> NDArray<T> {
    let context = ErrorContext(path: path)
    guard let kind = SafetensorsDType.readable[info.dtype] else {
      throw context.error(
        "tensor '\(info.name)'", "unsupported dtype '\(info.dtype)' for floating-point weights",
        expected: SafetensorsDType.readableList, found: "'\(info.dtype)'")
    }
    let count = info.dataOffsets.count / kind.byteSize
    let start = dataStart + info.dataOffsets.lowerBound
    var direct = false
    #if _endian(little)
      direct = (kind == .float32 && T.self == Float.self) || (kind == .float64 && T.self == Double.self)
    #endif
    let values: [T]
    if direct {
      // Same layout: read straight into the result.
      values = try [T](unsafeUninitializedCapacity: count) { buffer, initialized in
        if count > 0 { try file.read(into: UnsafeMutableRawBufferPointer(buffer), at: start) }
        initialized = count
      }
    } else {
      let raw = try file.bytes(at: start, count: info.dataOffsets.count)
      values = raw.withUnsafeBytes { bytes in
        [T](unsafeUninitializedCapacity: count) { buffer, initialized in
          ElementCoding.decodeFloats(kind, from: bytes, into: buffer)
          initialized = count
        }
      }
    }
    if requireFinite, let bad = values.withUnsafeBufferPointer({ ElementCoding.firstNonFinite($0) }) {
      throw context.error(
        "tensor '\(info.name)'", "non-finite value", expected: "finite \(T.dtypeName) values",
        found: "\(values[bad]) at flat index \(bad) (multi-index \(NPYArray.multiIndex(bad, shape: info.shape)))")
    }
    return NDArray(shape: info.shape, scalars: values)
  }
}
