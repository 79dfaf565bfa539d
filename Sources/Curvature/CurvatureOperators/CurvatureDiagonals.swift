import CurvatureNumerics
import CurvatureLinearAlgebra
import CurvatureAutodiff
import CurvatureNN

// Exact diagonals of the GGN, Monte Carlo Fisher and empirical Fisher for Sequential
// models, as BackPACK computes them (Dangel, Kunstner & Hennig 2020): each matrix is a sum
// of per-term outer products Σ_t Σ_k (J_tᵀ u_tk)(J_tᵀ u_tk)ᵀ with "factor columns" u_tk
// (the columns of the loss Hessian's symmetric factor, sampled gradients, or the observed
// gradient). One reverse pass per column gives, at every Linear/Conv2d layer, the output
// cotangent δ of all terms at once; per-term weight gradients then come from δ and the
// layer input a, and their squares are summed with gemms.

extension CurvatureProblem {
  /// `Σ_t Σ_k (J_tᵀ u_tk)²` over the selected blocks, where `columns(output, batch)` gives
  /// the factor columns `[K, T, C]` (already scaled) for a batch's outputs.
  /// - Throws: `CurvatureError.unsupported` unless the model is a `Sequential` whose
  ///   parameters all sit in Linear or Conv2d layers whose rows map onto the loss terms
  ///   (see `preparePerTermInput`).
  func squaredGradientSum(
    columns: (NDArray<Scalar>, Batch<Scalar>) throws -> NDArray<Scalar>
  ) throws -> NDArray<Scalar> {
    guard let sequential = model as? Sequential<Scalar> else {
      throw CurvatureError.unsupported("exact diagonals need a Sequential model; estimate the diagonal with hutchinsonDiagonal or xDiagonal instead")
    }
    var blockSums = sequential.parameterSpecs.map { NDArray<Scalar>(zeros: $0.shape) }
    let layers = sequential.layers.indices.filter { !sequential.parameterRanges[$0].isEmpty }
    for range in data.batchRanges(size: batchSize) {
      let batch = try checkedBatch(range)
      let (output, inputs, outputs) = try tappedForward(sequential, batch, layers: Set(layers))
      let factor = try columns(output.value, batch)
      let terms = factor.shape[1]
      // Per layer once per batch: the input rows or unfolded patches.
      let prepared = try layers.map { index in
        try preparePerTermInput(layer: sequential.layers[index], input: inputs[index]!, terms: terms, points: range.count, weight: true)
      }
      try forEachFactorColumn(factor, output: output, tapped: layers.map { outputs[$0]! }) { deltas in
        for ((index, input), delta) in zip(zip(layers, prepared), deltas) {
          let layer = sequential.layers[index]
          let hasBias = sequential.parameterRanges[index].count > 1
          let squares = try squaredRotatedPerTermGradients(
            layer: layer, prepared: input, delta: delta, points: range.count, weight: true, bias: hasBias)
          let first = sequential.parameterRanges[index].lowerBound
          blockSums[first].add(squares.weight!.reshaped(layer.parameterSpecs[0].shape))
          if hasBias { blockSums[first + 1].add(squares.bias!) }
        }
      }
    }
    return NDArray(blocks.flatMap { blockSums[$0].scalars })
  }

  /// A layer's input prepared once per batch for the per-term gradients of every factor
  /// column: Linear rows `[rows, in]`, or Conv2d patches `[N, groups, Cin/groups·kh·kw, L]`
  /// (unfolded), with a ones column (patches: a row of ones) appended when
  /// `withBiasColumn`, rotated by `Q_A` when `inputBasis` is given.
  ///
  /// One row of a Linear layer's input per term (an MLP; a sequence model whose loss has
  /// a term per position) gives per-term gradients `δ aᵀ`; several rows (positions) per
  /// data point with a term per data point give `Σ_s δ_s a_sᵀ`. A Conv2d layer needs a term
  /// per data point.
  /// - Throws: `CurvatureError.unsupported` for other layers, or when the layer's rows do
  ///   not map onto the loss terms (e.g. a Conv2d feeding several terms per data point).
  func preparePerTermInput(
    layer: any Layer<Scalar>, input a: NDArray<Scalar>, terms: Int, points: Int,
    inputBasis: NDArray<Scalar>? = nil, withBiasColumn: Bool = false, weight: Bool
  ) throws -> PerTermInput<Scalar> {
    if let linear = layer as? Linear<Scalar> {
      let rows = a.count / linear.inFeatures
      let positions: Int
      if rows == terms {
        positions = 1
      } else {
        guard terms == points, rows % points == 0 else {
          throw CurvatureError.unsupported("per-term gradients: \(linear) sees \(rows) rows for \(terms) loss terms of \(points) data points")
        }
        positions = rows / points
      }
      guard weight else { return PerTermInput(rows: nil, squares: nil, positions: positions) }
      var a2 = a.reshaped([rows, linear.inFeatures])
      if withBiasColumn { a2 = a2.appendingOnesColumn() }
      let rotated = inputBasis.map { matmul(a2, $0) } ?? a2
      return PerTermInput(rows: rotated, squares: positions == 1 ? rotated.map(.square) : nil, positions: positions)
    }
    if let conv = layer as? Conv2d<Scalar> {
      guard terms == points else {
        throw CurvatureError.unsupported("per-term gradients: \(conv) feeds \(terms) loss terms for \(points) data points; per-term gradients need one term per data point")
      }
      guard weight else { return PerTermInput(rows: nil, squares: nil, positions: 1) }
      let columns = unfold(Tensor(a), kernelSize: conv.kernelSize, stride: conv.stride, padding: conv.padding, dilation: conv.dilation).value
      let (g, locations) = (conv.groups, columns.shape[2])
      var patches = columns.reshaped([points, g, columns.shape[1] / g, locations])
      if withBiasColumn { patches = patches.appendingOnesRow() }
      if let inputBasis { patches = matmul(inputBasis, patches, transposeA: true) }   // Q_Aᵀ P per data point and group
      return PerTermInput(rows: patches, squares: nil, positions: 1)
    }
    throw CurvatureError.unsupported("per-term gradients: parameters in \(layer) are not supported (only Linear and Conv2d)")
  }

