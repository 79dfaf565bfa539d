import Curvature
import Foundation
import Testing

private typealias Support = GraphSupport

/// A graph `x [-1, 4] → nodes → output` with one weight `w` `[3, 4]`, for the bad-input tests.
private func graph(_ nodes: [String], output: String = "out", inputs: [String]? = nil, parameters: [String]? = nil,
                   loss: String = #"{"type": "mse", "reduction": "sum"}"#) -> String {
  Support.document(
    inputs: inputs ?? [Support.value("x", [-1, 4])], parameters: parameters ?? [Support.value("w", [3, 4])],
    nodes: nodes, output: output, loss: loss)
}

/// Every way a format-2 file can be wrong: one `FileFormatError` naming the file, the node
/// (or entry) and the problem.
@Suite struct GraphValidationTests {
  @Test func unknownOp() {
    Support.expectRejected(
      graph([Support.node("out", "frobnicate", ["x"], [-1, 4])]), "node 'out' (nodes[0])", "unknown op", "'frobnicate'")
  }

  @Test func unknownOrInvalidAttribute() {
    Support.expectRejected(
      graph([Support.node("out", "relu", ["x"], [-1, 4], #"{"inplace": true}"#)]), "node 'out'", "attribute 'inplace'",
      "unknown attribute for relu")
    Support.expectRejected(
      graph([Support.node("out", "gelu", ["x"], [-1, 4], #"{"approximate": "fast"}"#)]), "node 'out'", "attribute 'approximate'",
      "unknown value", "\"fast\"")
    Support.expectRejected(
      graph([Support.node("out", "softmax", ["x"], [-1, 4])]), "node 'out'", "attribute 'dim'", "missing attribute")
    Support.expectRejected(
      graph([Support.node("out", "mul_scalar", ["x"], [-1, 4], #"{"value": "lots"}"#)]), "attribute 'value'", "not a number")
  }

  @Test func missingOrUnknownInput() {
    Support.expectRejected(
      graph([Support.node("out", "linear", ["x", "nope"], [-1, 3])]), "node 'out'", "unknown input name", "'nope'")
    Support.expectRejected(
      graph([Support.node("out", "linear", ["x", "w", "w", "w"], [-1, 3])]), "node 'out'", "wrong number of inputs for linear",
      "1 to 3 inputs")
  }

  @Test func nameUsedTwice() {
    Support.expectRejected(
      graph([Support.node("x", "relu", ["x"], [-1, 4]), Support.node("out", "relu", ["x"], [-1, 4])]),
      "node 'x' (nodes[0])", "name used twice", "inputs[0]")
    Support.expectRejected(
      graph([Support.node("h", "relu", ["x"], [-1, 4]), Support.node("h", "tanh", ["x"], [-1, 4])], output: "h"),
      "node 'h' (nodes[1])", "name used twice", "nodes[0]")
    Support.expectRejected(
      graph([Support.node("out", "relu", ["x"], [-1, 4])], parameters: [Support.value("w", [3, 4]), Support.value("w", [3])]),
      "parameters[1] ('w')", "name used twice")
  }

  @Test func forwardReferenceOrCycle() {
    Support.expectRejected(
      graph([Support.node("a", "relu", ["b"], [-1, 4]), Support.node("b", "tanh", ["a"], [-1, 4])], output: "b"),
      "node 'a' (nodes[0])", "refers to a later node", "'b'")
    Support.expectRejected(graph([Support.node("out", "relu", ["out"], [-1, 4])]), "node 'out'", "reads itself (a cycle)")
  }

  @Test func shapeMismatch() {
    Support.expectRejected(
      graph([Support.node("out", "linear", ["x", "w"], [-1, 4])]), "node 'out'",
      "declared shape differs from the inferred one", "expected [-1, 3]", "found [-1, 4]")
    Support.expectRejected(
      graph([Support.node("out", "linear", ["x", "w"], [-1, 3])], inputs: [Support.value("x", [-1, 5])]), "node 'out'",
      "input does not fit the weight", "[..., 4]")
    Support.expectRejected(
      graph([Support.node("out", "add", ["x", "w"], [-1, 4])], parameters: [Support.value("w", [3])]), "node 'out'",
      "add: shapes do not broadcast")
    Support.expectRejected(
      graph([Support.node("out", "reshape", ["x"], [-1, 3], #"{"shape": [-1, 3]}"#)]), "node 'out'", "shape does not fit the elements")
  }

  @Test(arguments: [
    ("sum", #"{"dim": [0]}"#, "[-1, 4]", [4]),
    ("mean", "{}", "[-1, 4]", [Int]()),
    ("softmax", #"{"dim": 0}"#, "[-1, 4]", [-1, 4]),
    ("permute", #"{"dims": [1, 0]}"#, "[-1, 4]", [4, -1]),
    ("reshape", #"{"shape": [2, -1]}"#, "[-1, 4]", [2, -1]),
    ("slice", #"{"dim": 0, "start": 0, "end": 1}"#, "[-1, 4]", [1, 4]),
    ("select", #"{"dim": -2, "index": 0}"#, "[-1, 4]", [4]),
    ("concat", #"{"dim": 0}"#, "[-1, 4]", [-1, 4]),
    ("expand", #"{"shape": [3, -1, 4]}"#, "[-1, 4]", [3, -1, 4]),
    ("matmul", "{}", "[-1, 4]", [4, 4]),
  ])
  func opOnTheBatchAxis(_ op: String, _ attributes: String, _ input: String, _ shape: [Int]) {
    let inputs = op == "matmul" ? ["x", "x"] : ["x"]
    Support.expectRejected(
      graph([Support.node("out", op, inputs, shape, attributes)]), "node 'out'", "op applied to the batch axis")
  }

  @Test func batchAxisThroughBroadcasting() {
    Support.expectRejected(
      graph([Support.node("out", "mul", ["x", "k"], [2, -1, 4])], parameters: [Support.value("k", [2, 1, 4])]),
      "node 'out'", "op applied to the batch axis", "moves the batch axis")
  }

  @Test func embeddingNeedsIntegers() {
    Support.expectRejected(
      graph([Support.node("out", "embedding", ["x", "w"], [-1, 4, 4])]), "node 'out'", "indices are not integers")
  }

  @Test func badEntries() {
    Support.expectRejected(
      graph([Support.node("out", "relu", ["x"], [-1, 4])], inputs: [Support.value("x", [4])]), "inputs[0] ('x')", "invalid input shape")
    Support.expectRejected(
      graph([Support.node("out", "relu", ["x"], [-1, 4])], inputs: [Support.value("x", [-1, 4], "complex")]), "inputs[0], field 'dtype'",
      "unknown dtype")
    Support.expectRejected(
      graph([Support.node("out", "relu", ["x"], [-1, 4])], parameters: [Support.value("w", [40000, 40000]), Support.value("v", [40000, 40000])]),
      "parameters[1] ('v')", "model too large")
    Support.expectRejected(
      graph([Support.node("out", "relu", ["x"], [-1, 4])], parameters: [Support.value("w", [100000, 100000])]),
      "parameters[0] ('w')", "size too large to allocate")
    Support.expectRejected(
      graph([Support.node("out", "relu", ["x"], [-1, 4])], output: "w"), "field 'output'", "output is not a node")
    Support.expectRejected(
      graph([Support.node("out", "relu", ["w"], [3, 4])]), "field 'output'", "does not depend on the graph inputs")
    Support.expectRejected(
      graph([Support.node("big", "expand", ["w"], [100000, 100000], #"{"shape": [100000, 100000]}"#), Support.node("out", "relu", ["x"], [-1, 4])],
            parameters: [Support.value("w", [1, 1])]),
      "node 'big'", "size too large to allocate")
  }

  @Test func malformedDocument() {
    Support.expectRejected(#"{"format": 2, "inputs": ["#, "document", "not valid JSON")
    Support.expectRejected(#"{"format": 3, "layers": []}"#, "field 'format'", "unsupported model format")
    Support.expectRejected(
      graph([Support.node("out", "relu", ["x"], [-1, 4])]).replacingOccurrences(of: #""output": "out""#, with: #""output": "out", "output": "x""#),
      "duplicate key 'output'")
    Support.expectRejected(
      graph([Support.node("out", "relu", ["x"], [-1, 4])]).replacingOccurrences(of: #""nodes""#, with: #""edges""#),
      "field 'edges'", "unknown top-level field")
    Support.expectRejected(
      graph([#"{"name": "out", "op": "relu", "inputs": "x", "shape": [-1, 4]}"#]), "node 'out' (nodes[0]), field 'inputs'",
      "wrong type", "an array of names")
    Support.expectRejected(
      graph([#"{"name": "out", "op": "relu", "inputs": ["x"]}"#]), "node 'out' (nodes[0]), field 'shape'", "missing field")
  }

  /// `ignore_index` and `label_smoothing` reach the loss; cross-entropy over `[N, C, d1]`
  /// (class axis 1) loads.
  @Test func lossOptions() throws {
    let node = [Support.node("out", "relu", ["x"], [-1, 4])]
    let defaults = try Support.file(graph(node, loss: #"{"type": "cross_entropy", "ignore_index": -100, "label_smoothing": 0}"#), as: Double.self)
    #expect(defaults.loss == Loss(.crossEntropy, reduction: .mean))
    let options = try Support.file(
      graph(node, loss: #"{"type": "cross_entropy", "reduction": "sum", "ignore_index": 0, "label_smoothing": 0.1}"#), as: Double.self)
    #expect(options.loss == (try Loss<Double>.crossEntropy(reduction: .sum, ignoreIndex: 0, labelSmoothing: 0.1)))
    Support.expectRejected(
      graph(node, loss: #"{"type": "cross_entropy", "label_smoothing": 1.5}"#), "field 'label_smoothing'", "not a valid label smoothing")
    let perPosition = try Support.file(
      graph([Support.node("out", "reshape", ["x"], [-1, 2, 2], #"{"shape": [-1, 2, 2]}"#)], loss: #"{"type": "cross_entropy"}"#), as: Double.self)
    #expect(perPosition.graph?.outputShape == [-1, 2, 2])
    Support.expectRejected(graph(node, loss: #"{"type": "mse", "ignore_index": -100}"#), "field 'ignore_index'", "unknown field")
    Support.expectRejected(graph(node, loss: #"{"type": "hinge"}"#), "field 'type'", "unknown loss type")
  }
}
