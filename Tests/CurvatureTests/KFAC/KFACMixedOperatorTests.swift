import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// The mixed operator on all parameters of nanoGPT and of the encoder classifier
/// (Fixtures/KFACGraph): the Linear nodes' Kronecker blocks, and for the token and position
/// embeddings, the LayerNorms' affine parameters and the head tied to the token embedding,
/// the exact block-diagonal GGN (or empirical Fisher) block, its diagonal, or zero. EKFAC
/// (a term per data point on graphs: the classifier) holds the same other blocks.
@Suite struct KFACMixedOperatorTests {
  typealias T = KFACTesting

  /// The flat offsets and sizes of a problem's selected blocks.
  static func ranges(_ problem: CurvatureProblem<Double>) -> [Int: Range<Int>] {
    var ranges = [Int: Range<Int>](), offset = 0
    for block in problem.blocks {
      let count = problem.model.parameterSpecs[block].count
      ranges[block] = offset..<(offset + count)
      offset += count
    }
    return ranges
  }

  @Test(arguments: ["nanogpt", "encoder_classifier"], [FisherType.type2, .empirical])
  func mixedOperatorContainsTheExactBlocks(_ name: String, _ fisherType: FisherType) throws {
    let fixture = try KFACGraphFixtureTests.Fixture(name)
    let all = try CurvatureProblem(model: fixture.model, loss: fixture.loss, data: fixture.data, batchSize: 2)
    let graph = try #require(fixture.model as? GraphModel<Double>)
    let factored = Set(graph.kroneckerNodes.flatMap { [$0.weightBlock] + ($0.biasBlock.map { [$0] } ?? []) })
    let others = all.blocks.filter { !factored.contains($0) }
    let otherNames = others.map { graph.parameterSpecs[$0].name }
    #expect(otherNames.contains(name == "nanogpt" ? "transformer.wte.weight" : "layer.norm1.weight"), "\(otherNames)")

    let exact: NDArray<Double> = fisherType == .type2 ? try GGNOperator(all).dense() : try EmpiricalFisherOperator(all).dense()
    let kronecker = try KFACOperator(try all.restricted(to: all.blocks.filter(factored.contains)), options: KFACOptions(fisherType: fisherType)).dense()
    let ranges = Self.ranges(all)
    let kroneckerIndices = all.blocks.filter(factored.contains).flatMap { Array(ranges[$0]!) }

    for treatment in OtherParameters.allCases {
      let options = KFACOptions(fisherType: fisherType, otherParameters: treatment)
      let mixed = try KFACOperator(all, options: options)
      // The expected matrix: KFAC on the Kronecker blocks, the exact blocks' part elsewhere.
      var expected = NDArray<Double>(zeros: [all.dimension, all.dimension])
      for (i, gi) in kroneckerIndices.enumerated() {
        for (j, gj) in kroneckerIndices.enumerated() { expected[gi, gj] = kronecker[i, j] }
      }
      for block in others {
        for i in ranges[block]! {
          for j in ranges[block]! where treatment == .exactBlock || (treatment == .diagonal && i == j) { expected[i, j] = exact[i, j] }
        }
      }
      let dense = try mixed.dense()
      expectClose(dense, expected, rtol: 1e-10, atolFactor: 1e-12, "\(fisherType) \(treatment)")
      // Closed forms agree with the dense matrix.
      let trace = (0..<all.dimension).reduce(0.0) { $0 + dense[$1, $1] }
      #expect(Swift.abs(try mixed.trace() - trace) <= 1e-10 * Swift.abs(trace), "\(treatment) trace")
      expectClose(try mixed.diagonal(), NDArray((0..<all.dimension).map { dense[$0, $0] }), rtol: 1e-10, "\(treatment) diagonal")
      #expect(Swift.abs(try mixed.frobeniusNorm() - dense.norm()) <= 1e-10 * dense.norm(), "\(treatment) Frobenius norm")
      let note = try #require(mixed.otherParametersNote)
      #expect(note.contains("\(others.count) parameter blocks") && note.contains(otherNames.last!) && !note.contains("\n"), "\(note)")
      guard name == "encoder_classifier" else { continue }
      // EKFAC's mixed operator holds the same other blocks.
      let ekfac = try EKFACOperator(all, options: options).dense()
      for block in others {
        let indices = Array(ranges[block]!)
        expectClose(T.submatrix(ekfac, indices), T.submatrix(expected, indices), rtol: 1e-10, atolFactor: 1e-12, "EKFAC \(treatment)")
      }
      // The mixed operator inverts (the other blocks as (M + δI)⁻¹): inverse × (M + δI) = I.
      let inverse = try mixed.inverse(damping: 1e-3).dense()
      var damped = dense
      for i in 0..<all.dimension { damped[i, i] += 1e-3 }
      expectClose(matmul(inverse, damped), NDArray.identity(all.dimension), rtol: 1e-8, atolFactor: 1e-8, "\(treatment) inverse")
    }
    // Without the option the other blocks are refused.
    #expect(throws: CurvatureError.self) { _ = try KFACOperator(all, options: KFACOptions(fisherType: fisherType)) }
  }
}
