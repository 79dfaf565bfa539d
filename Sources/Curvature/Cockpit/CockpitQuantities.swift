import CurvatureNumerics

/// cockpit-for-pytorch's gradient-noise and curvature statistics of one minibatch, from
/// the individual gradients as its quantities define them (Schneider, Dangel & Hennig
/// 2021, "Cockpit: A Practical Debugging Tool for the Training of Deep Neural Networks",
/// NeurIPS).
///
/// For a minibatch of `B` points with loss `L = (1/B) Σᵢ ℓᵢ`, the individual gradients are
/// `gᵢ = ∇ℓᵢ` (rows of `individualGradients`, `[B, P]`; BackPACK's `BatchGrad` times `B`)
/// and `g = ∇L` is the minibatch gradient (`gradient`, `[P]`). Every statistic is computed
/// in `Double`. Those that divide by `B − 1` (a sample variance) return nil for `B = 1`.
public enum CockpitQuantities {
  /// The row sums of squares and projections shared by the gradient tests: `|gᵢ|²`,
  /// `gᵢ·g` and `|g|²`.
  static func norms<T: BLASScalar>(_ individual: NDArray<T>, _ gradient: NDArray<T>) -> (squares: [Double], projections: [Double], gradientSquare: Double) {
    let (b, p) = (individual.shape[0], individual.shape[1])
    let g = gradient.scalars.map(Double.init)
    var squares = [Double](repeating: 0, count: b), projections = [Double](repeating: 0, count: b)
    individual.scalars.withUnsafeBufferPointer { rows in
      for i in 0..<b {
        var s = 0.0, d = 0.0
        for j in 0..<p {
          let x = Double(rows[i * p + j])
          s += x * x
          d += x * g[j]
        }
        squares[i] = s
        projections[i] = d
      }
    }
    return (squares, projections, g.reduce(0) { $0 + $1 * $1 })
  }

  /// Per parameter `Σᵢ gᵢ²` (BackPACK's `SumGradSquared` times `B²`).
  static func sumOfSquares<T: BLASScalar>(_ individual: NDArray<T>) -> [Double] {
    let (b, p) = (individual.shape[0], individual.shape[1])
    var sums = [Double](repeating: 0, count: p)
    individual.scalars.withUnsafeBufferPointer { rows in
      for i in 0..<b {
        for j in 0..<p {
          let x = Double(rows[i * p + j])
          sums[j] += x * x
        }
      }
    }
    return sums
  }

  /// The norm test's largest passing θ (Byrd, Chin, Nocedal & Wu 2012, "Sample size
  /// selection in optimization methods for machine learning", Math. Program. 134, eq. 3.9):
  /// `√(Σᵢ|gᵢ − g|²/(B−1) / (B |g|²))`, computed as cockpit does from `Σᵢ|gᵢ|² − B|g|²`.
  /// - Parameters:
  ///   - individualGradients: `[B, P]`.
  ///   - gradient: `[P]`.
  /// - Returns: θ, or nil for `B < 2`.
  public static func normTest<T: BLASScalar>(individualGradients: NDArray<T>, gradient: NDArray<T>) -> Double? {
    let b = individualGradients.shape[0]
    guard b > 1 else { return nil }
    let (squares, _, g2) = norms(individualGradients, gradient)
    let variance = (squares.reduce(0, +) - Double(b) * g2) / Double(b - 1)
    return (variance / Double(b) / g2).squareRoot()
  }

  /// The inner product test's largest passing θ (Bollapragada, Byrd & Nocedal 2018,
  /// "Adaptive sampling strategies for stochastic optimization", SIAM J. Optim. 28, eq. 2.6):
  /// the sample variance of the projections `gᵢ·g`, `(Σᵢ(gᵢ·g)² − B|g|⁴)/(B−1)`, over `B |g|⁴`,
  /// square-rooted.
  /// - Returns: θ, or nil for `B < 2`.
  public static func innerTest<T: BLASScalar>(individualGradients: NDArray<T>, gradient: NDArray<T>) -> Double? {
    let b = individualGradients.shape[0]
    guard b > 1 else { return nil }
    let (_, projections, g2) = norms(individualGradients, gradient)
    let variance = (projections.reduce(0) { $0 + $1 * $1 } - Double(b) * g2 * g2) / Double(b - 1)
    return (variance / Double(b) / (g2 * g2)).squareRoot()
  }

  /// The orthogonality test's largest passing ν (Bollapragada, Byrd & Nocedal 2018, eq. 3.3):
  /// the sample variance of the gradients' parts orthogonal to `g`,
  /// `(Σᵢ|gᵢ|² − Σᵢ(gᵢ·g)²/|g|²)/(B−1)`, over `B |g|²`, square-rooted.
  /// - Returns: ν, or nil for `B < 2`.
  public static func orthoTest<T: BLASScalar>(individualGradients: NDArray<T>, gradient: NDArray<T>) -> Double? {
    let b = individualGradients.shape[0]
    guard b > 1 else { return nil }
    let (squares, projections, g2) = norms(individualGradients, gradient)
    let variance = (squares.reduce(0, +) - projections.reduce(0) { $0 + $1 * $1 / g2 }) / Double(b - 1)
    return (variance / Double(b) / g2).squareRoot()
  }

