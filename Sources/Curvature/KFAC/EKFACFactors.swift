import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

/// The eigenvalue-corrected Kronecker factors of one Linear or convolution node (EKFAC,
/// George et al. 2018).
///
/// KFAC's factors are replaced by their eigenbases `Q_A` (input) and `Q_B` (output
/// gradient), and the Kronecker product of their eigenvalues by corrected eigenvalues:
///
/// ```
/// weight block ≈ (Q_B ⊗ Q_A) diag(vec Λ*) (Q_B ⊗ Q_A)ᵀ        (row-major flattening)
/// Λ*_ij = (1/(R·M)) Σ_terms Σ_columns (Q_Bᵀ G Q_A)_ij²
/// ```
///
/// with `G` a loss term's gradient of the weight for one factor column (a loss-Hessian
/// square-root column for type-2, one of `M` sampled gradients for mc, the observed
/// gradient for empirical), `R` the loss's reduction factor (see `CurvatureProblem`).
/// `Λ*` is the diagonal of the exact curvature block in the Kronecker eigenbasis, so EKFAC
/// is the closest matrix to that block (in Frobenius norm) among those diagonal in the
/// basis — KFAC is one of them. A separate bias block is `Q_B diag(λ*) Q_Bᵀ` with
/// `λ*_i = (1/(R·M)) Σ Σ (Q_Bᵀ g)_i²` from the per-term bias gradients `g`; a joint
/// `[W b]` block appends the bias gradient to `G` as a last column.
///
/// EKFAC depends on the eigenbasis chosen within a repeated eigenvalue's eigenspace (for
/// instance the null space of a factor from fewer data points than inputs, or the reduce
/// setting's `A` of a strided, padded Conv2d whose kernel rows read the same input rows,
/// singular for any data), so two libraries agree only for factors with distinct
/// eigenvalues; saved EKFAC factors hold the bases themselves. The correction itself uses
/// the per-term gradients `Σ_s g_s x_sᵀ` summed over shared positions in both the expand
/// and the reduce setting, as curvlinops does.
///
/// Per-term gradients are exact: for Conv2d with `groups > 1` each group's weights see
/// their own patches (curvlinops averages the patches over groups here, as for `A`), and
/// outputs with several loss terms per data point (sequences, one term per position) are
/// supported for networks that act position-wise (curvlinops' EKFAC needs 2-D outputs).
public struct EKFACLayerFactors<Scalar: BLASScalar>: Sendable, Equatable {
  /// The node's tap id (a `Sequential`'s layer index, a graph's node index).
  public var layer: Int
  /// The parameter block of the weight among the model's blocks, when selected.
  public var weightBlock: Int?
  /// The parameter block of the bias, when selected.
  public var biasBlock: Int?
  /// Whether weight and bias form one joint block.
  public var joint: Bool
  /// The weight's rows (`out`) and columns (`in`, or `Cin/groups·kh·kw`).
  public var weightShape: [Int]
  /// The eigenvectors of the input covariance `A` as columns (`[in, in]`, `[in+1, in+1]`
  /// joint; nil when only the bias is selected).
  public var inputBasis: NDArray<Scalar>?
  /// The eigenvectors of the output-gradient covariance `B` as columns, `[out, out]`.
  public var gradientBasis: NDArray<Scalar>
  /// The corrected eigenvalues of the weight (or joint) block, `[out, in]` (`[out, in+1]`).
  public var eigenvalues: NDArray<Scalar>?
  /// The corrected eigenvalues of a separate bias block, `[out]`.
  public var biasEigenvalues: NDArray<Scalar>?

  /// Factors from their parts (e.g. read from a file); checked by `EKFACOperator`.
  public init(
    layer: Int, weightBlock: Int?, biasBlock: Int?, joint: Bool, weightShape: [Int],
    inputBasis: NDArray<Scalar>?, gradientBasis: NDArray<Scalar>, eigenvalues: NDArray<Scalar>?,
    biasEigenvalues: NDArray<Scalar>?
  ) {
    self.layer = layer
    self.weightBlock = weightBlock
    self.biasBlock = biasBlock
    self.joint = joint
    self.weightShape = weightShape
    self.inputBasis = inputBasis
    self.gradientBasis = gradientBasis
    self.eigenvalues = eigenvalues
    self.biasEigenvalues = biasEigenvalues
  }

  /// The order of `A` (and of the rows of `Λ*`): `in`, or `in + 1` for a joint block.
  var inputOrder: Int { weightShape[1] + (joint ? 1 : 0) }

