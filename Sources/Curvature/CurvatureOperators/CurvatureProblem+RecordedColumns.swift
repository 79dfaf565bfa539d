import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// Products with several columns for graph models (issue 17): per batch (row chunk) one
// nonlinear forward pass, recorded with each node's differential (`replayedTangent`), then
// per column a tangent pass (`J v`) and a reverse pass (`Jᵀ u`) on the recorded graph,
// instead of one forward pass carrying a tangent per column. The (chunk, column) pairs run
// on `CurvatureProblem.threads` threads (a small batch is one chunk, so the columns are
// what both cores share). Each column is the same computation on the same arrays as the
// column-by-column product, added in the same order: the same bits.

/// A row chunk's recorded forward pass, shared by the columns of a product.
struct RecordedLinearization<Scalar: BLASScalar, Context: Sendable>: Sendable {
  /// The chunk.
  let batch: Batch<Scalar>
  /// Every parameter tensor (the selected blocks graph leaves).
  let parameters: [Tensor<Scalar>]
  /// The output, recorded with its nodes' differentials.
  let output: Tensor<Scalar>
  /// What the product needs of the outputs once per chunk (loss gradients, samples).
  let context: Context
}

extension CurvatureProblem {
  /// Whether products with several columns share a recorded forward pass per row chunk: for
  /// graph models, whose ops are the autodiff core's primitives (their differentials can be
  /// kept and replayed). A `FunctionModel`'s closure could handle tangents itself.
  var recordsGraphLinearization: Bool { model is GraphModel<Scalar> }

  /// `Σ_batches Jᵀ U` for the columns of `x` `[P, k]`, where `cotangent(context, batch,
  /// outputs, jv)` gives a column's output cotangent `U` from its output tangent `J v`, and
  /// `prepare(batch, outputs)` what the cotangents share per chunk.
  /// - Throws: `CurvatureError.nonFinite` naming the stage, column, data points and entry,
  ///   as the column-by-column products; errors of the data, `prepare` and `cotangent`.
  func sumOverRecordedBatches<Context: Sendable>(
    _ x: NDArray<Scalar>, stage: String,
    prepare: @Sendable (Batch<Scalar>, NDArray<Scalar>) throws -> Context,
    cotangent: @Sendable (Context, Batch<Scalar>, NDArray<Scalar>, NDArray<Scalar>) throws -> NDArray<Scalar>
  ) throws -> NDArray<Scalar> {
    let (p, k) = (dimension, x.shape[1])
    let columns = (0..<k).map { column(x, $0) }
    var sums = [NDArray<Scalar>](repeating: NDArray(zeros: [p]), count: k)
    let threads = chunkThreads
    for range in localBatchRanges {
      let batch = try checkedBatch(range)
      let parts = rowChunks(of: batch)
      let recorded = try inParallel(parts.count, threads: threads) { c in try recordLinearization(parts[c], prepare: prepare) }
      // Columns in groups (`columnGroup`): every (chunk, column) pair of a group is one
      // item, so a batch of one chunk still keeps every thread busy.
      let group = columnGroup(k, chunks: parts.count)
      try addColumns(of: parts, batch: range, group: group, threads: threads, stage: stage, into: &sums) { c, j in
        try recordedProduct(recorded[c], column: columns[j], cotangent: cotangent)
      }
    }
    try allReduce(&sums)
    for j in 0..<k {
      try requireFiniteColumn(sums[j].scalars, "\(stage), column \(j), sum over the batches (it overflows)")
    }
    return stackColumns(sums, rows: p)
  }

  /// The chunk's forward pass with the selected parameters as graph leaves, recorded with
  /// the nodes' differentials.
  /// - Throws: `CurvatureError.nonFinite` for non-finite outputs; what `prepare` throws.
  func recordLinearization<Context: Sendable>(
    _ batch: Batch<Scalar>, prepare: (Batch<Scalar>, NDArray<Scalar>) throws -> Context
  ) throws -> RecordedLinearization<Scalar, Context> {
    let parameters = parameterTensors { _, value in AutodiffMode.recording(true) { Tensor(value).requiringGradient() } }
    let output = AutodiffMode.recordingLinearization { model(batch.inputTensors, parameters: parameters) }
    try requireFiniteOutputs(output.value, batch)
    return RecordedLinearization(batch: batch, parameters: parameters, output: output, context: try prepare(batch, output.value))
  }

  /// `Jᵀ U(J v)` for one column `v` `[P]` on a recorded chunk.
  /// - Throws: `CurvatureError.nonFinite` when `J v` holds a NaN or infinity (the message
  ///   of `linearizedForward`); what `cotangent` throws.
  func recordedProduct<Context: Sendable>(
    _ recorded: RecordedLinearization<Scalar, Context>, column v: NDArray<Scalar>,
    cotangent: (Context, Batch<Scalar>, NDArray<Scalar>, NDArray<Scalar>) throws -> NDArray<Scalar>
  ) throws -> [Scalar] {
    let (batch, output) = (recorded.batch, recorded.output)
    let leaves = blocks.map { recorded.parameters[$0] }
    let tangent = replayedTangent(of: output, leaves: leaves, tangents: splitColumn(v).map { Tensor($0) })
    let jv = tangent?.value ?? NDArray(zeros: output.shape)
    if let bad = firstNonFinite(jv.scalars) {
      throw CurvatureError.nonFinite(
        "Jacobian-vector product (the tangent of the network outputs) for data points \(batch.range) holds \(jv.scalars[bad]) at element \(bad) (an overflow; the outputs are finite)")
    }
    let u = try cotangent(recorded.context, batch, output.value, jv)
    return transposedJacobianProduct(recorded.parameters, output: output, cotangent: u)
  }
}