  /// The mean gradient signal-to-noise ratio (Liu et al. 2020, "Understanding why neural
  /// networks generalize well through GSNR of parameters", ICLR), as cockpit's `MeanGSNR`:
  /// the mean over parameters of `g_d² / ((1/B) Σᵢ g_{i,d}² − g_d² + ε)`.
  /// - Parameters:
  ///   - individualGradients: `[B, P]`, the minibatch's individual gradients.
  ///   - gradient: `[P]`, their mean, the minibatch gradient.
  ///   - epsilon: cockpit's stabilizer, 1e-5.
  public static func meanGSNR<T: BLASScalar>(individualGradients: NDArray<T>, gradient: NDArray<T>, epsilon: Double = 1e-5) -> Double {
    let b = Double(individualGradients.shape[0])
    let sums = sumOfSquares(individualGradients)
    var total = 0.0
    for (d, x) in gradient.scalars.enumerated() {
      let g2 = Double(x) * Double(x)
      total += g2 / (sums[d] / b - g2 + epsilon)
    }
    return total / Double(gradient.count)
  }

  /// The batch size CABS suggests (Balles, Romero & Hennig 2017, "Coupling adaptive batch
  /// sizes with learning rates", UAI, eq. 22): `η Σ_d (Σᵢ g_{i,d}² − B g_d²) / (B L)` — the
  /// learning rate times the trace of the gradient covariance over the loss.
  ///
  /// CABS is derived for SGD without momentum; `Cockpit` records it only for such steps
  /// (cockpit raises an error otherwise).
  /// - Parameters:
  ///   - individualGradients: `[B, P]`, the minibatch's individual gradients.
  ///   - gradient: `[P]`, their mean, the minibatch gradient.
  ///   - learningRate: SGD's `η`.
  ///   - loss: The minibatch loss `L`.
  public static func cabs<T: BLASScalar>(individualGradients: NDArray<T>, gradient: NDArray<T>, learningRate: Double, loss: Double) -> Double {
    let b = Double(individualGradients.shape[0])
    let sums = sumOfSquares(individualGradients)
    var total = 0.0
    for (d, x) in gradient.scalars.enumerated() { total += sums[d] - b * Double(x) * Double(x) }
    return learningRate * total / (b * loss)
  }

  /// The evidence-based early-stopping criterion (Mahsereci, Balles, Lassner & Hennig 2017,
  /// "Early stopping without a validation set", arXiv:1703.09580, left side of eq. 7):
  /// `1 − B · mean_d g_d² / (σ_d² + ε)` with the per-parameter sample variance
  /// `σ_d² = (Σᵢ g_{i,d}² − B g_d²)/(B−1)`; above 0, training should stop.
  ///
  /// Like CABS it is derived for SGD without momentum; `Cockpit` records it only for such
  /// steps.
  /// - Parameters:
  ///   - individualGradients: `[B, P]`, the minibatch's individual gradients.
  ///   - gradient: `[P]`, their mean, the minibatch gradient.
  ///   - epsilon: cockpit's stabilizer, 1e-5.
  /// - Returns: The criterion, or nil for `B < 2`.
  public static func earlyStopping<T: BLASScalar>(individualGradients: NDArray<T>, gradient: NDArray<T>, epsilon: Double = 1e-5) -> Double? {
    let b = individualGradients.shape[0]
    guard b > 1 else { return nil }
    let sums = sumOfSquares(individualGradients)
    var total = 0.0
    for (d, x) in gradient.scalars.enumerated() {
      let g2 = Double(x) * Double(x)
      let variance = (sums[d] - Double(b) * g2) / Double(b - 1)
      total += g2 / (variance + epsilon)
    }
    return 1 - Double(b) * (total / Double(gradient.count))
  }

  /// The Takeuchi information criterion with a diagonal curvature (Thomas et al. 2020, "On
  /// the interplay between noise and curvature and its effect on optimization and
  /// generalization", AISTATS), as cockpit's `TICDiag`: `Σ_d ((1/B) Σᵢ g_{i,d}²) / (h_d + ε)`
  /// with `h` the Hessian diagonal.
  /// - Parameters:
  ///   - individualGradients: `[B, P]`, the minibatch's individual gradients.
  ///   - hessianDiagonal: `[P]`, the minibatch loss's Hessian diagonal.
  ///   - epsilon: cockpit's stabilizer, 1e-7.
  public static func ticDiag<T: BLASScalar>(individualGradients: NDArray<T>, hessianDiagonal: NDArray<T>, epsilon: Double = 1e-7) -> Double {
    let b = Double(individualGradients.shape[0])
    let sums = sumOfSquares(individualGradients)
    var total = 0.0
    for (d, h) in hessianDiagonal.scalars.enumerated() { total += (sums[d] / b) / (Double(h) + epsilon) }
    return total
  }

  /// The Takeuchi information criterion with traces (Thomas et al. 2020), as cockpit's
  /// `TICTrace`: `((1/B) Σ_d Σᵢ g_{i,d}²) / (Σ_d h_d + ε)`.
  /// - Parameters:
  ///   - individualGradients: `[B, P]`, the minibatch's individual gradients.
  ///   - hessianDiagonal: `[P]`, the minibatch loss's Hessian diagonal.
  ///   - epsilon: cockpit's stabilizer, 1e-7.
  public static func ticTrace<T: BLASScalar>(individualGradients: NDArray<T>, hessianDiagonal: NDArray<T>, epsilon: Double = 1e-7) -> Double {
    let b = Double(individualGradients.shape[0])
    let second = sumOfSquares(individualGradients).reduce(0, +) / b
    let trace = hessianDiagonal.scalars.reduce(0.0) { $0 + Double($1) }
    return second / (trace + epsilon)
  }
}
