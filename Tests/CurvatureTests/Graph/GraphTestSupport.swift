import Curvature
import Foundation
import Testing

/// Hand-written format-2 `model.json` documents for the graph tests, and helpers to load
/// them and to expect their rejection.
enum GraphSupport {
  /// A node object.
  static func node(_ name: String, _ op: String, _ inputs: [String], _ shape: [Int], _ attributes: String = "{}") -> String {
    let names = inputs.map { "\"\($0)\"" }.joined(separator: ", ")
    return #"{"name": "\#(name)", "op": "\#(op)", "inputs": [\#(names)], "attributes": \#(attributes), "shape": \#(shape)}"#
  }

  /// A value entry (`inputs`, `parameters`, `buffers`).
  static func value(_ name: String, _ shape: [Int], _ dtype: String? = nil) -> String {
    #"{"name": "\#(name)", "shape": \#(shape)\#(dtype.map { #", "dtype": "\#($0)""# } ?? "")}"#
  }

  /// A whole document.
  static func document(
    inputs: [String], parameters: [String], buffers: [String] = [], nodes: [String], output: String,
    loss: String = #"{"type": "mse", "reduction": "sum"}"#
  ) -> String {
    """
    {"format": 2,
     "inputs": [\(inputs.joined(separator: ", "))],
     "parameters": [\(parameters.joined(separator: ", "))],
     "buffers": [\(buffers.joined(separator: ", "))],
     "nodes": [\(nodes.joined(separator: ",\n  "))],
     "output": "\(output)",
     "loss": \(loss)}
    """
  }

  /// The model file of a document (parameters initialized from `seed`).
  static func file<T: BLASScalar>(_ text: String, as _: T.Type = T.self, seed: UInt64 = 0) throws -> ModelFile<T> {
    try ModelFile<T>(json: Data(text.utf8), path: "graph.json", seed: seed)
  }

  /// The graph model of a document.
  static func graph<T: BLASScalar>(_ text: String, as _: T.Type = T.self, seed: UInt64 = 0) throws -> GraphModel<T> {
    let loaded = try file(text, as: T.self, seed: seed)
    guard let graph = loaded.graph else { throw ModelError.invalidConfiguration("not a graph") }
    return graph
  }

