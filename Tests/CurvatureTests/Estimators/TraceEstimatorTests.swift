import Curvature
import CurvatureTestSupport
import Testing

/// Mean and variance (n − 1 denominator) of samples.
func meanAndVariance(_ x: [Double]) -> (mean: Double, variance: Double) {
  let mean = x.reduce(0, +) / Double(x.count)
  let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(x.count - 1)
  return (mean, variance)
}

/// A symmetric positive definite matrix with eigenvalues 1/i², i = 1…n: a decaying spectrum.
func decayingSpectrumMatrix(_ n: Int, seed: UInt64) -> NDArray<Double> {
  RandomMatrices.symmetric(eigenvalues: (1...n).map { 1 / Double($0 * $0) }, seed: seed)
}

@Suite struct TraceEstimatorTests {
  /// 200 seeds of each estimator at 30 matvecs on the 1/i² spectrum: all unbiased (mean
  /// within 4 standard errors of the exact trace), Hutch++ and XTrace with far smaller
  /// variance than Hutchinson.
  @Test func unbiasedAndVarianceReductionOnDecayingSpectrum() throws {
    let n = 100
    let a = decayingSpectrumMatrix(n, seed: 71)
    let op = DenseOperator(a)
    let exact = a.trace()
    let seeds = 200, matvecs = 30
    var hutchinson = [Double](), hutchPP = [Double](), xTraceValues = [Double](), reportedSE = [Double]()
    for seed in 0..<UInt64(seeds) {
      let h = try hutchinsonTrace(op, matvecs: matvecs, seed: seed)
      hutchinson.append(h.value)
      reportedSE.append(h.standardError!)
      hutchPP.append(try hutchPlusPlusTrace(op, matvecs: matvecs, seed: seed).value)
      xTraceValues.append(try xTrace(op, matvecs: matvecs, seed: seed).value)
    }
    let (hMean, hVar) = meanAndVariance(hutchinson)
    let (pMean, pVar) = meanAndVariance(hutchPP)
    let (xMean, xVar) = meanAndVariance(xTraceValues)
    let count = Double(seeds)
    #expect(abs(hMean - exact) <= 4 * (hVar / count).squareRoot(), "Hutchinson mean \(hMean) vs \(exact)")
    #expect(abs(pMean - exact) <= 4 * (pVar / count).squareRoot(), "Hutch++ mean \(pMean) vs \(exact)")
    #expect(abs(xMean - exact) <= 4 * (xVar / count).squareRoot(), "XTrace mean \(xMean) vs \(exact)")
    #expect(pVar < hVar / 10, "Hutch++ variance \(pVar) vs Hutchinson \(hVar)")
    #expect(xVar < hVar / 10, "XTrace variance \(xVar) vs Hutchinson \(hVar)")
    // Hutchinson's reported standard error predicts its spread.
    let predicted = reportedSE.map { $0 * $0 }.reduce(0, +) / count
    #expect(predicted > hVar / 2 && predicted < hVar * 2, "predicted variance \(predicted) vs observed \(hVar)")
  }

  /// On a non-symmetric, indefinite matrix all three stay unbiased.
  @Test func unbiasedOnGeneralMatrix() throws {
    let n = 40
    var rng = RandomGenerator(seed: 72)
    let g: NDArray<Double> = rng.normalArray(shape: [n, n])
    let op = DenseOperator(g)
    let exact = g.trace()
    let seeds = 150
    var hutchinson = [Double](), hutchPP = [Double](), xTraceValues = [Double](), plainXTrace = [Double]()
    for seed in 0..<UInt64(seeds) {
      hutchinson.append(try hutchinsonTrace(op, matvecs: 12, distribution: .gaussian, seed: seed).value)
      hutchPP.append(try hutchPlusPlusTrace(op, matvecs: 12, distribution: .sphere, seed: seed).value)
      xTraceValues.append(try xTrace(op, matvecs: 12, distribution: .gaussian, seed: seed).value)
      plainXTrace.append(try xTrace(op, matvecs: 12, distribution: .rademacher, improved: false, seed: seed).value)
    }
    for (name, values) in [("Hutchinson", hutchinson), ("Hutch++", hutchPP), ("XTrace", xTraceValues), ("XTrace (Rademacher)", plainXTrace)] {
      let (mean, variance) = meanAndVariance(values)
      #expect(abs(mean - exact) <= 4 * (variance / Double(seeds)).squareRoot(), "\(name) mean \(mean) vs \(exact)")
    }
  }

