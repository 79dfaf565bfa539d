import Curvature
import CurvatureTestSupport
import Testing

/// The operators in Float agree with the same operators in Double (rtol 1e-4, with an
/// absolute tolerance of 1e-5 × the largest entry).
@Suite struct CurvatureFloatTests {
  @Test(arguments: ["mlp_tanh_cross_entropy_mean", "mlp_sigmoid_bce_with_logits_sum", "sequence_mse_mean", "cnn_cross_entropy_mean"])
  func floatAgreesWithDouble(_ name: String) throws {
    let c = try CurvatureCases.named(name)
    let double = try c.problem(batchSize: 4)
    let float = try c.problemInFloat(batchSize: 4)
    #expect(float.dimension == double.dimension && float.reductionFactor == double.reductionFactor)
    let pairs: [(String, NDArray<Float>, NDArray<Double>)] = [
      ("GGN", try GGNOperator(float).dense(), try GGNOperator(double).dense()),
      ("EF", try EmpiricalFisherOperator(float).dense(), try EmpiricalFisherOperator(double).dense()),
      ("Hessian", try HessianOperator(float).dense(), try HessianOperator(double).dense()),
      ("Jacobian", try JacobianOperator(float).dense(), try JacobianOperator(double).dense()),
      ("MC Fisher", try MonteCarloFisherOperator(float, mcSamples: 2, seed: 4).dense(),
       try MonteCarloFisherOperator(double, mcSamples: 2, seed: 4).dense()),
    ]
    for (label, f, d) in pairs {
      expectClose(f.converted(to: Double.self), d, rtol: 1e-4, atolFactor: 1e-5, "\(name) \(label) in Float")
    }
    // Products in Float, too: matmat and the Jacobian's adjoint.
    let x = CurvatureCases.randomMatrix(double.dimension, 3, seed: 2)
    expectClose(
      try GGNOperator(float).apply(x.converted(to: Float.self)).converted(to: Double.self), try GGNOperator(double).apply(x),
      rtol: 1e-4, atolFactor: 1e-5, "\(name) GGN matmat in Float")
    let u = CurvatureCases.randomMatrix(JacobianOperator(double).rowCount, 3, seed: 3)
    expectClose(
      try JacobianOperator(float).applyTranspose(u.converted(to: Float.self)).converted(to: Double.self),
      try JacobianOperator(double).applyTranspose(u), rtol: 1e-4, atolFactor: 1e-5, "\(name) Jᵀ in Float")
  }
}
