import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// Embeddings get their own Kronecker form (`KFACOptions.embeddings`): one-hot inputs make
/// the token factor the diagonal of token counts, and a network linear after the embedding
/// with a loss term per position gets the embedding's exact GGN block. A head tied to the
/// embedding is never factored: the tied weight is an other parameter whose exact block
/// accounts for both uses.
@Suite struct KFACEmbeddingTests {
  typealias G = GraphSupport
  typealias T = KFACTesting

  /// `ids [n, 5] → embedding [7, 3] → linear head [2, 3]` with MSE per position; token 6
  /// never occurs. `tied`: the head reads the embedding's weight (output `[n, 5, 7]`).
  static func problem(paddingIndex: Int? = nil, tied: Bool = false, n: Int = 6, seed: UInt64 = 41) throws -> CurvatureProblem<Double> {
    let attributes = paddingIndex.map { #"{"padding_idx": \#($0)}"# } ?? #"{"padding_idx": null}"#
    let width = tied ? 7 : 2
    let nodes = [
      G.node("tok", "embedding", ["ids", "wte.weight"], [-1, 5, 3], attributes),
      G.node("head", "linear", ["tok", tied ? "wte.weight" : "head.weight"] + (tied ? [] : ["head.bias"]), [-1, 5, width]),
    ]
    let parameters = [G.value("wte.weight", [7, 3])] + (tied ? [] : [G.value("head.weight", [2, 3]), G.value("head.bias", [2])])
    let text = G.document(
      inputs: [G.value("ids", [-1, 5], "int64")], parameters: parameters, nodes: nodes, output: "head",
      loss: #"{"type": "mse", "reduction": "mean"}"#)
    let model = try G.graph(text, as: Double.self, seed: seed)
    let ids = Self.ids(n: n, seed: seed)
    var rng = RandomGenerator(seed: seed, stream: 4)
    let data = try ArrayDataset<Double>(inputs: ids, targets: .values(rng.normalArray(shape: [n, 5, width])))
    return try CurvatureProblem(model: model, loss: Loss(.mse), data: data, batchSize: 4, checkDeterminism: false)
  }

  /// Token ids below 6.
  static func ids(n: Int, seed: UInt64) -> NDArray<Double> {
    var rng = RandomGenerator(seed: seed, stream: 3)
    return NDArray(shape: [n, 5], scalars: (0..<(n * 5)).map { _ in Double(rng.integer(below: 6)) })
  }

  @Test(arguments: [nil, 2] as [Int?])
  func embeddingKFACIsTheExactGGNBlock(_ paddingIndex: Int?) throws {
    let problem = try Self.problem(paddingIndex: paddingIndex)
    let ggn = try GGNOperator(problem).dense()
    let options = KFACOptions(fisherType: .type2, embeddings: true)
    let kfac = try KFACOperator(problem, options: options)
    let factors = try kfac.computeFactors()
    #expect(factors.map(\.weightShape) == [[7, 3], [2, 3]])
    expectClose(try kfac.dense(), try T.blockPart(ggn, like: kfac), rtol: 1e-10, atolFactor: 1e-12, "padding \(String(describing: paddingIndex))")
    // The token factor: the counts over N·S rows, diagonal; zero for an unseen or padding token.
    let ids = Self.ids(n: 6, seed: 41)
    var counts = [Double](repeating: 0, count: 7)
    for id in ids.scalars where Int(id) != paddingIndex { counts[Int(id)] += 1 }
    let tokens = factors[0].gradientCovariance
    for i in 0..<7 {
      for j in 0..<7 { #expect(Swift.abs(tokens[i, j] - (i == j ? counts[i] / 30 : 0)) <= 1e-15, "A[\(i), \(j)] = \(tokens[i, j])") }
    }
    #expect(tokens[6, 6] == 0)
    // Save/load keeps the choice.
    try G.withScratchDirectory { directory in
      let url = directory.appendingPathComponent("kfac.safetensors")
      try kfac.save(to: url)
      let loaded = try KFACOperator(problem, contentsOf: url)
      #expect(loaded.options.embeddings)
      #expect(try loaded.dense().scalars == (try kfac.dense()).scalars)
    }
    // Every Fisher type and approximation computes; without the option the embedding is
    // an other parameter; EKFAC refuses the option.
    for fisherType in FisherType.allCases {
      for approximation in KFACApproximation.allCases {
        let k = try KFACOperator(problem, options: KFACOptions(fisherType: fisherType, approximation: approximation, embeddings: true))
        #expect(try k.dense().scalars.allSatisfy(\.isFinite))
      }
    }
    #expect(throws: CurvatureError.self) { _ = try KFACOperator(problem, options: KFACOptions(fisherType: .type2)) }
    #expect(throws: CurvatureError.self) { _ = try EKFACOperator(problem, options: options) }
  }

  /// The tied rule: a weight read by the embedding and the head is an other parameter even
  /// with `embeddings`; its exact GGN block (both uses) is what the mixed operator holds.
  @Test func aTiedWeightIsAnOtherParameter() throws {
    let problem = try Self.problem(tied: true)
    let graph = try #require(problem.model as? GraphModel<Double>)
    #expect(graph.kroneckerNodes.isEmpty && graph.embeddingNodes.isEmpty)
    let error = #expect(throws: CurvatureError.self) {
      _ = try KFACOperator(problem, options: KFACOptions(fisherType: .type2, embeddings: true))
    }
    #expect("\(String(describing: error))".contains("tied"), "\(String(describing: error))")
    let mixed = try KFACOperator(problem, options: KFACOptions(fisherType: .type2, otherParameters: .exactBlock, embeddings: true))
    #expect(try mixed.otherParameterBlocks().map(\.block) == [0])
    expectClose(try mixed.dense(), try GGNOperator(problem).dense(), rtol: 1e-10, atolFactor: 1e-12, "the tied weight's exact block")
  }
}
