import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// Per-term gradients of Linear and Conv2d layers, shared by the exact diagonals (GGN, MC
// and empirical Fisher) and by KFAC/EKFAC, so that neither calls into the other. Each of
// those matrices is a sum Σ_t Σ_k (J_tᵀ u_tk)(J_tᵀ u_tk)ᵀ over the loss terms t and "factor
// columns" u_tk (the columns of the loss Hessian's symmetric square root, sampled
// gradients, or the observed gradient). A forward pass taps every layer's input a and
// output; one reverse pass per column gives, at every tapped layer, the output cotangent δ
// of all terms at once; per-term weight gradients then come from δ and a (BackPACK's
// approach, Dangel, Kunstner & Hennig 2020).

extension CurvatureProblem {
  /// A forward pass over a batch that records a graph and taps the given layers: their
  /// inputs (values) and outputs (tensors a reverse pass can reach).
  /// - Throws: `CurvatureError.nonFinite` for non-finite network outputs.
  func tappedForward(
    _ sequential: Sequential<Scalar>, _ batch: Batch<Scalar>, layers: Set<Int>
  ) throws -> (output: Tensor<Scalar>, inputs: [Int: NDArray<Scalar>], outputs: [Int: Tensor<Scalar>]) {
    var inputs = [Int: NDArray<Scalar>](), outputs = [Int: Tensor<Scalar>]()
    let parameters = sequential.parameters.map { Tensor($0) }
    let output = AutodiffMode.recording(true) {
      sequential(Tensor(batch.inputs), parameters: parameters) { index, input, output in
        guard layers.contains(index) else { return output }
        inputs[index] = input.value
        let tapped = output.requiringGradient()
        outputs[index] = tapped
        return tapped
      }
    }
    try requireFinite(output.value, "network outputs for data points \(batch.range)")
    try requireRowTerms()
    return (output, inputs, outputs)
  }

  /// The per-term machinery (exact diagonals, KFAC, EKFAC) maps a layer's rows onto loss
  /// terms laid out along the outputs' last axis; per-position cross-entropy (class axis 1,
  /// outputs `[N, C, d1, …]`) is not laid out so (issue 16).
  /// - Throws: `CurvatureError.unsupported` for per-position cross-entropy.
  func requireRowTerms() throws {
    if loss.kind == .crossEntropy && sampleOutputShape.count > 1 {
      throw CurvatureError.unsupported(
        "per-position cross-entropy (outputs [N, C, d1, ...] = [N] + \(sampleOutputShape)) is not supported by KFAC, EKFAC and the exact diagonals yet; use the GGN, Fisher or Hessian operators")
    }
  }

  /// The columns `[C, T, C]` of the loss Hessian's symmetric square root for a batch's
  /// outputs `[T, C]` (`H_t = S_t S_tᵀ`; zero for ignored targets), unscaled: one factor
  /// column per reverse pass. Term rows are the outputs' layout here (`requireRowTerms`).
  func hessianSquareRootColumns(_ output: NDArray<Scalar>, batch: Batch<Scalar>) -> NDArray<Scalar> {
    loss.hessianSquareRoot(output, targets: batch.targets).permuted([2, 0, 1])
  }

  /// `samples` gradients `[M, T, C]` of the loss at labels sampled from the model's
  /// predictive distribution, unscaled, seeded per data point (reproducible across batch
  /// sizes).
  func sampledGradientColumns(_ output: NDArray<Scalar>, samples: Int, seed: UInt64, batch: Batch<Scalar>) -> NDArray<Scalar> {
    loss.sampledGradients(output, targets: batch.targets, samples: samples, seed: seed, dataIndices: termDataIndices(batch.range))
  }

  /// The observed gradient of every loss term as one factor column `[1, T, C]`, unscaled.
  func observedGradientColumns(_ output: NDArray<Scalar>, batch: Batch<Scalar>) -> NDArray<Scalar> {
    let g = loss.outputGradients(output, batch.targets)
    return g.reshaped([1] + g.shape)
  }

  /// One reverse pass per factor column, from the output to the tapped layer outputs:
  /// `body` receives the output gradients δ of every tapped layer for that column.
  func forEachFactorColumn(
    _ columns: NDArray<Scalar>, output: Tensor<Scalar>, tapped: [Tensor<Scalar>], _ body: ([NDArray<Scalar>]) throws -> Void
  ) rethrows {
    let width = columns.count / columns.shape[0]
    for k in 0..<columns.shape[0] {
      let seed = NDArray(shape: output.shape, scalars: Array(columns.scalars[(k * width)..<((k + 1) * width)]))
      let deltas = AutodiffMode.withoutRecording { gradients(of: [output], seeds: [Tensor(seed)], wrt: tapped) }
      try body(deltas.map(\.value))
    }
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
    // One implementation for layers and graph nodes (KFACNodes+PerTerm.swift); a
    // Sequential acts on the positions of a sequence separately.
    try preparePerTermInput(
      node: try perTermNode(layer), input: a, terms: terms, points: points, positionWise: true, inputBasis: inputBasis,
      withBiasColumn: withBiasColumn, weight: weight)
  }

  /// Per-term gradients of one Linear or Conv2d layer for one factor column, rotated into
  /// given bases, squared and summed over the terms:
  ///
  /// ```
  /// weight:  Σ_t (Q_Bᵀ G_t Q_A)²        bias:  Σ_t (Q_Bᵀ g_t)²
  /// ```
  ///
  /// where `G_t` is term `t`'s gradient of the weight as a matrix `[out, in]` (Conv2d:
  /// `[Cout, Cin/groups·kh·kw]`), summed over the positions the weight is shared across,
  /// with the bias gradient `g_t` appended as a last column when the input was prepared
  /// `withBiasColumn` (`[out, in+1]`; then pass `bias: false`), and a missing basis stands
  /// for the identity (the exact diagonal). One row per term: one gemm of squares,
  /// `(δ Q_B)²ᵀ (a Q_A)²`; several rows per term, and Conv2d: per-term gradients by a
  /// batched gemm, then squared.
  func squaredRotatedPerTermGradients(
    layer: any Layer<Scalar>, prepared: PerTermInput<Scalar>, delta: NDArray<Scalar>, points: Int,
    outputBasis: NDArray<Scalar>? = nil, weight: Bool, bias: Bool
  ) throws -> (weight: NDArray<Scalar>?, bias: NDArray<Scalar>?) {
    squaredRotatedPerTermGradients(
      node: try perTermNode(layer), prepared: prepared, delta: delta, points: points, outputBasis: outputBasis,
      weight: weight, bias: bias)
  }

  /// The Kronecker node of a Linear or Conv2d layer, for the node-based per-term gradients.
  /// - Throws: `CurvatureError.unsupported` for other layers.
  func perTermNode(_ layer: any Layer<Scalar>) throws -> KroneckerNode {
    guard let node = KroneckerNode(layer: layer, tap: 0, weightBlock: 0) else {
      throw CurvatureError.unsupported("per-term gradients: parameters in \(layer) are not supported (only Linear and Conv2d)")
    }
    return node
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
