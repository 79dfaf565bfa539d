import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// The passes every curvature operator is built from: loop over batches (each loaded once)
// and columns, a forward pass carrying a tangent (giving J v), and a reverse pass from
// output cotangents (giving Jᵀ u).

extension CurvatureProblem {
  /// `Σ_batches body(batch, j)` for every column `j < k`, as `[dimension, k]`.
  func sumOverBatches(
    columns k: Int, _ body: (Batch<Scalar>, Int) throws -> [Scalar]
  ) throws -> NDArray<Scalar> {
    let p = dimension
    var columns = [NDArray<Scalar>](repeating: NDArray(zeros: [p]), count: k)
    for range in data.batchRanges(size: batchSize) {
      let batch = try checkedBatch(range)
      for j in 0..<k {
        columns[j].add(NDArray(try body(batch, j)))
      }
    }
    return stackColumns(columns, rows: p)
  }

  /// A forward pass with the selected parameters carrying the tangent `v` (one block each)
  /// and recorded for a reverse pass.
  /// - Returns: The parameter tensors (selected ones on the graph), the output, and `J v`.
  func linearizedForward(
    _ batch: Batch<Scalar>, tangent v: [NDArray<Scalar>]?
  ) throws -> (parameters: [Tensor<Scalar>], output: Tensor<Scalar>, jv: NDArray<Scalar>) {
    let parameters = parameterTensors { i, value in
      let t = Tensor(value)
      return (v.map { t.withTangent(Tensor($0[i])) } ?? t).requiringGradient()
    }
    let output = AutodiffMode.recording(true) {
      AutodiffMode.with(recordsTangentOperations: false) { model(Tensor(batch.inputs), parameters: parameters) }
    }
    try requireFinite(output.value, "network outputs for data points \(batch.range)")
    let jv = output.tangent?.value ?? NDArray(zeros: output.shape)
    return (parameters, output, jv)
  }

  /// `Jᵀ u` for the selected blocks, through the graph recorded by `linearizedForward`,
  /// ignoring the tangents the saved tensors carry.
  func transposedJacobianProduct(
    _ parameters: [Tensor<Scalar>], output: Tensor<Scalar>, cotangent u: NDArray<Scalar>
  ) -> [Scalar] {
    let selected = blocks.map { parameters[$0] }
    let grads = AutodiffMode.with(propagatesTangents: false) {
      gradients(of: [output], seeds: [Tensor(u.reshaped(output.shape))], wrt: selected)
    }
    return joinColumn(grads.map(\.value))
  }
}

/// Column `j` of an `[n, k]` array (or the vector itself when rank 1).
func column<T: BLASScalar>(_ x: NDArray<T>, _ j: Int) -> NDArray<T> {
  if x.rank == 1 { return x }
  let (n, k) = (x.shape[0], x.shape[1])
  if k == 1 { return x.reshaped([n]) }
  return x.gathered((0..<n).map { $0 * k + j }, shape: [n])
}

/// Columns `[n]` side by side as `[n, k]` (`[n, 0]` when there are none).
func stackColumns<T: BLASScalar>(_ columns: [NDArray<T>], rows n: Int) -> NDArray<T> {
  let k = columns.count
  if k == 1 { return columns[0].reshaped([n, 1]) }
  var result = NDArray<T>(zeros: [n, k])
  for (j, c) in columns.enumerated() {
    for i in 0..<n { result.scalars[i * k + j] = c.scalars[i] }
  }
  return result
}
