import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// KFAC on graph models where Eschenhagen et al. (2023) prove it exact: with MSE and
/// position-wise linear nodes (branches, a skip connection, a residual sum),
/// KFAC-expand is the GGN's block diagonal when the loss has a term per position, and
/// KFAC-reduce is when the positions are averaged before the loss — at its end or in the
/// middle of the network, after Linear, Conv1d or Conv2d nodes. Each is inexact in the
/// other's setting. A graph of the layers of a `Sequential` gets its factors.
@Suite struct KFACGraphExactnessTests {
  typealias T = KFACTesting
  typealias G = GraphSupport

  /// A graph problem: the document's model with MSE (mean) on `inputs`, targets normal.
  static func problem(_ nodes: [String], input: [Int], parameters: [String], output: String, outputShape: [Int], n: Int, seed: UInt64)
    throws -> CurvatureProblem<Double>
  {
    let text = G.document(
      inputs: [G.value("x", [-1] + input)], parameters: parameters, nodes: nodes, output: output,
      loss: #"{"type": "mse", "reduction": "mean"}"#)
    let model = try G.graph(text, as: Double.self, seed: seed)
    var rng = RandomGenerator(seed: seed, stream: 3)
    let data = try ArrayDataset<Double>(
      inputs: rng.normalArray(shape: [n] + input), targets: .values(rng.normalArray(shape: [n] + outputShape)))
    return try CurvatureProblem(model: model, loss: Loss(.mse), data: data, checkDeterminism: false)
  }

  /// `x → l1 → l2`, plus a bias-free skip `x → s`, summed, plus the residual `h = l1(x)`
  /// through `l3` summed again: every node position-wise and linear, on `[n, 4, 3]`.
  static func branching(pool: String?) -> (nodes: [String], parameters: [String], output: String, outputShape: [Int]) {
    var nodes = [
      G.node("l1", "linear", ["x", "l1.weight", "l1.bias"], [-1, 4, 5]),
      G.node("l2", "linear", ["l1", "l2.weight", "l2.bias"], [-1, 4, 2]),
      G.node("skip", "linear", ["x", "skip.weight"], [-1, 4, 2]),
      G.node("sum", "add", ["l2", "skip"], [-1, 4, 2]),
      G.node("l3", "linear", ["l1", "l3.weight"], [-1, 4, 2]),
      G.node("out", "add", ["sum", "l3"], [-1, 4, 2]),
    ]
    var output = "out", shape = [4, 2]
    if let pool {
      nodes.append(G.node("pooled", pool, ["out"], [-1, 2], #"{"dim": [1], "keepdim": false}"#))
      (output, shape) = ("pooled", [2])
    }
    let parameters = [
      G.value("l1.weight", [5, 3]), G.value("l1.bias", [5]), G.value("l2.weight", [2, 5]), G.value("l2.bias", [2]),
      G.value("skip.weight", [2, 3]), G.value("l3.weight", [2, 5]),
    ]
    return (nodes, parameters, output, shape)
  }

  static func expectExact(_ problem: CurvatureProblem<Double>, _ approximation: KFACApproximation, ekfac: Bool, _ label: String) throws {
    let ggn = try GGNOperator(problem).dense()
    let other: KFACApproximation = approximation == .expand ? .reduce : .expand
    for joint in [false, true] {
      let options = KFACOptions(fisherType: .type2, approximation: approximation, jointBias: joint)
      let kfac = try KFACOperator(problem, options: options)
      let expected = try T.blockPart(ggn, like: kfac)
      expectClose(try kfac.dense(), expected, rtol: 1e-10, atolFactor: 1e-12, "KFAC-\(approximation) \(label) joint=\(joint)")
      if ekfac {
        expectClose(
          try EKFACOperator(problem, options: options).dense(), expected, rtol: 1e-10, atolFactor: 1e-12,
          "EKFAC-\(approximation) \(label) joint=\(joint)")
      }
      let wrong = try KFACOperator(problem, options: KFACOptions(fisherType: .type2, approximation: other, jointBias: joint))
      let error = T.relativeDistance(try wrong.dense(), try T.blockPart(ggn, like: wrong))
      #expect(error > 1e-3, "KFAC-\(other) \(label) joint=\(joint) should be inexact, relative error \(error)")
    }
  }

  /// The expand setting: a term per position. EKFAC needs a term per data point on
  /// graphs (attention could mix the positions), so only KFAC is checked.
  @Test func expandIsExactWithATermPerPosition() throws {
    let b = Self.branching(pool: nil)
    let problem = try Self.problem(b.nodes, input: [4, 3], parameters: b.parameters, output: b.output, outputShape: b.outputShape, n: 3, seed: 7)
    #expect((problem.model as? GraphModel<Double>)?.kroneckerNodes.count == 4)
    try Self.expectExact(problem, .expand, ekfac: false, "branching graph")
    let error = #expect(throws: CurvatureError.self) { _ = try EKFACOperator(problem, options: KFACOptions(fisherType: .type2)).dense() }
    if let error, case .unsupported = error {} else { Issue.record("EKFAC with a term per position: \(String(describing: error))") }
  }

  /// The expand setting for a Conv1d: its locations (permuted to `[N, L, C]`) carry the
  /// loss terms.
  @Test func expandIsExactForConv1dLocations() throws {
    let nodes = [
      G.node("c", "conv1d", ["x", "c.weight", "c.bias"], [-1, 3, 5], #"{"stride": [1], "padding": [1], "dilation": [1], "groups": 1}"#),
      G.node("t", "permute", ["c"], [-1, 5, 3], #"{"dims": [0, 2, 1]}"#),
      G.node("out", "linear", ["t", "l.weight"], [-1, 5, 2]),
    ]
    let parameters = [G.value("c.weight", [3, 2, 3]), G.value("c.bias", [3]), G.value("l.weight", [2, 3])]
    let problem = try Self.problem(nodes, input: [2, 5], parameters: parameters, output: "out", outputShape: [5, 2], n: 3, seed: 8)
    try Self.expectExact(problem, .expand, ekfac: false, "conv1d")
  }

  /// The reduce setting: the positions averaged (or summed) at the end, or in the middle.
  @Test(arguments: ["mean", "sum"])
  func reduceIsExactWithThePositionsReducedBeforeTheLoss(_ pool: String) throws {
    let b = Self.branching(pool: pool)
    let problem = try Self.problem(b.nodes, input: [4, 3], parameters: b.parameters, output: b.output, outputShape: b.outputShape, n: 5, seed: 9)
    try Self.expectExact(problem, .reduce, ekfac: true, "pooled (\(pool)) at the end")

    let middle = [
      G.node("l1", "linear", ["x", "l1.weight", "l1.bias"], [-1, 4, 5]),
      G.node("pooled", pool, ["l1"], [-1, 5], #"{"dim": [1], "keepdim": false}"#),
      G.node("out", "linear", ["pooled", "l2.weight", "l2.bias"], [-1, 2]),
    ]
    let parameters = [G.value("l1.weight", [5, 3]), G.value("l1.bias", [5]), G.value("l2.weight", [2, 5]), G.value("l2.bias", [2])]
    let reduced = try Self.problem(middle, input: [4, 3], parameters: parameters, output: "out", outputShape: [2], n: 7, seed: 10)
    try Self.expectExact(reduced, .reduce, ekfac: true, "pooled (\(pool)) in the middle")
  }

  /// The reduce setting after Conv1d and Conv2d nodes (a dilated Conv1d padded "same",
  /// unevenly; a strided, padded Conv2d), averaged over the locations before a Linear head.
  @Test func reduceIsExactForConvolutions() throws {
    let conv1d = [
      G.node("c", "conv1d", ["x", "c.weight", "c.bias"], [-1, 3, 6], #"{"stride": [1], "padding": "same", "dilation": [3], "groups": 1}"#),
      G.node("pooled", "mean", ["c"], [-1, 3], #"{"dim": [2], "keepdim": false}"#),
      G.node("out", "linear", ["pooled", "l.weight", "l.bias"], [-1, 2]),
    ]
    // Kernel 2, dilation 3, "same": PyTorch pads 1 before and 2 after.
    let p1 = [G.value("c.weight", [3, 2, 2]), G.value("c.bias", [3]), G.value("l.weight", [2, 3]), G.value("l.bias", [2])]
    try Self.expectExact(
      try Self.problem(conv1d, input: [2, 6], parameters: p1, output: "out", outputShape: [2], n: 9, seed: 11), .reduce, ekfac: true, "conv1d")

    let conv2d = [
      G.node("c", "conv2d", ["x", "c.weight", "c.bias"], [-1, 3, 3, 3], #"{"stride": [2, 2], "padding": [1, 1], "dilation": [1, 1], "groups": 1}"#),
      G.node("pooled", "mean", ["c"], [-1, 3], #"{"dim": [2, 3], "keepdim": false}"#),
      G.node("out", "linear", ["pooled", "l.weight"], [-1, 2]),
    ]
    let p2 = [G.value("c.weight", [3, 2, 2, 2]), G.value("c.bias", [3]), G.value("l.weight", [2, 3])]
    try Self.expectExact(
      try Self.problem(conv2d, input: [2, 5, 5], parameters: p2, output: "out", outputShape: [2], n: 10, seed: 12), .reduce, ekfac: true,
      "conv2d")
  }

  /// A graph of a `Sequential`'s layers (Linear – tanh – Linear on sequences) computes
  /// the same factors (to rounding), for every Fisher type and approximation.
  @Test func graphOfASequentialHasItsFactors() throws {
    let sequential = try Sequential<Double>(
      [Linear(inFeatures: 3, outFeatures: 4), Tanh(), Linear(inFeatures: 4, outFeatures: 2)], seed: 4)
    let text = G.document(
      inputs: [G.value("x", [-1, 5, 3])],
      parameters: [G.value("a.weight", [4, 3]), G.value("a.bias", [4]), G.value("b.weight", [2, 4]), G.value("b.bias", [2])],
      nodes: [
        G.node("a", "linear", ["x", "a.weight", "a.bias"], [-1, 5, 4]), G.node("t", "tanh", ["a"], [-1, 5, 4]),
        G.node("b", "linear", ["t", "b.weight", "b.bias"], [-1, 5, 2]),
      ], output: "b")
    var graph = try G.graph(text, as: Double.self)
    try graph.setParameters(sequential.parameters)
    var rng = RandomGenerator(seed: 2, stream: 1)
    let data = try ArrayDataset<Double>(inputs: rng.normalArray(shape: [4, 5, 3]), targets: .values(rng.normalArray(shape: [4, 5, 2])))
    let loss = Loss<Double>(.mse)
    let p1 = try CurvatureProblem(model: sequential, loss: loss, data: data, batchSize: 3, checkDeterminism: false)
    let p2 = try CurvatureProblem(model: graph, loss: loss, data: data, batchSize: 3, checkDeterminism: false)
    for fisherType in FisherType.allCases {
      for approximation in KFACApproximation.allCases {
        let options = KFACOptions(fisherType: fisherType, mcSamples: fisherType == .mc ? 2 : 1, approximation: approximation, jointBias: true)
        let a = try KFACOperator(p1, options: options).computeFactors()
        let b = try KFACOperator(p2, options: options).computeFactors()
        #expect(a.map(\.layer) == [0, 2] && b.map(\.layer) == [0, 2])
        for (x, y) in zip(a, b) {
          expectClose(y.inputCovariance!, x.inputCovariance!, rtol: 1e-13, "\(fisherType) \(approximation) A")
          expectClose(y.gradientCovariance, x.gradientCovariance, rtol: 1e-13, "\(fisherType) \(approximation) B")
        }
      }
    }
  }
}
