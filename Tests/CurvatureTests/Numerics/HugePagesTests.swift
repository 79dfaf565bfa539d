import Curvature
import CurvatureNumerics
import CurvatureTestSupport
import Foundation
import Testing

/// Arrays of 32 MiB or more ask for transparent huge pages before their first write
/// (`NumericsBackend.usesHugePages`): on Linux with THP in "madvise" mode the kernel marks
/// their memory eligible (`THPeligible: 1` in /proc/self/smaps), an array made with the
/// setting off is left alone, and results are the same either way.
@Suite(.serialized) struct HugePagesTests {
  /// The `THPeligible` flag of the mapping holding the first 2 MiB boundary inside the
  /// array; nil when the system does not report it.
  static func eligible<T: BLASScalar>(_ array: NDArray<T>) -> Bool? {
    let base = array.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
    let page = UInt(2 << 20)
    let probe = (base + page - 1) & ~(page - 1)
    // Read to the end: /proc reports a size of 0, and one read returns a page of it.
    guard let file = FileHandle(forReadingAtPath: "/proc/self/smaps") else { return nil }
    defer { try? file.close() }
    let smaps = file.readDataToEndOfFile()
    var inside = false
    for line in String(decoding: smaps, as: UTF8.self).split(separator: "\n") {
      let fields = line.split(separator: " ", omittingEmptySubsequences: true)
      if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
        let bounds = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
        inside = bounds.count == 2 && bounds[0] <= probe && probe < bounds[1]
      } else if inside, fields.first == "THPeligible:", fields.count > 1 {
        return fields[1] == "1"
      }
    }
    return nil
  }

  /// Whether the kernel's THP mode is "madvise" (so eligibility comes from the advice).
  static var madviseMode: Bool {
    let mode = try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)
    return mode?.contains("[madvise]") ?? false
  }

  @Test(.enabled(if: madviseMode)) func largeArraysAskForHugePages() {
    #expect(NumericsBackend.usesHugePages)
    let large = NDArray<Float>(zeros: [NumericsBackend.hugePageThreshold / 4 + (4 << 20)])
    #expect(Self.eligible(large) == true)
    NumericsBackend.usesHugePages = false
    defer { NumericsBackend.usesHugePages = true }
    let plain = NDArray<Float>(zeros: [NumericsBackend.hugePageThreshold / 4 + (4 << 20)])
    #expect(Self.eligible(plain) == false)
  }

  @Test func resultsDoNotDependOnHugePages() {
    // A Gram matrix of 42 MB (above the threshold), with and without the advice.
    var rng = RandomGenerator(seed: 11)
    let x: NDArray<Double> = rng.normalArray(shape: [8, 2300])
    func gram() -> NDArray<Double> { matmul(x, x, transposeA: true) }
    let advised = gram()
    NumericsBackend.usesHugePages = false
    defer { NumericsBackend.usesHugePages = true }
    #expect(gram() == advised)
    #expect(advised.count * 8 >= NumericsBackend.hugePageThreshold)
  }
}
