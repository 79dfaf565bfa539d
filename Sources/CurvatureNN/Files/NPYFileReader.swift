import CurvatureNumerics

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Reads batches of rows (ranges of the leading axis) of an `.npy` array without loading
/// the whole array: for data sets larger than memory.
///
/// Opening reads and validates only the header (and checks that the file size matches the
/// shape). Each `rows(_:as:)` call reads just the requested rows with `pread`: straight
/// into the result when the file's dtype is the requested type, otherwise in chunks of at
/// most 1 MiB converted into the result. Memory use is the returned batch plus at most
/// one 1 MiB chunk, independent of the file's size. The reader is `Sendable` and batches
/// may be read from several threads at once.
///
/// Readers for members of an `.npz` archive come from `NPZFile.reader(named:)`: stored
/// (uncompressed) members are read by offset in the same way; compressed members are
/// decompressed into memory once when the reader is created.
///
/// ```swift
/// let reader = try NPYFileReader(contentsOf: url)
/// for batch in reader.batchRanges(size: 1024) {
///   let x = try reader.rows(batch, as: Float.self, requireFinite: true)  // [batch.count, …]
/// }
/// ```
public struct NPYFileReader: Sendable {
  /// The path (or `archive (member)`) for error messages.
  public let source: String
  /// The shape of the whole array.
  public let shape: [Int]
  /// The element type stored in the file.
  public let dtype: NPYDType

  private let bytes: ByteSource
  private let dataOffset: Int
  private let context: ErrorContext
  private static let chunkBytes = 1 << 20

  /// Opens an `.npy` file and validates its header.
  /// - Parameter url: The file.
  /// - Throws: `FileFormatError` as `NPYArray(contentsOf:)` does for the header and size.
  public init(contentsOf url: URL) throws {
    let file = try RandomAccessFile(path: url.path)
    try self.init(source: .file(file, base: 0, length: file.size), context: ErrorContext(path: url.path))
  }

  init(source: ByteSource, context: ErrorContext) throws {
    let header = try NPYHeader.read(from: source, context: context)
    self.source = context.prefix.isEmpty ? context.path : "\(context.path) (\(context.prefix))"
    shape = header.shape
    dtype = header.dtype
    bytes = source
    dataOffset = header.dataOffset
    self.context = context
  }

  /// The extent of the leading axis (0 for a 0-d array, which has no rows).
  public var rowCount: Int { shape.first ?? 0 }

  /// The shape of one row: the shape without its leading axis.
  public var rowShape: [Int] { Array(shape.dropFirst()) }

  /// Consecutive ranges of at most `size` rows covering all rows, for batch loops.
  /// - Parameter size: The batch size (positive).
  /// - Returns: `[0..<size, size..<2size, …]`, the last one possibly shorter.
  public func batchRanges(size: Int) -> [Range<Int>] {
    precondition(size > 0, "NPYFileReader.batchRanges: batch size \(size) must be positive")
    return stride(from: 0, to: rowCount, by: size).map { $0..<min($0 + size, rowCount) }
  }

