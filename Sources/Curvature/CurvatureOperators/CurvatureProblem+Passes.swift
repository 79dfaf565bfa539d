import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// The passes every curvature operator is built from: loop over batches (each loaded once)
// and columns, a forward pass carrying a tangent (giving J v), and a reverse pass from
// output cotangents (giving Jᵀ u).

extension CurvatureProblem {
  /// `Σ_batches body(batch, j)` for every column `j < k`, as `[dimension, k]`, where
  /// `body` may see a batch's row chunks instead of the batch, concurrently (it must share
  /// no mutable state between calls).
  /// - Parameter stage: The product's name in errors (`"GGN product"`): every batch's
  ///   contribution and the sum are checked for NaN and infinities.
  /// - Throws: `CurvatureError.nonFinite` naming the stage, data points and entry.
  func sumOverBatches(
    columns k: Int, stage: String = "curvature product", _ body: @Sendable (Batch<Scalar>, Int) throws -> [Scalar]
  ) throws -> NDArray<Scalar> {
    let p = dimension
    var columns = [NDArray<Scalar>](repeating: NDArray(zeros: [p]), count: k)
    for range in localBatchRanges {
      let batch = try checkedBatch(range)
      // Row chunks in parallel, added in chunk order (`CurvatureProblem+RowChunks.swift`);
      // for several columns and a model whose passes share no state, the (chunk, column)
      // pairs of a group of columns in parallel, so a batch of one chunk still uses every
      // thread. Each column's sum is the same either way.
      let parts = rowChunks(of: batch)
      let group = splitsBatches ? columnGroup(k, chunks: parts.count) : 1
      try addColumns(of: parts, batch: range, group: group, threads: chunkThreads, stage: stage, into: &columns) { c, j in
        try body(parts[c], j)
      }
    }
    try allReduce(&columns)
    for j in 0..<k {
      try requireFiniteColumn(columns[j].scalars, "\(stage), column \(j), sum over the batches (it overflows)")
    }
    return stackColumns(columns, rows: p)
  }

  /// Adds one batch's contributions to the columns `sums`: the (chunk, column) pairs of
  /// each group of `group` columns run together on `threads` threads, every contribution
  /// and every column's sum over the chunks is checked, and a column's chunks are added in
  /// chunk order, so the sums have the same bits for any thread count.
  /// - Parameters:
  ///   - parts: The batch's row chunks.
  ///   - batch: The batch's data points (for errors).
  ///   - group: Columns whose pairs run together (`columnGroup`).
  ///   - threads: The threads the pairs run on.
  ///   - stage: The product's name in errors.
  ///   - sums: The columns, `[dimension]` each, added to.
  ///   - contribution: Chunk `c`'s contribution to column `j`, `[dimension]`.
  /// - Throws: `CurvatureError.nonFinite` naming the stage, column, data points and entry;
  ///   what `contribution` throws (the lowest pair's error).
  func addColumns(
    of parts: [Batch<Scalar>], batch: Range<Int>, group: Int, threads: Int, stage: String,
    into sums: inout [NDArray<Scalar>], _ contribution: @Sendable (_ c: Int, _ j: Int) throws -> [Scalar]
  ) throws {
    let k = sums.count
    for first in stride(from: 0, to: k, by: group) {
      let width = Swift.min(group, k - first)
      let contributions = try inParallel(width * parts.count, threads: threads) { item in
        let (j, c) = (first + item / parts.count, item % parts.count)
        let result = try contribution(c, j)
        try requireFiniteColumn(result, "\(stage), column \(j), data points \(parts[c].range)")
        return result
      }
      for offset in 0..<width {
        let j = first + offset
        var sum = NDArray(contributions[offset * parts.count])
        for c in 1..<parts.count { sum.add(NDArray(contributions[offset * parts.count + c])) }
        if parts.count > 1 { try requireFiniteColumn(sum.scalars, "\(stage), column \(j), data points \(batch)") }
        sums[j].add(sum)
      }
    }
  }

  /// Columns of a product of `k` columns whose (chunk, column) pairs run together: enough to
  /// keep every thread busy, with their results (`group · chunks` columns of `P`) within an
  /// eighth of the memory budget.
  func columnGroup(_ k: Int, chunks: Int) -> Int {
    let perColumn = Swift.max(1, dimension * chunks * MemoryLayout<Scalar>.stride)
    return Swift.max(1, Swift.min(k, chunkThreads * 4, MemoryBudget.defaultBytes / (8 * perColumn)))
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
      AutodiffMode.with(recordsTangentOperations: false) { model(batch.inputTensors, parameters: parameters) }
    }
    try requireFiniteOutputs(output.value, batch)
    let jv = output.tangent?.value ?? NDArray(zeros: output.shape)
    if let bad = firstNonFinite(jv.scalars) {
      throw CurvatureError.nonFinite(
        "Jacobian-vector product (the tangent of the network outputs) for data points \(batch.range) holds \(jv.scalars[bad]) at element \(bad) (an overflow; the outputs are finite)")
    }
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
    return joinColumn(grads.map { $0.value })
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
  if k == 0 || n == 0 { return NDArray(zeros: [n, k]) }
  // The columns as rows, copied in bulk, then one transpose (omatcopy): element by element
  // this generic code would run unspecialized, through value witnesses per element.
  var rows = [T]()
  rows.reserveCapacity(n * k)
  for c in columns { rows.append(contentsOf: c.scalars) }
  return NDArray(shape: [k, n], scalars: rows).transposed()
}
