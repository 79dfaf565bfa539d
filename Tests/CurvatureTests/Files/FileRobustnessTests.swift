import Curvature
import Foundation
import Testing

private typealias Support = FilesTestSupport

/// A small deterministic generator (SplitMix64) for corrupting fixtures.
private struct SplitMix64 {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// Variants of `bytes`: every truncation, and copies with one to four random bytes changed.
private func corruptions(of bytes: [UInt8], mutations: Int, seed: UInt64) -> [[UInt8]] {
  var random = SplitMix64(state: seed)
  var variants = (0..<bytes.count).map { Array(bytes.prefix($0)) }
  for _ in 0..<mutations where !bytes.isEmpty {
    var copy = bytes
    for _ in 0...random.below(4) {
      let index = random.below(copy.count)
      copy[index] = random.below(3) == 0 ? copy[index] ^ UInt8(1 << random.below(8)) : UInt8(random.below(256))
    }
    variants.append(copy)
  }
  return variants
}

/// Corrupted and truncated inputs must throw `FileFormatError` (or decode to something),
/// never crash, hang or throw another error type.
@Suite struct FileRobustnessTests {
  @Test func corruptNPYFiles() throws {
    let names = try FileManager.default.contentsOfDirectory(atPath: Support.fixture("npy").path).sorted()
    for (index, name) in names.enumerated() {
      for variant in corruptions(of: try Support.fixtureBytes("npy/\(name)"), mutations: 100, seed: UInt64(index)) {
        do {
          let array = try NPYArray(npyBytes: variant)
          _ = try? array.floats(as: Double.self, requireFinite: true)
          _ = try? array.integers()
        } catch is FileFormatError {}
      }
    }
  }

  @Test func corruptNPZFiles() throws {
    try Support.withScratchDirectory { directory in
      for (index, name) in ["savez.npz", "savez_compressed.npz", "compressed_large.npz"].enumerated() {
        let bytes = try Support.fixtureBytes("npz/\(name)")
        for variant in corruptions(of: bytes, mutations: 150, seed: 100 + UInt64(index)) {
          let url = try Support.write(variant, named: name, in: directory)
          do {
            let npz = try NPZFile(contentsOf: url)
            for name in npz.names {
              _ = try? npz.array(named: name).floats(as: Float.self)
              _ = try? npz.reader(named: name).readAll()
            }
          } catch is FileFormatError {}
        }
      }
    }
  }

  @Test func corruptSafetensorsFiles() throws {
    try Support.withScratchDirectory { directory in
      let names = try FileManager.default.contentsOfDirectory(atPath: Support.fixture("safetensors").path).sorted()
      for (index, name) in names.enumerated() {
        for variant in corruptions(of: try Support.fixtureBytes("safetensors/\(name)"), mutations: 100, seed: 200 + UInt64(index)) {
          let url = try Support.write(variant, named: name, in: directory)
          do {
            _ = try SafetensorsFile(contentsOf: url).read(as: Double.self)
          } catch is FileFormatError {}
        }
      }
    }
  }

  @Test func corruptDeflateStreams() throws {
    for (index, name) in ["stored", "fixed", "dynamic", "multiblock", "long_distance"].enumerated() {
      let bytes = try Support.fixtureBytes("inflate/\(name).deflate")
      for variant in corruptions(of: bytes, mutations: 1000, seed: 300 + UInt64(index)) {
        do {
          _ = try Inflate.decompress(variant, expectedSize: index == 4 ? 32_900 : nil)
        } catch is FileFormatError {}
      }
    }
  }
}
