import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// The Laplace approximations agree with laplace-torch (its curvlinops backend) on the
/// committed fixtures, in float64.
@Suite struct LaplaceLaplaceTorchTests {
  @Test func everyFixtureIsListed() throws {
    #expect(Set(try ReferenceFixture.cases("Laplace")) == Set(LaplaceFixture.cases))
  }

  /// Log marginal likelihood, log-likelihood, log-det ratio and scatter for full, kron,
  /// diag and their last-layer versions, with a scalar and (all weights) a per-tensor
  /// prior, to 1e-8 relative; with batches of 5 and of the whole set.
  @Test(arguments: LaplaceFixture.cases)
  func evidenceMatchesLaplaceTorch(_ name: String) throws {
    let fixture = try LaplaceFixture(name)
    for batchSize in [5, fixture.data.count] {
      for (structureName, structure, subset) in LaplaceFixture.structures {
        let la = try fixture.laplace(structure, subset, batchSize: batchSize)
        for prior in subset == .all ? ["scalar", "layerwise"] : ["scalar"] {
          let key = "\(structureName)/\(prior)"
          let values = try fixture.array("\(key)/prior_precision").scalars
          let evidence = try la.logMarginalLikelihood(priorPrecision: values)
          try fixture.expectEvidence(evidence, key: key, "\(name) \(key) batch \(batchSize)")
        }
      }
    }
  }

  /// Probit and Laplace-bridge probabilities (classification) and the GLM mean and
  /// functional variance (regression) match laplace-torch to 1e-8.
  @Test(arguments: LaplaceFixture.cases)
  func predictivesMatchLaplaceTorch(_ name: String) throws {
    let fixture = try LaplaceFixture(name)
    for (structureName, structure, subset) in LaplaceFixture.structures {
      var la = try fixture.laplace(structure, subset, batchSize: 4)
      for prior in subset == .all ? ["scalar", "layerwise"] : ["scalar"] {
        let key = "\(structureName)/\(prior)"
        try la.setPriorPrecision(try fixture.array("\(key)/prior_precision").scalars)
        try fixture.expectPredictives(la, key: key, name)
      }
    }
  }

  /// The optimized scalar prior precision reaches a log marginal likelihood at least as
  /// high as laplace-torch's `optimize_prior_precision(method="marglik")` (100 Adam steps),
  /// and the gradient vanishes there.
  @Test(arguments: LaplaceFixture.cases)
  func optimizedPriorBeatsLaplaceTorch(_ name: String) throws {
    let fixture = try LaplaceFixture(name)
    for (structureName, structure, subset) in LaplaceFixture.structures {
      var la = try fixture.laplace(structure, subset, prior: [1])
      let evidence = try la.optimizePriorPrecision()
      let theirs = try fixture.value("\(structureName)/optimized/log_marginal_likelihood")
      #expect(evidence.logMarginalLikelihood >= theirs - 1e-10 * abs(theirs), "\(name) \(structureName): \(evidence.logMarginalLikelihood) < laplace-torch's \(theirs)")
      let gradient = try la.logMarginalLikelihoodGradient().logPriorPrecision[0]
      #expect(abs(gradient) < 1e-6, "\(name) \(structureName): gradient \(gradient) at the optimum")
    }
  }
}
