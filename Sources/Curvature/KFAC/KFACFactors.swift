import CurvatureNumerics

/// The Kronecker factors of one Linear or convolution layer or graph node.
///
/// With the row-major parameter flattening, the layer's curvature block is approximated by
///
/// ```
/// weight:  B ⊗ A        bias: B        joint [W b]:  B ⊗ A_joint
/// ```
///
/// where `A` (input covariance, `[in, in]`; `[in+1, in+1]` joint) and `B` (output-gradient
/// covariance, `[out, out]`) follow curvlinops' `KFACLinearOperator` scaling:
///
/// ```
/// A = (1/(N·S)) Σ_rows x xᵀ                    (expand: S shared positions per example)
/// A = (1/N) Σ_n x̄_n x̄_nᵀ                       (reduce: x̄ = mean over positions)
/// B = (1/(R·M)) Σ_columns Σ_rows δ δᵀ          (reduce: δ summed over positions)
/// ```
///
/// with `N` data points, `R` the loss's reduction factor (see `CurvatureProblem`), `δ` the
/// gradient at the layer's output of one factor column (a loss-Hessian square-root column,
/// a sampled gradient — `M` samples — or the observed gradient), and `B = I` for
/// forward-only. Conv2d inputs are the unfolded patches (averaged over channel groups, as
/// curvlinops does). These conventions make KFAC exact where theory says it is — one data
/// point; deep linear networks — and equal to curvlinops' factors.
///
/// A packed projection (`PackedProjection`) is one node: `δ` is the concatenation of its
/// projections' output gradients (`B` `[3E, 3E]`, or its diagonal blocks). An embedding
/// (`KFACOptions.embeddings`) has its weight `[V, E]` indexed (token, feature), so the roles
/// swap: `gradientCovariance` holds the token factor `[V, V]` from the one-hot input rows
/// (the diagonal of token counts over `N·S` under expand), `inputCovariance` the
/// output-gradient covariance `[E, E]`, and the block is still `gradientCovariance ⊗
/// inputCovariance` in the row-major flattening.
public struct KFACLayerFactors<Scalar: BLASScalar>: Sendable, Equatable {
  /// The node's tap id (a `Sequential`'s layer index, a graph's node index; see
  /// `KroneckerFactorable`).
  public var layer: Int
  /// The parameter block of the weight among the model's blocks, when selected.
  public var weightBlock: Int?
  /// The parameter block of the bias, when selected.
  public var biasBlock: Int?
  /// Whether weight and bias form one joint block.
  public var joint: Bool
  /// The input covariance (nil when only the bias is selected).
  public var inputCovariance: NDArray<Scalar>?
  /// The output-gradient covariance.
  public var gradientCovariance: NDArray<Scalar>
  /// The weight's rows (`out`) and columns (`in`, or `Cin/groups·kh·kw`).
  public var weightShape: [Int]

  /// Factors from their parts (e.g. computed elsewhere); checked by `KFACOperator`.
  public init(
    layer: Int, weightBlock: Int?, biasBlock: Int?, joint: Bool, inputCovariance: NDArray<Scalar>?,
    gradientCovariance: NDArray<Scalar>, weightShape: [Int]
  ) {
    self.layer = layer
    self.weightBlock = weightBlock
    self.biasBlock = biasBlock
    self.joint = joint
    self.inputCovariance = inputCovariance
    self.gradientCovariance = gradientCovariance
    self.weightShape = weightShape
  }
}

extension KFACLayerFactors {
  /// The number of parameters this layer contributes among the selected ones.
  var dimension: Int {
    (weightBlock != nil ? weightShape[0] * weightShape[1] : 0) + (biasBlock != nil ? weightShape[0] : 0)
  }
}
