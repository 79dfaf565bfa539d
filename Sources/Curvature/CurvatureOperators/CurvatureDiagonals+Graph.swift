import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// Exact GGN, Monte Carlo Fisher and empirical Fisher diagonals of graph models, as BackPACK
// computes them (DiagGGNExact, DiagGGNMC; the empirical Fisher from per-sample gradients;
// Dangel, Kunstner & Hennig 2020): `Σ_t Σ_k (J_tᵀ u_tk)²` over the loss terms t and factor
// columns u_tk. A graph mixes the positions of a sequence (attention), so the terms of one
// data point are told apart by seeding one position at a time: one reverse pass per
// (position, factor column), all data points at once, and per-data-point gradients from
// the taps (PerPointGradients.swift). No product with unit vectors: the cost grows with
// the output width, not with the number of parameters.

extension CurvatureProblem {
  /// `Σ_t Σ_k (J_tᵀ u_tk)²` over the selected blocks of a graph model, where
  /// `columns(output, batch)` gives the factor columns `[K, T, C]` (term rows, already
  /// scaled) for a batch's outputs.
  /// - Throws: `CurvatureError` for invalid data or non-finite values.
  /// - Complexity: `K · positions` reverse passes per batch, plus the per-data-point work
  ///   of the taps (a batched gemm per Linear/convolution node and pass).
  func perPositionSquaredGradientSum(
    columns: (NDArray<Scalar>, Batch<Scalar>) throws -> NDArray<Scalar>
  ) throws -> NDArray<Scalar> {
    var sums = selectedSpecs.map { NDArray<Scalar>(zeros: $0.shape) }
    // This rank's shard only; the ranks' sums are added by one all-reduce below.
    for range in localBatchRanges {
      let batch = try checkedBatch(range)
      let pass = try perPointForward(batch)
      let factor = try columns(pass.output.value, batch)
      let (k, terms, c) = (factor.shape[0], factor.shape[1], factor.shape[2])
      let points = range.count
      let positions = Swift.max(terms / Swift.max(points, 1), 1)
      // Seeds in chunks, so that the per-data-point gradients of a chunk stay bounded.
      let chunk = Swift.max(1, Swift.min(32, (1 << 24) / Swift.max(points * dimension, 1)))
      var pending = [NDArray<Scalar>]()
      func flush() throws {
        guard !pending.isEmpty else { return }
        for perBlock in try perPointGradients(pass, seeds: pending, batch: batch) {
          for (i, g) in perBlock.enumerated() { sums[i].add(g.map(.square).reduced(.sum, axes: [0])) }
        }
        pending.removeAll()
      }
      for column in 0..<k {
        for s in 0..<positions {
          // Column `column` of the terms at position s of every data point.
          var rows = NDArray<Scalar>(zeros: [terms, c])
          var nonzero = false
          for n in 0..<points {
            let t = n * positions + s
            for j in 0..<c {
              let v = factor.scalars[(column * terms + t) * c + j]
              rows.scalars[t * c + j] = v
              if v != 0 { nonzero = true }
            }
          }
          guard nonzero else { continue }
          pending.append(loss.outputLayout(rows, outputShape: pass.output.shape))
          if pending.count == chunk { try flush() }
        }
      }
      try flush()
    }
    try allReduce(&sums)
    let diagonal = NDArray(joinColumn(sums))
    try requireFiniteColumn(diagonal.scalars, "exact diagonal")
    return diagonal
  }
}
