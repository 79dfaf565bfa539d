import Curvature
import CurvatureTestSupport
import Foundation
import Testing

private typealias Support = GraphSupport

/// A graph of the ops `Functional` evaluates (conv1d with "same" padding, tanh-GELU,
/// max-pooling, layer norm, causal attention, SiLU), against the same function written
/// directly in tensor operations, and its GGN and Hessian against the dense references.
///
/// In a build without `Functional` (see `GraphModel+FunctionalOps.swift`) loading refuses
/// the graph, naming its first such node; that refusal is what is checked then.
@Suite struct GraphFunctionalOpsTests {
  static let text = Support.document(
    inputs: [Support.value("x", [-1, 2, 6])],
    parameters: [Support.value("conv.weight", [3, 2, 3]), Support.value("conv.bias", [3]), Support.value("ln.weight", [3]),
                 Support.value("ln.bias", [3]), Support.value("head.weight", [2, 9]), Support.value("head.bias", [2])],
    nodes: [
      Support.node("conv", "conv1d", ["x", "conv.weight", "conv.bias"], [-1, 3, 6], #"{"padding": "same"}"#),
      Support.node("g", "gelu", ["conv"], [-1, 3, 6], #"{"approximate": "tanh"}"#),
      Support.node("p", "max_pool1d", ["g"], [-1, 3, 3], #"{"kernel_size": [2], "stride": [], "padding": 0}"#),
      Support.node("t", "permute", ["p"], [-1, 3, 3], #"{"dims": [0, 2, 1]}"#),
      Support.node("ln", "layer_norm", ["t", "ln.weight", "ln.bias"], [-1, 3, 3], #"{"normalized_shape": [3], "eps": 1e-05}"#),
      Support.node("a", "scaled_dot_product_attention", ["ln", "ln", "ln"], [-1, 3, 3], #"{"is_causal": true, "scale": null}"#),
      Support.node("s", "silu", ["a"], [-1, 3, 3]),
      Support.node("flat", "reshape", ["s"], [-1, 9], #"{"shape": [-1, 9]}"#),
      Support.node("out", "linear", ["flat", "head.weight", "head.bias"], [-1, 2]),
    ], output: "out", loss: #"{"type": "cross_entropy", "reduction": "sum"}"#)

  /// The graph's function in tensor operations, parameters in file order.
  static func reference(_ x: Tensor<Double>, _ p: [Tensor<Double>]) -> Tensor<Double> {
    let n = x.shape[0]
    // conv1d, padding 1 on each side: Σ_k W[:, :, k] x[:, :, k:k+6].
    let padded = x.padded(alongAxis: 2, before: 1, after: 1)
    var conv = p[1].reshaped([3, 1])
    for k in 0..<3 {
      let window = padded.sliced(alongAxis: 2, k..<(k + 6))  // [N, 2, 6]
      let wk = p[0].sliced(alongAxis: 2, k..<(k + 1)).reshaped([3, 2])
      conv = conv + matmul(wk, window)
    }
    let inner = (conv + conv * conv * conv * 0.044715) * (2 / Double.pi).squareRoot()
    let g = conv * 0.5 * (inner.tanh() + 1)
    let pairs = g.reshaped([n, 3, 3, 2])
    let pooled = Tensor.maximum(pairs.sliced(alongAxis: 3, 0..<1), pairs.sliced(alongAxis: 3, 1..<2)).reshaped([n, 3, 3])
    let t = pooled.permuted([0, 2, 1])
    let c = t - t.mean(alongAxes: [2], keepingDimensions: true)
    let ln = c / ((c * c).mean(alongAxes: [2], keepingDimensions: true) + 1e-5).sqrt() * p[2] + p[3]
    let causal = Tensor<Double>(shape: [3, 3], scalars: [0, -.infinity, -.infinity, 0, 0, -.infinity, 0, 0, 0])
    let scores = matmul(ln, ln, transposeB: true) * (1 / 3.0.squareRoot()) + causal
    let a = matmul(scores.softmax(alongAxis: -1), ln)
    let s = a * a.sigmoid()
    return matmul(s.reshaped([n, 9]), p[4], transposeB: true) + p[5]
  }

  @Test func functionalOpsGraph() throws {
    let graph: GraphModel<Double>
    do {
      graph = try Support.graph(Self.text, as: Double.self, seed: 3)
    } catch let error as FileFormatError where error.description.contains("unsupported op") {
      #expect(error.description.contains("node 'conv' (nodes[0])") && error.description.contains("conv1d"), "\(error)")
      return
    }
    var rng = RandomGenerator(seed: 8)
    let x: NDArray<Double> = rng.normalArray(shape: [4, 2, 6])
    let expected = Self.reference(Tensor(x), graph.parameters.map { Tensor($0) }).value
    expectClose(try graph.predict([x]), expected, rtol: 1e-12, "functional graph forward")
    let data = try ArrayDataset(inputs: x, targets: .classes([0, 1, 1, 0]))
    let loss = Loss<Double>(.crossEntropy, reduction: .sum)
    let problem = try CurvatureProblem(model: graph, loss: loss, data: data, batchSize: 3)
    let dense = DenseCurvature(model: graph, loss: loss, data: data)
    try expectMatches(GGNOperator(problem), dense.ggn, "functional graph GGN")
    try expectMatches(HessianOperator(problem), dense.hessian(), "functional graph Hessian", rtol: 1e-9)
  }

  /// `masked_fill` with a second graph input as the mask (broadcast over the rows) and a
  /// `-inf` fill before a softmax: values and gradient equal the same computation with an
  /// additive mask.
  @Test func maskedFillGraph() throws {
    let text = Support.document(
      inputs: [Support.value("x", [-1, 3, 3]), Support.value("mask", [-1, 1, 3], "bool")], parameters: [Support.value("w", [3, 3])],
      nodes: [
        Support.node("h", "linear", ["x", "w"], [-1, 3, 3]),
        Support.node("f", "masked_fill", ["h", "mask"], [-1, 3, 3], #"{"value": "-inf"}"#),
        Support.node("p", "softmax", ["f"], [-1, 3, 3], #"{"dim": -1}"#),
        Support.node("out", "reshape", ["p"], [-1, 9], #"{"shape": [-1, 9]}"#),
      ], output: "out")
    let graph: GraphModel<Double>
    do {
      graph = try Support.graph(text, as: Double.self, seed: 2)
    } catch let error as FileFormatError where error.description.contains("unsupported op") {
      #expect(error.description.contains("node 'f' (nodes[1])") && error.description.contains("masked_fill"), "\(error)")
      return
    }
    var rng = RandomGenerator(seed: 3)
    let x: NDArray<Double> = rng.normalArray(shape: [2, 3, 3])
    let mask = NDArray<Double>(shape: [2, 1, 3], scalars: [0, 1, 0, 1, 0, 0])
    let additive = Tensor(NDArray(shape: [2, 1, 3], scalars: mask.scalars.map { $0 != 0 ? -Double.infinity : 0 }))
    func reference(_ w: Tensor<Double>) -> Tensor<Double> {
      (matmul(Tensor(x), w, transposeB: true) + additive).softmax(alongAxis: -1).reshaped([2, 9])
    }
    let w = Tensor(graph.parameters[0])
    expectClose(try graph.predict([x, mask]), reference(w).value, rtol: 1e-14, "masked_fill forward")
    let weights = Tensor(NDArray<Double>(shape: [2, 9], scalars: (0..<18).map { Double($0) / 7 }))
    let g = gradient(at: [w]) { p in (graph([Tensor(x), Tensor(mask)], parameters: p) * weights).sum() }[0]
    let expected = gradient(at: w) { (reference($0) * weights).sum() }
    expectClose(g.value, expected.value, rtol: 1e-12, "masked_fill gradient")
  }
}
