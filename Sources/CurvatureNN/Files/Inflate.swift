/// Raw DEFLATE decompression (RFC 1951): stored, fixed-Huffman and dynamic-Huffman blocks.
///
/// This is the compression of zip members with method 8, as written by
/// `np.savez_compressed`, and of `zlib` streams created with `wbits=-15`. Decoding is
/// table-driven (`HuffmanTable`): a 64-bit bit buffer refilled a byte at a time, one table
/// lookup per code of up to 10 bits, and no allocation per symbol (tables are rebuilt in
/// place per dynamic block). Every length, distance and code is validated; a corrupt or
/// truncated stream throws instead of reading or writing out of bounds.
///
/// ```swift
/// let original = try Inflate.decompress(compressed, expectedSize: 4096)
/// ```
public enum Inflate {
  /// Decompresses a complete raw DEFLATE stream.
  /// - Parameters:
  ///   - input: The compressed bytes (bytes after the final block are ignored).
  ///   - expectedSize: The decompressed size when known (for example from a zip
  ///     directory); the output is allocated once and a stream of another size is an error.
  ///   - source: A name for error messages (a file path, or `archive (member)`).
  /// - Returns: The decompressed bytes.
  /// - Throws: `FileFormatError` naming the byte offset in the stream: a reserved block
  ///   type, a stored block whose length check fails, invalid Huffman code lengths, an
  ///   invalid code, a distance before the start of the output, a truncated stream, or
  ///   output of a size other than `expectedSize`.
  public static func decompress(_ input: [UInt8], expectedSize: Int? = nil, source: String = "<deflate stream>")
    throws -> [UInt8]
  {
    try decompress(input, expectedSize: expectedSize, context: ErrorContext(path: source, prefix: "deflate stream"))
  }

  /// `decompress(_:expectedSize:source:)` with errors located by `context`.
  static func decompress(_ input: [UInt8], expectedSize: Int?, context: ErrorContext) throws -> [UInt8] {
    try input.withUnsafeBufferPointer { buffer in
      var bits = BitReader(input: buffer, context: context)
      // DEFLATE expands at most 1032:1, so a declared size from an untrusted header never
      // allocates more than the input can produce.
      let bound = buffer.count * 1032 + 1024
      let capacity = expectedSize.map { max(1, min($0, bound)) } ?? min(max(4 * buffer.count, 1024), bound)
      var output = OutputBuffer(capacity: capacity, limit: expectedSize)
      defer { output.deallocate() }
      try inflateBlocks(&bits, &output)
      if let expectedSize, output.count != expectedSize {
        throw bits.error(
          "decompressed size differs from the declared size", expected: "\(expectedSize) bytes",
          found: "\(output.count) bytes")
      }
      return output.array()
    }
  }

  private static func inflateBlocks(_ bits: inout BitReader, _ output: inout OutputBuffer) throws {
    var literal = HuffmanTable()
    var distance = HuffmanTable()
    var codeLengths = HuffmanTable()
    var isFinal = false
    while !isFinal {
      try bits.refill()
      isFinal = bits.take(1) == 1
      switch bits.take(2) {
      case 0:
        try copyStoredBlock(&bits, &output)
      case 1:
        try decodeBlock(&bits, &output, HuffmanTable.fixedLiteral, HuffmanTable.fixedDistance)
      case 2:
        try readDynamicTables(&bits, literal: &literal, distance: &distance, codeLengths: &codeLengths)
        try decodeBlock(&bits, &output, literal, distance)
      default:
        throw bits.error("invalid block header", expected: "block type 0, 1 or 2", found: "reserved block type 3")
      }
    }
    try bits.checkNotTruncated()
  }

  private static func copyStoredBlock(_ bits: inout BitReader, _ output: inout OutputBuffer) throws {
    try bits.alignToByte()
    let header = try bits.takeBytes(4)
    let length = Int(header[0]) | Int(header[1]) << 8
    let complement = Int(header[2]) | Int(header[3]) << 8
    guard length == complement ^ 0xFFFF else {
      throw bits.error(
        "corrupt stored block", expected: "LEN and NLEN to be complements",
        found: "LEN \(length), NLEN \(complement)")
    }
    let bytes = try bits.takeBytes(length)
    try output.reserve(length, bits)
    output.append(bytes)
  }

