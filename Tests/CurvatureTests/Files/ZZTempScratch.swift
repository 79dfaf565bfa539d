import Curvature
import Foundation
import Testing

@Suite struct ZZTempScratch {
  @Test func writeOutputs() throws {
    let d = URL(fileURLWithPath: "/tmp/swift_outputs")
    try? FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    let x = NDArray<Float>(shape: [4, 3], scalars: (0..<12).map { Float($0) })
    try NPYArray(x).write(to: d.appendingPathComponent("a.npy"))
    try NPZFile.write([("X", NPYArray(x)), ("y", NPYArray(integers: [1, 2, 3, 4]))], to: d.appendingPathComponent("a.npz"))
    try NPZFile.write([("X", NPYArray(x)), ("y", NPYArray(integers: [1, 2, 3, 4]))], to: d.appendingPathComponent("a64.npz"), forceZip64: true)
    try SafetensorsFile.write([("w", x), ("b", NDArray<Float>([1, 2]))], to: d.appendingPathComponent("a.safetensors"), metadata: ["k": "v"])
  }
}
