/// Raw DEFLATE decompression (RFC 1951), by the system zlib.
///
/// This is the compression of zip members with method 8, as written by
/// `np.savez_compressed`, and of `zlib` streams created with `wbits=-15`. A corrupt or
/// truncated stream throws a `FileFormatError` naming the byte where zlib found the
/// problem; output is produced a piece at a time and never beyond `expectedSize`, so a
/// stream that expands far more than declared is refused without being allocated.
///
/// ```swift
/// let original = try Inflate.decompress(compressed, expectedSize: 4096)
/// ```
public enum Inflate {
  /// Decompresses a complete raw DEFLATE stream.
  /// - Parameters:
  ///   - input: The compressed bytes (bytes after the final block are ignored).
  ///   - expectedSize: The decompressed size when known (for example from a zip
  ///     directory); output beyond it is not produced, and a stream of another size is an
  ///     error.
  ///   - source: A name for error messages (a file path, or `archive (member)`).
  /// - Returns: The decompressed bytes.
  /// - Throws: `FileFormatError` naming the byte offset in the stream: a reserved block
  ///   type, a stored block whose length check fails, invalid Huffman code lengths, an
  ///   invalid code, a distance before the start of the output, a truncated stream, or
  ///   output of a size other than `expectedSize`.
  /// - Complexity: O(output size); memory for the output and zlib's 32 KiB window.
  public static func decompress(_ input: [UInt8], expectedSize: Int? = nil, source: String = "<deflate stream>")
    throws -> [UInt8]
  {
    try decompress(input, expectedSize: expectedSize, context: ErrorContext(path: source, prefix: "deflate stream"))
  }

  /// DEFLATE expands at most 1032:1 (a 258-byte match in two 1-bit codes), so no stream of
  /// `compressedCount` bytes decompresses to more than this.
  static func maximumOutput(compressedCount: Int) -> Int {
    compressedCount.multipliedReportingOverflow(by: 1032).overflow ? Int.max : compressedCount * 1032 + 1024
  }

  /// `decompress(_:expectedSize:source:)` with errors located by `context`.
  static func decompress(_ input: [UInt8], expectedSize: Int?, context: ErrorContext) throws -> [UInt8] {
    let stream = try RawInflateStream(input, context: context)
    var output = [UInt8]()
    try stream.inflate(appendingTo: &output, upTo: min(expectedSize ?? Int.max, maximumOutput(compressedCount: input.count)))
    try finish(stream, output: output, expectedSize: expectedSize, context: context)
    return output
  }

  /// Checks that `stream` ends after `output` and that `output` has the expected size.
  /// - Throws: `FileFormatError` when the stream holds more, or the size differs.
  static func finish(_ stream: RawInflateStream, output: [UInt8], expectedSize: Int?, context: ErrorContext) throws {
    if !stream.isFinished, try stream.hasMoreOutput() {
      throw context.error(
        "output byte \(output.count)", "decompressed data longer than declared",
        expected: "\(expectedSize.map { "\($0) bytes" } ?? "output within the 1032:1 limit of DEFLATE")",
        found: "at least \(output.count + 1) bytes")
    }
    if let expectedSize, output.count != expectedSize {
      throw context.error(
        "output byte \(output.count)", "decompressed size differs from the declared size", expected: "\(expectedSize) bytes",
        found: "\(output.count) bytes")
    }
  }
}