  /// Per-term gradients of one Linear or Conv2d layer for one factor column, rotated into
  /// given bases, squared and summed over the terms:
  ///
  /// ```
  /// weight:  Σ_t (Q_Bᵀ G_t Q_A)²        bias:  Σ_t (Q_Bᵀ g_t)²
  /// ```
  ///
  /// where `G_t` is term `t`'s gradient of the weight as a matrix `[out, in]` (Conv2d:
  /// `[Cout, Cin/groups·kh·kw]`), with the bias gradient `g_t` appended as a last column
  /// when the input was prepared `withBiasColumn` (`[out, in+1]`; then pass `bias: false`),
  /// and a missing basis stands for the identity (the exact diagonal). One row per term:
  /// one gemm of squares, `(δ Q_B)²ᵀ (a Q_A)²`; several rows per term, and Conv2d: per-term
  /// gradients by a batched gemm, then squared.
  func squaredRotatedPerTermGradients(
    layer: any Layer<Scalar>, prepared: PerTermInput<Scalar>, delta: NDArray<Scalar>, points: Int,
    outputBasis: NDArray<Scalar>? = nil, weight: Bool, bias: Bool
  ) throws -> (weight: NDArray<Scalar>?, bias: NDArray<Scalar>?) {
    if let linear = layer as? Linear<Scalar> {
      let rows = delta.count / linear.outFeatures
      // Rotating the rows: (Q_Bᵀ δ)ᵀ = δᵀ Q_B, one gemm.
      let d2 = delta.reshaped([rows, linear.outFeatures])
      let dRotated = outputBasis.map { matmul(d2, $0) } ?? d2
      var weightSquares: NDArray<Scalar>? = nil
      if weight, let a = prepared.rows {
        if let squares = prepared.squares {
          // One row per term: the per-term gradient is the outer product δ aᵀ.
          weightSquares = matmul(dRotated.map(.square), squares, transposeA: true)
        } else {
          // Several rows (positions) per term: the per-term gradient sums over them.
          let positions = prepared.positions
          let perTerm = matmul(
            dRotated.reshaped([points, positions, linear.outFeatures]), a.reshaped([points, positions, a.shape[1]]),
            transposeA: true)
          weightSquares = perTerm.map(.square).reduced(.sum, axes: [0])
        }
      }
      guard bias else { return (weightSquares, nil) }
      let g = prepared.positions == 1
        ? dRotated : dRotated.reshaped([points, prepared.positions, linear.outFeatures]).reduced(.sum, axes: [1])
      return (weightSquares, g.map(.square).reduced(.sum, axes: [0]))
    }
    if let conv = layer as? Conv2d<Scalar> {
      let locations = delta.count / (points * conv.outChannels)
      var weightSquares: NDArray<Scalar>? = nil
      if weight, let patches = prepared.rows {
        let g = conv.groups
        let d = delta.reshaped([points, g, conv.outChannels / g, locations])
        var perTerm = matmul(d, patches, transposeB: true).reshaped([points, conv.outChannels, patches.shape[2]])
        if let outputBasis { perTerm = matmul(outputBasis, perTerm, transposeA: true) }
        weightSquares = perTerm.map(.square).reduced(.sum, axes: [0])
      }
      guard bias else { return (weightSquares, nil) }
      let biasGradients = delta.reshaped([points, conv.outChannels, locations]).reduced(.sum, axes: [2])
      let rotated = outputBasis.map { matmul(biasGradients, $0) } ?? biasGradients
      return (weightSquares, rotated.map(.square).reduced(.sum, axes: [0]))
    }
    throw CurvatureError.unsupported("per-term gradients: parameters in \(layer) are not supported (only Linear and Conv2d)")
  }
}

