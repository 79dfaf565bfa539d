import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// EKFAC on graph models with a loss term per position (`KFACOptions.termByTerm`): one
/// reverse pass per term position keeps the terms' gradients apart even where the graph
/// mixes the positions, so the corrected eigenvalues are the exact GGN block's diagonal in
/// KFAC's eigenbasis, `Λ* = diag((Q_B ⊗ Q_A)ᵀ G (Q_B ⊗ Q_A))`.
@Suite struct EKFACTermByTermTests {
  typealias G = GraphSupport
  typealias T = KFACTesting

  /// The flat offset of every selected block.
  static func offsets(_ problem: CurvatureProblem<Double>) -> [Int: Int] {
    var offsets = [Int: Int](), offset = 0
    for block in problem.blocks {
      offsets[block] = offset
      offset += problem.model.parameterSpecs[block].count
    }
    return offsets
  }

  /// `x → l1 → + mean over positions of l1 → l2` with a term per position: the mean mixes
  /// the positions.
  static func mixing() throws -> CurvatureProblem<Double> {
    let nodes = [
      G.node("l1", "linear", ["x", "l1.weight", "l1.bias"], [-1, 4, 5]),
      G.node("m", "mean", ["l1"], [-1, 1, 5], #"{"dim": [1], "keepdim": true}"#),
      G.node("h", "add", ["l1", "m"], [-1, 4, 5]),
      G.node("t", "tanh", ["h"], [-1, 4, 5]),
      G.node("out", "linear", ["t", "l2.weight", "l2.bias"], [-1, 4, 3]),
    ]
    let parameters = [G.value("l1.weight", [5, 3]), G.value("l1.bias", [5]), G.value("l2.weight", [3, 5]), G.value("l2.bias", [3])]
    return try KFACGraphExactnessTests.problem(nodes, input: [4, 3], parameters: parameters, output: "out", outputShape: [4, 3], n: 6, seed: 13)
  }

  @Test func correctedEigenvaluesAreTheGGNDiagonalInTheEigenbasis() throws {
    let problem = try Self.mixing()
    let ggn = try GGNOperator(problem).dense()
    let o = Self.offsets(problem)
    // Without the option, per-position terms on a graph are refused.
    #expect(throws: CurvatureError.self) { _ = try EKFACOperator(problem, options: KFACOptions(fisherType: .type2)).computeFactors() }
    for approximation in KFACApproximation.allCases {
      let options = KFACOptions(fisherType: .type2, approximation: approximation, termByTerm: true)
      let factors = try EKFACOperator(problem, options: options).computeFactors()
      for f in factors {
        let (out, inputs) = (f.weightShape[0], f.weightShape[1])
        let (qa, qb) = (try #require(f.inputBasis), f.gradientBasis)
        let w = o[try #require(f.weightBlock)]!
        let values = try #require(f.eigenvalues)
        for p in 0..<out {
          for q in 0..<inputs {
            // (q_B,p ⊗ q_A,q)ᵀ G_W (q_B,p ⊗ q_A,q)
            var u = [Double](repeating: 0, count: out * inputs)
            for r in 0..<out { for j in 0..<inputs { u[r * inputs + j] = qb[r, p] * qa[j, q] } }
            var quadratic = 0.0
            for a in 0..<(out * inputs) { for b in 0..<(out * inputs) { quadratic += u[a] * ggn[w + a, w + b] * u[b] } }
            #expect(Swift.abs(values[p, q] - quadratic) <= 1e-10 * ggn.norm(), "\(approximation) node \(f.layer) Λ[\(p), \(q)]")
          }
        }
        let bias = o[try #require(f.biasBlock)]!
        let biasValues = try #require(f.biasEigenvalues)
        for p in 0..<out {
          var quadratic = 0.0
          for a in 0..<out { for b in 0..<out { quadratic += qb[a, p] * ggn[bias + a, bias + b] * qb[b, p] } }
          #expect(Swift.abs(biasValues[p] - quadratic) <= 1e-10 * ggn.norm(), "\(approximation) node \(f.layer) bias λ[\(p)]")
        }
      }
    }
  }

  /// Where KFAC-expand is exact (a linear graph, a term per position), term-by-term EKFAC is
  /// too; saved and loaded, it keeps the option.
  @Test func exactWhereKFACIs() throws {
    let b = KFACGraphExactnessTests.branching(pool: nil)
    let problem = try KFACGraphExactnessTests.problem(
      b.nodes, input: [4, 3], parameters: b.parameters, output: b.output, outputShape: b.outputShape, n: 3, seed: 7)
    let ggn = try GGNOperator(problem).dense()
    let options = KFACOptions(fisherType: .type2, termByTerm: true)
    let ekfac = try EKFACOperator(problem, options: options)
    expectClose(try ekfac.dense(), try T.blockPart(ggn, like: KFACOperator(problem, options: options)), rtol: 1e-10, atolFactor: 1e-12)
    try G.withScratchDirectory { directory in
      let url = directory.appendingPathComponent("ekfac.safetensors")
      try ekfac.save(to: url)
      let loaded = try EKFACOperator(problem, contentsOf: url)
      #expect(loaded.options.termByTerm)
      #expect(try loaded.dense().scalars == (try ekfac.dense()).scalars)
    }
  }
}
