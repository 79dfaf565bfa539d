import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// The committed cases of `Fixtures/Curvature` (scripts/fixtures/make_curvature_fixtures.py):
/// dense Hessian, GGN and empirical Fisher from curvlinops' `HessianLinearOperator`,
/// `GGNLinearOperator` and `EFLinearOperator` in float64.
private let curvlinopsCases = ["mlp_ce_mean", "mlp_mse_sum", "cnn_ce_mean"]

@Suite struct CurvlinopsReferenceTests {
  @Test func everyFixtureIsListed() throws {
    #expect(Set(try ReferenceFixture.cases("Curvature")) == Set(curvlinopsCases))
  }

  /// Our operators' `dense()` equal curvlinops' matrices (rtol 1e-9), with batches of 4
  /// (curvlinops used 3) and of the whole set.
  @Test(arguments: curvlinopsCases)
  func operatorsMatchCurvlinops(_ name: String) throws {
    let c = try ReferenceFixture("Curvature", name)
    for batchSize in [4, c.data.count] {
      let problem = try CurvatureProblem(model: c.model, loss: c.loss, data: c.data, batchSize: batchSize)
      #expect(problem.dimension == c.model.parameterCount)
      let operators: [(String, any LinearOperator<Double>)] = [
        ("hessian", HessianOperator(problem)), ("ggn", GGNOperator(problem)), ("ef", EmpiricalFisherOperator(problem)),
      ]
      for (key, op) in operators {
        let expected = try c.expected.array(named: key, as: Double.self)
        #expect(expected.shape == [problem.dimension, problem.dimension])
        expectClose(try op.dense(), expected, rtol: 1e-9, atolFactor: 1e-12, "\(name) \(key), batch size \(batchSize)")
      }
    }
  }

  /// The independent dense references of `DenseCurvature` agree with curvlinops too.
  @Test(arguments: curvlinopsCases)
  func denseReferencesMatchCurvlinops(_ name: String) throws {
    let c = try ReferenceFixture("Curvature", name)
    let batch = try c.data.all()
    let reference = DenseCurvature(model: c.model, loss: c.loss, inputs: batch.inputs, targets: batch.targets)
    for (key, matrix) in [("hessian", reference.hessian()), ("ggn", reference.ggn), ("ef", reference.empiricalFisher)] {
      expectClose(matrix, try c.expected.array(named: key, as: Double.self), rtol: 1e-9, atolFactor: 1e-12, "\(name) reference \(key)")
    }
  }
}
