/// Which curvature the gradient-covariance factor `B` approximates (curvlinops'
/// `FisherType`).
public enum FisherType: String, Sendable, Codable, CaseIterable {
  /// The loss Hessian's symmetric factor, one reverse pass per output (the type-2 Fisher:
  /// KFAC of the exact GGN).
  case type2 = "type-2"
  /// Gradients at labels sampled from the model's predictive distribution.
  case mc
  /// Gradients at the observed labels (KFAC of the empirical Fisher).
  case empirical
  /// `B = I`: input covariances only (FOOF, Benzing 2022; ISAAC, Petersen et al. 2023).
  case forwardOnly = "forward-only"
}

/// How weight sharing (sequence positions, convolution locations) enters the factors
/// (Eschenhagen et al. 2023).
public enum KFACApproximation: String, Sendable, Codable, CaseIterable {
  /// Every shared position is an example: exact for a linear network whose loss has a term
  /// per position.
  case expand
  /// Inputs are averaged and output gradients summed over shared positions: exact when the
  /// network reduces over the shared axis before the loss.
  case reduce
}

/// How a packed projection is factored: one weight read as row slices by several linear
/// nodes on the same input — `nn.MultiheadAttention`'s `in_proj_weight` `[3E, E]` (and
/// `in_proj_bias`) read by its q, k and v projections in self-attention.
public enum PackedProjection: String, Sendable, Codable, CaseIterable {
  /// One Kronecker block `B ⊗ A` over the whole weight, with `B` `[3E, 3E]` from the
  /// concatenated output gradients `[δ_q, δ_k, δ_v]`, the q–k–v cross terms included. The
  /// default: the weight is one parameter tensor (as curvlinops treats a parameter), and
  /// this block is exact wherever KFAC is (e.g. expand in a deep linear network).
  case oneBlock = "one-block"
  /// A Kronecker block per projection, `B_qq ⊗ A`, `B_kk ⊗ A`, `B_vv ⊗ A`: the block
  /// diagonal of the one-block form (what separate q, k, v Linear modules get), with
  /// factors a third of the size.
  case perProjection = "per-projection"
}

/// The choices of a KFAC approximation; defaults are curvlinops' (`KFACLinearOperator`).
public struct KFACOptions: Sendable, Hashable, Codable {
  /// The Fisher type (default `.mc`, as curvlinops).
  public var fisherType: FisherType = .mc
  /// Labels sampled per loss term for `.mc`.
  public var mcSamples: Int = 1
  /// The sampling seed for `.mc`.
  public var seed: UInt64 = 2_147_483_647
  /// The weight-sharing approximation (default `.expand`).
  public var approximation: KFACApproximation = .expand
  /// Treat a layer's weight and bias as one block (the bias as an extra input of 1)
  /// instead of two (curvlinops' `separate_weight_and_bias=False`).
  public var jointBias: Bool = false
  /// Selected parameter blocks outside every Linear and convolution node: nil refuses
  /// them (as curvlinops); otherwise they get their exact curvature block, its diagonal,
  /// or zero (a mixed operator, see `OtherParameters`).
  public var otherParameters: OtherParameters? = nil
  /// How a packed projection (`nn.MultiheadAttention`'s `in_proj_weight`) is factored
  /// (default `.oneBlock`).
  public var packedProjection: PackedProjection = .oneBlock
  /// Kronecker-factor the embeddings of a graph model whose token ids come from the data
  /// and whose weight no other node reads (default false: they are other parameters).
  /// Exact where KFAC is: with one-hot inputs the expand setting's token factor is the
  /// diagonal of token counts, so a network linear after the embedding with a loss term
  /// per position gets the embedding's exact GGN block. Costs a `[V, V]` factor (dense)
  /// and one-hot rows `[rows, V]` per batch. EKFAC keeps the token basis (the identity:
  /// the token factor is diagonal) and corrects the eigenvalues `[V, E]` from each data
  /// point's gradient rows of the tokens it reads.
  public var embeddings: Bool = false
  /// EKFAC on a graph model with several loss terms per data point (a loss per token):
  /// one reverse pass per term position and factor column. Attention mixes the positions,
  /// so one pass for all terms would sum their gradients at a node; apart, each term's
  /// gradient `Σ_s δ_s a_sᵀ` is exact. Costs `T` times the passes for `T` terms per data
  /// point (default false: `EKFACOperator` then refuses such models; KFAC needs no
  /// per-term gradients and ignores this; `curv` sets it for graph models).
  public var termByTerm: Bool = false
  /// Backpropagate a batch's factor columns (type-2: the loss Hessian's `C` square-root
  /// columns; mc: the `mcSamples` sampled gradients) together, as an extra batch axis,
  /// where the model allows it (a `Sequential` of Linear, Conv2d, Flatten and elementwise
  /// activation layers): one gemm per layer for all columns and no recorded graph. Equal
  /// to one reverse pass per column up to rounding (`B` sums the columns in another
  /// order); the columns at once are bounded by the memory budget. Default true; false
  /// takes one reverse pass per column through the recorded graph (the reference path).
  /// Not part of the options' coding (it does not change what is approximated).
  public var batchedColumns: Bool = true

  private enum CodingKeys: String, CodingKey {
    case fisherType, mcSamples, seed, approximation, jointBias, otherParameters, packedProjection, embeddings, termByTerm
  }

  /// Options for a KFAC approximation.
  public init(
    fisherType: FisherType = .mc, mcSamples: Int = 1, seed: UInt64 = 2_147_483_647,
    approximation: KFACApproximation = .expand, jointBias: Bool = false, otherParameters: OtherParameters? = nil,
    packedProjection: PackedProjection = .oneBlock, embeddings: Bool = false, termByTerm: Bool = false,
    batchedColumns: Bool = true
  ) {
    self.fisherType = fisherType
    self.mcSamples = mcSamples
    self.seed = seed
    self.approximation = approximation
    self.jointBias = jointBias
    self.otherParameters = otherParameters
    self.packedProjection = packedProjection
    self.embeddings = embeddings
    self.termByTerm = termByTerm
    self.batchedColumns = batchedColumns
  }
}