  /// Rows `range` of the leading axis converted to `T`.
  /// - Parameters:
  ///   - range: The rows to read, within `0..<rowCount`.
  ///   - type: `Float` or `Double`.
  ///   - requireFinite: Whether to reject NaN and infinities.
  /// - Returns: An array of shape `[range.count] + rowShape`.
  /// - Throws: `FileFormatError` for a range outside the array, a read failure, or (with
  ///   `requireFinite`) a non-finite value, naming its flat index in the whole array.
  public func rows<T: BLASScalar>(_ range: Range<Int>, as type: T.Type = T.self, requireFinite: Bool = false) throws
    -> NDArray<T>
  {
    let (first, count) = try elementSpan(range)
    let itemSize = dtype.itemSize
    let kind = dtype.kind
    var direct = false
    #if _endian(little)
      direct = (kind == .float32 && T.self == Float.self) || (kind == .float64 && T.self == Double.self)
    #endif
    let values = try [T](unsafeUninitializedCapacity: count) { buffer, initialized in
      if direct {
        // Same layout: read straight into the result.
        try bytes.read(into: UnsafeMutableRawBufferPointer(buffer), at: dataOffset + first * itemSize)
      } else {
        let perChunk = max(1, NPYFileReader.chunkBytes / itemSize)
        var chunk = [UInt8](repeating: 0, count: min(count, perChunk) * itemSize)
        var done = 0
        while done < count {
          let n = min(perChunk, count - done)
          try chunk.withUnsafeMutableBytes { raw in
            let part = UnsafeMutableRawBufferPointer(rebasing: raw[0..<n * itemSize])
            try bytes.read(into: part, at: dataOffset + (first + done) * itemSize)
            ElementCoding.decodeFloats(
              kind, from: UnsafeRawBufferPointer(part), into: UnsafeMutableBufferPointer(rebasing: buffer[done..<done + n]))
          }
          done += n
        }
      }
      initialized = count
    }
    if requireFinite, let bad = values.withUnsafeBufferPointer({ ElementCoding.firstNonFinite($0) }) {
      let flat = first + bad
      throw context.error(
        "element \(flat)", "non-finite value", expected: "finite \(T.dtypeName) values",
        found: "\(values[bad]) at flat index \(flat) (multi-index \(NPYArray.multiIndex(flat, shape: shape)))")
    }
    return NDArray(shape: [range.count] + rowShape, scalars: values)
  }

  /// Rows `range` of the leading axis as integers, flattened in row-major order.
  /// - Parameter range: The rows to read, within `0..<rowCount`.
  /// - Returns: `range.count × rowShape.product` integers.
  /// - Throws: `FileFormatError` for a range outside the array, a read failure, or a
  ///   floating-point value that is not an exact integer.
  public func integerRows(_ range: Range<Int>) throws -> [Int] {
    let (first, count) = try elementSpan(range)
    var result = [Int]()
    result.reserveCapacity(count)
    try forEachChunk(first: first, count: count) { chunk, chunkFirst in
      result += try NPYArray.decodeIntegers(
        dtype: dtype, data: chunk, shape: shape, firstFlatIndex: chunkFirst, context: context)
    }
    return result
  }

  /// Reads the whole array into memory.
  /// - Returns: The array with its dtype.
  /// - Throws: `FileFormatError` when the data cannot be read.
  public func readAll() throws -> NPYArray {
    let count = checkedElementCount(shape) ?? 0
    let data = try bytes.bytes(at: dataOffset, count: count * dtype.itemSize)
    return try NPYArray(shape: shape, dtype: dtype, data: data, source: source)
  }

  /// The flat index of the first element and the element count of a range of rows.
  private func elementSpan(_ range: Range<Int>) throws -> (first: Int, count: Int) {
    guard !shape.isEmpty else {
      throw context.error(
        "rows \(range)", "a 0-d array has no rows", expected: "an array with a leading axis", found: "shape ()")
    }
    guard range.lowerBound >= 0, range.upperBound <= rowCount else {
      throw context.error(
        "rows \(range)", "rows out of range", expected: "rows within 0..<\(rowCount)", found: "\(range)")
    }
    let rowElements = checkedElementCount(rowShape) ?? 0
    return (range.lowerBound * rowElements, range.count * rowElements)
  }

  /// Calls `body` with consecutive chunks of element bytes covering `count` elements from
  /// flat index `first`, and the flat index of each chunk's first element.
  private func forEachChunk(first: Int, count: Int, _ body: ([UInt8], Int) throws -> Void) throws {
    let itemSize = dtype.itemSize
    let perChunk = max(1, NPYFileReader.chunkBytes / itemSize)
    var done = 0
    while done < count {
      let n = min(perChunk, count - done)
      let chunk = try bytes.bytes(at: dataOffset + (first + done) * itemSize, count: n * itemSize)
      try body(chunk, first + done)
      done += n
    }
  }
}