  private static let lengthBase: [Int] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
  ]
  private static let lengthExtra: [Int] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
  ]
  private static let distanceBase: [Int] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
    6145, 8193, 12289, 16385, 24577,
  ]
  private static let distanceExtra: [Int] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
  ]
  /// The order in which code-length code lengths are stored.
  private static let codeLengthOrder: [Int] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

  /// Decodes the symbols of one Huffman block up to its end-of-block code.
  private static func decodeBlock(
    _ bits: inout BitReader, _ output: inout OutputBuffer, _ literal: borrowing HuffmanTable,
    _ distance: borrowing HuffmanTable
  ) throws {
    let lengthBase = Inflate.lengthBase, lengthExtra = Inflate.lengthExtra
    let distanceBase = Inflate.distanceBase, distanceExtra = Inflate.distanceExtra
    while true {
      // One refill leaves at least 57 bits: enough for a literal/length code (15), its
      // extra bits (5), a distance code (15) and its extra bits (13).
      try bits.refill()
      let symbol = try bits.decode(literal, "literal/length")
      if symbol < 256 {
        try output.reserve(1, bits)
        output.append(UInt8(truncatingIfNeeded: symbol))
        continue
      }
      if symbol == 256 { return }
      let lengthCode = symbol - 257
      guard lengthCode < 29 else {
        throw bits.error("invalid length code", expected: "a length symbol 257...285", found: "symbol \(symbol)")
      }
      let length = lengthBase[lengthCode] + bits.take(lengthExtra[lengthCode])
      let distanceCode = try bits.decode(distance, "distance")
      guard distanceCode < 30 else {
        throw bits.error("invalid distance code", expected: "a distance symbol 0...29", found: "symbol \(distanceCode)")
      }
      let offset = distanceBase[distanceCode] + bits.take(distanceExtra[distanceCode])
      guard offset <= output.count else {
        throw bits.error(
          "invalid distance", expected: "a distance of at most \(output.count) (the output so far)",
          found: "distance \(offset)")
      }
      try output.reserve(length, bits)
      output.copyMatch(distance: offset, length: length)
    }
  }

  /// Reads the code-length code and the literal/length and distance code lengths of a
  /// dynamic block, and rebuilds the tables.
  private static func readDynamicTables(
    _ bits: inout BitReader, literal: inout HuffmanTable, distance: inout HuffmanTable,
    codeLengths: inout HuffmanTable
  ) throws {
    try bits.refill()
    let literalCount = bits.take(5) + 257
    let distanceCount = bits.take(5) + 1
    let codeLengthCount = bits.take(4) + 4
    guard literalCount <= 286, distanceCount <= 30 else {
      throw bits.error(
        "invalid dynamic block header", expected: "at most 286 literal/length and 30 distance codes",
        found: "\(literalCount) and \(distanceCount)")
    }
    var codeLengthLengths = [UInt8](repeating: 0, count: 19)
    for i in 0..<codeLengthCount {
      try bits.refill()
      codeLengthLengths[codeLengthOrder[i]] = UInt8(bits.take(3))
    }
    guard codeLengths.build(codeLengthLengths[...]) else {
      throw bits.error("invalid code-length code", expected: "a valid prefix code", found: "over-subscribed lengths")
    }
    let total = literalCount + distanceCount
    var lengths = [UInt8](repeating: 0, count: total)
    var i = 0
    while i < total {
      try bits.refill()
      let symbol = try bits.decode(codeLengths, "code length")
      var value: UInt8 = 0
      var repeatCount = 1
      switch symbol {
      case 0...15:
        value = UInt8(symbol)
      case 16:
        guard i > 0 else {
          throw bits.error("invalid code lengths", expected: "a length before a repeat code", found: "repeat code 16 first")
        }
        value = lengths[i - 1]
        repeatCount = 3 + bits.take(2)
      case 17:
        repeatCount = 3 + bits.take(3)
      default:
        repeatCount = 11 + bits.take(7)
      }
      guard i + repeatCount <= total else {
        throw bits.error(
          "invalid code lengths", expected: "\(total) code lengths", found: "a repeat past the end (\(i + repeatCount))")
      }
      for j in i..<i + repeatCount { lengths[j] = value }
      i += repeatCount
    }
    guard lengths[256] != 0 else {
      throw bits.error("invalid code lengths", expected: "a code for end-of-block (256)", found: "none")
    }
    guard literal.build(lengths[0..<literalCount]), distance.build(lengths[literalCount...]) else {
      throw bits.error("invalid Huffman code", expected: "a valid prefix code", found: "over-subscribed code lengths")
    }
  }
}

/// The input of `Inflate`: a 64-bit buffer of pending bits, least-significant first.
struct BitReader {
  let input: UnsafeBufferPointer<UInt8>
  let context: ErrorContext
  /// The next input byte to load into `buffer`.
  private var position = 0
  private var buffer: UInt64 = 0
  /// Valid bits in `buffer` (bits above are zero).
  private var count = 0
  /// Zero bytes loaded past the end of the input.
  private var padding = 0

  init(input: UnsafeBufferPointer<UInt8>, context: ErrorContext) {
    self.input = input
    self.context = context
  }

