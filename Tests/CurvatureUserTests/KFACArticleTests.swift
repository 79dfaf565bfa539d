import Curvature
import Foundation
import Testing

/// The snippets of the article "KFAC and EKFAC" (KFACAndEKFAC.md).
@Suite struct KFACArticleTests {
  @Test func kfacOfLinearRegressionIsTheGGN() throws {
    // Linear regression: KFAC (type-2, weight and bias as one block) is exact here.
    var rng = RandomGenerator(seed: 0)
    let x: NDArray<Double> = rng.normalArray(shape: [20, 3])
    let y: NDArray<Double> = rng.normalArray(shape: [20, 2])
    let model = try Sequential<Double>([Linear(inFeatures: 3, outFeatures: 2)], seed: 1)
    // The article writes Loss(.mse), the one vocabulary of issue 19 (wip-api).
    let problem = try CurvatureProblem(model: model, loss: Loss(.mse),
                                       data: try ArrayDataset(inputs: x, targets: .values(y)))

    let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .type2, jointBias: true))
    try kfac.computeFactors()                      // now, instead of on the first product
    let v: NDArray<Double> = rng.normalArray(shape: [problem.dimension])
    let kv = try kfac.apply(v)
    let inverse = try kfac.inverse(damping: 1e-3)  // (KFAC + 10⁻³ I)⁻¹, exact
    let ekfac = try EKFACOperator(correcting: kfac)

    let ggn = try GGNOperator(problem).dense()
    #expect(isClose(try kfac.dense(), ggn, tolerance: 1e-10))
    #expect(isClose(try ekfac.dense(), ggn, tolerance: 1e-10))
    #expect(isClose(kv, matvec(ggn, v), tolerance: 1e-10))
    let back = try inverse.apply(try kfac.damped(by: 1e-3).apply(v))
    #expect(isClose(back, v, tolerance: 1e-9))
    #expect(abs(try kfac.trace() - ggn.trace()) <= 1e-10 * ggn.trace())
  }

  @Test func factorsAreSavedAndLoaded() throws {
    var rng = RandomGenerator(seed: 2)
    let x: NDArray<Double> = rng.normalArray(shape: [16, 4])
    let y = (0..<16).map { $0 % 3 }
    let model = try Sequential<Double>([Linear(inFeatures: 4, outFeatures: 6), ReLU(),
                                        Linear(inFeatures: 6, outFeatures: 3)], seed: 3)
    let problem = try CurvatureProblem(model: model, loss: Loss(.crossEntropy),
                                       data: try ArrayDataset(inputs: x, targets: .classes(y)))
    let kfac = try KFACOperator(problem)           // curvlinops' defaults: MC Fisher, expand
    let url = FileManager.default.temporaryDirectory
      .appendingPathComponent("curvature-docs-kfac-\(ProcessInfo.processInfo.processIdentifier).safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try kfac.save(to: url)
    let loaded = try KFACOperator(problem, contentsOf: url)
    #expect(try loaded.dense() == kfac.dense())
    let (sign, logDeterminant) = try kfac.damped(by: 1e-2).logDeterminant()
    #expect(sign == 1 && logDeterminant.isFinite)
  }
}
