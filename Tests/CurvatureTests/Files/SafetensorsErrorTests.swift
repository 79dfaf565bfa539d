import Curvature
import Foundation
import Testing

private typealias Support = FilesTestSupport

/// A safetensors file from header text and data bytes (the header is not padded).
private func safetensorsFile(_ header: String, data: [UInt8] = []) -> [UInt8] {
  let text = Array(header.utf8)
  return (0..<8).map { UInt8(truncatingIfNeeded: text.count >> (8 * $0)) } + text + data
}

/// Writes `bytes` as `name` and expects opening (and, with `read`, reading every tensor
/// of) the file to throw an error naming the file and the fragments.
private func expectRejected(
  _ bytes: [UInt8], named name: String, read: Bool = false, _ fragments: String...,
  sourceLocation: SourceLocation = #_sourceLocation
) throws {
  try Support.withScratchDirectory { directory in
    let url = try Support.write(bytes, named: name, in: directory)
    let error = #expect(throws: FileFormatError.self, sourceLocation: sourceLocation) {
      let file = try SafetensorsFile(contentsOf: url)
      if read { _ = try file.read(as: Float.self, requireFinite: true) }
    }
    for fragment in [name] + fragments {
      #expect(
        error?.description.contains(fragment) == true, "message lacks \"\(fragment)\": \(String(describing: error))",
        sourceLocation: sourceLocation)
    }
  }
}

/// One test per way a safetensors file can be wrong; each message must name the file and
/// the specific problem.
@Suite struct SafetensorsErrorTests {
  private let eightBytes = [UInt8](repeating: 0, count: 8)

  @Test func shorterThanEightBytes() throws {
    try expectRejected([1, 0, 0], named: "tiny.safetensors", "file too short", "3 bytes")
  }

  @Test func headerLengthBeyondTheFile() throws {
    try expectRejected(
      [232, 3, 0, 0, 0, 0, 0, 0] + Array("{}".utf8), named: "cut.safetensors", "header length beyond the end",
      "1000 bytes")
  }

  @Test func absurdHeaderLength() throws {
    try expectRejected([0, 0, 0, 0, 0, 1, 0, 0] + eightBytes, named: "huge.safetensors", "header length too large")
  }

  @Test func headerNotJSON() throws {
    try expectRejected(safetensorsFile("{\"w\": [1, 2"), named: "broken.safetensors", "not valid JSON", "{\"w\": [1, 2")
  }

  @Test func headerNotAnObject() throws {
    try expectRejected(safetensorsFile("[1, 2]"), named: "array.safetensors", "not a JSON object")
  }

  @Test(arguments: ["dtype", "shape", "data_offsets"])
  func missingField(_ field: String) throws {
    let fields = ["dtype": "\"F32\"", "shape": "[2]", "data_offsets": "[0, 8]"].filter { $0.key != field }
    let header = "{\"w\": {" + fields.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ") + "}}"
    try expectRejected(
      safetensorsFile(header, data: eightBytes), named: "no_\(field).safetensors", "tensor 'w'", "missing '\(field)'")
  }

  @Test func unknownDType() throws {
    try expectRejected(
      safetensorsFile(#"{"w": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}}"#, data: eightBytes),
      named: "q4.safetensors", "unknown dtype 'Q4'")
  }

  @Test func unsupportedDTypeForWeights() throws {
    try expectRejected(
      safetensorsFile(#"{"w": {"dtype": "I8", "shape": [8], "data_offsets": [0, 8]}}"#, data: eightBytes),
      named: "int8.safetensors", read: true, "tensor 'w'", "unsupported dtype 'I8'", "F32, F64, F16 or BF16")
  }

  @Test func offsetsOutOfRange() throws {
    try expectRejected(
      safetensorsFile(#"{"w": {"dtype": "F32", "shape": [25], "data_offsets": [0, 100]}}"#, data: eightBytes),
      named: "range.safetensors", "tensor 'w'", "out of range", "8-byte data buffer")
  }

  @Test func offsetsNotMatchingShapeAndDType() throws {
    try expectRejected(
      safetensorsFile(#"{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#, data: eightBytes),
      named: "size.safetensors", "tensor 'w'", "do not match shape and dtype", "12 bytes", "found 8 bytes")
  }

  @Test func invalidDataOffsets() throws {
    try expectRejected(
      safetensorsFile(#"{"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}"#, data: eightBytes),
      named: "reversed.safetensors", "invalid data_offsets", "[8,0]")
  }

  @Test(arguments: ["[-1]", "[2.5]", "\"2\""])
  func invalidShape(_ shape: String) throws {
    try expectRejected(
      safetensorsFile(#"{"w": {"dtype": "F32", "shape": "# + shape + #", "data_offsets": [0, 8]}}"#, data: eightBytes),
      named: "shape.safetensors", "tensor 'w'", "invalid shape", "non-negative integers")
  }

  @Test func overlappingTensors() throws {
    try expectRejected(
      safetensorsFile(
        #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}"#,
        data: eightBytes + [0, 0, 0, 0]),
      named: "overlap.safetensors", "tensor 'b'", "not contiguous (overlapping")
  }

  @Test func gapBetweenTensors() throws {
    try expectRejected(
      safetensorsFile(
        #"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}"#,
        data: eightBytes + [0, 0, 0, 0]),
      named: "gap.safetensors", "tensor 'b'", "not contiguous (gap")
  }

  @Test func trailingBytes() throws {
    try expectRejected(
      safetensorsFile(#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#, data: eightBytes),
      named: "trailing.safetensors", "belong to no tensor", "8 bytes")
  }

  @Test func metadataNotStrings() throws {
    try expectRejected(
      safetensorsFile(#"{"__metadata__": {"epochs": 3}}"#), named: "meta.safetensors", "invalid metadata", "'epochs'")
  }

  @Test func nonFiniteWhenFinitenessIsRequired() throws {
    let nan: [UInt8] = [0, 0, 0x80, 0x3F, 0, 0, 0xC0, 0x7F]  // 1.0, NaN
    try expectRejected(
      safetensorsFile(#"{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#, data: nan),
      named: "nan.safetensors", read: true, "tensor 'w'", "non-finite", "flat index 1")
  }

  @Test func missingTensor() throws {
    let file = try SafetensorsFile(contentsOf: Support.fixture("safetensors/f32.safetensors"))
    expectFileFormatError("f32.safetensors", "no tensor named 'w'", "bias, weight") {
      _ = try file.array(named: "w", as: Float.self)
    }
  }
}
