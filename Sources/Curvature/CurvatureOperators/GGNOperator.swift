import CurvatureNumerics
import CurvatureAutodiff

/// The generalized Gauss-Newton matrix `G = Jᵀ H J` of a model, loss and data set:
///
/// ```
/// G = (1/R) Σ_t J_tᵀ (∂²ℓ_t/∂f_t²) J_t
/// ```
///
/// with `J_t` the Jacobian of term `t`'s outputs with respect to the selected parameters
/// (a term: a data point, or a (data point, position) pair of per-position cross-entropy;
/// an ignored target's block is zero).
/// A product costs, per batch and column, one forward pass carrying a tangent (`J v`), the
/// loss Hessian in closed form, and one reverse pass (`Jᵀ u`).
///
/// ```swift
/// let ggn = GGNOperator(try CurvatureProblem(model: model, loss: loss, data: data))
/// let gv = try ggn.apply(v)
/// let top = try lanczosEigenvalues(ggn, k: 5)     // any solver or estimator
/// ```
public struct GGNOperator<Scalar: BLASScalar>: CurvatureMatrixOperator {
  /// The model, loss and data.
  public let problem: CurvatureProblem<Scalar>

  /// The GGN of a curvature problem.
  public init(_ problem: CurvatureProblem<Scalar>) { self.problem = problem }

  /// `G X` for `X` of shape `[P, k]`.
  /// - Throws: `CurvatureError` for invalid data, or `.nonFinite` naming the pass (network
  ///   outputs, `J v`, the product) where a NaN or infinity appeared; what reading the data
  ///   throws.
  /// - Complexity: `k` forward-with-tangent and reverse passes over the data; for a
  ///   `Sequential` of Linear, activation and Flatten layers, one forward pass per batch
  ///   carrying the `k` tangents together (one gemm per layer for all columns), equal to
  ///   the column-by-column products up to rounding, whose nonlinear forward pass is kept
  ///   for further products on the same data (`CurvatureProblem.cachesLinearizations`).
  ///   For a `GraphModel` and `k > 1`, one recorded forward pass per batch shared by the
  ///   columns (a tangent and a reverse pass each), the same bits as column by column.
  ///   Large batches run as row chunks on `CurvatureProblem.threads` threads, with the
  ///   same bits for every thread count.
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    let scale = 1 / Scalar(problem.reductionFactor)
    if x.rank == 2, let sequential = problem.batchedSequential {
      return try problem.sumOverBatches(x, sequential: sequential, stage: "GGN product") { batch, pass, jv, k in
        problem.mapColumns(jv, columns: k) { problem.loss.hessianProduct(pass.output, $0, targets: batch.targets) * scale }
      }
    }
    if x.rank == 2, x.shape[1] > 1, problem.recordsGraphLinearization {
      return try problem.sumOverRecordedBatches(x, stage: "GGN product", prepare: { _, _ in () }) { _, batch, output, jv in
        problem.loss.hessianProduct(output, jv, targets: batch.targets) * scale
      }
    }
    let columns = (0..<x.shape[1]).map { column(x, $0) }
    return try problem.sumOverBatches(columns: columns.count, stage: "GGN product") { batch, j in
      let (parameters, output, jv) = try problem.linearizedForward(batch, tangent: problem.splitColumn(columns[j]))
      let u = problem.loss.hessianProduct(output.value, jv, targets: batch.targets) * scale
      return problem.transposedJacobianProduct(parameters, output: output, cotangent: u)
    }
  }
}