  /// Expects loading `text` to throw one `FileFormatError` naming `graph.json` and every
  /// fragment.
  static func expectRejected(_ text: String, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation) {
    let error = #expect(throws: FileFormatError.self, sourceLocation: sourceLocation) {
      _ = try ModelFile<Double>(json: Data(text.utf8), path: "graph.json")
    }
    guard let error else { return }
    for fragment in ["graph.json"] + fragments {
      #expect(error.description.contains(fragment), "message lacks \"\(fragment)\": \(error.description)", sourceLocation: sourceLocation)
    }
  }

  /// Runs `body` with a new empty directory, removed afterwards.
  static func withScratchDirectory<R>(_ body: (URL) throws -> R) throws -> R {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("curvature-graph-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory)
  }

  /// A safetensors file of `I64` tensors and `F64` tensors, written byte by byte (the
  /// library writes floats only).
  static func writeSafetensors(integers: [(String, [Int], [Int])], floats: [(String, NDArray<Double>)], to url: URL) throws {
    var entries = [String](), data = [UInt8]()
    for (name, shape, values) in integers {
      let start = data.count
      for v in values { withUnsafeBytes(of: Int64(v).littleEndian) { data += $0 } }
      entries.append(#""\#(name)": {"dtype": "I64", "shape": \#(shape), "data_offsets": [\#(start), \#(data.count)]}"#)
    }
    for (name, array) in floats {
      let start = data.count
      for v in array.scalars { withUnsafeBytes(of: v.bitPattern.littleEndian) { data += $0 } }
      entries.append(#""\#(name)": {"dtype": "F64", "shape": \#(array.shape), "data_offsets": [\#(start), \#(data.count)]}"#)
    }
    var header = [UInt8]("{\(entries.joined(separator: ", "))}".utf8)
    while header.count % 8 != 0 { header.append(0x20) }
    var bytes = [UInt8]()
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes += $0 }
    try Data(bytes + header + data).write(to: url)
  }

  // MARK: The graphs of the tests

  /// `Linear(5, 7) – tanh – Linear(7, 3)` as a graph, with `nn.Sequential`'s names.
  static let mlp = document(
    inputs: [value("x", [-1, 5])],
    parameters: [value("0.weight", [7, 5]), value("0.bias", [7]), value("2.weight", [3, 7]), value("2.bias", [3])],
    nodes: [
      node("h", "linear", ["x", "0.weight", "0.bias"], [-1, 7]), node("a", "tanh", ["h"], [-1, 7]),
      node("out", "linear", ["a", "2.weight", "2.bias"], [-1, 3]),
    ], output: "out")

  /// A residual block: `y = W3 tanh(x + W2 relu(W1 x + b1)) + b3`, `x` `[N, 4]`, P = 20 + 16 + 15.
  static let residual = document(
    inputs: [value("x", [-1, 4])],
    parameters: [value("fc1.weight", [4, 4]), value("fc1.bias", [4]), value("fc2.weight", [4, 4]),
                 value("head.weight", [3, 4]), value("head.bias", [3])],
    nodes: [
      node("h", "linear", ["x", "fc1.weight", "fc1.bias"], [-1, 4]), node("r", "relu", ["h"], [-1, 4]),
      node("y", "linear", ["r", "fc2.weight"], [-1, 4]), node("s", "add", ["x", "y"], [-1, 4]),
      node("t", "tanh", ["s"], [-1, 4]), node("out", "linear", ["t", "head.weight", "head.bias"], [-1, 3]),
    ], output: "out", loss: #"{"type": "cross_entropy", "reduction": "mean"}"#)

  /// Two graph inputs: `out = W (x ⊙ m) + b` with `x` and `m` `[N, 3]`.
  static let twoInputs = document(
    inputs: [value("x", [-1, 3]), value("m", [-1, 3])],
    parameters: [value("fc.weight", [2, 3]), value("fc.bias", [2])],
    nodes: [node("xm", "mul", ["x", "m"], [-1, 3]), node("out", "linear", ["xm", "fc.weight", "fc.bias"], [-1, 2])],
    output: "out")

  /// Transformer-like pieces with the ops built on tensor operations: token and position
  /// embeddings (positions a folded int64 constant), one attention head written out
  /// (`q kᵀ / √E`, softmax, `p v`), a residual, a normalization written as ops, a head tied
  /// to the token embedding, and the last position's logits. Vocabulary 5, width 4, T = 3.
  static let transformer = document(
    inputs: [value("idx", [-1, 3], "int64")],
    parameters: [value("wte.weight", [5, 4]), value("wpe.weight", [3, 4]), value("attn.q.weight", [4, 4]),
                 value("attn.k.weight", [4, 4])],
    buffers: [value("_constant.pos", [3], "int64")],
    nodes: [
      node("tok", "embedding", ["idx", "wte.weight"], [-1, 3, 4]),
      node("pos", "embedding", ["_constant.pos", "wpe.weight"], [3, 4]),
      node("h", "add", ["tok", "pos"], [-1, 3, 4]),
      node("q", "linear", ["h", "attn.q.weight"], [-1, 3, 4]),
      node("k", "linear", ["h", "attn.k.weight"], [-1, 3, 4]),
      node("kt", "permute", ["k"], [-1, 4, 3], #"{"dims": [0, 2, 1]}"#),
      node("scores", "matmul", ["q", "kt"], [-1, 3, 3]),
      node("scaled", "mul_scalar", ["scores"], [-1, 3, 3], #"{"value": 0.5}"#),
      node("p", "softmax", ["scaled"], [-1, 3, 3], #"{"dim": -1}"#),
      node("a", "matmul", ["p", "h"], [-1, 3, 4]),
      node("r", "add", ["h", "a"], [-1, 3, 4]),
      node("mu", "mean", ["r"], [-1, 3, 1], #"{"dim": [-1], "keepdim": true}"#),
      node("c", "sub", ["r", "mu"], [-1, 3, 4]),
      node("c2", "pow_scalar", ["c"], [-1, 3, 4], #"{"value": 2}"#),
      node("var", "mean", ["c2"], [-1, 3, 1], #"{"dim": -1, "keepdim": true}"#),
      node("ve", "add_scalar", ["var"], [-1, 3, 1], #"{"value": 1e-05}"#),
      node("inv", "rsqrt", ["ve"], [-1, 3, 1]),
      node("n", "mul", ["c", "inv"], [-1, 3, 4]),
      node("logits", "linear", ["n", "wte.weight"], [-1, 3, 5]),
      node("last", "select", ["logits"], [-1, 5], #"{"dim": 1, "index": -1}"#),
    ], output: "last", loss: #"{"type": "cross_entropy", "reduction": "mean", "ignore_index": -100, "label_smoothing": 0.0}"#)

  /// `transformer`'s forward pass written directly with tensor operations (the independent
  /// reference): parameters in file order, token ids `idx` `[N, 3]`.
  static func transformerReference<T: BLASScalar>(_ idx: NDArray<T>, _ p: [Tensor<T>]) -> Tensor<T> {
    let n = idx.shape[0]
    let ids = idx.scalars.map { Int($0) }
    let tok = p[0].gathering(flatIndices: ids.flatMap { id in (0..<4).map { id * 4 + $0 } }, shape: [n, 3, 4])
    let h = tok + p[1]
    let q = matmul(h, p[2], transposeB: true), k = matmul(h, p[3], transposeB: true)
    let probabilities = (matmul(q, k, transposeB: true) * T(0.5)).softmax(alongAxis: -1)
    let r = h + matmul(probabilities, h)
    let c = r - r.mean(alongAxes: [2], keepingDimensions: true)
    let normalized = c / ((c * c).mean(alongAxes: [2], keepingDimensions: true) + T(1e-5)).sqrt()
    let logits = matmul(normalized, p[0], transposeB: true)
    return logits.sliced(alongAxis: 1, 2..<3).reshaped([n, 5])
  }

  /// A `transformer` problem: token ids and last-token targets for `n` sequences.
  static func transformerData<T: BLASScalar>(n: Int, as _: T.Type = T.self) throws -> ArrayDataset<T> {
    var rng = RandomGenerator(seed: 5, stream: 2)
    let ids = NDArray<T>(shape: [n, 3], scalars: (0..<(3 * n)).map { _ in T(rng.integer(below: 5)) })
    return try ArrayDataset(inputs: ids, targets: .classes((0..<n).map { _ in rng.integer(below: 5) }))
  }

  /// The transformer graph with its position buffer 0, 1, 2 and parameters from `seed`.
  static func transformerModel<T: BLASScalar>(as _: T.Type = T.self, seed: UInt64 = 3) throws -> ModelFile<T> {
    try withScratchDirectory { directory in
      let url = directory.appendingPathComponent("model.json")
      try Data(transformer.utf8).write(to: url)
      var generator = RandomGenerator(seed: seed)
      let shapes = [("wte.weight", [5, 4]), ("wpe.weight", [3, 4]), ("attn.q.weight", [4, 4]), ("attn.k.weight", [4, 4])]
      let weights = directory.appendingPathComponent("weights.safetensors")
      try writeSafetensors(
        integers: [("_constant.pos", [3], [0, 1, 2])],
        floats: shapes.map { ($0.0, generator.normalArray(shape: $0.1)) }, to: weights)
      return try ModelFile<T>(description: url, weights: weights)
    }
  }
}
