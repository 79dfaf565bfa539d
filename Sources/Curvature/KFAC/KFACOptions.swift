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

  /// Options for a KFAC approximation.
  public init(
    fisherType: FisherType = .mc, mcSamples: Int = 1, seed: UInt64 = 2_147_483_647,
    approximation: KFACApproximation = .expand, jointBias: Bool = false, otherParameters: OtherParameters? = nil
  ) {
    self.fisherType = fisherType
    self.mcSamples = mcSamples
    self.seed = seed
    self.approximation = approximation
    self.jointBias = jointBias
    self.otherParameters = otherParameters
  }
}
