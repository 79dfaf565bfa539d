import CurvatureNumerics

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// An array loaded from (or to be saved as) a NumPy `.npy` file, keeping the file's dtype.
///
/// The elements are held as their little-endian bytes; `floats(as:requireFinite:)` and
/// `integers()` convert them to what the computation needs. Reading validates the whole
/// file (magic, version 1.0/2.0/3.0, header dict, dtype, C order, data size) and throws a
/// `FileFormatError` naming the file and the problem. (`fortran_order: True` is accepted
/// for 0-d and 1-d arrays, whose layout is the same in both orders.)
///
/// ```swift
/// let x = try NPYArray(contentsOf: url).floats(as: Double.self, requireFinite: true)
/// let labels = try NPYArray(contentsOf: labelsURL).integers()
/// try NPYArray(x).write(to: outputURL)
/// ```
///
/// Memory: loading holds the file's data bytes once; `floats` and `integers` allocate the
/// converted copy. For files larger than memory use `NPYFileReader`.
public struct NPYArray: Sendable, Equatable {
  /// The extent of each axis; `[]` for a 0-d array.
  public let shape: [Int]
  /// The element type stored in the file.
  public let dtype: NPYDType
  /// The elements' bytes, little-endian and row-major.
  public let data: [UInt8]
  /// Where the array was read from (a path, or `member in archive`), for error messages.
  public let source: String

  /// Creates an array from raw little-endian element bytes.
  /// - Parameters:
  ///   - shape: The extent of each axis.
  ///   - dtype: The element type.
  ///   - data: `shape.product × dtype.itemSize` bytes, little-endian, row-major.
  ///   - source: A name for error messages.
  /// - Throws: `FileFormatError` when the byte count does not match the shape.
  public init(shape: [Int], dtype: NPYDType, data: [UInt8], source: String = "<memory>") throws {
    guard let count = checkedElementCount(shape), count <= Int.max / dtype.itemSize,
      count * dtype.itemSize == data.count
    else {
      throw FileFormatError(
        path: source, location: "data", problem: "data size does not match the shape",
        expected: "\(byteCountText(shape, dtype.itemSize)) for shape \(shape) of \(dtype)",
        found: "\(data.count) bytes")
    }
    self.shape = shape
    self.dtype = dtype
    self.data = data
    self.source = source
  }

  /// An array holding the elements of `array` as `float32` or `float64`.
  /// - Parameter array: The values; the dtype follows its scalar type.
  public init<T: BLASScalar>(_ array: NDArray<T>) {
    shape = array.shape
    dtype = T.self == Float.self ? .float32 : .float64
    data = T.self == Float.self || T.self == Double.self
      ? ElementCoding.littleEndianBytes(array.scalars)
      : ElementCoding.littleEndianBytes(array.scalars.map { Double($0) })
    source = "<memory>"
  }

  /// An `int64` array of integers, such as class labels.
  /// - Parameters:
  ///   - integers: The values in row-major order.
  ///   - shape: The shape; `nil` for a vector `[integers.count]`.
  /// - Precondition: The shape's element count is `integers.count`.
  public init(integers: [Int], shape: [Int]? = nil) {
    let shape = shape ?? [integers.count]
    precondition(
      checkedElementCount(shape) == integers.count,
      "NPYArray(integers:shape:): \(integers.count) values cannot fill shape \(shape)")
    self.shape = shape
    dtype = .int64
    data = ElementCoding.littleEndianBytes(int64: integers)
    source = "<memory>"
  }

  /// Reads a whole `.npy` file.
  /// - Parameter url: The file.
  /// - Throws: `FileFormatError` naming the path and the problem: bad magic, unsupported
  ///   version, truncated header, a header that is not a dict literal, a missing field,
  ///   Fortran order, big-endian or unsupported dtypes, or data of the wrong size.
  public init(contentsOf url: URL) throws {
    let file = try RandomAccessFile(path: url.path)
    try self.init(source: .file(file, base: 0, length: file.size), context: ErrorContext(path: url.path))
  }

  /// Decodes the bytes of a whole `.npy` file held in memory.
  /// - Parameters:
  ///   - npyBytes: The file's bytes.
  ///   - source: A name for error messages.
  /// - Throws: `FileFormatError` as `init(contentsOf:)`.
  public init(npyBytes: [UInt8], source: String = "<memory>") throws {
    try self.init(source: .memory(npyBytes), context: ErrorContext(path: source))
  }

  init(source: ByteSource, context: ErrorContext) throws {
    let header = try NPYHeader.read(from: source, context: context)
    shape = header.shape
    dtype = header.dtype
    data = try source.bytes(at: header.dataOffset, count: header.dataByteCount)
    self.source = context.prefix.isEmpty ? context.path : "\(context.path) (\(context.prefix))"
  }

  /// The number of elements.
  public var count: Int { data.count / dtype.itemSize }

