import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// Products with several columns for Sequential models: per batch one forward pass, the
// columns' tangents through it as a leading axis (SequentialLinearization), a cotangent
// per column from the loss, and the columns' cotangents back through it together. Equal to
// the column-by-column products up to rounding (the gemms sum in another order).

extension CurvatureProblem {
  /// The model when products with several columns can take the batched path: a
  /// `Sequential` whose layers all have a batched rule (Linear, Conv2d, activations,
  /// Flatten; Conv2d by direct unfold/gemm rules on the saved patches).
  var batchedSequential: Sequential<Scalar>? {
    guard let sequential = model as? Sequential<Scalar>, SequentialLinearization.supports(sequential) else { return nil }
    return sequential
  }

  /// Columns done at once: as many as keep the largest per-layer array of a batch within
  /// an eighth of the memory budget.
  func columnChunk(_ sequential: Sequential<Scalar>, columns k: Int) -> Int {
    let perColumn = SequentialLinearization.elementsPerColumn(sequential, inputShape: data.inputShape) * Swift.min(batchSize, data.count)
    var budget = MemoryBudget.defaultBytes / (8 * MemoryLayout<Scalar>.stride)
    if sequential.layers.contains(where: { $0 is Conv2d<Scalar> }) {
      // A convolution's stacked patches are the largest arrays: kept within glibc's largest
      // heap block (32 MiB, see NumericsBackend.retainFreedMemory) so chunks reuse freed
      // memory; beyond it every array is a fresh mapping, page-faulted and zeroed by the
      // kernel (measured on the compare.py CNN with 32 columns at once: 55% of the time).
      budget = Swift.min(budget, (32 << 20) / MemoryLayout<Scalar>.stride)
    }
    return Swift.max(1, Swift.min(k, budget / Swift.max(1, perColumn)))
  }

  /// Columns `range` of `x` `[P, k]`, given as its transpose `xt` `[k, P]`, as the
  /// selected blocks' tangents `[width] + shape`, by model block (raw row copies: no
  /// generic per-element work).
  func splitColumns(transposed xt: NDArray<Scalar>, range: Range<Int>) -> [Int: NDArray<Scalar>] {
    let p = dimension, width = range.count
    var offset = 0
    var result = [Int: NDArray<Scalar>]()
    for block in blocks {
      let spec = model.parameterSpecs[block]
      let count = spec.count
      var slab = NDArray<Scalar>(zeros: [width, count])
      copyRows(
        xt, firstRow: range.lowerBound, stride: p, offset: offset, into: &slab, stride: count, offset: 0, rows: width, count: count)
      result[block] = slab.reshaped([width] + spec.shape)
      offset += count
    }
    return result
  }

  /// `f` applied to each column `[k] + shape → shape` of `x`, the results stacked `[k] + shape`.
  func mapColumns(_ x: NDArray<Scalar>, columns k: Int, _ f: (NDArray<Scalar>) throws -> NDArray<Scalar>) rethrows -> NDArray<Scalar> {
    let shape = Array(x.shape.dropFirst())
    let per = x.count / Swift.max(k, 1)
    var scalars = [Scalar]()
    scalars.reserveCapacity(x.count)
    for j in 0..<k {
      scalars += try f(NDArray(shape: shape, scalars: Array(x.scalars[(j * per)..<((j + 1) * per)]))).scalars
    }
    return NDArray(shape: x.shape, scalars: scalars)
  }

  /// `Σ_batches Jᵀ U` for the columns of `x` `[P, k]`, where `cotangents(batch, pass, JV, k)`
  /// gives the output cotangents `U` `[k] + output shape` from the output tangents `J V`.
  /// - Throws: `CurvatureError.nonFinite` naming the stage, column, data points and entry,
  ///   as the column-by-column products; errors of the data and of `cotangents`.
  func sumOverBatches(
    _ x: NDArray<Scalar>, sequential: Sequential<Scalar>, stage: String,
    cotangents: @Sendable (Batch<Scalar>, SequentialLinearization<Scalar>, NDArray<Scalar>, Int) throws -> NDArray<Scalar>
  ) throws -> NDArray<Scalar> {
    try sumOverBatches(x, sequential: sequential, stage: stage) { batch, pass, tangents, width in
      let jv = pass.outputTangents(tangents, columns: width)
      try requireFiniteTangents(jv, pass.output, batch)
      let u = try cotangents(batch, pass, jv, width)
      return pass.parameterCotangents(u, columns: width, blocks: blocks)
    }
  }

