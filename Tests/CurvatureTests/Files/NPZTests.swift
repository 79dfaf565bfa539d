import Curvature
import Foundation
import Testing

private typealias Support = FilesTestSupport

/// `.npz` archives from `np.savez` and `np.savez_compressed`, written archives, and errors.
@Suite struct NPZTests {
  private let x = NDArray<Float>(shape: [10, 3], scalars: (0..<30).map { Float($0) / 2 })
  private let y = (0..<10).map { $0 % 3 }

  @Test(arguments: ["savez.npz", "savez_compressed.npz"])
  func readsNumPyArchives(file: String) throws {
    let npz = try NPZFile(contentsOf: Support.fixture("npz/\(file)"))
    #expect(npz.names == ["X", "y"])
    let xArray = try npz.array(named: "X")
    #expect(xArray.dtype == .float32 && xArray.shape == [10, 3])
    #expect(try xArray.floats(as: Float.self) == x)
    let yArray = try npz.array(named: "y")
    #expect(yArray.dtype == .int64 && yArray.shape == [10])
    #expect(try yArray.integers() == y)
    #expect(try npz.arrays().map(\.name) == ["X", "y"])
  }

  @Test func readsDynamicHuffmanMembers() throws {
    let npz = try NPZFile(contentsOf: Support.fixture("npz/compressed_large.npz"))
    #expect(try npz.array(named: "y").integers() == (0..<4000).map { $0 * 7919 % 13 })
  }

  @Test(arguments: [false, true])
  func roundTrip(forceZip64: Bool) throws {
    try Support.withScratchDirectory { directory in
      let url = directory.appendingPathComponent("data.npz")
      let scalar = NDArray<Double>(scalar: -0.0)
      let empty = NDArray<Double>(zeros: [0, 2])
      let cube = NDArray<Double>(shape: [2, 3, 4], scalars: Support.trickyValues(24))
      try NPZFile.write(
        [("X", NPYArray(x)), ("y", NPYArray(integers: y)), ("scalar", NPYArray(scalar)), ("empty", NPYArray(empty)),
         ("cube", NPYArray(cube))],
        to: url, forceZip64: forceZip64)
      let npz = try NPZFile(contentsOf: url)
      #expect(npz.names == ["X", "y", "scalar", "empty", "cube"])
      #expect(bitIdentical(try npz.array(named: "X").floats(as: Float.self), x))
      #expect(try npz.array(named: "y").integers() == y)
      #expect(bitIdentical(try npz.array(named: "scalar").floats(as: Double.self), scalar))
      #expect(try npz.array(named: "empty").shape == [0, 2])
      #expect(bitIdentical(try npz.array(named: "cube").floats(as: Double.self), cube))
      #expect(try npz.reader(named: "cube").rows(1..<2, as: Double.self).shape == [1, 3, 4])
    }
  }

  @Test func rejectsDuplicateNames() throws {
    try Support.withScratchDirectory { directory in
      let url = directory.appendingPathComponent("dup.npz")
      expectFileFormatError("dup.npz", "duplicate array name", "'X'") {
        try NPZFile.write([("X", NPYArray(integers: [1])), ("X", NPYArray(integers: [2]))], to: url)
      }
    }
  }

  @Test func notAZipArchive() throws {
    try Support.withScratchDirectory { directory in
      let url = try Support.write(try Support.fixtureBytes("npy/v1_float32.npy"), named: "data.npz", in: directory)
      expectFileFormatError("data.npz", "not a zip archive", "an .npy file") { _ = try NPZFile(contentsOf: url) }
    }
  }

  @Test func missingMember() throws {
    try Support.withScratchDirectory { directory in
      let url = directory.appendingPathComponent("data.npz")
      try NPZFile.write([("X", NPYArray(x))], to: url)
      let npz = try NPZFile(contentsOf: url)
      expectFileFormatError("data.npz has no array 'y'", "members: X") { _ = try npz.array(named: "y") }
      expectFileFormatError("data.npz has no array 'y'") { _ = try npz.reader(named: "y") }
    }
  }

