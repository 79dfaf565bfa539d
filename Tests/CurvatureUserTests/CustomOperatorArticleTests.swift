import Curvature
import Foundation
import Testing

/// The article's operator: the second-difference matrix tridiag(−1, 2, −1), never stored.
struct SecondDifference: LinearOperator {
  let size: Int

  var rowCount: Int { size }
  var columnCount: Int { size }
  var isSymmetric: Bool { true }

  /// `A X` for a block of columns `X: [size, k]`, all columns at once.
  func apply(matrix x: NDArray<Double>) throws -> NDArray<Double> {
    NDArray(shape: x.shape) { index in
      let (i, j) = (index[0], index[1])
      var value = 2 * x[i, j]
      if i > 0 { value -= x[i - 1, j] }
      if i + 1 < size { value -= x[i + 1, j] }
      return value
    }
  }

  func applyTranspose(matrix x: NDArray<Double>) throws -> NDArray<Double> {
    try apply(matrix: x)
  }

  /// Cheaper than the default, which would form the matrix.
  func trace() throws -> Double { Double(2 * size) }
}

/// The snippets of the article "Your own operator" (YourOwnOperator.md).
@Suite struct CustomOperatorArticleTests {
  @Test func aMatrixFreeOperatorWorksEverywhere() throws {
    let a = SecondDifference(size: 50)
    let b = NDArray<Double>(repeating: 1, shape: [50])

    let x = try conjugateGradient(a, b, options: ConjugateGradientOptions(relativeTolerance: 1e-12))
      .requireConverged()
    let top = try lanczosEigenpairs(a, options: LanczosOptions(count: 2))
    let shifted = a.damped(by: 1)          // composes like any operator
    let dense = try a.dense()              // the default: products with unit vectors

    #expect((try a.apply(x) - b).norm() <= 1e-10 * b.norm())
    // Its eigenvalues are 2 − 2 cos(kπ / (n + 1)).
    for (k, value) in zip([50, 49], top.eigenvalues.scalars) {
      #expect(abs(value - (2 - 2 * cos(Double(k) * Double.pi / 51))) <= 1e-10)
    }
    #expect(try shifted.trace() == 150)
    #expect(dense[0, 0] == 2 && dense[0, 1] == -1 && dense[0, 2] == 0)
    #expect(try a.trace() == dense.trace())
  }
}
