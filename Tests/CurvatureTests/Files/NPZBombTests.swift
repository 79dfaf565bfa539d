import Curvature
import Foundation
import Testing

private typealias Support = FilesTestSupport

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