  /// Whether the parts have the shapes the layout asks for.
  var isConsistent: Bool {
    let out = weightShape[0]
    guard gradientBasis.shape == [out, out] else { return false }
    if weightBlock != nil {
      guard inputBasis?.shape == [inputOrder, inputOrder], eigenvalues?.shape == [out, inputOrder] else { return false }
    } else if inputBasis != nil || eigenvalues != nil {
      return false
    }
    let separateBias = biasBlock != nil && !joint
    return separateBias ? biasEigenvalues?.shape == [out] : biasEigenvalues == nil
  }
}

extension EKFACLayerFactors: KroneckerLayerLayout {}

extension NDArray {
  /// Factor columns `[K, T, C]` with only the terms `t ≡ position (mod every)` kept (the
  /// terms of one data point are consecutive).
  func keepingTerms(_ position: Int, every: Int) -> NDArray {
    var result = self
    let (k, t) = (shape[0], shape[1])
    let c = count / Swift.max(k * t, 1)
    for column in 0..<k {
      for term in 0..<t where term % every != position {
        for i in 0..<c { result.scalars[(column * t + term) * c + i] = 0 }
      }
    }
    return result
  }
}

extension CurvatureProblem {
  /// EKFAC factors from KFAC factors: eigendecompositions of `A` and `B`, then one pass
  /// over the data accumulating the squared per-term gradients in the eigenbases.
  /// - Throws: `CurvatureError` for unsupported layers or outputs, invalid data,
  ///   non-finite values, or factors that cannot be decomposed.
  /// - Complexity: One forward pass and (`C`, `M` or 1) reverse passes per batch; per
  ///   layer and column, gemms of the rows with the bases.
  func ekfacFactors(_ options: KFACOptions, kfac: [KFACLayerFactors<Scalar>]) throws -> [EKFACLayerFactors<Scalar>] {
    guard options.fisherType != .forwardOnly else {
      throw CurvatureError.invalidArgument("EKFAC needs gradients: use the type-2, mc or empirical Fisher type, not forward-only")
    }
    let layout = try kfacLayout(jointBias: options.jointBias, allowingOthers: options.otherParameters != nil, embeddings: options.embeddings)
    // A Sequential acts on the positions of a sequence separately; a graph may mix them.
    let positionWise = layout.model is Sequential<Scalar>
    // The eigenbases, spread over the ranks and broadcast: [Q_B] or [Q_B, Q_A] per node.
    let bases = try spreadOverRanks(kfac, arrays: 2) { f -> [NDArray<Scalar>] in
      do {
        // An embedding's token factor is diagonal (token counts): its eigenbasis is the
        // identity, taken as is (an eigensolver may permute or mix equal counts).
        let embedding = layout.nodes[f.layer]!.isEmbedding
        let qb = embedding ? NDArray<Scalar>.identity(f.weightShape[0]) : try f.gradientCovariance.symmetricEigen().vectors
        let qa = try f.inputCovariance?.symmetricEigen().vectors
        return [qb] + (qa.map { [$0] } ?? [])
      } catch {
        throw CurvatureError.nonFinite("KFAC factors of layer \(f.layer) could not be decomposed: \(error)")
      }
    }
    var factors = zip(kfac, bases).map { f, basis -> EKFACLayerFactors<Scalar> in
      let qb = basis[0]
      let qa = f.inputCovariance == nil ? nil : basis[1]
      let out = f.weightShape[0]
      return EKFACLayerFactors(
        layer: f.layer, weightBlock: f.weightBlock, biasBlock: f.biasBlock, joint: f.joint,
        weightShape: f.weightShape, inputBasis: qa, gradientBasis: qb,
        eigenvalues: qa.map { NDArray(zeros: [out, $0.shape[0]]) },
        biasEigenvalues: f.biasBlock != nil && !f.joint ? NDArray(zeros: [out]) : nil)
    }

    let taps = layout.taps
    for range in localBatchRanges {
      let batch = try checkedBatch(range)
      let (output, inputs, outputs) = try tappedNodeForward(layout.model, batch, taps: taps)
      let columns = factorColumns(options, output: output.value, batch: batch)!
      let terms = columns.shape[1]
      // Several terms per data point in a graph (attention may mix the positions): with
      // `termByTerm`, one term position per reverse pass, each pass then holding one term
      // per data point.
      let termsPerPoint = terms / range.count
      let byTerm = options.termByTerm && !positionWise && termsPerPoint > 1 && terms == termsPerPoint * range.count
      // Per node once per batch: the input rows or patches, rotated into Q_A.
      let prepared = try factors.map { f -> PerTermInput<Scalar>? in
        if layout.nodes[f.layer]!.isEmbedding {
          // Embeddings: per-data-point gradients from the token ids (`embeddingSquares`).
          guard byTerm || terms == range.count else {
            throw CurvatureError.unsupported(
              "per-term gradients: embedding \(layout.nodes[f.layer]!.name) feeds \(terms) loss terms for \(range.count) data points; EKFAC needs one term per data point or KFACOptions.termByTerm")
          }
          return nil
        }
        return try preparePerTermInput(
          node: layout.nodes[f.layer]!, input: inputs[f.layer]!, terms: byTerm ? range.count : terms, points: range.count,
          positionWise: positionWise, inputBasis: f.inputBasis, withBiasColumn: f.joint, weight: f.weightBlock != nil)
      }
      for position in 0..<(byTerm ? termsPerPoint : 1) {
        let seeds = byTerm ? columns.keepingTerms(position, every: termsPerPoint) : columns
        forEachOutputLayoutColumn(seeds, output: output, tapped: layout.tappedOutputs(outputs)) { deltas in
          for (slot, delta) in layout.nodeDeltas(deltas).enumerated() {
            let f = factors[slot]
            let node = layout.nodes[f.layer]!
            if case let .embedding(paddingIndex) = node.operation {
              if let qa = f.inputBasis {
                factors[slot].eigenvalues!.add(Self.embeddingSquares(
                  ids: inputs[f.layer]!, delta: delta, points: range.count, rows: f.weightShape[0], paddingIndex: paddingIndex,
                  basis: qa))
              }
              continue
            }
            let squares = squaredRotatedPerTermGradients(
              node: node, prepared: prepared[slot]!, delta: delta, points: range.count,
              outputBasis: f.gradientBasis, weight: f.weightBlock != nil, bias: f.biasBlock != nil && !f.joint)
            if let w = squares.weight { factors[slot].eigenvalues!.add(w) }
            if let b = squares.bias { factors[slot].biasEigenvalues!.add(b) }
          }
        }
      }
    }

    if isDataParallel {
      // Every node's corrected eigenvalues in one all-reduce.
      var sums = factors.flatMap { [$0.eigenvalues, $0.biasEigenvalues].compactMap { $0 } }
      try allReduce(&sums)
      var next = 0
      for slot in factors.indices {
        if factors[slot].eigenvalues != nil { factors[slot].eigenvalues = sums[next]; next += 1 }
        if factors[slot].biasEigenvalues != nil { factors[slot].biasEigenvalues = sums[next]; next += 1 }
      }
    }
    let scale = 1 / (Scalar(reductionFactor) * Scalar(options.fisherType == .mc ? options.mcSamples : 1))
    for slot in factors.indices {
      factors[slot].eigenvalues?.scale(by: scale)
      factors[slot].biasEigenvalues?.scale(by: scale)
    }
    return factors
  }

