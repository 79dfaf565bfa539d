import Curvature
import CurvatureTestSupport
import Testing

@Suite struct SLQTests {
  /// SPD, eigenvalues spread over [0.5, 10].
  static let spectrum = (0..<100).map { 0.5 + 9.5 * Double.pow(Double($0) / 99, 2) }

  @Test func densityIntegratesToOneAndMatchesMoments() throws {
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: Self.spectrum, seed: 91)
    let n = Double(a.shape[0])
    let quadrature = try stochasticLanczosQuadrature(DenseOperator(a), options: .init(steps: 25, probes: 20, seed: 1))
    #expect(quadrature.nodes.count == 20 && quadrature.matvecs == 500)
    for w in quadrature.weights { #expect(abs(w.reduce(0, +) - 1) < 1e-12) }
    // Raw (unnormalized) density on a grid that resolves σ: integrates to 1.
    let density = quadrature.density(options: .init(gridPoints: 20_000, normalized: false))
    #expect(abs(density.integral - 1) < 1e-3, "integral \(density.integral)")
    #expect(abs(density.integrate { _ in 1 } - 1) < 1e-3)
    #expect(density.perProbe.count == 20 && density.standardError.count == density.grid.count)
    // Normalized (default): exactly 1 on the grid, whatever the resolution.
    let coarse = quadrature.density(options: .init(gridPoints: 200))
    #expect(abs(coarse.integrate { _ in 1 } - 1) < 1e-12)
    // Moments: ∫ t ρ = mean Σ wθ ≈ tr(A)/n, ∫ t² ρ = mean Σ wθ² + σ² ≈ tr(A²)/n + σ².
    let first = quadrature.traceEstimate { $0 }
    let second = quadrature.traceEstimate { $0 * $0 }
    let exact1 = a.trace() / n, exact2 = matmul(a, a).trace() / n
    let moment1 = density.integrate { $0 }, moment2 = density.integrate { $0 * $0 }
    #expect(abs(moment1 - first.value / n) < 1e-3 * exact1)
    #expect(abs(moment2 - (second.value / n + density.variance)) < 1e-3 * exact2)
    #expect(abs(moment1 - exact1) <= 4 * first.standardError! / n + 1e-3 * exact1)
    #expect(abs(moment2 - exact2) <= 4 * second.standardError! / n + 1e-3 * exact2)
  }

