import CurvatureNumerics

/// The empirical Fisher (uncentered gradient covariance) with curvlinops' normalization:
///
/// ```
/// F_emp = (1/R) Σ_t ∇_θ ℓ_t ∇_θ ℓ_tᵀ,   ∇_θ ℓ_t = J_tᵀ g_t,  g_t = ∂ℓ(f_t, y_t)/∂f_t
/// ```
///
/// (each term's own gradient, without the 1/R of the loss; as curvlinops'
/// `EFLinearOperator`). A term of per-position cross-entropy (outputs `[N, C, d1, …]`) is
/// one (data point, position) pair, as curvlinops and BackPACK treat per-token losses; an
/// ignored target adds nothing (curvlinops would count it in `R` and rescale the others). A product needs no per-example gradients: with `a_t = g_tᵀ J_t v`
/// from one forward pass, `F v = Jᵀ (a ⊙ g) / R` is one reverse pass.
public struct EmpiricalFisherOperator<Scalar: BLASScalar>: CurvatureMatrixOperator {
  /// The model, loss and data.
  public let problem: CurvatureProblem<Scalar>

  /// The empirical Fisher of a curvature problem.
  public init(_ problem: CurvatureProblem<Scalar>) { self.problem = problem }

  /// `F X` for `X` of shape `[P, k]`.
  /// - Throws: `CurvatureError` for invalid data or non-finite values.
  /// - Complexity: For a `Sequential` of Linear, activation and Flatten layers, one
  ///   forward pass per batch carries the `k` tangents together and is kept for further
  ///   products (as the GGN); for a `GraphModel` and `k > 1`, one recorded forward pass
  ///   per batch shared by the columns (as the GGN).
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    if x.rank == 2, let sequential = problem.batchedSequential {
      let scale = 1 / Scalar(problem.reductionFactor)
      return try problem.sumOverBatches(x, sequential: sequential, stage: "empirical Fisher product") { batch, pass, jv, k in
        let (loss, shape) = (problem.loss, pass.output.shape)
        let g = loss.outputGradients(pass.output, batch.targets)
        return problem.mapColumns(jv, columns: k) {
          loss.outputLayout(gradientOuterProduct(g, loss.termRows($0, outputShape: shape), scale: scale), outputShape: shape)
        }
      }
    }
    if x.rank == 2, x.shape[1] > 1, problem.recordsGraphLinearization {
      let (loss, scale) = (problem.loss, 1 / Scalar(problem.reductionFactor))
      return try problem.sumOverRecordedBatches(
        x, stage: "empirical Fisher product", prepare: { batch, output in loss.outputGradients(output, batch.targets) }
      ) { g, _, output, jv in
        loss.outputLayout(gradientOuterProduct(g, loss.termRows(jv, outputShape: output.shape), scale: scale), outputShape: output.shape)
      }
    }
    let columns = (0..<x.shape[1]).map { column(x, $0) }
    return try problem.sumOverBatches(columns: columns.count, stage: "empirical Fisher product") { batch, j in
      let (parameters, output, jv) = try problem.linearizedForward(batch, tangent: problem.splitColumn(columns[j]))
      let loss = problem.loss
      let g = loss.outputGradients(output.value, batch.targets)
      let u = gradientOuterProduct(g, loss.termRows(jv, outputShape: output.shape), scale: 1 / Scalar(problem.reductionFactor))
      return problem.transposedJacobianProduct(parameters, output: output, cotangent: loss.outputLayout(u, outputShape: output.shape))
    }
  }
}

/// The Monte Carlo Fisher: the empirical Fisher at labels drawn from the model's predictive
/// distribution, `mcSamples` per term, averaged (curvlinops' `FisherMCLinearOperator`):
///
/// ```
/// F_mc = (1/(R M)) Σ_t Σ_m J_tᵀ ĝ_tm ĝ_tmᵀ J_t,   ĝ_tm = ∂ℓ(f_t, ŷ_tm)/∂f_t
/// ```
///
/// It converges to the GGN as `mcSamples` grows (`E[ĝ ĝᵀ]` is the loss Hessian for these
/// losses). Samples are fixed by `seed` and drawn per data point, so the operator is one
/// fixed symmetric matrix, the same for every batch size. Per-position cross-entropy draws
/// one label per (data point, position) term; an ignored target draws none.
public struct MonteCarloFisherOperator<Scalar: BLASScalar>: CurvatureMatrixOperator {
  /// The model, loss and data.
  public let problem: CurvatureProblem<Scalar>
  /// Samples per loss term.
  public let mcSamples: Int
  /// The sampling seed.
  public let seed: UInt64

