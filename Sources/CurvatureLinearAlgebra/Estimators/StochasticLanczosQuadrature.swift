import CurvatureNumerics

/// Settings of stochastic Lanczos quadrature.
public struct SLQOptions: Sendable {
  /// Lanczos steps `m` per probe (clamped to `n`); the quadrature is exact for polynomials
  /// of degree up to `2m − 1`.
  public var steps: Int = 30
  /// The number `R` of probe vectors.
  public var probes: Int = 10
  /// The probe distribution (normalized before use).
  public var distribution: ProbeDistribution = .rademacher
  /// Probes run side by side, sharing each batched product.
  public var blockSize: Int = 16
  /// Seeds the probes: equal seeds, equal results (for any `blockSize`).
  public var seed: UInt64 = 0

  /// Settings with `steps` Lanczos steps on each of `probes` probes.
  public init(steps: Int = 30, probes: Int = 10, distribution: ProbeDistribution = .rademacher, blockSize: Int = 16, seed: UInt64 = 0) {
    self.steps = steps
    self.probes = probes
    self.distribution = distribution
    self.blockSize = blockSize
    self.seed = seed
  }
}

/// The Gauss quadrature rules of stochastic Lanczos quadrature: for each probe `v`, nodes
/// `θᵢ` and weights `wᵢ` with `vᵀ f(A) v / ‖v‖² ≈ Σᵢ wᵢ f(θᵢ)`.
public struct SpectralQuadrature: Sendable, Hashable {
  /// The size `n` of the operator.
  public var dimension: Int
  /// Per probe, the Ritz values (ascending).
  public var nodes: [[Double]]
  /// Per probe, the squared first components of the Ritz vectors; each list sums to 1.
  public var weights: [[Double]]
  /// Products with the operator spent.
  public var matvecs: Int

  /// A quadrature from its parts.
  public init(dimension: Int, nodes: [[Double]], weights: [[Double]], matvecs: Int) {
    self.dimension = dimension
    self.nodes = nodes
    self.weights = weights
    self.matvecs = matvecs
  }

  /// `tr f(A) ≈ n · mean over probes of Σᵢ wᵢ f(θᵢ)`, with one sample per probe.
  ///
  /// Each sample is `n vᵀ f(A) v` for a unit probe `v` up to the quadrature error, which
  /// vanishes for polynomials of degree below `2m` and is small for functions smooth on
  /// the spectrum (Ubaru, Chen & Saad 2017, Theorem 4.2); the spread over probes gives
  /// the standard error.
  /// - Parameter f: A function defined at every node.
  /// - Returns: The estimate, its standard error over probes and the per-probe samples.
  /// - Complexity: One evaluation of `f` per node.
  public func traceEstimate(of f: (Double) -> Double) -> StochasticEstimate {
    let n = Double(dimension)
    let samples = zip(nodes, weights).map { nodes, weights in
      n * zip(nodes, weights).reduce(0) { $0 + $1.1 * f($1.0) }
    }
    return StochasticEstimate(samples: samples, matvecs: matvecs)
  }

  /// `log det A = tr log(A)` for a symmetric positive definite operator.
  /// - Returns: The estimate with its standard error and per-probe samples.
  /// - Throws: `SolverError.invalidArgument` when a node is not positive (the operator is
  ///   not positive definite, or its smallest eigenvalues are below rounding).
  /// - Complexity: One logarithm per node.
  public func logDeterminant() throws -> StochasticEstimate {
    if let bad = nodes.joined().first(where: { !($0 > 0) }) {
      throw SolverError.invalidArgument("logDeterminant needs a positive definite operator; a Ritz value \(bad) ≤ 0 was found")
    }
    return traceEstimate { Double.log($0) }
  }
}

