import Curvature
import CurvatureTestSupport
import Testing

/// `dense(blockSize:task:onProgress:)`: the matrix from products with blocks of identity
/// columns, one product per block, with a progress report per block.
@Suite struct LinearOperatorDenseTests {
  /// An operator that forwards to a dense matrix and counts its products and their widths.
  final class Counting<T: BLASScalar>: LinearOperator, @unchecked Sendable {
    typealias Scalar = T
    let matrix: NDArray<T>
    var widths: [Int] = []
    init(_ matrix: NDArray<T>) { self.matrix = matrix }
    var rowCount: Int { matrix.shape[0] }
    var columnCount: Int { matrix.shape[1] }
    var isSymmetric: Bool { false }
    func apply(matrix x: NDArray<T>) throws -> NDArray<T> {
      widths.append(x.shape[1])
      return try DenseOperator(matrix).apply(x)
    }
    func applyTranspose(matrix x: NDArray<T>) throws -> NDArray<T> { try DenseOperator(matrix).applyTranspose(x) }
  }

  func blocksAndProgress<T: OperatorTestScalar>(_: T.Type) throws {
    let a: NDArray<T> = RandomMatrices.gaussian(5, 7, seed: 3)
    let counting = Counting(a)
    var events: [ProgressEvent] = []
    let dense = try counting.dense(blockSize: 3, task: "probe") { events.append($0) }
    // Column j is A eⱼ exactly: the products of a dense operator copy A's entries.
    #expect(dense.shape == [5, 7])
    #expect(dense.scalars == a.scalars)
    #expect(counting.widths == [3, 3, 1])
    #expect(events.map(\.completed) == [0, 3, 6, 7])
    #expect(events.allSatisfy { $0.total == 7 && $0.task == "probe" })
    // The default dense() is the same loop (blocks of 64): one product here.
    let again = Counting(a)
    #expect(try again.dense().scalars == a.scalars)
    #expect(again.widths == [7])
    // No progress handler, no columns, and a bad block size.
    #expect(try Counting(a).dense(onProgress: nil).scalars == a.scalars)
    let empty = Counting(NDArray<T>(zeros: [2, 0]))
    #expect(try empty.dense(onProgress: nil).shape == [2, 0])
    #expect(empty.widths.isEmpty)
    #expect(throws: LinearOperatorError.self) { try Counting(a).dense(blockSize: 0, onProgress: nil) }
  }

  @Test func denseUsesOneProductPerBlockAndReportsEachBlock() throws {
    try blocksAndProgress(Float.self)
    try blocksAndProgress(Double.self)
  }

  func matchesStructure<T: OperatorTestScalar>(_: T.Type) throws {
    // For a structured operator the products give its structural dense matrix.
    let b: NDArray<T> = RandomMatrices.gaussian(3, 3, seed: 5), c: NDArray<T> = RandomMatrices.gaussian(4, 4, seed: 6)
    let k = kronecker(DenseOperator(b), DenseOperator(c)).damped(by: 2)
    assertClose(try k.dense(blockSize: 5, onProgress: nil), try k.dense(), rtol: T.self == Float.self ? 1e-5 : 1e-12)
  }

  @Test func denseByProductsMatchesStructuredDense() throws {
    try matchesStructure(Float.self)
    try matchesStructure(Double.self)
  }
}