  @Test func hutchPlusPlusIsExactOnLowRank() throws {
    // Rank 4 < sketch size 10: the deflated remainder vanishes.
    let n = 60
    var values = [Double](repeating: 0, count: n)
    values[0] = 5
    values[1] = -3
    values[2] = 2
    values[3] = 0.5
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: values, seed: 73)
    let estimate = try hutchPlusPlusTrace(DenseOperator(a), matvecs: 30, seed: 1)
    assertClose(estimate.value, 4.5, rtol: 1e-10, atol: 1e-12)
    #expect(estimate.matvecs == 30)
    #expect(estimate.samples.count == 10)
    // XTrace handles the rank-deficient sketch (issue 20): rank 4 < 15 test vectors, exact.
    assertClose(try xTrace(DenseOperator(a), matvecs: 30, seed: 1).value, 4.5, rtol: 1e-10, atol: 1e-12)
  }

  @Test func frobeniusNormIsUnbiased() throws {
    var rng = RandomGenerator(seed: 74)
    let g: NDArray<Double> = rng.normalArray(shape: [30, 50])
    let exact = g.norm() * g.norm()
    var values = [Double]()
    for seed in 0..<UInt64(150) {
      let estimate = try squaredFrobeniusNormEstimate(DenseOperator(g), matvecs: 10, seed: seed)
      values.append(estimate.value)
    }
    let (mean, variance) = meanAndVariance(values)
    #expect(abs(mean - exact) <= 4 * (variance / 150).squareRoot(), "mean \(mean) vs \(exact)")
    // A diagonal operator and Rademacher probes: ‖Dz‖² = Σ d² exactly.
    let d = DiagonalOperator(NDArray<Double>([1, 2, 3]))
    assertClose(try squaredFrobeniusNormEstimate(d, matvecs: 3).value, 14, rtol: 1e-14)
  }

  @Test func sameSeedSameResultAndBlockSizes() throws {
    let a = decayingSpectrumMatrix(50, seed: 75)
    let op = DenseOperator(a)
    for blockSize in [1, 7, 32] {
      let h1 = try hutchinsonTrace(op, matvecs: 20, blockSize: blockSize, seed: 9)
      let h2 = try hutchinsonTrace(op, matvecs: 20, blockSize: blockSize, seed: 9)
      #expect(h1 == h2)
      let p1 = try hutchPlusPlusTrace(op, matvecs: 20, blockSize: blockSize, seed: 9)
      #expect(p1 == (try hutchPlusPlusTrace(op, matvecs: 20, blockSize: blockSize, seed: 9)))
      let x1 = try xTrace(op, matvecs: 20, blockSize: blockSize, seed: 9)
      #expect(x1 == (try xTrace(op, matvecs: 20, blockSize: blockSize, seed: 9)))
      let f1 = try squaredFrobeniusNormEstimate(op, matvecs: 20, blockSize: blockSize, seed: 9)
      #expect(f1 == (try squaredFrobeniusNormEstimate(op, matvecs: 20, blockSize: blockSize, seed: 9)))
      // The probes do not depend on the block size.
      assertClose(h1.value, try hutchinsonTrace(op, matvecs: 20, blockSize: 20, seed: 9).value, rtol: 1e-12)
      assertClose(p1.value, try hutchPlusPlusTrace(op, matvecs: 20, blockSize: 20, seed: 9).value, rtol: 1e-12)
      assertClose(x1.value, try xTrace(op, matvecs: 20, blockSize: 20, seed: 9).value, rtol: 1e-12)
    }
    #expect(try hutchinsonTrace(op, matvecs: 20, seed: 9) != (try hutchinsonTrace(op, matvecs: 20, seed: 10)))
  }

  @Test func progressReportsMatvecs() throws {
    let op = DenseOperator(decayingSpectrumMatrix(40, seed: 76))
    for (name, run) in [
      ("Hutchinson", { (p: @escaping ProgressHandler) in _ = try hutchinsonTrace(op, matvecs: 25, blockSize: 8, onProgress: p) }),
      ("Hutch++", { p in _ = try hutchPlusPlusTrace(op, matvecs: 25, blockSize: 4, onProgress: p) }),
      ("XTrace", { p in _ = try xTrace(op, matvecs: 25, blockSize: 5, onProgress: p) }),
      ("Frobenius norm", { p in _ = try squaredFrobeniusNormEstimate(op, matvecs: 25, blockSize: 8, onProgress: p) }),
    ] as [(String, (@escaping ProgressHandler) throws -> Void)] {
      var events = [ProgressEvent]()
      try run { events.append($0) }
      #expect(events.allSatisfy { $0.task == name }, "\(name): \(events)")
      #expect(zip(events, events.dropFirst()).allSatisfy { $0.completed < $1.completed }, "\(name) not increasing")
      #expect(events.last.map { $0.completed == $0.total } == true, "\(name) does not end at its total: \(events)")
    }
  }

  @Test func floatOperators() throws {
    let a = decayingSpectrumMatrix(60, seed: 78)
    let op = DenseOperator(a.converted(to: Float.self))
    let exact = a.trace()
    #expect(abs(try hutchPlusPlusTrace(op, matvecs: 45, seed: 1).value - exact) < 0.05 * exact)
    #expect(abs(try xTrace(op, matvecs: 40, seed: 1).value - exact) < 0.05 * exact)
    let diagonal = try xDiagonal(op, matvecs: 40, seed: 1)
    #expect((diagonal.value.converted(to: Double.self) - a.diagonal()).norm() < 0.1 * a.diagonal().norm())
    let quadrature = try stochasticLanczosQuadrature(op, options: .init(steps: 20, probes: 4))
    #expect(abs(quadrature.traceEstimate { $0 }.value - exact) < 0.5 * exact)
  }

  @Test func rejectsBadInput() throws {
    let op = DenseOperator(decayingSpectrumMatrix(10, seed: 77))
    let rectangular = DenseOperator(NDArray<Double>(zeros: [3, 4]))
    #expect(throws: SolverError.self) { try hutchinsonTrace(op, matvecs: 0) }
    #expect(throws: SolverError.self) { try hutchPlusPlusTrace(op, matvecs: 2) }
    #expect(throws: SolverError.self) { try xTrace(op, matvecs: 3) }
    #expect(throws: SolverError.self) { try xTrace(op, matvecs: 22) }
    #expect(throws: SolverError.self) { try squaredFrobeniusNormEstimate(op, matvecs: 0) }
    #expect(throws: SolverError.self) { try hutchinsonTrace(op, matvecs: 5, blockSize: 0) }
    #expect(throws: SolverError.self) { try xTrace(op, matvecs: 8, distribution: .rademacher) }
    #expect(throws: LinearOperatorError.self) { try hutchinsonTrace(rectangular, matvecs: 5) }
    #expect(throws: LinearOperatorError.self) { try hutchPlusPlusTrace(rectangular, matvecs: 6) }
    #expect(throws: LinearOperatorError.self) { try xTrace(rectangular, matvecs: 6) }
    // Rectangular is fine for the Frobenius norm.
    _ = try squaredFrobeniusNormEstimate(rectangular, matvecs: 2)
    do {
      _ = try hutchinsonTrace(op, matvecs: 0)
    } catch let error as SolverError {
      #expect(error.description.contains("matvecs"))
    }
  }
}
