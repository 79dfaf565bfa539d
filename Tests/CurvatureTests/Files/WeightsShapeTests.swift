import Curvature
import Foundation
import Testing

private typealias Support = FilesTestSupport

/// A weights file whose header declares a far larger tensor than the layer's is refused
/// from its header, before the tensor is read or allocated (issue 20 §4).
@Suite struct WeightsShapeTests {
  @Test func hugeDeclaredShapeIsRefusedBeforeReading() throws {
    try Support.withScratchDirectory { directory in
      let description = try Support.write(
        Array(#"{"layers": [{"type": "linear", "in_features": 5, "out_features": 7}], "loss": {"type": "mse"}}"#.utf8),
        named: "model.json", in: directory)
      // 2³⁰ doubles: an 8 GiB data buffer, as a sparse file of a few hundred bytes on disk.
      let count = 1 << 30
      var header = Array(
        #"{"0.bias": {"dtype": "F64", "shape": [7], "data_offsets": [0, 56]}, "0.weight": {"dtype": "F64", "shape": [\#(count)], "data_offsets": [56, \#(56 + 8 * count)]}}"#
          .utf8)
      header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
      let prefix = (0..<8).map { UInt8(truncatingIfNeeded: header.count >> (8 * $0)) }
      let url = try Support.write(prefix + header, named: "huge.safetensors", in: directory)
      let handle = try FileHandle(forWritingTo: url)
      try handle.truncate(atOffset: UInt64(8 + header.count + 56 + 8 * count))
      try handle.close()
      expectFileFormatError(
        "huge.safetensors", "tensor '0.weight'", "weight shape does not match the layer", "expected [7, 5]",
        "found [\(count)]"
      ) {
        _ = try ModelFile<Double>(description: description, weights: url)
      }
    }
  }
}