/// Stochastic Lanczos quadrature: Gauss quadrature rules for the spectral measure of a
/// symmetric operator, one per random probe, from which spectral densities and
/// `tr f(A)` (log-determinants, Estrada indices, …) follow.
///
/// For a probe `v` (normalized Rademacher or Gaussian vector), `m` Lanczos steps with full
/// reorthogonalization give `T_m = Y diag(θ) Yᵀ`; then `vᵀ f(A) v ≈ Σᵢ wᵢ f(θᵢ)` with
/// `wᵢ = Y₁ᵢ²` is the `m`-point Gauss rule of the measure `Σⱼ (vᵀuⱼ)² δ(λ − λⱼ)` (Golub &
/// Meurant). Averaging over `R` probes estimates the spectral density `(1/n) Σⱼ δ(λ − λⱼ)`
/// and `tr f(A) ≈ n · E[Σᵢ wᵢ f(θᵢ)]` (Ubaru, Chen & Saad 2017, "Fast Estimation of
/// tr(f(A)) via Stochastic Lanczos Quadrature", SIAM J. Matrix Anal. Appl. 38(4); Lin, Saad
/// & Yang 2016 for densities; Ghorbani, Krishnan & Xiao 2019 and Papyan 2020 for neural
/// network Hessians; PyHessian's implementation, Yao et al. 2020). A Krylov space that
/// becomes invariant early (`β ≈ 0`) ends that probe's rule with fewer, exact nodes.
///
/// ```swift
/// let quadrature = try stochasticLanczosQuadrature(hessian, options: .init(steps: 80, probes: 10))
/// let density = quadrature.density()                  // PyHessian's ESD
/// let logDet = try quadrature.logDeterminant()         // for SPD operators
/// ```
/// - Parameters:
///   - a: A symmetric operator.
///   - options: Steps per probe, probe count, distribution, block size, seed.
///   - onProgress: Called after each Lanczos step of a block (task `"SLQ"`, matvecs of
///     `probes · steps`).
/// - Returns: The per-probe nodes and weights.
/// - Throws: `LinearOperatorError.notSquare`; `SolverError.invalidArgument` for a
///   non-symmetric operator or a non-positive `steps`, `probes` or `blockSize`;
///   `LinearOperatorError.nonFinite`; `LAPACKError` from the tridiagonal eigenproblems; or
///   what the operator throws.
/// - Complexity: `probes · steps` products (batched by `blockSize`), `O(n · steps²)`
///   reorthogonalization per probe; memory `blockSize · (steps + 1) · n` scalars.
public func stochasticLanczosQuadrature<A: LinearOperator>(
  _ a: A, options: SLQOptions = SLQOptions(), onProgress: ProgressHandler? = nil
) throws -> SpectralQuadrature {
  typealias T = A.Scalar
  try a.requireSquare("stochasticLanczosQuadrature")
  guard a.isSymmetric else {
    throw SolverError.invalidArgument("stochasticLanczosQuadrature needs a symmetric operator; this \(a.rowCount)×\(a.columnCount) operator reports isSymmetric == false")
  }
  guard options.steps >= 1, options.probes >= 1, options.blockSize >= 1 else {
    throw SolverError.invalidArgument("stochasticLanczosQuadrature: steps (\(options.steps)), probes (\(options.probes)) and blockSize (\(options.blockSize)) must be positive")
  }
  let n = a.rowCount
  let steps = Swift.min(options.steps, n)
  let total = options.probes * steps
  let eps = Double(T.ulpOfOne)
  var rng = RandomGenerator(seed: options.seed)
  var nodes = [[Double]](), weights = [[Double]]()
  var matvecs = 0
  var start = 0
  while start < options.probes {
    let width = Swift.min(options.blockSize, options.probes - start)
    var z: NDArray<T> = options.distribution.probes(width, length: n, using: &rng)
    var bases = [NDArray<T>]()
    for p in 0..<width {
      let norm = z.normOfRow(p)
      guard norm > 0 else { throw SolverError.invalidArgument("stochasticLanczosQuadrature: a zero probe") }
      z.scaleRow(p, by: 1 / norm)
      var basis = NDArray<T>(zeros: [steps + 1, n])
      basis.copyRow(0, from: z, row: p)
      bases.append(basis)
    }
    var alphas = [[Double]](repeating: [], count: width), betas = alphas
    var scales = [Double](repeating: 0, count: width)
    var active = Array(0..<width)
    for j in 0..<steps where !active.isEmpty {
      // One batched product for the j-th Lanczos vector of every active probe.
      var current = NDArray<T>(zeros: [active.count, n])
      for (slot, p) in active.enumerated() { current.copyRow(slot, from: bases[p], row: j) }
      let products = try a.applyToRows(current)
      guard products.isFinite else { throw LinearOperatorError.nonFinite("the operator returned NaN or infinity in stochasticLanczosQuadrature") }
      matvecs += active.count
      var stillActive = [Int]()
      for (slot, p) in active.enumerated() {
        var w = products.selectingRows([slot]).reshaped([n])
        let h = orthogonalize(&w, against: bases[p], count: j + 1)
        let alpha = h[j]
        let beta = Double(w.norm())
        alphas[p].append(alpha)
        scales[p] = Swift.max(scales[p], Swift.abs(alpha) + beta + (betas[p].last ?? 0))
        // β ≈ 0: the Krylov space is invariant and the rule exact. Stopping at a small β
        // changes the rule only at second order in β (the coupling enters e₁ᵀf(T)e₁
        // quadratically), so √ε relative is safe and ends rules on eigenvalues that are
        // equal only to rounding.
        guard j + 1 < steps, beta > eps.squareRoot() * scales[p] else { continue }
        betas[p].append(beta)
        w.scale(by: T(1 / beta))
        bases[p].copyRow(j + 1, from: w.reshaped([1, n]), row: 0)
        stillActive.append(p)
      }
      active = stillActive
      onProgress?(ProgressEvent(task: "SLQ", completed: Swift.min(total, start * steps + (j + 1) * width), total: total))
    }
    for p in 0..<width {
      let (values, vectors) = try NDArray.tridiagonalEigen(diagonal: NDArray(alphas[p]), offDiagonal: NDArray(betas[p]))
      nodes.append(values.scalars)
      weights.append((0..<values.count).map { vectors[0, $0] * vectors[0, $0] })
    }
    start += width
  }
  return SpectralQuadrature(dimension: n, nodes: nodes, weights: weights, matvecs: matvecs)
}
