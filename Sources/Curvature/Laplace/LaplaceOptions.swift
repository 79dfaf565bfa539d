import CurvatureNumerics

/// The likelihood of a Laplace approximation, as laplace-torch names it.
///
/// - `classification`: categorical with softmax link, `log p(y|f) = −CE(f, y)` (the model's
///   loss is cross-entropy).
/// - `regression`: Gaussian, `log p(y|f) = −½‖f − y‖²/σ² − C·log(σ√(2π))` per data point
///   (the model's loss is MSE).
public enum LaplaceLikelihood: String, Sendable, Codable, CaseIterable {
  /// Categorical with softmax link (cross-entropy).
  case classification
  /// Gaussian (MSE).
  case regression

  /// The likelihood a loss implies: cross-entropy → classification, MSE → regression.
  /// - Throws: `CurvatureError.incompatible` for any other loss (e.g. BCE with logits) or a
  ///   cross-entropy with label smoothing (not a likelihood).
  public static func from<T: BLASScalar>(_ loss: Loss<T>) throws -> LaplaceLikelihood {
    switch loss.kind {
    case .crossEntropy:
      guard loss.labelSmoothing == 0 else {
        throw CurvatureError.incompatible("a Laplace approximation needs a log-likelihood loss; cross-entropy with label smoothing \(loss.labelSmoothing) is not one")
      }
      return .classification
    case .mse: return .regression
    case .bceWithLogits:
      throw CurvatureError.incompatible("a Laplace approximation supports cross-entropy (classification) and MSE (regression) losses, not bce_with_logits")
    }
  }
}

/// The structure of the log-likelihood curvature in a Laplace approximation (laplace-torch's
/// `hessian_structure`); the curvature is the generalized Gauss-Newton matrix of the summed
/// log-likelihood.
public enum LaplaceStructure: Sendable, Hashable, Codable {
  /// The dense GGN (`P × P`).
  case full
  /// The exact diagonal of the GGN (BackPACK's DiagGGN).
  case diag
  /// KFAC (default type-2, expand, separate weight and bias blocks, as laplace-torch's
  /// curvlinops backend) with eigendecomposed factors.
  case kron(KFACOptions)
  /// EKFAC (George et al. 2018): KFAC's eigenbases `Q_B ⊗ Q_A` with the eigenvalues
  /// replaced by the GGN's diagonal in that basis (default type-2, expand, separate bias),
  /// so the posterior precision per layer is `Q (s·Λ* + δ) Qᵀ`. laplace-torch has no EKFAC.
  case ekfac(KFACOptions)
  /// The top `rank` eigenpairs of the GGN by Lanczos, plus the diagonal prior.
  case lowRank(rank: Int)

  /// KFAC with laplace-torch's defaults: type-2 Fisher, expand, separate bias.
  public static var kron: LaplaceStructure { .kron(KFACOptions(fisherType: .type2)) }

  /// EKFAC with laplace-torch's KFAC defaults: type-2 Fisher, expand, separate bias.
  public static var ekfac: LaplaceStructure { .ekfac(KFACOptions(fisherType: .type2)) }

  /// Whether the curvature is Kronecker-factored per parameter tensor (kron or ekfac), so
  /// the prior precision is a scalar or one per tensor.
  public var isKronecker: Bool {
    switch self {
    case .kron, .ekfac: return true
    case .full, .diag, .lowRank: return false
    }
  }

  /// A short name: `full`, `diag`, `kron`, `ekfac` or `lowrank`.
  public var name: String {
    switch self {
    case .full: return "full"
    case .diag: return "diag"
    case .kron: return "kron"
    case .ekfac: return "ekfac"
    case .lowRank: return "lowrank"
    }
  }
}

/// Which parameters the Laplace approximation covers (laplace-torch's `subset_of_weights`).
public enum LaplaceSubset: String, Sendable, Codable, CaseIterable {
  /// Every parameter of the problem's selected blocks.
  case all
  /// The weight and bias of the model's last Linear layer (the network below it is a fixed
  /// feature extractor).
  case lastLayer = "last-layer"
}

/// How the GLM predictive maps the Gaussian over logits to class probabilities.
public enum LinkApproximation: Sendable, Hashable {
  /// `softmax(μ / √(1 + π/8 · diag Σ))` (MacKay 1992).
  case probit
  /// The Laplace bridge to a Dirichlet (Hobbhahn, Kristiadi & Hennig 2022), as
  /// laplace-torch computes it (with the zero-mean correction).
  case bridge
  /// The mean of `softmax(f)` over `samples` draws `f ~ N(μ, Σ)`, seeded.
  case monteCarlo(samples: Int, seed: UInt64)
}
