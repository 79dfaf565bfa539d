import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// A packed in-projection (one weight `[3E, E]` and bias `[3E]`, sliced into the q, k and v
/// projections of one input, as the exporter writes `nn.MultiheadAttention`) is one
/// Kronecker node: one block by default, a block per projection on request. In a linear
/// network where KFAC is exact (Eschenhagen et al. 2023), the one block equals the GGN's
/// block of the packed weight, q–k–v cross terms included, and the per-projection form
/// equals its block diagonal.
@Suite struct KFACPackedProjectionTests {
  typealias G = GraphSupport
  typealias T = KFACTesting

  /// `x → packed q, k, v (E = 2 from 3 features) → q + k + v` on `[n, 4, 3]`, then an
  /// optional mean over positions; `cross` feeds k and v from a second input instead.
  static func problem(pool: Bool, cross: Bool = false, n: Int = 5, seed: UInt64 = 31) throws -> CurvatureProblem<Double> {
    var nodes = [String]()
    for (i, c) in ["q", "k", "v"].enumerated() {
      let range = #"{"dim": 0, "start": \#(2 * i), "end": \#(2 * i + 2), "step": 1}"#
      nodes.append(G.node("w_\(c)", "slice", ["in_proj_weight"], [2, 3], range))
      nodes.append(G.node("b_\(c)", "slice", ["in_proj_bias"], [2], range))
      nodes.append(G.node(c, "linear", [cross && c != "q" ? "y" : "x", "w_\(c)", "b_\(c)"], [-1, 4, 2]))
    }
    nodes.append(G.node("qk", "add", ["q", "k"], [-1, 4, 2]))
    nodes.append(G.node("out", "add", ["qk", "v"], [-1, 4, 2]))
    var output = "out", outputShape = [4, 2]
    if pool {
      nodes.append(G.node("pooled", "mean", ["out"], [-1, 2], #"{"dim": [1], "keepdim": false}"#))
      (output, outputShape) = ("pooled", [2])
    }
    let inputs = [G.value("x", [-1, 4, 3])] + (cross ? [G.value("y", [-1, 4, 3])] : [])
    let text = G.document(
      inputs: inputs, parameters: [G.value("in_proj_weight", [6, 3]), G.value("in_proj_bias", [6])], nodes: nodes,
      output: output, loss: #"{"type": "mse", "reduction": "mean"}"#)
    let model = try G.graph(text, as: Double.self, seed: seed)
    var rng = RandomGenerator(seed: seed, stream: 3)
    let x: NDArray<Double> = rng.normalArray(shape: [n, 4, 3])
    let data = try ArrayDataset<Double>(
      inputs: x, targets: .values(rng.normalArray(shape: [n] + outputShape)),
      extraInputs: cross ? [rng.normalArray(shape: [n, 4, 3])] : [])
    return try CurvatureProblem(model: model, loss: Loss(.mse), data: data, batchSize: 2, checkDeterminism: false)
  }

  /// The projection (0 = q, 1 = k, 2 = v) of a flat index: weight entries first (`r·3 + c`),
  /// then the bias (`6 + r`).
  static func part(_ i: Int) -> Int { i < 18 ? (i / 3) / 2 : (i - 18) / 2 }

  @Test func thePackedWeightIsOneNode() throws {
    let problem = try Self.problem(pool: false)
    let graph = try #require(problem.model as? GraphModel<Double>)
    let nodes = graph.kroneckerNodes
    #expect(nodes.count == 1)
    let node = try #require(nodes.first)
    #expect(node.weightBlock == 0 && node.biasBlock == 1 && node.weightShape == [6, 3], "\(node)")
    #expect(node.outputTaps.count == 3 && node.outputParts == [2, 2, 2] && node.isPacked, "\(node)")
    #expect(node.name.contains("in_proj_weight"), "\(node.name)")
  }

  /// Expand with a term per position: one block = the GGN's block, per projection = its
  /// block diagonal; the two differ.
  @Test func oneBlockIsExactAndPerProjectionIsItsBlockDiagonal() throws {
    let problem = try Self.problem(pool: false)
    let ggn = try GGNOperator(problem).dense()
    for joint in [false, true] {
      let one = try KFACOperator(problem, options: KFACOptions(fisherType: .type2, jointBias: joint)).dense()
      let expected = try T.blockPart(ggn, like: KFACOperator(problem, options: KFACOptions(fisherType: .type2, jointBias: joint)))
      expectClose(one, expected, rtol: 1e-10, atolFactor: 1e-12, "one block, joint=\(joint)")
      let options = KFACOptions(fisherType: .type2, jointBias: joint, packedProjection: .perProjection)
      let per = try KFACOperator(problem, options: options).dense()
      var diagonal = expected
      for i in 0..<24 { for j in 0..<24 where Self.part(i) != Self.part(j) { diagonal[i, j] = 0 } }
      expectClose(per, diagonal, rtol: 1e-10, atolFactor: 1e-12, "per projection, joint=\(joint)")
      #expect(T.relativeDistance(per, one) > 1e-2, "the cross terms are not zero")
    }
    // Every Fisher type computes, and per-projection factors are block diagonal.
    for fisherType in FisherType.allCases {
      let options = KFACOptions(fisherType: fisherType, packedProjection: .perProjection)
      let b = try KFACOperator(problem, options: options).computeFactors()[0].gradientCovariance
      for i in 0..<6 { for j in 0..<6 where i / 2 != j / 2 { #expect(b[i, j] == 0, "\(fisherType) B[\(i), \(j)]") } }
    }
  }

  /// Reduce with the positions averaged before the loss: exact for KFAC and EKFAC (a term
  /// per data point), both approximations of the packed node inexact in the other setting.
  @Test func reduceIsExactWithThePositionsAveraged() throws {
    try KFACGraphExactnessTests.expectExact(try Self.problem(pool: true), .reduce, ekfac: true, "packed projection, pooled")
    // Save/load keeps the per-projection choice.
    let problem = try Self.problem(pool: true)
    let options = KFACOptions(fisherType: .type2, approximation: .reduce, packedProjection: .perProjection)
    try G.withScratchDirectory { directory in
      let url = directory.appendingPathComponent("kfac.safetensors")
      let kfac = try KFACOperator(problem, options: options)
      try kfac.save(to: url)
      let loaded = try KFACOperator(problem, contentsOf: url)
      #expect(loaded.options.packedProjection == .perProjection)
      #expect(try loaded.dense().scalars == (try kfac.dense()).scalars)
      let ekfac = try EKFACOperator(problem, options: options)
      try ekfac.save(to: url)
      #expect(try EKFACOperator(problem, contentsOf: url).dense().scalars == (try ekfac.dense()).scalars)
    }
  }

  /// A transformer block of linear layers (Eschenhagen et al. 2023): a packed q, k, v
  /// in-projection whose "attention" passes q + k + v on position-wise, an out-projection,
  /// a residual, an MLP of two linear layers and a second residual. Expand is exact with a
  /// loss per position and reduce with the positions averaged before the loss — each
  /// inexact in the other's setting, so the two differ on the block.
  @Test func aTransformerBlockOfLinearLayers() throws {
    let perPosition = try T.transformerBlock(pool: false, seed: 33)
    #expect((perPosition.model as? GraphModel<Double>)?.kroneckerNodes.map(\.isPacked) == [true, false, false, false])
    try KFACGraphExactnessTests.expectExact(perPosition, .expand, ekfac: false, "transformer block, a loss per position")
    try KFACGraphExactnessTests.expectExact(try T.transformerBlock(pool: true, seed: 34), .reduce, ekfac: true, "transformer block, pooled")
    let expand = try KFACOperator(perPosition, options: KFACOptions(fisherType: .type2, approximation: .expand)).dense()
    let reduce = try KFACOperator(perPosition, options: KFACOptions(fisherType: .type2, approximation: .reduce)).dense()
    #expect(T.relativeDistance(reduce, expand) > 1e-2, "expand and reduce differ on the block")
  }

  /// Cross-attention (k and v from another input than q) is no packed projection: the
  /// packed weight stays an other parameter, named as such.
  @Test func crossAttentionIsNotPacked() throws {
    let problem = try Self.problem(pool: false, cross: true)
    let graph = try #require(problem.model as? GraphModel<Double>)
    #expect(graph.kroneckerNodes.isEmpty)
    let error = #expect(throws: CurvatureError.self) { _ = try KFACOperator(problem, options: KFACOptions(fisherType: .type2)) }
    #expect("\(String(describing: error))".contains("in_proj_weight"), "\(String(describing: error))")
    let mixed = try KFACOperator(problem, options: KFACOptions(fisherType: .type2, otherParameters: .exactBlock))
    #expect(mixed.otherParametersNote?.contains("in_proj_weight") == true)
  }
}
