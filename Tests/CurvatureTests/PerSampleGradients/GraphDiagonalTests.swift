import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// Exact GGN, empirical Fisher and Monte Carlo Fisher diagonals of graph models (seeded one
/// position at a time, per-data-point gradients from the nodes) against the diagonals of
/// the dense matrices: curvlinops' (ggn.npy, ef.npy of Fixtures/Graph) and the operators'
/// own products, in Double (≤ 1e-10 of the largest entry) and Float.
@Suite struct GraphDiagonalTests {
  static func expectDiagonal<T: BLASScalar>(
    _ actual: NDArray<T>, _ expected: NDArray<T>, tolerance: T, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let scale = Swift.max(expected.scalars.map { Swift.abs($0) }.max() ?? 1, T.leastNormalMagnitude)
    let worst = zip(actual.scalars, expected.scalars).map { Swift.abs($0 - $1) }.max() ?? 0
    #expect(actual.shape == expected.shape && worst <= tolerance * scale, "\(what): max error \(worst) of scale \(scale)", sourceLocation: sourceLocation)
  }

  @Test(arguments: PerSampleSupport.graphNames)
  func exactDiagonalsMatchDenseMatrices(_ name: String) throws {
    let problem = try PerSampleSupport.graphProblem(name, as: Double.self, batchSize: 2)
    let folder = PerSampleSupport.graphDirectory.appendingPathComponent(name)
    let ggnFile = try NPYArray(contentsOf: folder.appendingPathComponent("ggn.npy")).floats(as: Double.self)
    let efFile = try NPYArray(contentsOf: folder.appendingPathComponent("ef.npy")).floats(as: Double.self)
    let ggn = try GGNOperator(problem).diagonal()
    Self.expectDiagonal(ggn, ggnFile.diagonal(), tolerance: 1e-10, "\(name) GGN diagonal vs curvlinops")
    let ef = try EmpiricalFisherOperator(problem).diagonal()
    Self.expectDiagonal(ef, try EmpiricalFisherOperator(problem).diagonalByUnitProducts(), tolerance: 1e-10, "\(name) EF vs unit products")
    // curvlinops counts ignored targets in R (see EmpiricalFisherOperator); the others agree.
    if name != "per_token_ce_ignore" {
      Self.expectDiagonal(ef, efFile.diagonal(), tolerance: 1e-10, "\(name) EF diagonal vs curvlinops")
    }
    let mcOperator = try MonteCarloFisherOperator(problem, mcSamples: 2, seed: 7)
    let mc = try mcOperator.diagonal()
    Self.expectDiagonal(mc, try mcOperator.diagonalByUnitProducts(), tolerance: 1e-10, "\(name) MC diagonal vs unit products")
    if problem.dimension <= 250 {
      Self.expectDiagonal(ggn, try GGNOperator(problem).dense().diagonal(), tolerance: 1e-10, "\(name) GGN diagonal vs dense")
    }
    // Float: the same within single precision.
    let single = try PerSampleSupport.graphProblem(name, as: Float.self)
    Self.expectDiagonal(try GGNOperator(single).diagonal(), ggnFile.diagonal().converted(to: Float.self), tolerance: 1e-4, "\(name) Float GGN")
    Self.expectDiagonal(
      try EmpiricalFisherOperator(single).diagonal(), ef.converted(to: Float.self), tolerance: 1e-4, "\(name) Float EF")
  }

  @Test func selectedBlocksAndTraces() throws {
    let full = try PerSampleSupport.graphProblem("nanogpt", as: Double.self)
    let blocks = [0, 2, full.model.parameterSpecs.count - 1]
    let problem = try CurvatureProblem(model: full.model, loss: full.loss, data: full.data, batchSize: 2, blocks: blocks)
    let ggn = GGNOperator(problem)
    Self.expectDiagonal(try ggn.diagonal(), try ggn.dense().diagonal(), tolerance: 1e-10, "nanogpt selected blocks")
    assertClose(try ggn.trace(), try ggn.dense().diagonal().sum(), rtol: 1e-10, "nanogpt trace")
  }

  @Test func unitProductDiagonalOfAnyOperator() throws {
    let a = RandomMatrices.spd(5, seed: 3, Double.self)
    let op = DenseOperator(a)
    assertClose(try op.diagonalByUnitProducts(blockSize: 2), a.diagonal(), rtol: 1e-14)
    var events = [Int]()
    _ = try op.diagonalByUnitProducts(blockSize: 2) { events.append($0.completed) }
    #expect(events == [2, 4, 5])
    #expect(throws: LinearOperatorError.self) { try DenseOperator(NDArray<Double>(zeros: [2, 3])).diagonalByUnitProducts() }
    #expect(throws: LinearOperatorError.self) { try op.diagonalByUnitProducts(blockSize: 0) }
  }
}
