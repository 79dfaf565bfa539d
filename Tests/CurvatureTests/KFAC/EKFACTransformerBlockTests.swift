import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// The exactness result of Eschenhagen et al. (2023) on a transformer block of linear layers
/// (a packed q, k, v in-projection passed on position-wise, an out-projection, residuals, an
/// MLP of two linear layers) for EKFAC with a loss per position: term by term
/// (`termByTerm`), EKFAC-expand is the GGN's block diagonal wherever KFAC-expand is
/// (KFACPackedProjectionTests checks KFAC, and EKFAC in the pooled reduce setting).
@Suite struct EKFACTransformerBlockTests {
  typealias G = GraphSupport
  typealias T = KFACTesting

  @Test func ekfacExpandIsExactWithALossPerPosition() throws {
    var nodes = [String]()
    for (i, c) in ["q", "k", "v"].enumerated() {
      let range = #"{"dim": 0, "start": \#(2 * i), "end": \#(2 * i + 2), "step": 1}"#
      nodes.append(G.node("w_\(c)", "slice", ["in_proj_weight"], [2, 2], range))
      nodes.append(G.node("b_\(c)", "slice", ["in_proj_bias"], [2], range))
      nodes.append(G.node(c, "linear", ["x", "w_\(c)", "b_\(c)"], [-1, 4, 2]))
    }
    nodes += [
      G.node("qk", "add", ["q", "k"], [-1, 4, 2]), G.node("qkv", "add", ["qk", "v"], [-1, 4, 2]),
      G.node("out_proj", "linear", ["qkv", "out_proj.weight", "out_proj.bias"], [-1, 4, 2]),
      G.node("h", "add", ["x", "out_proj"], [-1, 4, 2]),
      G.node("fc1", "linear", ["h", "fc1.weight", "fc1.bias"], [-1, 4, 3]),
      G.node("fc2", "linear", ["fc1", "fc2.weight", "fc2.bias"], [-1, 4, 2]),
      G.node("y", "add", ["h", "fc2"], [-1, 4, 2]),
    ]
    let parameters = [
      G.value("in_proj_weight", [6, 2]), G.value("in_proj_bias", [6]), G.value("out_proj.weight", [2, 2]),
      G.value("out_proj.bias", [2]), G.value("fc1.weight", [3, 2]), G.value("fc1.bias", [3]), G.value("fc2.weight", [2, 3]),
      G.value("fc2.bias", [2]),
    ]
    let problem = try KFACGraphExactnessTests.problem(
      nodes, input: [4, 2], parameters: parameters, output: "y", outputShape: [4, 2], n: 7, seed: 33)
    let ggn = try GGNOperator(problem).dense()
    for joint in [false, true] {
      let options = KFACOptions(fisherType: .type2, approximation: .expand, jointBias: joint, termByTerm: true)
      let expected = try T.blockPart(ggn, like: KFACOperator(problem, options: options))
      expectClose(try EKFACOperator(problem, options: options).dense(), expected, rtol: 1e-10, atolFactor: 1e-12, "joint=\(joint)")
    }
  }
}
