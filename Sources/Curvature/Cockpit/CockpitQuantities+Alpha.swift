import CurvatureNumerics

/// What α's quadratic fit observes at one end of a step: the minibatch loss, the sample
/// variance of the individual losses, and the mean and sample variance of the individual
/// gradients projected onto the update direction `d/‖d‖`.
public struct AlphaObservation: Sendable, Hashable {
  /// The minibatch loss `f`.
  public var loss: Double
  /// The sample variance (`B − 1` in the denominator) of the individual losses.
  public var lossVariance: Double
  /// The projected gradient `df`.
  public var slope: Double
  /// The sample variance of the projected individual gradients.
  public var slopeVariance: Double

  /// An observation from its parts.
  public init(loss: Double, lossVariance: Double, slope: Double, slopeVariance: Double) {
    self.loss = loss
    self.lossVariance = lossVariance
    self.slope = slope
    self.slopeVariance = slopeVariance
  }
}

extension CockpitQuantities {
  /// The normalized step size α (Schneider, Dangel & Hennig 2021, NeurIPS, section 3), as
  /// cockpit's `Alpha`: a quadratic `q(τ) = μ₀ + μ₁τ + μ₂τ²` is fitted by weighted least
  /// squares to the loss and projected slope observed at the start (`τ = 0`) and end
  /// (`τ = t`) of a step of length `t`, each weighted by its inverse variance (zero
  /// variances become 1e-10). Then `α = 2t / (−μ₁/μ₂) − 1`: 0 means the step landed in the
  /// fit's minimum, 1 on the other side at the starting height, −1 (also for a concave fit,
  /// `μ₂ < 0`) no progress along the parabola.
  /// - Parameters:
  ///   - stepLength: `t = ‖d‖`, the update's length.
  ///   - start: The observation before the step, on its minibatch.
  ///   - end: The observation after the step, on the next step's minibatch.
  /// - Returns: α; −1 when `t = 0` makes the fit singular, nil for another singular fit.
  public static func alpha(stepLength: Double, start: AlphaObservation, end: AlphaObservation) -> Double? {
    let t = stepLength
    func nonZero(_ v: Double) -> Double { v == 0 ? 1e-10 : v }
    let variances = [start.lossVariance, end.lossVariance, start.slopeVariance, end.slopeVariance].map(nonZero)
    let observations = [start.loss, end.loss, start.slope, end.slope]
    // Φ is 3×4: the columns observe f(0), f(t), f'(0), f'(t).
    let phi: [[Double]] = [[1, 1, 0, 0], [0, t, 1, 1], [0, t * t, 0, 2 * t]]
    // A = Φ Λ⁻¹ Φᵀ, then μ = ((A⁻¹ Φ) Λ⁻¹) y in numpy's left-to-right order.
    let inverseVariances = variances.map { 1 / $0 }
    var a = [[Double]](repeating: [0, 0, 0], count: 3)
    for r in 0..<3 {
      for c in 0..<3 {
        var s = 0.0
        for k in 0..<4 { s += phi[r][k] * inverseVariances[k] * phi[c][k] }
        a[r][c] = s
      }
    }
    guard let inverse = invert3x3(a) else { return t == 0 ? -1 : nil }
    var mu = [0.0, 0.0, 0.0]
    for r in 0..<3 {
      var s = 0.0
      for k in 0..<4 {
        var m = 0.0
        for c in 0..<3 { m += inverse[r][c] * phi[c][k] }
        s += m * inverseVariances[k] * observations[k]
      }
      mu[r] = s
    }
    if mu[2] < 0 { return -1 }
    let alphaBar = -mu[1] / mu[2]
    return 2 * t / alphaBar - 1
  }

  /// The inverse by Gauss-Jordan elimination with partial pivoting (as LAPACK's getrf/getri
  /// pivots); nil for an exactly singular matrix.
  static func invert3x3(_ matrix: [[Double]]) -> [[Double]]? {
    var a = matrix
    var inverse: [[Double]] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    for column in 0..<3 {
      let pivot = (column..<3).max { abs(a[$0][column]) < abs(a[$1][column]) }!
      guard a[pivot][column] != 0 else { return nil }
      a.swapAt(column, pivot)
      inverse.swapAt(column, pivot)
      let scale = a[column][column]
      for c in 0..<3 {
        a[column][c] /= scale
        inverse[column][c] /= scale
      }
      for r in 0..<3 where r != column {
        let factor = a[r][column]
        guard factor != 0 else { continue }
        for c in 0..<3 {
          a[r][c] -= factor * a[column][c]
          inverse[r][c] -= factor * inverse[column][c]
        }
      }
    }
    return inverse
  }

  /// The mean and sample variance (`n − 1`) of `values`; the variance is NaN for one value,
  /// as numpy's and torch's.
  static func meanAndSampleVariance(_ values: [Double]) -> (mean: Double, variance: Double) {
    let n = Double(values.count)
    let mean = values.reduce(0, +) / n
    let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
    return (mean, variance)
  }
}