  @Test func corruptDeflateStream() throws {
    try Support.withScratchDirectory { directory in
      var bytes = try Support.fixtureBytes("npz/savez_compressed.npz")
      let start = try memberDataOffset(bytes, member: "X.npy")
      bytes[start] = 0x07  // final block of the reserved type 3
      let url = try Support.write(bytes, named: "corrupt.npz", in: directory)
      let npz = try NPZFile(contentsOf: url)
      expectFileFormatError("corrupt.npz", "X.npy", "deflate stream", "reserved block type 3") {
        _ = try npz.array(named: "X")
      }
      #expect(try npz.array(named: "y").integers() == y)
    }
  }

  @Test func declaredSizeMismatch() throws {
    try Support.withScratchDirectory { directory in
      var bytes = try Support.fixtureBytes("npz/savez_compressed.npz")
      let directoryEntry = try #require(find([0x50, 0x4B, 0x01, 0x02], in: bytes))
      for i in 0..<4 { bytes[directoryEntry + 24 + i] = [0xFF, 0xFF, 0xFF, 0x7F][i] }  // 2 GiB, uncompressed
      let url = try Support.write(bytes, named: "claims_2gib.npz", in: directory)
      expectFileFormatError("claims_2gib.npz", "member 'X.npy', deflate stream", "differs from the declared size") {
        _ = try NPZFile(contentsOf: url).array(named: "X")
      }
    }
  }

  @Test func crcMismatch() throws {
    try Support.withScratchDirectory { directory in
      let original = directory.appendingPathComponent("original.npz")
      try NPZFile.write([("X", NPYArray(x)), ("y", NPYArray(integers: y))], to: original)
      var bytes = [UInt8](try Data(contentsOf: original))
      let start = try memberDataOffset(bytes, member: "y.npy")
      bytes[start + NPYArray(integers: y).npyBytes().count - 1] ^= 0x40  // the last label
      let url = try Support.write(bytes, named: "flipped.npz", in: directory)
      expectFileFormatError("flipped.npz", "y.npy", "CRC-32 mismatch") { _ = try NPZFile(contentsOf: url).array(named: "y") }
    }
  }

  @Test func unsupportedCompressionMethod() throws {
    try Support.withScratchDirectory { directory in
      let original = directory.appendingPathComponent("original.npz")
      try NPZFile.write([("X", NPYArray(x))], to: original)
      var bytes = [UInt8](try Data(contentsOf: original))
      let directoryEntry = try #require(find([0x50, 0x4B, 0x01, 0x02], in: bytes))
      bytes[directoryEntry + 10] = 12  // bzip2
      let url = try Support.write(bytes, named: "bzip2.npz", in: directory)
      expectFileFormatError("bzip2.npz", "unsupported compression method", "method 12") {
        _ = try NPZFile(contentsOf: url).array(named: "X")
      }
    }
  }

  /// The offset of a member's data, from its local header.
  private func memberDataOffset(_ bytes: [UInt8], member: String) throws -> Int {
    let header = try #require(find([0x50, 0x4B, 0x03, 0x04] + [UInt8](), in: bytes, followedByNameAt: 30, name: member))
    let nameLength = Int(bytes[header + 26]) | Int(bytes[header + 27]) << 8
    let extraLength = Int(bytes[header + 28]) | Int(bytes[header + 29]) << 8
    return header + 30 + nameLength + extraLength
  }

  private func find(_ pattern: [UInt8], in bytes: [UInt8], followedByNameAt nameOffset: Int = 0, name: String = "")
    -> Int?
  {
    let nameBytes = Array(name.utf8)
    return bytes.indices.first { i in
      i + nameOffset + nameBytes.count <= bytes.count && bytes[i..<min(bytes.count, i + pattern.count)].elementsEqual(pattern)
        && bytes[(i + nameOffset)..<(i + nameOffset + nameBytes.count)].elementsEqual(nameBytes)
    }
  }
}
