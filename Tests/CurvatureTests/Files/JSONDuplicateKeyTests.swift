import Curvature
import Foundation
import Testing

private typealias Support = FilesTestSupport

private let loss = #""loss": {"type": "mse", "reduction": "mean"}"#

/// A safetensors file from header text and data bytes.
private func safetensorsBytes(_ header: String, data: [UInt8]) -> [UInt8] {
  let text = Array(header.utf8)
  return (0..<8).map { UInt8(truncatingIfNeeded: text.count >> (8 * $0)) } + text + data
}

/// Keys repeated within one JSON object are refused (issue 20 §6): Foundation's
/// `JSONDecoder` keeps the first and Python's `json` the last, so such a file means two
/// different things.
@Suite struct JSONDuplicateKeyTests {
  @Test func modelJSONRepeatingALayerField() {
    // First wins: Linear(2, 3); last wins: Linear(5, 3). Either way, refused.
    let json = #"{"layers": [{"type": "linear", "in_features": 2, "out_features": 3, "in_features": 5}], \#(loss)}"#
    expectFileFormatError("dup.json", "duplicate key 'in_features'", "byte 68") {
      _ = try ModelFile<Double>(json: Data(json.utf8), path: "dup.json")
    }
  }

  @Test func modelJSONRepeatingATopLevelKeyOrAnEscapedSpelling() {
    let twice = #"{"layers": [], \#(loss), "layers": [{"type": "relu"}]}"#
    expectFileFormatError("model.json", "duplicate key 'layers'") { _ = try ModelFile<Float>(json: Data(twice.utf8)) }
    // "\u0074ype" is "type": the same key however it is spelled.
    let escaped = #"{"layers": [{"type": "relu", "\u0074ype": "tanh"}], \#(loss)}"#
    expectFileFormatError("duplicate key 'type'") { _ = try ModelFile<Float>(json: Data(escaped.utf8)) }
    // In the loss, even with equal values.
    let lossTwice = #"{"layers": [], "loss": {"type": "mse", "reduction": "sum", "reduction": "sum"}}"#
    expectFileFormatError("duplicate key 'reduction'") { _ = try ModelFile<Float>(json: Data(lossTwice.utf8)) }
  }

  @Test func duplicateReportedBeforeAFieldError() {
    // The first "bias" is wrong only for readers that take the first.
    let json = #"{"layers": [{"type": "linear", "in_features": 2, "out_features": 3, "bias": 1, "bias": true}], \#(loss)}"#
    expectFileFormatError("duplicate key 'bias'") { _ = try ModelFile<Double>(json: Data(json.utf8)) }
  }

  @Test func equalKeysInDifferentObjectsAndInStringsAreFine() throws {
    let json = #"""
      {"layers": [{"type": "linear", "in_features": 2, "out_features": 3, "bias": false},
                  {"type": "tanh"}, {"type": "linear", "in_features": 3, "out_features": 1, "bias": false}],
       "loss": {"type": "mse", "reduction": "sum"}}
      """#
    let file = try ModelFile<Double>(json: Data(json.utf8))
    #expect(file.model.parameterNames == ["0.weight", "2.weight"])
  }

  @Test func safetensorsHeaderRepeatingATensor() throws {
    let header =
      #"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#
    try Support.withScratchDirectory { directory in
      let url = try Support.write(safetensorsBytes(header, data: [UInt8](repeating: 0, count: 8)), named: "twice.safetensors", in: directory)
      expectFileFormatError("twice.safetensors", "duplicate key 'w'", "byte 70") { _ = try SafetensorsFile(contentsOf: url) }
    }
  }

  @Test func safetensorsHeaderRepeatingAField() throws {
    let header = #"{"w": {"dtype": "F32", "shape": [1], "shape": [2], "data_offsets": [0, 8]}}"#
    try Support.withScratchDirectory { directory in
      let url = try Support.write(safetensorsBytes(header, data: [UInt8](repeating: 0, count: 8)), named: "field.safetensors", in: directory)
      expectFileFormatError("field.safetensors", "duplicate key 'shape'") { _ = try SafetensorsFile(contentsOf: url) }
    }
  }

  @Test func safetensorsKeysWithQuotesAndColonsAreNotConfused() throws {
    // A tensor named `a":{"` and metadata values holding colons and braces are data.
    try Support.withScratchDirectory { directory in
      let url = directory.appendingPathComponent("tricky.safetensors")
      let arrays = [("a\":{\"", NDArray<Float>([1])), ("a", NDArray<Float>([2]))]
      try SafetensorsFile.write(arrays, to: url, metadata: ["k": "a\": {\"a\":", "a": "}"])
      let file = try SafetensorsFile(contentsOf: url)
      #expect(Set(file.names) == ["a\":{\"", "a"])
    }
  }
}