/// A layer's input prepared for per-term gradients (see `preparePerTermInput`).
struct PerTermInput<Scalar: BLASScalar> {
  /// Linear: the (rotated) input rows `[rows, in']`; Conv2d: the (rotated) patches
  /// `[N, groups, in', L]`; nil when the weight is not needed.
  var rows: NDArray<Scalar>?
  /// Linear with one row per term: the squares of `rows`.
  var squares: NDArray<Scalar>?
  /// Linear: rows per term (1, or the positions of a data point).
  var positions: Int
}

extension NDArray {
  /// `[x | 1]` for a matrix `x` `[rows, n]`: `[rows, n + 1]`.
  func appendingOnesColumn() -> NDArray {
    let (rows, n) = (shape[0], shape[1])
    return NDArray(uninitializedShape: [rows, n + 1]) { buffer in
      scalars.withUnsafeBufferPointer { x in
        for r in 0..<rows {
          for j in 0..<n { buffer[r * (n + 1) + j] = x[r * n + j] }
          buffer[r * (n + 1) + n] = 1
        }
      }
    }
  }

  /// `[x; 1ᵀ]` for each matrix of `x` `[..., m, n]`: `[..., m + 1, n]`.
  func appendingOnesRow() -> NDArray {
    let (m, n) = (shape[rank - 2], shape[rank - 1])
    let matrices = count / Swift.max(m * n, 1)
    return NDArray(uninitializedShape: Array(shape.dropLast(2)) + [m + 1, n]) { buffer in
      scalars.withUnsafeBufferPointer { x in
        for b in 0..<matrices {
          let (source, target) = (b * m * n, b * (m + 1) * n)
          for i in 0..<(m * n) { buffer[target + i] = x[source + i] }
          for j in 0..<n { buffer[target + m * n + j] = 1 }
        }
      }
    }
  }
}

extension GGNOperator {
  /// The exact GGN diagonal from the symmetric factorization of the loss Hessian propagated
  /// backwards (BackPACK's DiagGGN): `(1/R) Σ_t Σ_k (J_tᵀ s_tk)²` with `H_t = S_t S_tᵀ`.
  /// - Throws: `CurvatureError.unsupported` for models other than `Sequential` with
  ///   Linear/Conv2d parameters; errors of the data.
  /// - Complexity: `C` reverse passes per batch (`C` = output width).
  public func diagonal() throws -> NDArray<Scalar> {
    let scale = 1 / Scalar(problem.reductionFactor).squareRoot()
    return try problem.squaredGradientSum { output, _ in
      // [T, C, K] → [K, T, C]: one factor column per reverse pass.
      problem.loss.hessianSquareRoot(output).permuted([2, 0, 1]) * scale
    }
  }

  /// The trace, from the exact diagonal.
  public func trace() throws -> Scalar { try diagonal().sum() }
}

extension MonteCarloFisherOperator {
  /// The exact diagonal of this Monte Carlo Fisher (BackPACK's DiagGGNMC), with the same
  /// samples as its products.
  /// - Complexity: `mcSamples` reverse passes per batch.
  public func diagonal() throws -> NDArray<Scalar> {
    let scale = 1 / (Scalar(problem.reductionFactor) * Scalar(mcSamples)).squareRoot()
    return try problem.squaredGradientSum { output, batch in
      problem.loss.sampledGradients(
        output, samples: mcSamples, seed: seed, dataIndices: problem.termDataIndices(batch.range)) * scale
    }
  }

  /// The trace, from the exact diagonal.
  public func trace() throws -> Scalar { try diagonal().sum() }
}

extension EmpiricalFisherOperator {
  /// The exact diagonal `(1/R) Σ_t (∇_θ ℓ_t)²` from per-term gradients.
  /// - Complexity: One reverse pass per batch.
  public func diagonal() throws -> NDArray<Scalar> {
    let scale = 1 / Scalar(problem.reductionFactor).squareRoot()
    return try problem.squaredGradientSum { output, batch in
      let g = problem.loss.outputGradients(output, batch.targets)
      return g.reshaped([1] + g.shape) * scale
    }
  }

  /// The trace, from the exact diagonal.
  public func trace() throws -> Scalar { try diagonal().sum() }
}

extension HessianOperator {
  /// The exact Hessian diagonal, from products with blocks of unit vectors (one
  /// Hessian-vector product per parameter, `blockSize` at a time, without forming the
  /// matrix). For large models estimate it with `hutchinsonDiagonal` or `xDiagonal`.
  /// - Complexity: `P` Hessian-vector products.
  public func diagonal() throws -> NDArray<Scalar> {
    try exactDiagonalByUnitProducts()
  }
}

extension LinearOperator {
  /// The diagonal from products with unit vectors in blocks of 32 columns.
  func exactDiagonalByUnitProducts(blockSize: Int = 32) throws -> NDArray<Scalar> {
    try requireSquare("diagonal")
    let n = rowCount
    var result = NDArray<Scalar>(zeros: [n])
    var start = 0
    while start < n {
      let width = Swift.min(blockSize, n - start)
      var probe = NDArray<Scalar>(zeros: [n, width])
      for j in 0..<width { probe[start + j, j] = 1 }
      let product = try apply(probe)
      for j in 0..<width { result.scalars[start + j] = product.scalars[(start + j) * width + j] }
      start += width
    }
    return result
  }
}
