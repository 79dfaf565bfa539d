import Curvature
import Foundation
import Testing

private typealias Support = FilesTestSupport

/// Reading safetensors files written by the `safetensors` library (and BF16 by hand),
/// writing, and round trips.
@Suite struct SafetensorsTests {
  @Test func readsF32WithMetadata() throws {
    let file = try SafetensorsFile(contentsOf: Support.fixture("safetensors/f32.safetensors"))
    #expect(file.names == ["bias", "weight"])
    #expect(file.metadata == ["format": "np", "note": "ramp"])
    #expect(file.info(named: "weight") == SafetensorsTensorInfo(name: "weight", dtype: "F32", shape: [2, 3], dataOffsets: 12..<36))
    let arrays = try file.read(as: Float.self)
    #expect(arrays.map(\.name) == ["bias", "weight"])
    #expect(arrays[0].array == NDArray(shape: [3], scalars: Support.ramp(3)))
    #expect(try file.array(named: "weight", as: Double.self) == NDArray(shape: [2, 3], scalars: Support.ramp(6)))
  }

  @Test(arguments: ["f64", "f16", "bf16"])
  func readsOtherFloatTypes(name: String) throws {
    let file = try SafetensorsFile(contentsOf: Support.fixture("safetensors/\(name).safetensors"))
    #expect(file.info(named: "weight")?.dtype == name.uppercased())
    #expect(try file.array(named: "weight", as: Float.self) == NDArray(shape: [2, 3], scalars: Support.ramp(6)))
    #expect(try file.array(named: "weight", as: Double.self) == NDArray(shape: [2, 3], scalars: Support.ramp(6)))
  }

  @Test func readsScalarAndEmptyTensors() throws {
    let file = try SafetensorsFile(contentsOf: Support.fixture("safetensors/shapes.safetensors"))
    #expect(try file.array(named: "scalar", as: Double.self) == NDArray(scalar: 2.5))
    #expect(try file.array(named: "empty", as: Float.self).shape == [0, 2])
  }

  @Test func listsButDoesNotReadIntegerTensors() throws {
    let file = try SafetensorsFile(contentsOf: Support.fixture("safetensors/mixed.safetensors"))
    #expect(file.names == ["ids", "weight"])
    #expect(file.info(named: "ids")?.dtype == "I64")
    #expect(try file.array(named: "weight", as: Float.self).scalars == Support.ramp(3))
    expectFileFormatError("mixed.safetensors", "tensor 'ids'", "unsupported dtype 'I64'") {
      _ = try file.read(as: Float.self)
    }
  }

  @Test(arguments: [[], [0], [1], [2, 3, 4]] as [[Int]])
  func roundTripFloat(shape: [Int]) throws { try checkRoundTrip(Float.self, shape: shape) }

  @Test(arguments: [[], [0], [1], [2, 3, 4]] as [[Int]])
  func roundTripDouble(shape: [Int]) throws { try checkRoundTrip(Double.self, shape: shape) }

  @Test func keepsTheGivenOrderAndMetadata() throws {
    try Support.withScratchDirectory { directory in
      let url = directory.appendingPathComponent("ordered.safetensors")
      let arrays: [(name: String, array: NDArray<Double>)] = [
        ("z", NDArray([1, 2])), ("a \"quoted\"\n", NDArray(scalar: 3)), ("m", NDArray(zeros: [0])), ("é", NDArray([4])),
      ]
      try SafetensorsFile.write(arrays, to: url, metadata: ["format": "pt", "tab\t": "ü\u{1}"])
      let file = try SafetensorsFile(contentsOf: url)
      #expect(file.names == arrays.map(\.name))
      #expect(file.metadata == ["format": "pt", "tab\t": "ü\u{1}"])
      #expect(try file.read(as: Double.self).map(\.array) == arrays.map(\.array))
      let bytes = [UInt8](try Data(contentsOf: url))
      let headerLength = bytes.prefix(8).reversed().reduce(0) { $0 << 8 | Int($1) }
      #expect(headerLength % 8 == 0)
      #expect(bytes[8 + headerLength - 1] == 0x20 || bytes[8 + headerLength - 1] == UInt8(ascii: "}"))
    }
  }

  @Test func writesWhatTheReferenceWrites() throws {
    try Support.withScratchDirectory { directory in
      let url = directory.appendingPathComponent("f64.safetensors")
      try SafetensorsFile.write([("weight", NDArray<Double>(shape: [2, 3], scalars: Support.ramp(6)))], to: url)
      #expect([UInt8](try Data(contentsOf: url)) == (try Support.fixtureBytes("safetensors/f64.safetensors")))
    }
  }

  @Test func rejectsInvalidNames() throws {
    try Support.withScratchDirectory { directory in
      let url = directory.appendingPathComponent("names.safetensors")
      expectFileFormatError("names.safetensors", "invalid tensor name", "'__metadata__'") {
        try SafetensorsFile.write([("__metadata__", NDArray<Float>([1]))], to: url)
      }
      expectFileFormatError("names.safetensors", "invalid tensor name", "'w'") {
        try SafetensorsFile.write([("w", NDArray<Float>([1])), ("w", NDArray<Float>([2]))], to: url)
      }
    }
  }

  private func checkRoundTrip<T: BLASScalar>(_: T.Type, shape: [Int]) throws {
    try Support.withScratchDirectory { directory in
      let url = directory.appendingPathComponent("round_trip.safetensors")
      let original = NDArray<T>(shape: shape, scalars: Support.trickyValues(NDArray<T>.elementCount(shape)))
      let other = NDArray<T>(shape: [2], scalars: [1, 2])
      try SafetensorsFile.write([("x", original), ("other", other)], to: url)
      let file = try SafetensorsFile(contentsOf: url)
      #expect(file.info(named: "x")?.dtype == (T.self == Float.self ? "F32" : "F64"))
      let arrays = try file.read(as: T.self)
      #expect(arrays.map(\.name) == ["x", "other"])
      #expect(bitIdentical(arrays[0].array, original))
      #expect(bitIdentical(arrays[1].array, other))
    }
  }
}
