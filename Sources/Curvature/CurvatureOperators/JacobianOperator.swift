import CurvatureNumerics
import CurvatureLinearAlgebra

/// The Jacobian `J = ∂f/∂θ` of the network's outputs over the whole data set with respect
/// to the selected parameters, an `(N·O) × P` operator (`O` outputs per data point; rows in
/// data order, each data point's outputs row-major).
///
/// `apply` is forward mode (a Jacobian-vector product per batch), `applyTranspose` reverse
/// mode (a vector-Jacobian product per batch); `transposed()` gives `Jᵀ`.
public struct JacobianOperator<Scalar: BLASScalar>: LinearOperator {
  /// The model and data (the loss is not used).
  public let problem: CurvatureProblem<Scalar>

  /// The Jacobian of a curvature problem's network on its data.
  public init(_ problem: CurvatureProblem<Scalar>) { self.problem = problem }

  /// Outputs per data point.
  public var outputsPerPoint: Int { problem.sampleOutputShape.reduce(1, *) }
  public var rowCount: Int { problem.data.count * outputsPerPoint }
  public var columnCount: Int { problem.dimension }
  public var isSymmetric: Bool { false }

  /// `J X` for `X` of shape `[P, k]`, giving `[N·O, k]`.
  /// - Throws: `CurvatureError.nonFinite` for non-finite outputs or products (`J v`), naming
  ///   the pass and entry; what reading the data throws.
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    let k = x.shape[1], o = outputsPerPoint
    let columns = (0..<k).map { column(x, $0) }
    var result = NDArray<Scalar>(zeros: [rowCount, k])
    for range in problem.localBatchRanges {
      let batch = try problem.data.batch(range)
      for j in 0..<k {
        let (_, _, jv) = try problem.linearizedForward(batch, tangent: problem.splitColumn(columns[j]))
        for (i, value) in jv.scalars.enumerated() { result.scalars[(range.lowerBound * o + i) * k + j] = value }
      }
    }
    // Every rank fills the rows of its shard and leaves the others zero.
    try problem.allReduce(&result)
    return result
  }

  /// `Jᵀ U` for `U` of shape `[N·O, k]`, giving `[P, k]`.
  /// - Throws: `CurvatureError.nonFinite` for non-finite outputs or products, naming the
  ///   pass and entry; what reading the data throws.
  public func applyTranspose(matrix u: NDArray<Scalar>) throws -> NDArray<Scalar> {
    let k = u.shape[1], o = outputsPerPoint
    let columns = (0..<k).map { column(u, $0) }
    var sums = [NDArray<Scalar>](repeating: NDArray(zeros: [columnCount]), count: k)
    for range in problem.localBatchRanges {
      let batch = try problem.data.batch(range)
      let (parameters, output, _) = try problem.linearizedForward(batch, tangent: nil)
      for j in 0..<k {
        let slice = NDArray(shape: output.shape, scalars: Array(columns[j].scalars[(range.lowerBound * o)..<(range.upperBound * o)]))
        let product = problem.transposedJacobianProduct(parameters, output: output, cotangent: slice)
        try problem.requireFiniteColumn(product, "transposed Jacobian product, column \(j), data points \(range)")
        sums[j].add(NDArray(product))
      }
    }
    try problem.allReduce(&sums)
    for j in 0..<k {
      try problem.requireFiniteColumn(sums[j].scalars, "transposed Jacobian product, column \(j), sum over the batches (it overflows)")
    }
    return stackColumns(sums, rows: columnCount)
  }
}
