import Curvature
import Foundation
import Testing

@Suite struct ZZTempScratch {
  @Test func inflateSpeed() throws {
    for name in ["ints", "floats"] {
      let c = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/tmp/big_\(name).deflate")))
      let o = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/tmp/big_\(name).bin")))
      let t0 = Date()
      let d = try Inflate.decompress(c, expectedSize: o.count)
      let t1 = Date()
      let crc = CRC32.checksum(d)
      let t2 = Date()
      print("\(name): inflate \(t1.timeIntervalSince(t0)) s, \(Double(o.count) / 1e6 / t1.timeIntervalSince(t0)) MB/s; crc \(t2.timeIntervalSince(t1)) s; equal \(d == o) \(crc)")
    }
  }
}
