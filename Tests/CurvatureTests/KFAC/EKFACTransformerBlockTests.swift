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
  typealias T = KFACTesting

  @Test func ekfacExpandIsExactWithALossPerPosition() throws {
    let problem = try T.transformerBlock(pool: false, seed: 33)
    let ggn = try GGNOperator(problem).dense()
    for joint in [false, true] {
      let options = KFACOptions(fisherType: .type2, approximation: .expand, jointBias: joint, termByTerm: true)
      let expected = try T.blockPart(ggn, like: KFACOperator(problem, options: options))
      expectClose(try EKFACOperator(problem, options: options).dense(), expected, rtol: 1e-10, atolFactor: 1e-12, "joint=\(joint)")
    }
  }
}
