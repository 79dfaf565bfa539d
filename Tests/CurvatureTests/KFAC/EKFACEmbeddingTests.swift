import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// EKFAC with Kronecker-factored embeddings (`KFACOptions.embeddings`): the token factor is
/// the diagonal of token counts, so its eigenbasis is the identity, and the corrected
/// eigenvalues `[V, E]` are the diagonal of the exact curvature block in the basis
/// `I ⊗ Q_A`, `Λ*[v, q] = Σ_jk Q_A[j, q] C[(v, j), (v, k)] Q_A[k, q]`, with C built
/// independently by `DenseCurvature` from per-term Jacobians (type-2: the GGN) or per-term
/// gradients (empirical: the empirical Fisher).
@Suite struct EKFACEmbeddingTests {
  typealias T = KFACTesting

  /// `Λ*` of the embedding block expected from a dense curvature matrix `c`.
  static func expectedEigenvalues(_ c: NDArray<Double>, basis qa: NDArray<Double>, rows: Int, offset w: Int) -> NDArray<Double> {
    let e = qa.shape[0]
    var values = NDArray<Double>(zeros: [rows, e])
    for v in 0..<rows {
      for q in 0..<e {
        var sum = 0.0
        for j in 0..<e { for k in 0..<e { sum += qa[j, q] * c[w + v * e + j, w + v * e + k] * qa[k, q] } }
        values.scalars[v * e + q] = sum
      }
    }
    return values
  }

  @Test(arguments: [nil, 2] as [Int?])
  func correctedEigenvaluesAreTheCurvatureDiagonalInTheEigenbasis(_ paddingIndex: Int?) throws {
    let problem = try KFACEmbeddingTests.problem(paddingIndex: paddingIndex)
    let data = try #require(problem.data as? ArrayDataset<Double>)
    let reference = DenseCurvature(model: problem.model, loss: problem.loss, data: data)
    for (fisherType, dense) in [(FisherType.type2, reference.ggn), (.empirical, reference.empiricalFisher)] {
      let options = KFACOptions(fisherType: fisherType, embeddings: true, termByTerm: true)
      let ekfac = try EKFACOperator(problem, options: options)
      let factors = try ekfac.computeFactors()
      let embedding = factors[0]
      #expect(embedding.weightShape == [7, 3] && embedding.weightBlock == 0)
      #expect(embedding.gradientBasis == NDArray<Double>.identity(7), "the token basis is the identity")
      let qa = try #require(embedding.inputBasis)
      let values = try #require(embedding.eigenvalues)
      let expected = Self.expectedEigenvalues(dense, basis: qa, rows: 7, offset: 0)
      expectClose(values, expected, rtol: 1e-10, atolFactor: 1e-12, "\(fisherType) padding \(String(describing: paddingIndex))")
      // An unseen token (6) and the padding row get no curvature.
      for q in 0..<3 {
        #expect(values[6, q] == 0)
        if let paddingIndex { #expect(values[paddingIndex, q] == 0) }
      }
      // The block is (I ⊗ Q_A) diag(Λ*) (I ⊗ Q_A)ᵀ, at least as close to the curvature's
      // block as KFAC's; for type-2 KFAC is exact here (linear after the embedding, a loss
      // per position), so EKFAC is too.
      let block = Array(0..<21)
      let sub = { (m: NDArray<Double>) in NDArray(shape: [21, 21], scalars: block.flatMap { i in block.map { m[i, $0] } }) }
      let ekfacBlock = sub(try ekfac.dense())
      let kfacBlock = sub(try KFACOperator(problem, options: options).dense())
      #expect((ekfacBlock - sub(dense)).norm() <= (kfacBlock - sub(dense)).norm() + 1e-12 * sub(dense).norm(), "\(fisherType)")
      if fisherType == .type2 {
        expectClose(ekfacBlock, sub(dense), rtol: 1e-10, atolFactor: 1e-12, "type-2 EKFAC embedding block is the GGN's")
      }
    }
  }

  /// The same in Float, against Double; and the refusal without `termByTerm` (five loss
  /// terms per data point on a graph) says what to do.
  @Test func floatAgreesWithDoubleAndPerPositionTermsNeedTermByTerm() throws {
    let problem = try KFACEmbeddingTests.problem()
    let options = KFACOptions(fisherType: .type2, embeddings: true, termByTerm: true)
    let double = try EKFACOperator(problem, options: options).computeFactors()
    let data = try #require(problem.data as? ArrayDataset<Double>)
    let graph = try #require(problem.model as? GraphModel<Double>)
    guard case let .values(targets) = data.targets else { Issue.record("value targets"); return }
    let single = try CurvatureProblem<Float>(
      model: graph.converted(to: Float.self), loss: Loss(.mse),
      data: try ArrayDataset(inputs: data.inputs.converted(to: Float.self), targets: .values(targets.converted(to: Float.self))),
      batchSize: 4, checkDeterminism: false)
    let float = try EKFACOperator(single, options: options).computeFactors()
    #expect(float[0].gradientBasis == NDArray<Float>.identity(7))
    let expected = try #require(double[0].eigenvalues)
    let actual = try #require(float[0].eigenvalues).converted(to: Double.self)
    #expect((actual - expected).norm() <= 1e-4 * expected.norm(), "Float Λ* \(actual) vs \(expected)")
    let error = #expect(throws: CurvatureError.self) {
      _ = try EKFACOperator(problem, options: KFACOptions(fisherType: .type2, embeddings: true))
    }
    #expect(error?.description.contains("termByTerm") == true, "\(String(describing: error))")
  }
}
