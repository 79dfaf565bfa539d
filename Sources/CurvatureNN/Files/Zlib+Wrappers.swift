import CurvatureNumerics
import CurvatureAutodiff

import CZlib

// The one file that calls zlib: it owns the `z_stream` and the unsafe pointers, and turns
// zlib's return codes and messages into `FileFormatError`s located by byte offset.

/// zlib's CRC-32 over a buffer of any length (zlib takes 32-bit lengths).
func zlibCRC32(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32) -> UInt32 {
  guard var pointer = bytes.baseAddress?.assumingMemoryBound(to: Bytef.self) else { return previous }
  var crc = uLong(previous)
  var remaining = bytes.count
  while remaining > 0 {
    let chunk = min(remaining, 1 << 30)
    crc = crc32(crc, pointer, uInt(chunk))
    pointer += chunk
    remaining -= chunk
  }
  return UInt32(truncatingIfNeeded: crc)
}

/// A raw DEFLATE stream (RFC 1951, zlib's `windowBits` −15) being decompressed from bytes
/// in memory, a piece at a time, so that callers decide how much output to accept and
/// allocate before more is produced.
final class RawInflateStream {
  private let input: [UInt8]
  private let context: ErrorContext
  /// On the heap: zlib keeps a pointer back to it and refuses a stream that has moved.
  private let streamPointer: UnsafeMutablePointer<z_stream>
  /// Whether the final block has ended.
  private(set) var isFinished = false
  /// The number of bytes produced so far.
  private(set) var produced = 0

  /// Starts decompressing `input`.
  /// - Throws: `FileFormatError` when zlib cannot allocate its state.
  init(_ input: [UInt8], context: ErrorContext) throws {
    self.input = input
    self.context = context
    streamPointer = .allocate(capacity: 1)
    streamPointer.initialize(to: z_stream())
    let status = inflateInit2_(streamPointer, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
    guard status == Z_OK else {
      throw context.error("byte 0", "cannot start decompressing", expected: "zlib's inflate state", found: "zlib status \(status)")
    }
  }

  // Also after a failed `inflateInit2_`, where `inflateEnd` only reports an error.
  deinit {
    inflateEnd(streamPointer)
    streamPointer.deallocate()
  }

  /// Decompresses into `buffer` until it is full or the stream ends.
  /// - Returns: The number of bytes written (less than `buffer.count` only at the end).
  /// - Throws: `FileFormatError` for a corrupt or truncated stream.
  func inflate(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    var written = 0
    while written < buffer.count && !isFinished {
      let consumed = Int(streamPointer.pointee.total_in)
      let room = min(buffer.count - written, Int(UInt32.max))
      let status = input.withUnsafeBufferPointer { source -> Int32 in
        streamPointer.pointee.next_in = UnsafeMutablePointer(mutating: source.baseAddress.map { $0 + consumed })
        streamPointer.pointee.avail_in = uInt(min(source.count - consumed, Int(UInt32.max)))
        streamPointer.pointee.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self) + written
        streamPointer.pointee.avail_out = uInt(room)
        let status = CZlib.inflate(streamPointer, Z_NO_FLUSH)
        // The pointers are only valid inside this closure; zlib keeps its own copy of what
        // it still needs (window, bit buffer).
        streamPointer.pointee.next_in = nil
        streamPointer.pointee.next_out = nil
        return status
      }
      let step = room - Int(streamPointer.pointee.avail_out)
      written += step
      produced += step
      switch status {
      case Z_STREAM_END:
        isFinished = true
      case Z_OK where step > 0 || Int(streamPointer.pointee.total_in) > consumed:
        continue
      case Z_OK, Z_BUF_ERROR:
        throw context.error(
          "byte \(input.count)", "truncated deflate stream",
          expected: "a final block ending within the \(input.count) input bytes", found: "the end of the input")
      case Z_MEM_ERROR:
        throw context.error("byte \(bitPosition / 8)", "out of memory while decompressing", expected: "memory for zlib", found: "none")
      default:
        throw dataError()
      }
    }
    return written
  }

  /// Decompresses up to `count` more bytes onto the end of `output`.
  /// - Throws: `FileFormatError` for a corrupt or truncated stream.
  func inflate(appendingTo output: inout [UInt8], upTo count: Int) throws {
    var chunk = [UInt8](repeating: 0, count: min(count, 1 << 16))
    var remaining = count
    while remaining > 0 && !isFinished {
      let step = try chunk.withUnsafeMutableBytes { try inflate(into: UnsafeMutableRawBufferPointer(rebasing: $0.prefix(remaining))) }
      output.append(contentsOf: chunk[..<step])
      remaining -= step
    }
  }

  /// Whether the stream holds more output (consuming up to one byte of it).
  /// - Throws: `FileFormatError` for a corrupt or truncated stream.
  func hasMoreOutput() throws -> Bool {
    var probe: UInt8 = 0
    return try withUnsafeMutableBytes(of: &probe) { try inflate(into: $0) } > 0
  }

  /// The position in the input, in bits, up to which zlib has consumed it (its bit buffer
  /// holds the rest of the bytes it took; `data_type`'s low bits count them).
  private var bitPosition: Int {
    Int(streamPointer.pointee.total_in) * 8 - Int(streamPointer.pointee.data_type & 63)
  }

  /// zlib's `Z_DATA_ERROR`, with its message turned into what the stream held.
  private func dataError() -> FileFormatError {
    let message = streamPointer.pointee.msg.map { String(cString: $0) } ?? "corrupt data"
    let byte = bitPosition / 8
    let at = "byte \(byte)"
    switch message {
    case "invalid block type":
      return context.error(at, "invalid block header", expected: "block type 0, 1 or 2", found: "reserved block type 3")
    case "invalid stored block lengths":
      // zlib stops with LEN and NLEN still in its bit buffer, so `byte` is where they are.
      guard byte >= 0, byte + 4 <= input.count else { break }
      let length = Int(input[byte]) | Int(input[byte + 1]) << 8
      let complement = Int(input[byte + 2]) | Int(input[byte + 3]) << 8
      return context.error(
        at, "corrupt stored block", expected: "LEN and NLEN to be complements", found: "LEN \(length), NLEN \(complement)")
    case "invalid distance too far back":
      // Raw streams have no preset dictionary, so only the output so far can be referenced.
      return context.error(
        at, "invalid distance", expected: "a distance of at most \(produced) (the bytes written so far)",
        found: "distance \(produced + 1) or more")
    case "invalid literal/length code":
      return context.error(
        at, "invalid length code", expected: "a literal/length symbol 0-285",
        found: "symbol 286 or 287, or a code the block's table does not assign")
    case "invalid code lengths set":
      return context.error(
        at, "invalid code-length code", expected: "code-length code lengths forming a complete prefix code",
        found: "lengths that are over-subscribed or incomplete")
    case "invalid code -- missing end-of-block":
      return context.error(at, "invalid code lengths", expected: "a code for the end-of-block symbol 256", found: "no end-of-block code")
    default:
      break
    }
    return context.error(at, "corrupt deflate stream", expected: "a valid DEFLATE stream (RFC 1951)", found: message)
  }
}
