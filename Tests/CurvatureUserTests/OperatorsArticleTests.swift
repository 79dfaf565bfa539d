import Curvature
import Testing

/// The snippets of the article "Operators and composition" (OperatorsAndComposition.md).
@Suite struct OperatorsArticleTests {
  @Test func compositionEqualsTheDenseMatrices() throws {
    let a = DenseOperator(NDArray<Double>(rows: [[4, 1, 0], [1, 3, 1], [0, 1, 2]]))
    let d = DiagonalOperator(NDArray<Double>([1, 2, 3]))

    let sum = a + d                     // SumOperator: (A + D) x = A x + D x
    let difference = a - d
    let product = a * d                 // ProductOperator: A (D x)
    let scaled = 2.0 * a                // ScaledOperator
    let damped = a.damped(by: 0.1)      // A + 0.1 I
    let transposed = product.transposed()
    let k = kronecker(a, d)             // 9×9, never formed
    let blocks = blockDiagonal(a, d)    // 6×6

    let x = NDArray<Double>([1, -1, 2])
    let y = try sum.apply(x)                                         // [3]
    let columns = try sum.apply(NDArray(rows: [[1, 0], [0, 1], [0, 0]]))   // [3, 2]

    let traceOfK = try k.trace()        // trace(A) · trace(D), from the structure
    let inverseOfK = try k.inverse()    // A⁻¹ ⊗ D⁻¹, still structured
    let corner = try a.principalSubmatrix([0, 2])

    // Each composition equals the same composition of dense matrices.
    let denseA = try a.dense(), denseD = try d.dense()
    #expect(isClose(try sum.dense(), denseA + denseD, tolerance: 1e-14))
    #expect(isClose(try difference.dense(), denseA - denseD, tolerance: 1e-14))
    #expect(isClose(try product.dense(), matmul(denseA, denseD), tolerance: 1e-14))
    #expect(isClose(try scaled.dense(), 2 * denseA, tolerance: 1e-14))
    #expect(isClose(try damped.dense(), denseA + 0.1 * NDArray.identity(3), tolerance: 1e-14))
    #expect(isClose(try transposed.dense(), matmul(denseA, denseD).transposed(), tolerance: 1e-14))
    #expect(isClose(try k.dense(), kronecker(denseA, denseD), tolerance: 1e-14))
    #expect(try blocks.dense().shape == [6, 6])
    #expect(isClose(y, matvec(denseA + denseD, x), tolerance: 1e-14))
    #expect(columns.shape == [3, 2])
    #expect(abs(traceOfK - denseA.trace() * denseD.trace()) <= 1e-12)
    #expect(isClose(try inverseOfK.dense(), try kronecker(denseA, denseD).inverse(), tolerance: 1e-12))
    #expect(try corner.dense() == NDArray(rows: [[4, 0], [0, 2]]))
  }

  @Test func structuralQueriesAgreeWithTheDenseMatrix() throws {
    let a = DenseOperator(NDArray<Double>(rows: [[4, 1, 0], [1, 3, 1], [0, 1, 2]]))
    let d = DiagonalOperator(NDArray<Double>([1, 2, 3]))
    let k = kronecker(a, d)
    let (sign, logMagnitude) = try k.logDeterminant()
    let dense = try k.dense()
    let (denseSign, denseLog) = try dense.signAndLogDeterminant()
    #expect(sign == denseSign)
    #expect(abs(logMagnitude - denseLog) <= 1e-12)
    #expect(abs(try k.frobeniusNorm() - dense.norm()) <= 1e-12)
    #expect(isClose(try k.diagonal(), dense.diagonal(), tolerance: 1e-14))
    // A sum of several operators in one go.
    let many = SumOperator<Double>([a, d, IdentityOperator(size: 3)])
    #expect(isClose(try many.dense(), try a.dense() + (try d.dense()) + NDArray.identity(3), tolerance: 1e-14))
  }
}
