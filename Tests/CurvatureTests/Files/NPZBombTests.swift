import Curvature
import Foundation
import Testing

private typealias Support = FilesTestSupport

/// A fixed-Huffman DEFLATE stream (RFC 1951 §3.2.6): `literals`, then `repeats` matches
/// of 258 bytes at distance 1 (copies of the last literal, 13 bits for 258 bytes), then
/// the end of the block.
private func fixedHuffmanStream(literals: [UInt8], repeats: Int) -> [UInt8] {
  var bytes = [UInt8]()
  var bitCount = 0
  func write(_ value: Int, bits: Int) {
    for i in 0..<bits {
      if bitCount % 8 == 0 { bytes.append(0) }
      bytes[bytes.count - 1] |= UInt8((value >> i) & 1) << UInt8(bitCount % 8)
      bitCount += 1
    }
  }
  func writeCode(_ code: Int, length: Int) {
    for i in (0..<length).reversed() { write((code >> i) & 1, bits: 1) }
  }
  write(1, bits: 1)  // final block
  write(1, bits: 2)  // fixed Huffman codes
  for byte in literals {
    if byte < 144 { writeCode(0x30 + Int(byte), length: 8) } else { writeCode(0x190 + Int(byte) - 144, length: 9) }
  }
  for _ in 0..<repeats {
    writeCode(0xC5, length: 8)  // length symbol 285: 258 bytes
    writeCode(0, length: 5)  // distance code 0: distance 1
  }
  writeCode(0, length: 7)  // end of block
  return bytes
}

/// A zip archive of one deflated member whose directory declares `declaredSize` bytes.
private func zipArchive(member name: String, deflated: [UInt8], declaredSize: Int, crc: UInt32) -> [UInt8] {
  func le(_ value: Int, _ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
  let nameBytes = Array(name.utf8)
  let sizes = le(Int(crc), 4) + le(deflated.count, 4) + le(declaredSize, 4)
  let local = le(0x0403_4B50, 4) + le(20, 2) + le(0, 2) + le(8, 2) + le(0, 4) + sizes + le(nameBytes.count, 2) + le(0, 2)
    + nameBytes
  let directory =
    le(0x0201_4B50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(8, 2) + le(0, 4) + sizes + le(nameBytes.count, 2)
    + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(0, 4) + nameBytes
  let directoryOffset = local.count + deflated.count
  let end = le(0x0605_4B50, 4) + le(0, 4) + le(1, 2) + le(1, 2) + le(directory.count, 4) + le(directoryOffset, 4) + le(0, 2)
  return local + deflated + directory + end
}

/// An `.npy` preamble (version 1.0) for `descr` and `shape`, padded like NumPy's.
private func npyPreamble(descr: String, shape: String) -> [UInt8] {
  var text = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }".utf8)
  text += [UInt8](repeating: 0x20, count: 63 - (10 + text.count) % 64) + [0x0A]
  return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(text.count & 0xFF), UInt8(text.count >> 8)] + text
}

/// Deflate bombs in `.npz` archives (issue 20 §4): a member is never decompressed past
/// what its `.npy` header's shape implies, and a directory size that disagrees with the
/// shape is refused before anything of that size is allocated.
@Suite struct NPZBombTests {
  private let x = NDArray<Float>(shape: [10, 3], scalars: (0..<30).map { Float($0) / 2 })
  /// 20 MB of output beyond the array, from about 126 KB of stream.
  private let bombRepeats = 77_520

  @Test func readsACraftedDeflatedMember() throws {
    let npy = NPYArray(x).npyBytes()
    let archive = zipArchive(
      member: "X.npy", deflated: fixedHuffmanStream(literals: npy, repeats: 0), declaredSize: npy.count,
      crc: CRC32.checksum(npy))
    try Support.withScratchDirectory { directory in
      let url = try Support.write(archive, named: "crafted.npz", in: directory)
      #expect(try NPZFile(contentsOf: url).array(named: "X").floats(as: Float.self) == x)
    }
  }

  @Test func directorySizeDisagreeingWithTheShapeIsRefusedFirst() throws {
    // The stream really expands to 20 MB and the directory says so; the header says 248 bytes.
    let npy = NPYArray(x).npyBytes()
    let archive = zipArchive(
      member: "X.npy", deflated: fixedHuffmanStream(literals: npy, repeats: bombRepeats),
      declaredSize: npy.count + 258 * bombRepeats, crc: 0)
    try Support.withScratchDirectory { directory in
      let url = try Support.write(archive, named: "bomb.npz", in: directory)
      let npz = try NPZFile(contentsOf: url)
      expectFileFormatError(
        "bomb.npz", "member 'X.npy', deflate stream, header field 'shape'", "differs from the declared size",
        "\(npy.count + 258 * bombRepeats) bytes", "248 bytes", "(10, 3)"
      ) { _ = try npz.array(named: "X") }
      expectFileFormatError("bomb.npz", "differs from the declared size") { _ = try npz.reader(named: "X") }
    }
  }

  @Test func streamLongerThanTheShapeIsCutOff() throws {
    // Directory and header agree on 248 bytes; the stream holds 20 MB more.
    let npy = NPYArray(x).npyBytes()
    let archive = zipArchive(
      member: "X.npy", deflated: fixedHuffmanStream(literals: npy, repeats: bombRepeats), declaredSize: npy.count,
      crc: CRC32.checksum(npy))
    try Support.withScratchDirectory { directory in
      let url = try Support.write(archive, named: "long.npz", in: directory)
      expectFileFormatError("long.npz", "member 'X.npy', deflate stream", "longer than declared", "248 bytes") {
        _ = try NPZFile(contentsOf: url).array(named: "X")
      }
    }
  }

  @Test func shapeClaimingMoreThanTheStreamCanHoldIsRefused() throws {
    // Header and directory agree on 500 MB; 200 bytes of stream cannot expand that far.
    let preamble = npyPreamble(descr: "|u1", shape: "(500000000,)")
    let declared = preamble.count + 500_000_000
    let archive = zipArchive(
      member: "big.npy", deflated: fixedHuffmanStream(literals: preamble + [7], repeats: 1), declaredSize: declared,
      crc: 0)
    try Support.withScratchDirectory { directory in
      let url = try Support.write(archive, named: "claims.npz", in: directory)
      expectFileFormatError("claims.npz", "member 'big.npy', deflate stream", "differs from the declared size", "cannot expand") {
        _ = try NPZFile(contentsOf: url).array(named: "big")
      }
    }
  }

  @Test func streamShorterThanTheShapeIsRefused() throws {
    let npy = NPYArray(x).npyBytes()
    let archive = zipArchive(
      member: "X.npy", deflated: fixedHuffmanStream(literals: Array(npy.dropLast(8)), repeats: 0),
      declaredSize: npy.count, crc: CRC32.checksum(npy))
    try Support.withScratchDirectory { directory in
      let url = try Support.write(archive, named: "short.npz", in: directory)
      expectFileFormatError("short.npz", "member 'X.npy', deflate stream", "differs from the declared size", "240 bytes") {
        _ = try NPZFile(contentsOf: url).array(named: "X")
      }
    }
  }
}
