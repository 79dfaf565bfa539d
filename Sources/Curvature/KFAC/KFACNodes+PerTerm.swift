import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// Per-term gradients of a Kronecker node, for EKFAC's eigenvalue correction and (through
// the layer-based entry points of PerTermGradients.swift, which build a Sequential layer's
// node and call these) the exact diagonals: one implementation for layers and nodes.
//
// One reverse pass seeds every loss term at once, so the output gradient δ a node sees is a
// sum over the terms. A term's own gradient can be told apart only where the terms do not
// mix: data points never do (each is its own forward pass), and in a Sequential the
// positions of a sequence do not either (its layers act position-wise). In a graph,
// attention mixes positions, so graph models need one loss term per data point.

extension CurvatureProblem {
  /// A node's input prepared once per batch for the per-term gradients of every factor
  /// column: linear rows `[rows, in]`, or convolution patches `[N, groups, Cin/groups·kh·kw, L]`,
  /// with a ones column (patches: a row of ones) appended when `withBiasColumn`, rotated by
  /// `Q_A` when `inputBasis` is given.
  /// - Parameter positionWise: The model acts on the positions of a sequence separately (a
  ///   `Sequential`), so one input row per loss term gives the per-term gradient `δ aᵀ`.
  /// - Throws: `CurvatureError.unsupported` when the node's rows do not map onto the loss
  ///   terms (a convolution, or a graph node, feeding several terms per data point).
  func preparePerTermInput(
    node: KroneckerNode, input a: NDArray<Scalar>, terms: Int, points: Int, positionWise: Bool,
    inputBasis: NDArray<Scalar>? = nil, withBiasColumn: Bool = false, weight: Bool
  ) throws -> PerTermInput<Scalar> {
    switch node.operation {
    case .linear:
      let inFeatures = node.weightShape[1]
      let rows = a.count / inFeatures
      let positions: Int
      if rows == terms && (positionWise || terms == points) {
        positions = 1
      } else {
        guard terms == points, rows % points == 0 else {
          throw CurvatureError.unsupported(
            "per-term gradients: \(node.name) sees \(rows) rows for \(terms) loss terms of \(points) data points; per-term gradients need one loss term per data point here")
        }
        positions = rows / points
      }
      guard weight else { return PerTermInput(rows: nil, squares: nil, positions: positions) }
      var a2 = a.reshaped([rows, inFeatures])
      if withBiasColumn { a2 = a2.appendingOnesColumn() }
      let rotated = inputBasis.map { matmul(a2, $0) } ?? a2
      return PerTermInput(rows: rotated, squares: positions == 1 ? rotated.map(.square) : nil, positions: positions)
    case let .convolution(g):
      guard terms == points else {
        throw CurvatureError.unsupported(
          "per-term gradients: \(node.name) feeds \(terms) loss terms for \(points) data points; per-term gradients need one term per data point")
      }
      guard weight else { return PerTermInput(rows: nil, squares: nil, positions: 1) }
      let columns = KroneckerNode.unfolded(KroneckerNode.images(a, g), g)
      let locations = columns.shape[2]
      var patches = columns.reshaped([points, g.groups, columns.shape[1] / g.groups, locations])
      if withBiasColumn { patches = patches.appendingOnesRow() }
      if let inputBasis { patches = matmul(inputBasis, patches, transposeA: true) }   // Q_Aᵀ P per data point and group
      return PerTermInput(rows: patches, squares: nil, positions: 1)
    case .embedding:
      // Embeddings have no input rows or patches to rotate: EKFAC takes their per-term
      // gradients from the token ids (`EKFACFactors.embeddingSquares`) and never comes here.
      throw CurvatureError.unsupported(
        "per-term gradients: embedding \(node.name) has no input rows (they cover linear and convolution nodes); an embedding's per-term gradients come from its token ids, as in EKFAC with KFACOptions.embeddings (--kfac-embeddings)")
    }
  }

  /// Per-term gradients of one node for one factor column, rotated into given bases,
  /// squared and summed over the terms (see `squaredRotatedPerTermGradients(layer:…)`).
  func squaredRotatedPerTermGradients(
    node: KroneckerNode, prepared: PerTermInput<Scalar>, delta: NDArray<Scalar>, points: Int,
    outputBasis: NDArray<Scalar>? = nil, weight: Bool, bias: Bool
  ) -> (weight: NDArray<Scalar>?, bias: NDArray<Scalar>?) {
    let out = node.weightShape[0]
    switch node.operation {
    case .linear:
      let rows = delta.count / out
      // Rotating the rows: (Q_Bᵀ δ)ᵀ = δᵀ Q_B, one gemm.
      let d2 = delta.reshaped([rows, out])
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
            dRotated.reshaped([points, positions, out]), a.reshaped([points, positions, a.shape[1]]), transposeA: true)
          weightSquares = perTerm.map(.square).reduced(.sum, axes: [0])
        }
      }
      guard bias else { return (weightSquares, nil) }
      let g = prepared.positions == 1 ? dRotated : dRotated.reshaped([points, prepared.positions, out]).reduced(.sum, axes: [1])
      return (weightSquares, g.map(.square).reduced(.sum, axes: [0]))
    case let .convolution(geometry):
      let locations = delta.count / (points * out)
      var weightSquares: NDArray<Scalar>? = nil
      if weight, let patches = prepared.rows {
        let g = geometry.groups
        let d = delta.reshaped([points, g, out / g, locations])
        var perTerm = matmul(d, patches, transposeB: true).reshaped([points, out, patches.shape[2]])
        if let outputBasis { perTerm = matmul(outputBasis, perTerm, transposeA: true) }
        weightSquares = perTerm.map(.square).reduced(.sum, axes: [0])
      }
      guard bias else { return (weightSquares, nil) }
      let biasGradients = delta.reshaped([points, out, locations]).reduced(.sum, axes: [2])
      let rotated = outputBasis.map { matmul(biasGradients, $0) } ?? biasGradients
      return (weightSquares, rotated.map(.square).reduced(.sum, axes: [0]))
    case .embedding:
      return (nil, nil)   // refused by preparePerTermInput
    }
  }
}
