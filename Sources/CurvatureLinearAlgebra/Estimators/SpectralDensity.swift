/// How to smooth and grid a spectral density.
public struct SpectralDensityOptions: Sendable {
  /// Grid points (PyHessian's default: 10 000). The grid should resolve `σ`: with a
  /// spacing above about `2σ`, the raw `integral` drifts from 1.
  public var gridPoints: Int = 10_000
  /// The variance `σ²` of the Gaussian placed on each node.
  public var variance: Double = 1e-5
  /// PyHessian's convention: use `σ² · max(1, λ_max − λ_min)` so the smoothing follows
  /// the width of the spectrum.
  public var scalesVarianceWithRange: Bool = true
  /// The grid spans `[λ_min − padding, λ_max + padding]`; nil means `5σ` (so less than
  /// 10⁻⁶ of the mass falls outside).
  public var padding: Double? = nil
  /// Rescale the density so its trapezoid integral over the grid is exactly 1 (PyHessian
  /// normalizes likewise); the integral before is kept in `SpectralDensity.integral`.
  public var normalized: Bool = true

  /// Settings for a density on `gridPoints` points.
  public init(gridPoints: Int = 10_000, variance: Double = 1e-5, scalesVarianceWithRange: Bool = true, padding: Double? = nil, normalized: Bool = true) {
    self.gridPoints = gridPoints
    self.variance = variance
    self.scalesVarianceWithRange = scalesVarianceWithRange
    self.padding = padding
    self.normalized = normalized
  }
}

/// A smoothed spectral density on a grid.
public struct SpectralDensity: Sendable, Hashable {
  /// The grid (ascending, equally spaced).
  public var grid: [Double]
  /// The density at each grid point: the mean over probes.
  public var density: [Double]
  /// The density of each probe's quadrature rule (for pointwise errors).
  public var perProbe: [[Double]]
  /// The standard error of `density` at each grid point, over probes.
  public var standardError: [Double]
  /// The variance `σ²` used.
  public var variance: Double
  /// The trapezoid integral of the mean density over the grid before any normalization
  /// (close to 1 when the grid resolves `σ` and the padding covers the tails).
  public var integral: Double

  /// The trapezoid integral of `f(t) · density(t)` over the grid.
  public func integrate(_ f: (Double) -> Double) -> Double {
    guard grid.count > 1 else { return 0 }
    let h = grid[1] - grid[0]
    var total = 0.0
    for i in grid.indices {
      let weight = i == 0 || i == grid.count - 1 ? 0.5 : 1
      total += weight * f(grid[i]) * density[i]
    }
    return total * h
  }
}

extension SpectralQuadrature {
  /// The smoothed spectral density `ρ(t) = mean over probes of Σᵢ wᵢ N(t; θᵢ, σ²)`, the
  /// convention of PyHessian (Yao et al. 2020, "PyHessian: Neural Networks Through the Lens
  /// of the Hessian"; Ghorbani et al. 2019): an estimate of `(1/n) Σⱼ δ(t − λⱼ)` blurred
  /// by `σ`, integrating to 1.
  /// - Parameter options: Grid size, variance, padding, normalization.
  /// - Returns: The grid, the density, per-probe densities and pointwise standard errors.
  /// - Complexity: `O(probes · steps · gridPoints)` at most (nodes touch only the grid
  ///   points within 8σ).
  public func density(options: SpectralDensityOptions = SpectralDensityOptions()) -> SpectralDensity {
    smoothedDensity(nodes: nodes, options: options)
  }

  /// The density of `log|λ|`, `mean over probes of Σᵢ wᵢ N(t; log|θᵢ|, σ²)`: for spectra
  /// spanning orders of magnitude (curvature spectra of networks), where the density of
  /// `λ` crowds into a spike near 0. The smoothing options apply on the log scale.
  /// - Parameters:
  ///   - options: Grid size, variance (in log units), padding, normalization.
  ///   - floor: Magnitudes below it are raised to it before the logarithm; nil means
  ///     `ε · max|θ|` (so a zero eigenvalue lands at `log(ε · ‖A‖)`).
  public func logMagnitudeDensity(options: SpectralDensityOptions = SpectralDensityOptions(), floor: Double? = nil) -> SpectralDensity {
    let largest = nodes.joined().map(Swift.abs).max() ?? 1
    let lowest = floor ?? Swift.max(Double.ulpOfOne * largest, .leastNormalMagnitude)
    let logNodes = nodes.map { $0.map { Double.log(Swift.max(Swift.abs($0), lowest)) } }
    return smoothedDensity(nodes: logNodes, options: options)
  }

  func smoothedDensity(nodes: [[Double]], options: SpectralDensityOptions) -> SpectralDensity {
    let all = nodes.joined()
    let low = all.min() ?? 0, high = all.max() ?? 0
    let variance = options.variance * (options.scalesVarianceWithRange ? Swift.max(1, high - low) : 1)
    let sigma = variance.squareRoot()
    let pad = options.padding ?? 5 * sigma
    let count = Swift.max(2, options.gridPoints)
    let start = low - pad, stop = high + pad
    let h = (stop - start) / Double(count - 1)
    let grid = (0..<count).map { start + Double($0) * h }
    let normalization = 1 / (2 * Double.pi * variance).squareRoot()
    var perProbe = [[Double]]()
    for (probeNodes, probeWeights) in zip(nodes, weights) {
      var values = [Double](repeating: 0, count: count)
      for (node, weight) in zip(probeNodes, probeWeights) where weight > 0 {
        let first = Swift.max(0, Int(((node - 8 * sigma - start) / h).rounded(.down)))
        let last = Swift.min(count - 1, Int(((node + 8 * sigma - start) / h).rounded(.up)))
        guard first <= last else { continue }
        for i in first...last {
          let d = grid[i] - node
          values[i] += weight * normalization * Double.exp(-d * d / (2 * variance))
        }
      }
      perProbe.append(values)
    }
    let probes = Double(perProbe.count)
    var density = (0..<count).map { i in perProbe.reduce(0) { $0 + $1[i] } / probes }
    let standardError = (0..<count).map { i -> Double in
      guard perProbe.count > 1 else { return 0 }
      let variance = perProbe.reduce(0) { $0 + ($1[i] - density[i]) * ($1[i] - density[i]) } / (probes - 1)
      return (variance / probes).squareRoot()
    }
    var result = SpectralDensity(grid: grid, density: density, perProbe: perProbe, standardError: standardError, variance: variance, integral: 0)
    result.integral = result.integrate { _ in 1 }
    if options.normalized && result.integral > 0 {
      let factor = 1 / result.integral
      density = density.map { $0 * factor }
      result.density = density
      result.perProbe = perProbe.map { $0.map { $0 * factor } }
      result.standardError = standardError.map { $0 * factor }
    }
    return result
  }
}
