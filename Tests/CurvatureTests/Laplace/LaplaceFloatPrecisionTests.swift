import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// The Float evidence of a posterior with many parameters: the log-determinant ratio is a
/// difference of two sums over all parameters, which Float sums could not resolve.
@Suite struct LaplaceFloatPrecisionTests {
  /// A 300-300-3 tanh MLP (P = 91,203) on 20 points with a strong prior: most of the
  /// ratio's terms cancel, so a Float sum of `P` logs of about 3.9 lost the ratio.
  @Test func floatLogDetRatioOfManyParametersMatchesDouble() throws {
    let double = try Sequential<Double>(
      [Linear(inFeatures: 300, outFeatures: 300), Tanh(), Linear(inFeatures: 300, outFeatures: 3)], seed: 4)
    let single = try Sequential<Float>(
      [Linear(inFeatures: 300, outFeatures: 300), Tanh(), Linear(inFeatures: 300, outFeatures: 3)],
      parameters: double.parameters.map { $0.converted(to: Float.self) })
    var rng = RandomGenerator(seed: 5)
    let x: NDArray<Double> = rng.normalArray(shape: [20, 300])
    let labels = (0..<20).map { $0 % 3 }
    let doubleProblem = try CurvatureProblem(
      model: double, loss: Loss(.crossEntropy), data: try ArrayDataset(inputs: x, targets: .classes(labels)))
    let floatProblem = try CurvatureProblem(
      model: single, loss: Loss(.crossEntropy), data: try ArrayDataset(inputs: x.converted(to: Float.self), targets: .classes(labels)))
    for structure in [LaplaceStructure.kron, .diag] {
      let reference = try LaplaceApproximation(doubleProblem, structure: structure, priorPrecision: [50]).logMarginalLikelihood()
      let evidence = try LaplaceApproximation(floatProblem, structure: structure, priorPrecision: [50]).logMarginalLikelihood()
      #expect(abs(Double(evidence.logDetRatio) - reference.logDetRatio) <= 1e-3 * abs(reference.logDetRatio),
              "\(structure.name): Float \(evidence.logDetRatio) vs Double \(reference.logDetRatio)")
      #expect(abs(Double(evidence.logMarginalLikelihood) - reference.logMarginalLikelihood) <= 1e-3 * abs(reference.logMarginalLikelihood))
    }
  }
}
