import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// Products with several columns for Sequential models: per batch one forward pass, the
// columns' tangents through it as a leading axis (SequentialLinearization), a cotangent
// per column from the loss, and the columns' cotangents back through it together. Equal to
// the column-by-column products up to rounding (the gemms sum in another order).

extension CurvatureProblem {
  /// The model when products with several columns can take the batched path: a
  /// `Sequential` whose layers all have a batched rule.
  var batchedSequential: Sequential<Scalar>? {
    guard let sequential = model as? Sequential<Scalar>, SequentialLinearization.supports(sequential) else { return nil }
    return sequential
  }

  /// Columns done at once: as many as keep the largest per-layer array of a batch within
  /// an eighth of the memory budget.
  func columnChunk(_ sequential: Sequential<Scalar>, columns k: Int) -> Int {
    let perColumn = SequentialLinearization.elementsPerColumn(sequential, inputShape: data.inputShape) * Swift.min(batchSize, data.count)
    let budget = MemoryBudget.defaultBytes / (8 * MemoryLayout<Scalar>.stride)
    return Swift.max(1, Swift.min(k, budget / Swift.max(1, perColumn)))
  }

  /// Columns `range` of `x` `[P, k]` as the selected blocks' tangents `[width] + shape`, by
  /// model block.
  func splitColumns(_ x: NDArray<Scalar>, range: Range<Int>) -> [Int: NDArray<Scalar>] {
    let k = x.shape[1], width = range.count
    var offset = 0
    var result = [Int: NDArray<Scalar>]()
    x.scalars.withUnsafeBufferPointer { xs in
      for block in blocks {
        let spec = model.parameterSpecs[block]
        var slab = [Scalar](repeating: 0, count: spec.count * width)
        for (column, j) in range.enumerated() {
          for i in 0..<spec.count { slab[column * spec.count + i] = xs[(offset + i) * k + j] }
        }
        result[block] = NDArray(shape: [width] + spec.shape, scalars: slab)
        offset += spec.count
      }
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
    cotangents: (Batch<Scalar>, SequentialLinearization<Scalar>, NDArray<Scalar>, Int) throws -> NDArray<Scalar>
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
    product: (Batch<Scalar>, SequentialLinearization<Scalar>, [Int: NDArray<Scalar>], Int) throws -> [Int: NDArray<Scalar>]
  ) throws -> NDArray<Scalar> {
    let (p, k) = (dimension, x.shape[1])
    let chunk = columnChunk(sequential, columns: k)
    var result = [Scalar](repeating: 0, count: p * k)
    for range in data.batchRanges(size: batchSize) {
      let batch = try checkedBatch(range)
      let pass = SequentialLinearization(sequential, inputs: batch.inputs)
      try requireFiniteOutputs(pass.output, batch)
      var start = 0
      while start < k {
        let end = Swift.min(k, start + chunk), width = end - start
        let grads = try product(batch, pass, splitColumns(x, range: start..<end), width)
        var contribution = [Scalar](repeating: 0, count: p * width)
        var offset = 0
        for block in blocks {
          let count = model.parameterSpecs[block].count
          if let g = grads[block] {
            g.scalars.withUnsafeBufferPointer { gs in
              for j in 0..<width {
                for i in 0..<count { contribution[(offset + i) * width + j] = gs[j * count + i] }
              }
            }
          }
          offset += count
        }
        if let bad = firstNonFinite(contribution) {
          let (entry, j) = (bad / width, bad % width)
          throw CurvatureError.nonFinite(
            "\(stage), column \(start + j), data points \(range): the result holds \(contribution[bad]) at entry \(entry) (\(parameterEntry(entry)))")
        }
        for i in 0..<p {
          for j in 0..<width { result[i * k + start + j] += contribution[i * width + j] }
        }
        start = end
      }
    }
    if let bad = firstNonFinite(result) {
      let (entry, j) = (bad / k, bad % k)
      throw CurvatureError.nonFinite(
        "\(stage), column \(j), sum over the batches (it overflows): the result holds \(result[bad]) at entry \(entry) (\(parameterEntry(entry)))")
    }
    return NDArray(shape: [p, k], scalars: result)
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