  /// `Σ_batches product(batch, pass, tangents, k)` for the columns of `x` `[P, k]` in chunks,
  /// where `product` gives `[k] + shape` per selected model block.
  func sumOverBatches(
    _ x: NDArray<Scalar>, sequential: Sequential<Scalar>, stage: String,
    product: @Sendable (Batch<Scalar>, SequentialLinearization<Scalar>, [Int: NDArray<Scalar>], Int) throws -> [Int: NDArray<Scalar>]
  ) throws -> NDArray<Scalar> {
    let (p, k) = (dimension, x.shape[1])
    let chunk = columnChunk(sequential, columns: k)
    let chunks = stride(from: 0, to: k, by: chunk).map { $0..<Swift.min(k, $0 + chunk) }
    // Column-major ([k, P], one row per column) throughout, transposed by BLAS at both ends.
    let xt = x.transposed()
    var sums = chunks.map { NDArray<Scalar>(zeros: [$0.count, p]) }
    for range in localBatchRanges {
      let batch = try checkedBatch(range)
      // Row chunks in parallel, added in chunk order (`CurvatureProblem+RowChunks.swift`);
      // each chunk's forward pass is held across products (`LinearizationCache`).
      let parts = rowChunks(of: batch)
      for (c, columns) in chunks.enumerated() {
        let width = columns.count
        let tangents = splitColumns(transposed: xt, range: columns)
        let contributions = try inParallel(parts.count, threads: chunkThreads) { index in
          let part = parts[index]
          let pass = linearizations.linearization(sequential, inputs: part.inputs, range: part.range, enabled: cachesLinearizations)
          try requireFiniteOutputs(pass.output, part)
          let grads = try product(part, pass, tangents, width)
          var contribution = NDArray<Scalar>(zeros: [width, p])
          var offset = 0
          for block in blocks {
            let count = model.parameterSpecs[block].count
            if let g = grads[block] {
              copyRows(g, firstRow: 0, stride: count, offset: 0, into: &contribution, stride: p, offset: offset, rows: width, count: count)
            }
            offset += count
          }
          try requireFiniteContribution(contribution, stage: stage, columns: columns, range: part.range)
          return contribution
        }
        var sum = contributions[0]
        for contribution in contributions.dropFirst() { sum.add(contribution) }
        if parts.count > 1 { try requireFiniteContribution(sum, stage: stage, columns: columns, range: range) }
        sums[c].add(sum)
      }
    }
    var all = NDArray<Scalar>(zeros: [k, p])
    for (columns, sum) in zip(chunks, sums) {
      copyRows(sum, firstRow: 0, stride: p, offset: 0, into: &all, stride: p, offset: columns.lowerBound * p, rows: columns.count, count: p)
    }
    try allReduce(&all)
    if !all.dot(all).isFinite, let bad = firstNonFinite(all.scalars) {
      let (j, entry) = (bad / p, bad % p)
      throw CurvatureError.nonFinite(
        "\(stage), column \(j), sum over the batches (it overflows): the result holds \(all.scalars[bad]) at entry \(entry) (\(parameterEntry(entry)))")
    }
    return all.transposed()
  }

  /// Throws `CurvatureError.nonFinite` when a batch's (or chunk's) contribution `[width, P]`
  /// to columns `columns` holds a NaN or infinity.
  func requireFiniteContribution(_ contribution: NDArray<Scalar>, stage: String, columns: Range<Int>, range: Range<Int>) throws {
    let p = dimension
    if !contribution.dot(contribution).isFinite, let bad = firstNonFinite(contribution.scalars) {
      let (j, entry) = (bad / p, bad % p)
      throw CurvatureError.nonFinite(
        "\(stage), column \(columns.lowerBound + j), data points \(range): the result holds \(contribution.scalars[bad]) at entry \(entry) (\(parameterEntry(entry)))")
    }
  }

  /// Throws `CurvatureError.nonFinite` when the output tangents `[k] + output shape` hold
  /// a NaN or infinity although the outputs are finite.
  func requireFiniteTangents(_ jv: NDArray<Scalar>, _ output: NDArray<Scalar>, _ batch: Batch<Scalar>) throws {
    guard let bad = firstNonFinite(jv.scalars) else { return }
    let per = Swift.max(output.count, 1)
    throw CurvatureError.nonFinite(
      "Jacobian-vector product (the tangent of the network outputs) for data points \(batch.range), column \(bad / per), holds \(jv.scalars[bad]) at element \(bad % per) (an overflow; the outputs are finite)")
  }
}

/// Copies `rows` runs of `count` scalars: run `r` from `source` at `(firstRow + r) · stride +
/// offset` to `destination` at `r · destinationStride + destinationOffset`, as raw memory
/// (generic code would otherwise copy element by element through value witnesses).
func copyRows<T: BLASScalar>(
  _ source: NDArray<T>, firstRow: Int, stride: Int, offset: Int,
  into destination: inout NDArray<T>, stride destinationStride: Int, offset destinationOffset: Int, rows: Int, count: Int
) {
  guard rows > 0, count > 0 else { return }
  let bytes = MemoryLayout<T>.stride
  source.withUnsafeBufferPointer { src in
    destination.withUnsafeMutableBufferPointer { dst in
      let from = UnsafeRawPointer(src.baseAddress!), to = UnsafeMutableRawPointer(dst.baseAddress!)
      for r in 0..<rows {
        (to + (r * destinationStride + destinationOffset) * bytes).copyMemory(
          from: from + ((firstRow + r) * stride + offset) * bytes, byteCount: count * bytes)
      }
    }
  }
}
