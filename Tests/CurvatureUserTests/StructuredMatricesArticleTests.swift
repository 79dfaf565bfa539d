import Curvature
import Foundation
import Testing

/// The snippets of the article "Structured matrices" (StructuredMatrices.md).
@Suite struct StructuredMatricesArticleTests {
  @Test func toeplitzSolvedThreeWays() throws {
    // A symmetric positive definite Toeplitz matrix: t_k = 1 / (1 + k²).
    let n = 200
    let t = try ToeplitzOperator<Double>(symmetric: (0..<n).map { k in 1 / Double(1 + k * k) })
    var rng = RandomGenerator(seed: 0)
    let b: NDArray<Double> = rng.normalArray(shape: [n])

    let y = try t.apply(b)                                        // O(n log n) by FFTs
    let direct = try LevinsonDurbin(column: t.column).solve(b)    // O(n²)
    let preconditioner = try CirculantOperator.preconditioner(for: t, .tChan)   // C⁻¹
    let plain = try conjugateGradient(t, b, options: ConjugateGradientOptions(relativeTolerance: 1e-10))
    let pcg = try conjugateGradient(t, b, preconditioner: preconditioner,
                                    options: ConjugateGradientOptions(relativeTolerance: 1e-10))

    let dense = try t.dense()
    #expect(isClose(y, matvec(dense, b), tolerance: 1e-12))
    #expect(isClose(direct, try dense.solve(b.reshaped([n, 1])).reshaped([n]), tolerance: 1e-9))
    #expect(isClose(try pcg.requireConverged(), direct, tolerance: 1e-8))
    #expect(pcg.iterations < plain.iterations)
  }

  @Test func twoLevelToeplitz() throws {
    // A BTTB matrix (2-D stationary covariance on a 6×5 grid) and its BCCB preconditioner.
    let bttb = try BTTBOperator<Double>(blockCount: 6, blockSize: 5) { k1, k2 in
      exp(-0.5 * Double(k1 * k1 + k2 * k2))
    }
    let preconditioner = try BCCBOperator.preconditioner(for: bttb, .tChan)
    var rng = RandomGenerator(seed: 1)
    let b: NDArray<Double> = rng.normalArray(shape: [30])
    let x = try conjugateGradient(bttb.damped(by: 1e-3), b, preconditioner: preconditioner,
                                  options: ConjugateGradientOptions(relativeTolerance: 1e-10))
      .requireConverged()
    #expect((matvec(try bttb.damped(by: 1e-3).dense(), x) - b).norm() <= 1e-8 * b.norm())
  }
}
