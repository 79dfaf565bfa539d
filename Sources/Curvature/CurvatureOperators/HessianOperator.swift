import CurvatureNumerics
import CurvatureAutodiff

/// The Hessian `∇²L(θ)` of the empirical risk over the selected parameters, by
/// forward-over-reverse Hessian-vector products of the autodiff core.
///
/// - Complexity: Per batch and column, about two gradient evaluations. For a `Sequential`
///   of Linear, activation and Flatten layers, one forward-over-reverse pass per batch
///   carries the `k` tangents together (one gemm per layer and rule for all columns),
///   equal to the column-by-column products up to rounding, and (for `k > 1`) the
///   nonlinear forward pass is kept for further products on the same data
///   (`CurvatureProblem.cachesLinearizations`). Large batches run as row chunks on
///   `CurvatureProblem.threads` threads, with the same bits for every thread count.
public struct HessianOperator<Scalar: BLASScalar>: CurvatureMatrixOperator {
  /// The model, loss and data.
  public let problem: CurvatureProblem<Scalar>

  /// The Hessian of a curvature problem.
  public init(_ problem: CurvatureProblem<Scalar>) { self.problem = problem }

  /// `H X` for `X` of shape `[P, k]`.
  /// - Throws: `CurvatureError` for invalid data or non-finite values.
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    let scale = 1 / Scalar(problem.reductionFactor)
    // One column takes the tape path: its bits are those of a graph model's Hessian (GraphModelTests).
    if x.rank == 2, x.shape[1] > 1, let sequential = problem.batchedSequential, SequentialLinearization.supportsHessian(sequential) {
      let loss = problem.loss
      return try problem.sumOverBatches(x, sequential: sequential, stage: "Hessian-vector product") { batch, pass, tangents, k in
        let shape = pass.output.shape
        let g = loss.outputLayout(loss.outputGradients(pass.output, batch.targets), outputShape: shape) * scale
        return try pass.hessianProducts(tangents, columns: k, blocks: problem.blocks, outputGradient: g) { jv in
          try problem.requireFiniteTangents(jv, pass.output, batch)
          return problem.mapColumns(jv, columns: k) { loss.hessianProduct(pass.output, $0, targets: batch.targets) * scale }
        }
      }
    }
    let columns = (0..<x.shape[1]).map { column(x, $0) }
    return try problem.sumOverBatches(columns: columns.count, stage: "Hessian-vector product") { batch, j in
      // Tensors of their own for every call: row chunks run concurrently.
      let constants = problem.model.parameters.map { Tensor($0) }
      let selected = problem.blocks.map { constants[$0] }
      let directions = problem.splitColumn(columns[j]).map { Tensor($0) }
      let product = AutodiffMode.recording(true) {
        hessianVectorProduct(at: selected, along: directions) { chosen in
          var parameters = constants
          for (position, block) in problem.blocks.enumerated() { parameters[block] = chosen[position] }
          let output = problem.model(batch.inputTensors, parameters: parameters)
          return problem.loss.summedTerms(output, batch.targets) * scale
        }
      }
      return problem.joinColumn(product.map(\.value))
    }
  }
}