  /// An embedding's squared per-data-point gradients in the eigenbasis, summed over the data
  /// points: `Σ_n (G_n Q_A)²` with `G_n = Σ_s e_{id_ns} δ_nsᵀ` (`[V, E]`, rows of the tokens
  /// data point n reads; none for the padding index or an id outside the rows). The token
  /// basis is the identity, so only the feature side is rotated.
  /// - Parameters:
  ///   - ids: The token ids `[N, ...]`.
  ///   - delta: The output gradient `[N, ..., E]` for one factor column.
  ///   - points: `N`.
  ///   - rows: The vocabulary size `V`.
  ///   - paddingIndex: The row without gradient, if any.
  ///   - basis: `Q_A`, the eigenvectors of the output-gradient covariance `[E, E]`.
  /// - Returns: `[V, E]`.
  /// - Complexity: One gemm `[N·S, E] × [E, E]`, then `O(N·S·E)`.
  static func embeddingSquares(
    ids: NDArray<Scalar>, delta: NDArray<Scalar>, points: Int, rows: Int, paddingIndex: Int?, basis: NDArray<Scalar>
  ) -> NDArray<Scalar> {
    let e = basis.shape[0]
    let rotated = matmul(delta.reshaped([delta.count / e, e]), basis)   // rows δᵀ Q_A
    let perPoint = ids.count / Swift.max(points, 1)
    var total = [Scalar](repeating: 0, count: rows * e)
    for n in 0..<points {
      var sums = [Int: [Scalar]]()
      for s in 0..<perPoint {
        let id = ids.scalars[n * perPoint + s]
        guard id >= 0, id < Scalar(rows), id == id.rounded(), Int(id) != paddingIndex else { continue }
        let row = (n * perPoint + s) * e
        sums[Int(id), default: [Scalar](repeating: 0, count: e)].withUnsafeMutableBufferPointer { target in
          for j in 0..<e { target[j] += rotated.scalars[row + j] }
        }
      }
      for (token, g) in sums {
        for j in 0..<e { total[token * e + j] += g[j] * g[j] }
      }
    }
    return NDArray(shape: [rows, e], scalars: total)
  }
}
