import CurvatureNumerics
import CurvatureAutodiff

/// A first-order optimizer: updates parameter blocks in place from their gradients.
public protocol Optimizer<Scalar>: Sendable {
  /// The element type.
  associatedtype Scalar: BLASScalar

  /// One update step.
  /// - Parameters:
  ///   - parameters: The parameter blocks, updated in place.
  ///   - gradients: One gradient per block, shaped like it.
  mutating func step(_ parameters: inout [NDArray<Scalar>], gradients: [NDArray<Scalar>])
}

/// Stochastic gradient descent with momentum and weight decay, exactly as PyTorch's
/// `torch.optim.SGD` (dampening 0):
///
/// ```
/// g ← ∇ + λ θ;   b ← μ b + g (b = g on the first step);   θ ← θ − η (nesterov ? g + μ b : b)
/// ```
public struct SGD<Scalar: BLASScalar>: Optimizer {
  /// The step size `η`.
  public var learningRate: Scalar
  /// The momentum `μ` (0: none).
  public var momentum: Scalar
  /// The weight decay `λ` (0: none).
  public var weightDecay: Scalar
  /// Whether the step uses Nesterov momentum.
  public var nesterov: Bool
  var buffers: [NDArray<Scalar>] = []
  var steps = 0

  /// An SGD optimizer; defaults are PyTorch's (no momentum, no weight decay).
  public init(learningRate: Scalar, momentum: Scalar = 0, weightDecay: Scalar = 0, nesterov: Bool = false) {
    self.learningRate = learningRate
    self.momentum = momentum
    self.weightDecay = weightDecay
    self.nesterov = nesterov
  }

  public mutating func step(_ parameters: inout [NDArray<Scalar>], gradients: [NDArray<Scalar>]) {
    precondition(parameters.count == gradients.count, "SGD.step: \(parameters.count) blocks, \(gradients.count) gradients")
    for i in parameters.indices {
      var g = gradients[i]
      if weightDecay != 0 { g.add(parameters[i], scaledBy: weightDecay) }
      var direction = g
      if momentum != 0 {
        if steps == 0 {
          buffers.append(g)
        } else {
          buffers[i].scale(by: momentum)
          buffers[i].add(g)
        }
        if nesterov {
          direction.add(buffers[i], scaledBy: momentum)
        } else {
          direction = buffers[i]
        }
      }
      parameters[i].add(direction, scaledBy: -learningRate)
    }
    steps += 1
  }
}

/// Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), as PyTorch's
/// `torch.optim.Adam` / `AdamW`:
///
/// ```
/// Adam:  g ← ∇ + λθ          AdamW: θ ← θ (1 − ηλ)
/// m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²
/// θ ← θ − η (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)
/// ```
public struct Adam<Scalar: BLASScalar>: Optimizer {
  /// The step size `η`.
  public var learningRate: Scalar
  /// The decay `β₁` of the first-moment average.
  public var beta1: Scalar
  /// The decay `β₂` of the second-moment average.
  public var beta2: Scalar
  /// The constant `ε` added to the denominator.
  public var epsilon: Scalar
  /// The weight decay `λ` (0: none).
  public var weightDecay: Scalar
  /// Decoupled weight decay (AdamW) instead of L2 regularization in the gradient.
  public var decoupledWeightDecay: Bool
  var firstMoments: [NDArray<Scalar>] = []
  var secondMoments: [NDArray<Scalar>] = []
  var steps = 0

  /// Adam with PyTorch's defaults (β = (0.9, 0.999), ε = 1e-8, no weight decay).
  public init(
    learningRate: Scalar = 1e-3, beta1: Scalar = 0.9, beta2: Scalar = 0.999, epsilon: Scalar = 1e-8,
    weightDecay: Scalar = 0, decoupledWeightDecay: Bool = false
  ) {
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.weightDecay = weightDecay
    self.decoupledWeightDecay = decoupledWeightDecay
  }

  /// AdamW with PyTorch's defaults (weight decay 0.01).
  public static func adamW(learningRate: Scalar = 1e-3, weightDecay: Scalar = 0.01) -> Adam {
    Adam(learningRate: learningRate, weightDecay: weightDecay, decoupledWeightDecay: true)
  }

  public mutating func step(_ parameters: inout [NDArray<Scalar>], gradients: [NDArray<Scalar>]) {
    precondition(parameters.count == gradients.count, "Adam.step: \(parameters.count) blocks, \(gradients.count) gradients")
    if firstMoments.isEmpty {
      firstMoments = parameters.map { NDArray(zeros: $0.shape) }
      secondMoments = firstMoments
    }
    steps += 1
    let correction1 = 1 - Scalar.pow(beta1, steps), correction2 = 1 - Scalar.pow(beta2, steps)
    for i in parameters.indices {
      var g = gradients[i]
      if weightDecay != 0 {
        if decoupledWeightDecay {
          parameters[i].scale(by: 1 - learningRate * weightDecay)
        } else {
          g.add(parameters[i], scaledBy: weightDecay)
        }
      }
      firstMoments[i].scale(by: beta1)
      firstMoments[i].add(g, scaledBy: 1 - beta1)
      secondMoments[i].scale(by: beta2)
      secondMoments[i].add(g.map(.square), scaledBy: 1 - beta2)
      let denominator = (secondMoments[i] * (1 / correction2)).map(.sqrt).adding(epsilon)
      let update = NDArray.binary(.divide, firstMoments[i], denominator)
      parameters[i].add(update, scaledBy: -learningRate / correction1)
    }
  }
}
