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
  ///   parameters all sit in Linear or Conv2d layers laid out so that per-term gradients
  ///   are defined (see `layerTermLayout`).
  func squaredGradientSum(
    columns: (NDArray<Scalar>, Batch<Scalar>) throws -> NDArray<Scalar>
  ) throws -> NDArray<Scalar> {
    guard let sequential = model as? Sequential<Scalar> else {
      throw CurvatureError.unsupported("exact diagonals need a Sequential model; estimate the diagonal with hutchinsonDiagonal or xDiagonal instead")
    }
    var blockSums = sequential.parameterSpecs.map { NDArray<Scalar>(zeros: $0.shape) }
    for range in data.batchRanges(size: batchSize) {
      let batch = try checkedBatch(range)
      var taps = [(layer: Int, input: NDArray<Scalar>, output: Tensor<Scalar>)]()
      let parameters = sequential.parameters.map { Tensor($0) }
      let output = AutodiffMode.recording(true) {
        sequential(Tensor(batch.inputs), parameters: parameters) { index, input, output in
          guard !sequential.parameterRanges[index].isEmpty else { return output }
          let tapped = output.requiringGradient()
          taps.append((index, input.value, tapped))
          return tapped
        }
      }
      try requireFinite(output.value, "network outputs for data points \(range)")
      let factor = try columns(output.value, batch)
      let (k, t, c) = (factor.shape[0], factor.shape[1], factor.shape[2])
      for column in 0..<k {
        let u = NDArray(shape: output.shape, scalars: Array(factor.scalars[(column * t * c)..<((column + 1) * t * c)]))
        let deltas = AutodiffMode.withoutRecording {
          gradients(of: [output], seeds: [Tensor(u)], wrt: taps.map(\.output))
        }
        for (tap, delta) in zip(taps, deltas) {
          let squares = try squaredPerTermGradients(
            layer: sequential.layers[tap.layer], input: tap.input, delta: delta.value, terms: t, points: range.count)
          for (offset, square) in squares.enumerated() {
            blockSums[sequential.parameterRanges[tap.layer].lowerBound + offset].add(square)
          }
        }
      }
    }
    return NDArray(blocks.flatMap { blockSums[$0].scalars })
  }

  /// `Σ_t (∂ℓ_t/∂W)²` (and for the bias) of one layer from its input and output cotangent,
  /// shaped like the layer's parameter blocks.
  func squaredPerTermGradients(
    layer: any Layer<Scalar>, input a: NDArray<Scalar>, delta: NDArray<Scalar>, terms: Int, points: Int
  ) throws -> [NDArray<Scalar>] {
    let hasBias: Bool
    if let linear = layer as? Linear<Scalar> {
      hasBias = linear.hasBias
    } else if let conv = layer as? Conv2d<Scalar> {
      hasBias = conv.hasBias
    } else {
      throw CurvatureError.unsupported("exact diagonal: parameters in \(layer) are not supported (only Linear and Conv2d)")
    }
    let squares = try squaredRotatedPerTermGradients(
      layer: layer, input: a, delta: delta, terms: terms, points: points, weight: true, bias: hasBias)
    let weight = squares.weight!.reshaped(layer.parameterSpecs[0].shape)
    return hasBias ? [weight, squares.bias!] : [weight]
  }

  /// Per-term gradients of one Linear or Conv2d layer, rotated into given bases, squared
  /// and summed over the terms:
  ///
  /// ```
  /// weight:  Σ_t (Q_Bᵀ G_t Q_A)²        bias:  Σ_t (Q_Bᵀ g_t)²
  /// ```
  ///
  /// where `G_t` is term `t`'s gradient of the weight as a matrix `[out, in]` (Conv2d:
  /// `[Cout, Cin/groups·kh·kw]`), with the bias gradient `g_t` appended as a last column
  /// when `joint` (`[out, in+1]`; then no separate bias is returned), and a missing basis
  /// stands for the identity (the exact diagonal).
  ///
  /// One row of the layer's input per term (an MLP; a sequence model whose loss has a term
  /// per position): the per-term gradient is the outer product `δ aᵀ`, so the sum is one
  /// gemm of squares, `(δ Q_B)²ᵀ (a Q_A)²`. Several rows (positions) per data point with a
  /// term per data point: per-term gradients `Σ_s δ_s a_sᵀ` by a batched gemm, then
  /// squared. Conv2d: per-data-point gradients from the unfolded patches.
  /// - Throws: `CurvatureError.unsupported` for other layers, or when the layer's rows do
  ///   not map onto the loss terms (e.g. a Conv2d feeding several terms per data point).
  func squaredRotatedPerTermGradients(
    layer: any Layer<Scalar>, input a: NDArray<Scalar>, delta: NDArray<Scalar>, terms: Int, points: Int,
    outputBasis: NDArray<Scalar>? = nil, inputBasis: NDArray<Scalar>? = nil, joint: Bool = false,
    weight: Bool, bias: Bool
  ) throws -> (weight: NDArray<Scalar>?, bias: NDArray<Scalar>?) {
    let separateBias = bias && !(joint && weight)
    let withBiasColumn = joint && weight && bias
    if let linear = layer as? Linear<Scalar> {
      let rows = a.count / linear.inFeatures
      let d2 = delta.reshaped([rows, linear.outFeatures])
      let positions: Int
      if rows == terms {
        positions = 1
      } else {
        guard terms == points, rows % points == 0 else {
          throw CurvatureError.unsupported("per-term gradients: \(linear) sees \(rows) rows for \(terms) loss terms of \(points) data points")
        }
        positions = rows / points
      }
      // Rotating the rows first: (Q_Bᵀ δ)ᵀ = δᵀ Q_B, so one gemm per factor.
      let dRotated = outputBasis.map { matmul(d2, $0) } ?? d2
      var weightSquares: NDArray<Scalar>? = nil
      if weight {
        var a2 = a.reshaped([rows, linear.inFeatures])
        if withBiasColumn { a2 = a2.appendingOnesColumn() }
        let aRotated = inputBasis.map { matmul(a2, $0) } ?? a2
        if positions == 1 {
          // One row per term: the per-term gradient is the outer product δ aᵀ.
          weightSquares = matmul(dRotated.map(.square), aRotated.map(.square), transposeA: true)
        } else {
          // Several rows (positions) per term: the per-term gradient sums over them.
          let perTerm = matmul(
            dRotated.reshaped([points, positions, linear.outFeatures]),
            aRotated.reshaped([points, positions, aRotated.shape[1]]), transposeA: true)
          weightSquares = perTerm.map(.square).reduced(.sum, axes: [0])
        }
      }
      guard separateBias else { return (weightSquares, nil) }
      let g = positions == 1 ? dRotated : dRotated.reshaped([points, positions, linear.outFeatures]).reduced(.sum, axes: [1])
      return (weightSquares, g.map(.square).reduced(.sum, axes: [0]))
    }
    if let conv = layer as? Conv2d<Scalar> {
      guard terms == points else {
        throw CurvatureError.unsupported("per-term gradients: \(conv) feeds \(terms) loss terms for \(points) data points; per-term gradients need one term per data point")
      }
      let locations = delta.count / (points * conv.outChannels)
      let biasGradients = bias ? delta.reshaped([points, conv.outChannels, locations]).reduced(.sum, axes: [2]) : nil
      var weightSquares: NDArray<Scalar>? = nil
      if weight {
        let columns = unfold(Tensor(a), kernelSize: conv.kernelSize, stride: conv.stride, padding: conv.padding, dilation: conv.dilation).value
        let g = conv.groups
        let patch = columns.shape[1] / g
        let unfolded = columns.reshaped([points, g, patch, locations])
        let d = delta.reshaped([points, g, conv.outChannels / g, locations])
        var perTerm = matmul(d, unfolded, transposeB: true).reshaped([points, conv.outChannels, patch])
        if withBiasColumn { perTerm = perTerm.appendingColumn(biasGradients!) }
        if let inputBasis { perTerm = matmul(perTerm, inputBasis) }
        if let outputBasis { perTerm = matmul(outputBasis, perTerm, transposeA: true) }
        weightSquares = perTerm.map(.square).reduced(.sum, axes: [0])
      }
      guard separateBias, let biasGradients else { return (weightSquares, nil) }
      let rotated = outputBasis.map { matmul(biasGradients, $0) } ?? biasGradients
      return (weightSquares, rotated.map(.square).reduced(.sum, axes: [0]))
    }
    throw CurvatureError.unsupported("per-term gradients: parameters in \(layer) are not supported (only Linear and Conv2d)")
  }
}

extension NDArray {
  /// `[x | 1]` for a matrix `x` `[rows, n]`: `[rows, n + 1]`.
  func appendingOnesColumn() -> NDArray {
    let (rows, n) = (shape[0], shape[1])
    return NDArray(uninitializedShape: [rows, n + 1]) { buffer in
      for r in 0..<rows {
        for j in 0..<n { buffer[r * (n + 1) + j] = scalars[r * n + j] }
        buffer[r * (n + 1) + n] = 1
      }
    }
  }

  /// `[x | c]` for `x` `[b, m, n]` and `c` `[b, m]`: `[b, m, n + 1]`.
  func appendingColumn(_ c: NDArray) -> NDArray {
    let (n, rows) = (shape[rank - 1], count / shape[rank - 1])
    return NDArray(uninitializedShape: Array(shape.dropLast()) + [n + 1]) { buffer in
      for r in 0..<rows {
        for j in 0..<n { buffer[r * (n + 1) + j] = scalars[r * n + j] }
        buffer[r * (n + 1) + n] = c.scalars[r]
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