  /// The offset of the byte holding the next unread bit.
  var byteOffset: Int { ((position + padding) * 8 - count) / 8 }

  func error(_ problem: String, expected: String, found: String) -> FileFormatError {
    context.error("byte \(min(byteOffset, input.count))", problem, expected: expected, found: found)
  }

  private var truncatedError: FileFormatError {
    context.error("byte \(input.count)", "truncated deflate stream", expected: "more compressed data", found: "end of data")
  }

  /// Fills the buffer to at least 57 bits, with zero bytes past the end of the input.
  /// - Throws: When bits past the end have already been consumed.
  @inline(__always)
  mutating func refill() throws {
    if count > 56 { return }
    if position + 8 <= input.count {
      let word = UInt64(littleEndian: UnsafeRawPointer(input.baseAddress! + position).loadUnaligned(as: UInt64.self))
      let taken = (64 - count) >> 3
      let newCount = count + taken * 8
      let mask: UInt64 = newCount == 64 ? ~0 : (1 << UInt64(newCount)) - 1
      buffer |= (word << UInt64(count)) & mask
      position += taken
      count = newCount
      return
    }
    while count <= 56 {
      if position < input.count {
        buffer |= UInt64(input[position]) << UInt64(count)
        position += 1
      } else {
        if padding * 8 > count { throw truncatedError }
        padding += 1
      }
      count += 8
    }
  }

  /// Throws when the stream ended before its final block did.
  func checkNotTruncated() throws {
    if padding * 8 > count { throw truncatedError }
  }

  /// Consumes `n` (≤ 32, and at most the buffered bits) bits.
  @inline(__always)
  mutating func take(_ n: Int) -> Int {
    let value = Int(buffer & ((1 << UInt64(n)) - 1))
    buffer >>= UInt64(n)
    count -= n
    return value
  }

  /// Decodes one symbol of `table` (needs 15 buffered bits).
  @inline(__always)
  mutating func decode(_ table: borrowing HuffmanTable, _ what: String) throws -> Int {
    guard let (symbol, length) = table.lookup(buffer) else {
      throw error("invalid \(what) code", expected: "a code of the block's Huffman table", found: "an unassigned bit pattern")
    }
    buffer >>= UInt64(length)
    count -= length
    return symbol
  }

  /// Drops the bits up to the next byte boundary and returns whole buffered bytes to the
  /// input, so that stored data can be copied directly.
  mutating func alignToByte() throws {
    _ = take(count % 8)
    let consumed = position + padding - count / 8
    if consumed > input.count { throw truncatedError }
    position = consumed
    padding = 0
    buffer = 0
    count = 0
  }

  /// The next `n` bytes (the reader must be byte-aligned with an empty buffer).
  mutating func takeBytes(_ n: Int) throws -> UnsafeBufferPointer<UInt8> {
    guard n <= input.count - position else { throw truncatedError }
    defer { position += n }
    return UnsafeBufferPointer(rebasing: input[position..<position + n])
  }
}

/// The growing output of `Inflate`, with an optional size limit.
struct OutputBuffer {
  private var base: UnsafeMutablePointer<UInt8>
  private var capacity: Int
  private let limit: Int?
  private(set) var count = 0

  init(capacity: Int, limit: Int?) {
    self.capacity = capacity
    self.limit = limit
    base = .allocate(capacity: capacity)
  }

  func deallocate() { base.deallocate() }

  /// Makes room for `n` more bytes.
  /// - Throws: When the output would exceed the limit.
  @inline(__always)
  mutating func reserve(_ n: Int, _ bits: borrowing BitReader) throws {
    if count + n <= capacity { return }
    if let limit, count + n > limit {
      throw bits.error(
        "decompressed data longer than declared", expected: "\(limit) bytes", found: "at least \(count + n) bytes")
    }
    let newCapacity = Swift.min(Swift.max(2 * capacity, count + n), limit ?? Int.max)
    let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
    newBase.initialize(from: base, count: count)
    base.deallocate()
    base = newBase
    capacity = newCapacity
  }

  @inline(__always)
  mutating func append(_ byte: UInt8) {
    base[count] = byte
    count += 1
  }

  mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
    if let source = bytes.baseAddress { (base + count).initialize(from: source, count: bytes.count) }
    count += bytes.count
  }

  /// Appends `length` bytes copied from `distance` bytes back (the regions may overlap).
  @inline(__always)
  mutating func copyMatch(distance: Int, length: Int) {
    let destination = base + count
    let source = destination - distance
    if distance >= length {
      destination.initialize(from: source, count: length)
    } else {
      for i in 0..<length { destination[i] = source[i] }
    }
    count += length
  }

  /// The bytes written, as an array.
  func array() -> [UInt8] {
    Array(UnsafeBufferPointer(start: base, count: count))
  }
}