  @Test func quadratureReproducesHutchinsonSamples() throws {
    // Gauss quadrature with m nodes is exact for degree ≤ 2m − 1: n Σ wθ = zᵀAz exactly,
    // and SLQ draws its probes like hutchinsonTrace does.
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: Self.spectrum, seed: 92)
    let quadrature = try stochasticLanczosQuadrature(DenseOperator(a), options: .init(steps: 10, probes: 12, blockSize: 5, seed: 7))
    let hutchinson = try hutchinsonTrace(DenseOperator(a), matvecs: 12, seed: 7)
    assertClose(NDArray(quadrature.traceEstimate { $0 }.samples), NDArray(hutchinson.samples), rtol: 1e-10)
  }

  @Test func logDeterminantOfSPDMatrix() throws {
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: Self.spectrum, seed: 93)
    let exact = Self.spectrum.reduce(0) { $0 + Double.log($1) }
    let quadrature = try stochasticLanczosQuadrature(DenseOperator(a), options: .init(steps: 30, probes: 30, distribution: .gaussian, seed: 2))
    let logDet = try quadrature.logDeterminant()
    #expect(abs(logDet.value - exact) <= 4 * logDet.standardError!, "\(logDet) vs \(exact)")
    #expect(logDet.samples.count == 30)
    assertClose(try a.signAndLogDeterminant().logMagnitude, exact, rtol: 1e-12)
    // An indefinite operator has no log-determinant here.
    let indefinite = try stochasticLanczosQuadrature(DenseOperator(indefiniteMatrix(20, seed: 94)), options: .init(steps: 10, probes: 2))
    #expect(throws: SolverError.self) { try indefinite.logDeterminant() }
  }

  @Test func logMagnitudeDensityForWideSpectra() throws {
    // Eigenvalues from 1e-6 to 1e2 with both signs; full-length Lanczos makes every
    // probe's rule exact, so the mean of log|λ| is unbiased.
    let n = 60
    let values = (0..<n).map { i -> Double in
      let magnitude = Double.pow(10, -6 + 8 * Double(i) / Double(n - 1))
      return i % 3 == 0 ? -magnitude : magnitude
    }
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: values, seed: 95)
    let quadrature = try stochasticLanczosQuadrature(DenseOperator(a), options: .init(steps: n, probes: 16, seed: 3))
    let density = quadrature.logMagnitudeDensity(options: .init(gridPoints: 20_000, variance: 1e-3, normalized: false))
    #expect(abs(density.integral - 1) < 1e-3, "integral \(density.integral)")
    #expect(density.grid.first! < Double.log(1e-6) && density.grid.last! > Double.log(100))
    let exact = values.reduce(0) { $0 + Double.log(abs($1)) } / Double(n)
    let estimate = quadrature.traceEstimate { Double.log(abs($0)) }
    #expect(abs(density.integrate { $0 } - estimate.value / Double(n)) < 1e-6 * abs(exact) + 1e-9)
    #expect(abs(estimate.value / Double(n) - exact) <= 4 * estimate.standardError! / Double(n) + 1e-8)
  }

  @Test func earlyInvariantSubspace() throws {
    // Four distinct eigenvalues: every probe's Krylov space is invariant after four steps.
    let values = (0..<40).map { Double([-1, 0.5, 2, 3][$0 % 4]) }
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: values, seed: 96)
    let quadrature = try stochasticLanczosQuadrature(DenseOperator(a), options: .init(steps: 20, probes: 6, seed: 4))
    for nodes in quadrature.nodes {
      #expect(nodes.count == 4)
      assertClose(NDArray(nodes), NDArray([-1, 0.5, 2, 3]), rtol: 1e-10, atol: 1e-12)
    }
    #expect(quadrature.matvecs == 6 * 4)
    // tr f(A) is then exact per probe up to the probe's own sampling error; for f ≡ 1 exact.
    assertClose(quadrature.traceEstimate { _ in 1 }.value, 40, rtol: 1e-12)
  }

  @Test func sameSeedProgressAndBadInput() throws {
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: Self.spectrum, seed: 97)
    let options = SLQOptions(steps: 15, probes: 7, blockSize: 3, seed: 11)
    var events = [ProgressEvent]()
    let first = try stochasticLanczosQuadrature(DenseOperator(a), options: options) { events.append($0) }
    let second = try stochasticLanczosQuadrature(DenseOperator(a), options: options)
    #expect(first == second)
    #expect(first.density() == second.density())
    var other = options
    other.blockSize = 7
    let reblocked = try stochasticLanczosQuadrature(DenseOperator(a), options: other)
    assertClose(NDArray(reblocked.nodes.joined().map { $0 }), NDArray(first.nodes.joined().map { $0 }), rtol: 1e-9, atol: 1e-12)
    other.seed = 12
    #expect(try stochasticLanczosQuadrature(DenseOperator(a), options: other) != first)
    #expect(events.allSatisfy { $0.task == "SLQ" && $0.total == 105 })
    #expect(zip(events, events.dropFirst()).allSatisfy { $0.completed < $1.completed })
    #expect(events.last?.completed == 105)

    var rng = RandomGenerator(seed: 98)
    let nonSymmetric = DenseOperator<Double>(rng.normalArray(shape: [10, 10]))
    #expect(throws: SolverError.self) { try stochasticLanczosQuadrature(nonSymmetric) }
    #expect(throws: SolverError.self) { try stochasticLanczosQuadrature(DenseOperator(a), options: .init(steps: 0)) }
    #expect(throws: SolverError.self) { try stochasticLanczosQuadrature(DenseOperator(a), options: .init(probes: 0)) }
    #expect(throws: LinearOperatorError.self) { try stochasticLanczosQuadrature(DenseOperator(NDArray<Double>(zeros: [3, 4]))) }
  }
}