  /// The elements converted to `T` (any dtype: integers and booleans become their values).
  /// - Parameters:
  ///   - type: The computation's scalar type, `Float` or `Double`.
  ///   - requireFinite: Whether to reject NaN and infinities (checked after conversion,
  ///     so a `float64` value too large for `Float` is rejected too).
  /// - Returns: An `NDArray` of the same shape.
  /// - Throws: `FileFormatError` naming the first non-finite element's flat index when
  ///   `requireFinite` is set.
  public func floats<T: BLASScalar>(as type: T.Type = T.self, requireFinite: Bool = false) throws -> NDArray<T> {
    let values = try NPYArray.decodeFloats(
      dtype: dtype, data: data, shape: shape, firstFlatIndex: 0, requireFinite: requireFinite, as: T.self,
      context: ErrorContext(path: source))
    return NDArray(shape: shape, scalars: values)
  }

  /// The elements as integers, in row-major order.
  /// - Returns: One `Int` per element; booleans are 0 or 1.
  /// - Throws: `FileFormatError` when a floating-point element is not an exact integer
  ///   (a fraction, NaN, an infinity or beyond `Int`), naming its flat index.
  public func integers() throws -> [Int] {
    try NPYArray.decodeIntegers(
      dtype: dtype, data: data, shape: shape, firstFlatIndex: 0, context: ErrorContext(path: source))
  }

  /// The bytes of an `.npy` file holding this array (format 1.0, or 2.0 for huge headers).
  public func npyBytes() -> [UInt8] {
    NPYHeader.encode(dtype: dtype, shape: shape) + data
  }

  /// Writes the array as an `.npy` file (format 1.0, or 2.0 when the header needs it),
  /// byte for byte as `np.save` would.
  /// - Parameter url: The destination; an existing file is replaced.
  /// - Throws: `FileFormatError` when the file cannot be written.
  public func write(to url: URL) throws {
    let writer = try SequentialFileWriter(url: url)
    try writer.write(NPYHeader.encode(dtype: dtype, shape: shape))
    try writer.write(data)
    try writer.close()
  }

  /// Equal shape, dtype and bytes (the source name is not compared).
  public static func == (a: NPYArray, b: NPYArray) -> Bool {
    a.shape == b.shape && a.dtype == b.dtype && a.data == b.data
  }

  // MARK: Conversions shared with `NPYFileReader`

  /// Decodes `data` (a run of elements starting at `firstFlatIndex` of an array of
  /// `shape`) into `T`, optionally rejecting non-finite values.
  static func decodeFloats<T: BLASScalar>(
    dtype: NPYDType, data: [UInt8], shape: [Int], firstFlatIndex: Int, requireFinite: Bool, as _: T.Type,
    context: ErrorContext
  ) throws -> [T] {
    let count = data.count / dtype.itemSize
    let values = data.withUnsafeBytes { raw in
      [T](unsafeUninitializedCapacity: count) { buffer, initialized in
        ElementCoding.decodeFloats(dtype.kind, from: raw, into: buffer)
        initialized = count
      }
    }
    if requireFinite, let bad = values.withUnsafeBufferPointer({ ElementCoding.firstNonFinite($0) }) {
      let flat = firstFlatIndex + bad
      throw context.error(
        "element \(flat)", "non-finite value",
        expected: "finite \(T.dtypeName) values",
        found: "\(values[bad]) at flat index \(flat) (multi-index \(multiIndex(flat, shape: shape)))")
    }
    return values
  }

  /// Decodes `data` into integers, rejecting floating-point values that are not exact.
  static func decodeIntegers(
    dtype: NPYDType, data: [UInt8], shape: [Int], firstFlatIndex: Int, context: ErrorContext
  ) throws -> [Int] {
    let count = data.count / dtype.itemSize
    var bad: Int?
    let values = data.withUnsafeBytes { raw in
      [Int](unsafeUninitializedCapacity: count) { buffer, initialized in
        bad = ElementCoding.decodeIntegers(dtype.kind, from: raw, into: buffer)
        if bad != nil { buffer.initialize(repeating: 0) }
        initialized = count
      }
    }
    if let bad {
      let flat = firstFlatIndex + bad
      let value = data.withUnsafeBytes { ElementCoding.describeElement(dtype.kind, in: $0, at: bad) }
      throw context.error(
        "element \(flat)", "not an integer", expected: "exact integers (\(dtype) data converted to Int)",
        found: "\(value) at flat index \(flat) (multi-index \(multiIndex(flat, shape: shape)))")
    }
    return values
  }

  /// The row-major multi-index of a flat index.
  static func multiIndex(_ flat: Int, shape: [Int]) -> [Int] {
    var index = [Int](repeating: 0, count: shape.count)
    var rest = flat
    for axis in shape.indices.reversed() where shape[axis] > 0 {
      index[axis] = rest % shape[axis]
      rest /= shape[axis]
    }
    return index
  }
}
