import Curvature
import CurvatureTestSupport
import Foundation
import Testing

private typealias Support = GraphSupport

/// Loading and running format-2 graphs: a graph equals the same network written as a
/// `Sequential` or directly in tensor operations, several inputs, embeddings, weights.
@Suite struct GraphModelTests {
  /// The MLP graph with a `Sequential`'s parameters computes the same outputs, gradient
  /// and GGN products, bit for bit.
  func mlpEqualsSequential<T: BLASScalar>(_: T.Type) throws {
    let sequential = try Sequential<T>(
      [Linear(inFeatures: 5, outFeatures: 7), Tanh(), Linear(inFeatures: 7, outFeatures: 3)], seed: 4)
    var graph = try Support.graph(Support.mlp, as: T.self)
    #expect(graph.parameterSpecs == sequential.parameterSpecs)
    try graph.setParameters(sequential.parameters)
    var rng = RandomGenerator(seed: 9)
    let x: NDArray<T> = rng.normalArray(shape: [6, 5])
    #expect(bitIdentical(try graph.predict([x]), sequential.predict(x)))
    let y: NDArray<T> = rng.normalArray(shape: [6, 3])
    let data = try ArrayDataset(inputs: x, targets: .values(y))
    let loss = Loss<T>(.mse, reduction: .mean)
    let graphProblem = try CurvatureProblem(model: graph, loss: loss, data: data, batchSize: 4)
    let sequentialProblem = try CurvatureProblem(model: sequential, loss: loss, data: data, batchSize: 4)
    #expect(bitIdentical(try graphProblem.lossAndGradient().gradient, try sequentialProblem.lossAndGradient().gradient))
    let v: NDArray<T> = rng.normalArray(shape: [graphProblem.dimension])
    #expect(bitIdentical(try GGNOperator(graphProblem).apply(v), try GGNOperator(sequentialProblem).apply(v)))
    #expect(bitIdentical(try HessianOperator(graphProblem).apply(v), try HessianOperator(sequentialProblem).apply(v)))
  }

  @Test func mlpEqualsSequentialFloat() throws { try mlpEqualsSequential(Float.self) }
  @Test func mlpEqualsSequentialDouble() throws { try mlpEqualsSequential(Double.self) }

