import Curvature
import Foundation

// Hand-made DEFLATE streams and zip archives for the tests of malformed and malicious `.npz`
// files (deflate bombs, sizes that disagree): zlib would not write them.

/// A fixed-Huffman DEFLATE stream (RFC 1951 §3.2.6): `literals`, then `repeats` matches
/// of 258 bytes at distance 1 (copies of the last literal, 13 bits for 258 bytes), then
/// the end of the block.
func fixedHuffmanStream(literals: [UInt8], repeats: Int) -> [UInt8] {
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

/// A zip archive of deflated members, each `(name, deflated stream, declared size, CRC)`.
func zipArchive(members: [(name: String, deflated: [UInt8], declaredSize: Int, crc: UInt32)]) -> [UInt8] {
  func le(_ value: Int, _ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
  var body = [UInt8](), directory = [UInt8]()
  for member in members {
    let nameBytes = Array(member.name.utf8)
    let sizes = le(Int(member.crc), 4) + le(member.deflated.count, 4) + le(member.declaredSize, 4)
    let offset = body.count
    body += le(0x0403_4B50, 4) + le(20, 2) + le(0, 2) + le(8, 2) + le(0, 4) + sizes + le(nameBytes.count, 2) + le(0, 2)
      + nameBytes + member.deflated
    directory +=
      le(0x0201_4B50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(8, 2) + le(0, 4) + sizes + le(nameBytes.count, 2)
      + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(offset, 4) + nameBytes
  }
  let end = le(0x0605_4B50, 4) + le(0, 4) + le(members.count, 2) + le(members.count, 2) + le(directory.count, 4)
    + le(body.count, 4) + le(0, 2)
  return body + directory + end
}

/// A zip archive of one deflated member whose directory declares `declaredSize` bytes.
func zipArchive(member name: String, deflated: [UInt8], declaredSize: Int, crc: UInt32) -> [UInt8] {
  zipArchive(members: [(name, deflated, declaredSize, crc)])
}

/// An `.npy` preamble (version 1.0) for `descr` and `shape`, padded like NumPy's.
func npyPreamble(descr: String, shape: String) -> [UInt8] {
  var text = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }".utf8)
  text += [UInt8](repeating: 0x20, count: 63 - (10 + text.count) % 64) + [0x0A]
  return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(text.count & 0xFF), UInt8(text.count >> 8)] + text
}

