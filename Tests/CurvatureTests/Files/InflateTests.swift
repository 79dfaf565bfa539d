import Curvature
import Foundation
import Testing

private typealias Support = FilesTestSupport

/// Writes DEFLATE bit fields (least-significant bit first) and Huffman codes (most
/// significant bit first), to build small invalid streams.
private struct BitWriter {
  var bytes = [UInt8]()
  private var bitCount = 0

  mutating func write(_ value: Int, bits: Int) {
    for i in 0..<bits {
      if bitCount % 8 == 0 { bytes.append(0) }
      bytes[bytes.count - 1] |= UInt8((value >> i) & 1) << UInt8(bitCount % 8)
      bitCount += 1
    }
  }

  mutating func writeCode(_ code: Int, length: Int) {
    for i in (0..<length).reversed() { write((code >> i) & 1, bits: 1) }
  }
}

/// The original of `inflate/long_distance.deflate`: 500 pseudo-random bytes, 31900 zeros
/// and the same 500 bytes (a match 32400 bytes back), as in make_file_fixtures.py.
private func longDistanceOriginal() -> [UInt8] {
  let head: [UInt8] = (0..<500).map { (i: Int) -> UInt8 in UInt8((i * i * 31 + 7 * i + 3) % 251) }
  return head + [UInt8](repeating: 0, count: 31_900) + head
}

/// Raw DEFLATE streams from Python's zlib (`wbits=-15`) decompressed against their
/// originals, and corrupt streams.
@Suite struct InflateTests {
  @Test(arguments: ["stored", "fixed", "dynamic", "multiblock"])
  func decompressesZlibStreams(name: String) throws {
    let compressed = try Support.fixtureBytes("inflate/\(name).deflate")
    let original = try Support.fixtureBytes("inflate/\(name).bin")
    #expect(try Inflate.decompress(compressed) == original)
    #expect(try Inflate.decompress(compressed, expectedSize: original.count) == original)
  }

  @Test func decompressesMatchesAtTheWindowLimit() throws {
    let compressed = try Support.fixtureBytes("inflate/long_distance.deflate")
    #expect(try Inflate.decompress(compressed) == longDistanceOriginal())
  }

  @Test func rejectsAnotherSizeThanExpected() throws {
    let compressed = try Support.fixtureBytes("inflate/dynamic.deflate")
    expectFileFormatError("member.bin", "deflate stream", "longer than declared", "100 bytes") {
      _ = try Inflate.decompress(compressed, expectedSize: 100, source: "member.bin")
    }
    expectFileFormatError("differs from the declared size", "4000 bytes", "3341 bytes") {
      _ = try Inflate.decompress(compressed, expectedSize: 4000)
    }
  }

  @Test func rejectsTruncatedStreams() throws {
    let compressed = try Support.fixtureBytes("inflate/dynamic.deflate")
    for cut in [1, 10, compressed.count / 2, compressed.count - 1] {
      expectFileFormatError("deflate stream") { _ = try Inflate.decompress(Array(compressed.prefix(cut))) }
    }
    expectFileFormatError("truncated deflate stream") { _ = try Inflate.decompress([]) }
    let stored = try Support.fixtureBytes("inflate/stored.deflate")
    expectFileFormatError("truncated deflate stream") { _ = try Inflate.decompress(Array(stored.dropLast(3))) }
  }

  @Test func rejectsReservedBlockType() {
    expectFileFormatError("reserved block type 3", "byte 0") { _ = try Inflate.decompress([0x07, 0, 0]) }
  }

  @Test func rejectsStoredLengthMismatch() {
    expectFileFormatError("corrupt stored block", "LEN 5, NLEN 0") {
      _ = try Inflate.decompress([0x01, 0x05, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5])
    }
  }

  @Test func rejectsDistanceBeforeTheStart() {
    var writer = BitWriter()
    writer.write(1, bits: 1)  // final
    writer.write(1, bits: 2)  // fixed Huffman
    writer.writeCode(0b000_0001, length: 7)  // length symbol 257: length 3
    writer.writeCode(0, length: 5)  // distance 1, with nothing written yet
    expectFileFormatError("invalid distance", "distance 1") { _ = try Inflate.decompress(writer.bytes) }
  }

  @Test func rejectsInvalidFixedSymbols() {
    var writer = BitWriter()
    writer.write(1, bits: 1)
    writer.write(1, bits: 2)
    writer.writeCode(0b1100_0110, length: 8)  // symbol 286, which has no meaning
    expectFileFormatError("invalid length code", "symbol 286") { _ = try Inflate.decompress(writer.bytes) }
  }

  @Test func rejectsOversubscribedCodeLengths() {
    var writer = BitWriter()
    writer.write(1, bits: 1)
    writer.write(2, bits: 2)  // dynamic Huffman
    writer.write(0, bits: 5)  // 257 literal/length codes
    writer.write(0, bits: 5)  // 1 distance code
    writer.write(0, bits: 4)  // 4 code-length code lengths (symbols 16, 17, 18, 0)
    for _ in 0..<4 { writer.write(1, bits: 3) }  // four codes of length 1: over-subscribed
    writer.write(0, bits: 16)
    expectFileFormatError("invalid code-length code", "over-subscribed") { _ = try Inflate.decompress(writer.bytes) }
  }

  @Test func rejectsMissingEndOfBlockCode() {
    var writer = BitWriter()
    writer.write(1, bits: 1)
    writer.write(2, bits: 2)
    writer.write(0, bits: 5)  // 257 literal/length codes
    writer.write(0, bits: 5)  // 1 distance code
    writer.write(14, bits: 4)  // 18 code-length code lengths: 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1
    let lengths = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]  // symbols 18 and 1
    for length in lengths { writer.write(length, bits: 3) }
    // Codes: symbol 1 -> 0, symbol 18 -> 1. 258 lengths: 2 × (18: 138 zeros, then 120 zeros).
    writer.writeCode(1, length: 1)
    writer.write(127, bits: 7)  // 138 zeros
    writer.writeCode(1, length: 1)
    writer.write(109, bits: 7)  // 120 zeros: all 258 lengths are zero
    writer.write(0, bits: 16)
    expectFileFormatError("end-of-block") { _ = try Inflate.decompress(writer.bytes) }
  }

  @Test func crc32KnownValues() throws {
    #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    #expect(CRC32.checksum([]) == 0)
    let data = try Support.fixtureBytes("inflate/dynamic.bin")
    let whole = CRC32.checksum(data)
    for split in [0, 1, 7, 8, 9, 1000, data.count] {
      #expect(CRC32.checksum(Array(data[split...]), continuing: CRC32.checksum(Array(data[..<split]))) == whole)
    }
    var bitwise: UInt32 = ~0
    for byte in data {
      bitwise ^= UInt32(byte)
      for _ in 0..<8 { bitwise = bitwise & 1 != 0 ? (bitwise >> 1) ^ 0xEDB8_8320 : bitwise >> 1 }
    }
    #expect(whole == ~bitwise)
  }
}