  /// Format-1 files still load as a `Sequential`; a graph file gives a `GraphModel`, its
  /// `network` and loss.
  @Test func modelFileKinds() throws {
    let sequential = try ModelFile<Double>(
      json: Data(#"{"layers": [{"type": "linear", "in_features": 2, "out_features": 1}], "loss": {"type": "mse", "reduction": "sum"}}"#.utf8))
    #expect(sequential.graph == nil && sequential.sequential != nil)
    #expect(sequential.network is Sequential<Double>)
    let graph = try Support.file(Support.residual, as: Double.self)
    #expect(graph.sequential == nil && graph.network is GraphModel<Double>)
    #expect(graph.loss == Loss(.crossEntropy, reduction: .mean))
    #expect(graph.network.parameterSpecs.map(\.name) == ["fc1.weight", "fc1.bias", "fc2.weight", "head.weight", "head.bias"])
    #expect(graph.graph?.outputShape == [-1, 3])
  }

  /// The residual block's output equals the same function in tensor operations, bit for bit.
  func residualMatchesTensorOperations<T: BLASScalar>(_: T.Type) throws {
    let graph = try Support.graph(Support.residual, as: T.self, seed: 2)
    var rng = RandomGenerator(seed: 1)
    let x: NDArray<T> = rng.normalArray(shape: [5, 4])
    let p = graph.parameters.map { Tensor($0) }
    let xt = Tensor(x)
    let s = xt + matmul((matmul(xt, p[0], transposeB: true) + p[1]).relu(), p[2], transposeB: true)
    let expected = matmul(s.tanh(), p[3], transposeB: true) + p[4]
    #expect(bitIdentical(try graph.predict([x]), expected.value))
  }

  @Test func residualMatchesTensorOperationsFloat() throws { try residualMatchesTensorOperations(Float.self) }
  @Test func residualMatchesTensorOperationsDouble() throws { try residualMatchesTensorOperations(Double.self) }

  /// Default parameters: deterministic in the seed, Kaiming-uniform bounds for matrices,
  /// ones for rank-1 `weight`s and zeros for biases.
  @Test func defaultInitialization() throws {
    let a = try Support.graph(Support.residual, as: Double.self, seed: 7)
    let b = try Support.graph(Support.residual, as: Double.self, seed: 7)
    let c = try Support.graph(Support.residual, as: Double.self, seed: 8)
    #expect(a.parameters == b.parameters && a.parameters != c.parameters)
    #expect(a.parameters[0].scalars.allSatisfy { Swift.abs($0) <= 0.5 } && Set(a.parameters[0].scalars).count == 16)
    #expect(a.parameters[1] == NDArray(zeros: [4]))
    let norm = try Support.graph(
      Support.document(
        inputs: [Support.value("x", [-1, 2])], parameters: [Support.value("scale.weight", [2])],
        nodes: [Support.node("out", "mul", ["x", "scale.weight"], [-1, 2])], output: "out"), as: Double.self)
    #expect(norm.parameters[0] == NDArray([1, 1]))
  }

  /// Two graph inputs: the batch carries both; operators equal those of the one-input
  /// model fed the product `x ⊙ m` directly.
  func twoInputs<T: BLASScalar>(_: T.Type) throws {
    let graph = try Support.graph(Support.twoInputs, as: T.self, seed: 1)
    #expect(graph.inputCount == 2 && graph.inputSpecs.map(\.name) == ["x", "m"])
    var rng = RandomGenerator(seed: 3)
    let x: NDArray<T> = rng.normalArray(shape: [5, 3]), m: NDArray<T> = rng.normalArray(shape: [5, 3])
    let y: NDArray<T> = rng.normalArray(shape: [5, 2])
    let data = try ArrayDataset(inputs: x, targets: .values(y), extraInputs: [m])
    #expect(try data.batch(1..<3).extraInputs[0] == NDArray(shape: [2, 3], scalars: Array(m.scalars[3..<9])))
    let loss = Loss<T>(.mse, reduction: .sum)
    let problem = try CurvatureProblem(model: graph, loss: loss, data: data, batchSize: 2)
    let product = NDArray<T>(shape: [5, 3], scalars: zip(x.scalars, m.scalars).map { $0 * $1 })
    let single = try FunctionModel<T>(parameterSpecs: graph.parameterSpecs, parameters: graph.parameters) { input, p in
      matmul(input, p[0], transposeB: true) + p[1]
    }
    let reference = try CurvatureProblem(
      model: single, loss: loss, data: try ArrayDataset(inputs: product, targets: .values(y)), batchSize: 2)
    #expect(bitIdentical(try GGNOperator(problem).dense(), try GGNOperator(reference).dense()))
    #expect(bitIdentical(try HessianOperator(problem).dense(), try HessianOperator(reference).dense()))
    // Data with one input for a two-input graph is refused, naming the inputs.
    let oneInput = try ArrayDataset(inputs: x, targets: .values(y))
    let error = #expect(throws: ModelError.self) { _ = try CurvatureProblem(model: graph, loss: loss, data: oneInput) }
    #expect(error?.description.contains("2 inputs (x, m)") == true, "\(String(describing: error))")
  }

  @Test func twoInputsFloat() throws { try twoInputs(Float.self) }
  @Test func twoInputsDouble() throws { try twoInputs(Double.self) }

  /// Embeddings, a folded int64 position buffer, attention written as ops, a normalization
  /// and a tied head: the forward pass equals the same computation in tensor operations.
  func transformerMatchesTensorOperations<T: BLASScalar>(_: T.Type, rtol: Double) throws {
    let file = try Support.transformerModel(as: T.self)
    let graph = file.graph!
    #expect(graph.bufferSpecs == [GraphValueSpec(name: "_constant.pos", shape: [3], dtype: .int64)])
    #expect(graph.buffers == [NDArray([0, 1, 2])])
    let data = try Support.transformerData(n: 6, as: T.self)
    let actual = try graph.predict([data.inputs])
    let expected = Support.transformerReference(data.inputs, graph.parameters.map { Tensor($0) }).value
    #expect(actual.shape == [6, 5])
    for (a, e) in zip(actual.scalars, expected.scalars) {
      #expect(Swift.abs(Double(a) - Double(e)) <= rtol * Swift.max(1, Swift.abs(Double(e))), "\(a) vs \(e)")
    }
  }

  @Test func transformerMatchesTensorOperationsFloat() throws { try transformerMatchesTensorOperations(Float.self, rtol: 1e-5) }
  @Test func transformerMatchesTensorOperationsDouble() throws { try transformerMatchesTensorOperations(Double.self, rtol: 1e-13) }

  /// Shape ops built on tensor operations: slices with steps, select, concat, reshape,
  /// expand, sums, scalar ops and log-softmax, against the same tensor operations.
  @Test func shapeOps() throws {
    let text = Support.document(
      inputs: [Support.value("x", [-1, 6, 2])], parameters: [Support.value("w", [1, 2])],
      nodes: [
        Support.node("even", "slice", ["x"], [-1, 3, 2], #"{"dim": 1, "start": 0, "end": 9223372036854775807, "step": 2}"#),
        Support.node("tail", "slice", ["x"], [-1, 2, 2], #"{"dim": -2, "start": -2}"#),
        Support.node("first", "select", ["x"], [-1, 2], #"{"dim": 1, "index": 0}"#),
        Support.node("cat", "concat", ["even", "tail"], [-1, 5, 2], #"{"dim": 1}"#),
        Support.node("flat", "reshape", ["cat"], [-1, 10], #"{"shape": [-1, 10]}"#),
        Support.node("back", "reshape", ["flat"], [-1, 5, 2], #"{"shape": [-1, -1, 2]}"#),
        Support.node("wide", "expand", ["w"], [5, 2], #"{"shape": [5, -1]}"#),
        Support.node("scaled", "mul", ["back", "wide"], [-1, 5, 2]),
        Support.node("total", "sum", ["scaled"], [-1, 2], #"{"dim": [1]}"#),
        Support.node("shifted", "rsub_scalar", ["total"], [-1, 2], #"{"value": 3}"#),
        Support.node("both", "add", ["shifted", "first"], [-1, 2]),
        Support.node("out", "log_softmax", ["both"], [-1, 2], #"{"dim": 1}"#),
      ], output: "out")
    let graph = try Support.graph(text, as: Double.self, seed: 1)
    var rng = RandomGenerator(seed: 2)
    let x: NDArray<Double> = rng.normalArray(shape: [3, 6, 2])
    let xt = Tensor(x), w = Tensor(graph.parameters[0])
    let even = xt.gathering(flatIndices: (0..<3).flatMap { n in [0, 1, 4, 5, 8, 9].map { n * 12 + $0 } }, shape: [3, 3, 2])
    let cat = Tensor.concatenate([even, xt.sliced(alongAxis: 1, 4..<6)], alongAxis: 1)
    let total = (cat * w.broadcast(to: [5, 2])).sum(alongAxes: [1])
    let expected = (3 - total + xt.sliced(alongAxis: 1, 0..<1).reshaped([3, 2])).logSoftmax(alongAxis: 1)
    #expect(bitIdentical(try graph.predict([x]), expected.value))
  }

  /// The embedding row `padding_idx` gets no gradient; the others get theirs.
  @Test func embeddingPaddingIndexHasNoGradient() throws {
    let text = Support.document(
      inputs: [Support.value("idx", [-1, 3], "int64")], parameters: [Support.value("emb.weight", [4, 2])],
      nodes: [Support.node("out", "embedding", ["idx", "emb.weight"], [-1, 3, 2], #"{"padding_idx": 1}"#)], output: "out")
    let graph = try Support.graph(text, as: Double.self, seed: 1)
    let idx = NDArray<Double>(shape: [2, 3], scalars: [0, 1, 1, 3, 1, 0])
    let g = gradient(at: [Tensor(graph.parameters[0])]) { p in graph([Tensor(idx)], parameters: p).sum() }[0].value
    #expect(g == NDArray(shape: [4, 2], scalars: [2, 2, 0, 0, 0, 0, 1, 1]))
    #expect(try graph.predict([idx]).scalars[2..<4].elementsEqual(graph.parameters[0].scalars[2..<4]))
  }

  /// Weights by name: loaded (a parameter and an int64 buffer), and a missing, extra or
  /// misshapen tensor refused naming it.
  @Test func weights() throws {
    try Support.withScratchDirectory { directory in
      let url = directory.appendingPathComponent("w.safetensors")
      var file = try Support.file(Support.twoInputs, as: Double.self)
      let w = NDArray<Double>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]), b = NDArray<Double>([7, 8])
      try Support.writeSafetensors(integers: [], floats: [("fc.weight", w), ("fc.bias", b)], to: url)
      try file.loadWeights(from: url)
      #expect(file.network.parameters == [w, b])
      let cases: [([(String, NDArray<Double>)], [String])] = [
        ([("fc.weight", w)], ["tensor 'fc.bias'", "missing weight key"]),
        ([("fc.weight", w), ("fc.bias", b), ("fc.extra", b)], ["tensor 'fc.extra'", "extra weight key"]),
        ([("fc.weight", w.reshaped([3, 2])), ("fc.bias", b)], ["tensor 'fc.weight'", "weight shape does not match", "[2, 3]"]),
      ]
      for (tensors, fragments) in cases {
        try Support.writeSafetensors(integers: [], floats: tensors, to: url)
        let error = #expect(throws: FileFormatError.self) { try file.loadWeights(from: url) }
        for fragment in fragments + ["w.safetensors"] {
          #expect(error?.description.contains(fragment) == true, "\(String(describing: error)) lacks \(fragment)")
        }
      }
      // A graph whose folded constant has no default needs the weights file.
      Support.expectRejected(Support.transformer, "buffer '_constant.pos'", "no default value")
      // An int64 buffer holding a fraction is refused.
      let model = directory.appendingPathComponent("model.json")
      try Data(Support.transformer.utf8).write(to: model)
      try Support.writeSafetensors(
        integers: [], floats: [("_constant.pos", NDArray([0, 1.5, 2])), ("wte.weight", NDArray(zeros: [5, 4])),
                               ("wpe.weight", NDArray(zeros: [3, 4])), ("attn.q.weight", NDArray(zeros: [4, 4])),
                               ("attn.k.weight", NDArray(zeros: [4, 4]))], to: url)
      let error = #expect(throws: FileFormatError.self) { _ = try ModelFile<Double>(description: model, weights: url) }
      #expect(error?.description.contains("tensor '_constant.pos'") == true && error?.description.contains("1.5") == true)
      // A position buffer beyond the rows of the embedding reading it is refused, naming both.
      try Support.writeSafetensors(
        integers: [("_constant.pos", [3], [0, 1, 3])],
        floats: [("wte.weight", NDArray(zeros: [5, 4])), ("wpe.weight", NDArray(zeros: [3, 4])), ("attn.q.weight", NDArray(zeros: [4, 4])),
                 ("attn.k.weight", NDArray(zeros: [4, 4]))], to: url)
      let range = #expect(throws: FileFormatError.self) { _ = try ModelFile<Double>(description: model, weights: url) }
      for fragment in ["_constant.pos", "3.0", "embedding 'pos'", "3 rows"] {
        #expect(range?.description.contains(fragment) == true, "\(String(describing: range)) lacks \(fragment)")
      }
    }
  }

  /// `write` keeps the graph's text and writes parameters and buffers, which read back.
  @Test func writeRoundTrip() throws {
    let file = try Support.transformerModel(as: Double.self)
    try Support.withScratchDirectory { directory in
      let (model, weights) = (directory.appendingPathComponent("m.json"), directory.appendingPathComponent("m.safetensors"))
      try file.write(description: model, weights: weights)
      let again = try ModelFile<Double>(description: model, weights: weights)
      #expect(again.graph?.parameters == file.graph?.parameters && again.graph?.buffers == file.graph?.buffers)
      #expect(try again.jsonData() == Data(Support.transformer.utf8))
    }
  }

  /// Token ids are checked against the embedding before a forward pass: an id outside the
  /// vocabulary or a fraction is an error naming the input, the batch and the element.
  @Test func tokenIdsAreChecked() throws {
    let graph = try Support.transformerModel(as: Double.self).graph!
    let loss = Loss<Double>(.crossEntropy, reduction: .mean)
    for bad in [5.0, -1, 2.5] {
      let ids = try Support.transformerData(n: 4, as: Double.self).inputs
      var scalars = ids.scalars
      scalars[7] = bad
      let data = try ArrayDataset(inputs: NDArray(shape: ids.shape, scalars: scalars), targets: .classes([0, 1, 2, 3]))
      let error = #expect(throws: CurvatureError.self) { _ = try CurvatureProblem(model: graph, loss: loss, data: data, batchSize: 2) }
      let text = error.map { "\($0)" } ?? ""
      for fragment in ["data points 2..<4", "graph input 'idx'", "element 1 of the batch", "is \(bad)"] {
        #expect(text.contains(fragment), "\(text) lacks \(fragment)")
      }
      if bad == 5 { #expect(text.contains("embedding 'tok'")) }
      // The first batch is checked before the first forward pass, with the model's error.
      let first = try ArrayDataset(inputs: NDArray(shape: ids.shape, scalars: Array(scalars[6...]) + Array(scalars[..<6])), targets: .classes([0, 1, 2, 3]))
      #expect(throws: DataError.self) { _ = try CurvatureProblem(model: graph, loss: loss, data: first, batchSize: 2) }
    }
  }
}