  /// The Monte Carlo Fisher of a curvature problem.
  /// - Throws: `CurvatureError.invalidArgument` when `mcSamples < 1`.
  public init(_ problem: CurvatureProblem<Scalar>, mcSamples: Int = 1, seed: UInt64 = 0) throws {
    guard mcSamples >= 1 else { throw CurvatureError.invalidArgument("mcSamples must be at least 1, got \(mcSamples)") }
    self.problem = problem
    self.mcSamples = mcSamples
    self.seed = seed
  }

  /// `F X` for `X` of shape `[P, k]`.
  /// - Throws: `CurvatureError` for invalid data or non-finite values.
  /// - Complexity: For a `Sequential` of Linear, activation and Flatten layers, one
  ///   forward pass per batch carries the `k` tangents together and is kept for further
  ///   products (as the GGN); the samples do not depend on `k`. For a `GraphModel` and
  ///   `k > 1`, one recorded forward pass and one draw per batch shared by the columns.
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    let scale = 1 / (Scalar(problem.reductionFactor) * Scalar(mcSamples))
    if x.rank == 2, let sequential = problem.batchedSequential {
      return try problem.sumOverBatches(x, sequential: sequential, stage: "Monte Carlo Fisher product") { batch, pass, jv, k in
        let (loss, shape) = (problem.loss, pass.output.shape)
        let samples = loss.sampledGradients(
          pass.output, targets: batch.targets, samples: mcSamples, seed: seed, dataIndices: problem.termDataIndices(batch.range))
        return problem.mapColumns(jv, columns: k) { jvColumn in
          loss.outputLayout(sampledOuterProducts(samples, loss.termRows(jvColumn, outputShape: shape), scale: scale), outputShape: shape)
        }
      }
    }
    if x.rank == 2, x.shape[1] > 1, problem.recordsGraphLinearization {
      let (loss, samples, seed) = (problem.loss, mcSamples, seed)
      return try problem.sumOverRecordedBatches(
        x, stage: "Monte Carlo Fisher product",
        prepare: { batch, output in
          loss.sampledGradients(output, targets: batch.targets, samples: samples, seed: seed, dataIndices: problem.termDataIndices(batch.range))
        }
      ) { sampled, _, output, jv in
        loss.outputLayout(sampledOuterProducts(sampled, loss.termRows(jv, outputShape: output.shape), scale: scale), outputShape: output.shape)
      }
    }
    let columns = (0..<x.shape[1]).map { column(x, $0) }
    return try problem.sumOverBatches(columns: columns.count, stage: "Monte Carlo Fisher product") { batch, j in
      let (parameters, output, jv) = try problem.linearizedForward(batch, tangent: problem.splitColumn(columns[j]))
      let loss = problem.loss
      let samples = loss.sampledGradients(
        output.value, targets: batch.targets, samples: mcSamples, seed: seed, dataIndices: problem.termDataIndices(batch.range))
      let u = sampledOuterProducts(samples, loss.termRows(jv, outputShape: output.shape), scale: scale)
      return problem.transposedJacobianProduct(parameters, output: output, cotangent: loss.outputLayout(u, outputShape: output.shape))
    }
  }
}

/// `Σ_m scale · (ĝ_tmᵀ (Jv)_t) ĝ_tm` for every term row, from samples `[M, T, C]` and `J v`
/// as term rows `[T, C]`.
func sampledOuterProducts<T: BLASScalar>(_ samples: NDArray<T>, _ jvRows: NDArray<T>, scale: T) -> NDArray<T> {
  let rows = Array(samples.shape.dropFirst())
  let per = rows.reduce(1, *)
  var u = NDArray<T>(zeros: rows)
  for m in 0..<samples.shape[0] {
    let g = NDArray(shape: rows, scalars: Array(samples.scalars[(m * per)..<((m + 1) * per)]))
    u.add(gradientOuterProduct(g, jvRows, scale: scale))
  }
  return u
}

/// `scale · (g_tᵀ (Jv)_t) g_t` for every term row: the output cotangent of `Σ_t g_t g_tᵀ J v`.
func gradientOuterProduct<T: BLASScalar>(_ g: NDArray<T>, _ jv: NDArray<T>, scale: T) -> NDArray<T> {
  let a = NDArray.binary(.multiply, g, jv.reshaped(g.shape)).reduced(.sum, axes: [1], keepingDimensions: true)
  return NDArray.binary(.multiply, g, a) * scale
}
