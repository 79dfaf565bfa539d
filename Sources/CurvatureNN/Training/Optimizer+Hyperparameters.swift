import CurvatureNumerics

/// An optimizer's settings as instruments need them: cockpit's CABS and early-stopping
/// criteria are defined for plain SGD, and its α projects gradients onto the update.
public struct OptimizerHyperparameters<Scalar: BLASScalar>: Sendable, Hashable {
  /// `"sgd"`, `"adam"`, `"adamw"`, or `"other"` for optimizers this library does not know.
  public var name: String
  /// The learning rate, when the optimizer has one this library knows.
  public var learningRate: Scalar?
  /// SGD's momentum (0 without), or Adam's β₁; nil for unknown optimizers.
  public var momentum: Scalar?
  /// The weight decay, when known.
  public var weightDecay: Scalar?
  /// Whether this is SGD with zero momentum, zero weight decay and no Nesterov step
  /// (cockpit's `is_sgd_default_kwargs`): the update is then `−η ∇L` exactly.
  public var isPlainSGD: Bool

  /// Settings from their parts.
  public init(name: String, learningRate: Scalar? = nil, momentum: Scalar? = nil, weightDecay: Scalar? = nil, isPlainSGD: Bool = false) {
    self.name = name
    self.learningRate = learningRate
    self.momentum = momentum
    self.weightDecay = weightDecay
    self.isPlainSGD = isPlainSGD
  }
}

extension Optimizer {
  /// This optimizer's settings: filled in for `SGD` and `Adam`; `name == "other"` and no
  /// values for other optimizers.
  public var hyperparameters: OptimizerHyperparameters<Scalar> {
    if let sgd = self as? SGD<Scalar> {
      return OptimizerHyperparameters(
        name: "sgd", learningRate: sgd.learningRate, momentum: sgd.momentum, weightDecay: sgd.weightDecay,
        isPlainSGD: sgd.momentum == 0 && sgd.weightDecay == 0 && !sgd.nesterov)
    }
    if let adam = self as? Adam<Scalar> {
      return OptimizerHyperparameters(
        name: adam.decoupledWeightDecay ? "adamw" : "adam", learningRate: adam.learningRate,
        momentum: adam.beta1, weightDecay: adam.weightDecay)
    }
    return OptimizerHyperparameters(name: "other")
  }
}
