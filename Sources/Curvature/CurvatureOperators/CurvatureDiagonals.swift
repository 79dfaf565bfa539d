import CurvatureNumerics
import CurvatureLinearAlgebra
import CurvatureAutodiff
import CurvatureNN

// Exact diagonals of the GGN, Monte Carlo Fisher and empirical Fisher for Sequential
// models, as BackPACK computes them (Dangel, Kunstner & Hennig 2020): each matrix is a sum
// of per-term outer products Σ_t Σ_k (J_tᵀ u_tk)(J_tᵀ u_tk)ᵀ with "factor columns" u_tk
// (the columns of the loss Hessian's symmetric factor, sampled gradients, or the observed
// gradient); the squares of the per-term gradients (PerTermGradients.swift) are summed.

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
    for range in localBatchRanges {
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
    var diagonal = NDArray(blocks.flatMap { blockSums[$0].scalars })
    try allReduce(&diagonal)
    return diagonal
  }
}

extension GGNOperator {
  /// The exact GGN diagonal from the symmetric factorization of the loss Hessian propagated
  /// backwards (BackPACK's DiagGGNExact): `(1/R) Σ_t Σ_k (J_tᵀ s_tk)²` with `H_t = S_t S_tᵀ`.
  /// A `GraphModel` seeds one position of a sequence at a time (attention mixes positions)
  /// and takes per-data-point gradients from its nodes (CurvatureDiagonals+Graph.swift).
  /// - Throws: `CurvatureError.unsupported` for models other than `Sequential` with
  ///   Linear/Conv2d parameters and `GraphModel`; errors of the data.
  /// - Complexity: `C` reverse passes per batch (`C` = output width); a graph model:
  ///   `C · positions` (positions = loss terms per data point).
  public func diagonal() throws -> NDArray<Scalar> {
    let scale = 1 / Scalar(problem.reductionFactor).squareRoot()
    if problem.model is GraphModel<Scalar> {
      return try problem.perPositionSquaredGradientSum { output, batch in
        problem.hessianSquareRootColumns(output, batch: batch) * scale
      }
    }
    return try problem.squaredGradientSum { output, batch in
      // [T, C, K] → [K, T, C]: one factor column per reverse pass.
      problem.hessianSquareRootColumns(output, batch: batch) * scale
    }
  }

  /// The trace, from the exact diagonal.
  public func trace() throws -> Scalar { try diagonal().sum() }
}

extension MonteCarloFisherOperator {
  /// The exact diagonal of this Monte Carlo Fisher (BackPACK's DiagGGNMC), with the same
  /// samples as its products.
  /// - Complexity: `mcSamples` reverse passes per batch; a graph model: `mcSamples ·
  ///   positions`.
  public func diagonal() throws -> NDArray<Scalar> {
    let scale = 1 / (Scalar(problem.reductionFactor) * Scalar(mcSamples)).squareRoot()
    if problem.model is GraphModel<Scalar> {
      return try problem.perPositionSquaredGradientSum { output, batch in
        problem.sampledGradientColumns(output, samples: mcSamples, seed: seed, batch: batch) * scale
      }
    }
    return try problem.squaredGradientSum { output, batch in
      problem.sampledGradientColumns(output, samples: mcSamples, seed: seed, batch: batch) * scale
    }
  }

  /// The trace, from the exact diagonal.
  public func trace() throws -> Scalar { try diagonal().sum() }
}

extension EmpiricalFisherOperator {
  /// The exact diagonal `(1/R) Σ_t (∇_θ ℓ_t)²` from per-term gradients.
  /// - Complexity: One reverse pass per batch; a graph model: one per position.
  public func diagonal() throws -> NDArray<Scalar> {
    let scale = 1 / Scalar(problem.reductionFactor).squareRoot()
    if problem.model is GraphModel<Scalar> {
      return try problem.perPositionSquaredGradientSum { output, batch in
        problem.observedGradientColumns(output, batch: batch) * scale
      }
    }
    return try problem.squaredGradientSum { output, batch in
      problem.observedGradientColumns(output, batch: batch) * scale
    }
  }

  /// The trace, from the exact diagonal.
  public func trace() throws -> Scalar { try diagonal().sum() }
}

extension HessianOperator {
  /// The exact Hessian diagonal, by second-order backpropagation (BackPACK's DiagHessian)
  /// where a rule exists: a `Sequential` of Linear, Conv2d, activation and Flatten layers
  /// (`HessianDiagonal.swift`), and the blocks of a `GraphModel` that no second-order term
  /// without a rule touches (`HessianDiagonal+Graph.swift`); the other blocks from products
  /// with unit vectors for their parameters only, without forming the matrix.
  /// `diagonalPlan()` says which blocks take which path. For large models estimate it with
  /// `hutchinsonDiagonal` or `xDiagonal`.
  /// - Throws: `CurvatureError` for invalid data or non-finite values.
  /// - Complexity: Backpropagated: `C` reverse passes per batch (graphs: `C · positions`)
  ///   plus one partial reverse pass per element of a data point of every smooth
  ///   activation; one Hessian-vector product per parameter of the other blocks.
  public func diagonal() throws -> NDArray<Scalar> {
    let (plan, residualNodes) = problem.hessianDiagonalPlan()
    if problem.model is GraphModel<Scalar> {
      return try problem.graphHessianDiagonal(plan, residualNodes: residualNodes)
    }
    guard plan.unitProductBlocks.isEmpty else { return try diagonalByUnitProducts() }
    do {
      return try problem.backpropagatedHessianDiagonal()
    } catch CurvatureError.unsupported {
      return try diagonalByUnitProducts()
    }
  }

  /// The trace, from the exact diagonal.
  public func trace() throws -> Scalar { try diagonal().sum() }
}
