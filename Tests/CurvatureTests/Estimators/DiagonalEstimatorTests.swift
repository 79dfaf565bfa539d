import Curvature
import CurvatureTestSupport
import Testing

/// Rank 5 with eigenvalues 10…4 plus a small SPD part of norm about 0.01.
func lowRankPlusSmall(_ n: Int, seed: UInt64) -> NDArray<Double> {
  var values = [Double](repeating: 0, count: n)
  for (i, v) in [10.0, 8, 6, 5, 4].enumerated() { values[i] = v }
  let lowRank: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: values, seed: seed)
  let small: NDArray<Double> = RandomMatrices.spd(n, conditionNumber: 10, seed: seed + 1)
  return lowRank + 0.001 * small
}

@Suite struct DiagonalEstimatorTests {
  @Test func unbiasedAndXDiagBeatsHutchinsonOnLowRankPlusSmall() throws {
    let n = 80
    let a = lowRankPlusSmall(n, seed: 81)
    let op = DenseOperator(a)
    let exact = a.diagonal().scalars
    let seeds = 200, matvecs = 40
    var sumH = [Double](repeating: 0, count: n), sumSqH = sumH, sumX = sumH, sumSqX = sumH
    var errorH = 0.0, errorX = 0.0, reportedH = 0.0
    for seed in 0..<UInt64(seeds) {
      let h = try hutchinsonDiagonal(op, matvecs: matvecs, seed: seed)
      let x = try xDiagonal(op, matvecs: matvecs, seed: seed)
      #expect(h.matvecs == matvecs && x.matvecs == matvecs)
      for i in 0..<n {
        let (hv, xv) = (h.value[i], x.value[i])
        sumH[i] += hv
        sumSqH[i] += hv * hv
        sumX[i] += xv
        sumSqX[i] += xv * xv
        errorH += (hv - exact[i]) * (hv - exact[i])
        errorX += (xv - exact[i]) * (xv - exact[i])
        reportedH += h.standardError![i] * h.standardError![i]
      }
    }
    let count = Double(seeds)
    var worstH = 0.0, worstX = 0.0
    for i in 0..<n {
      let meanH = sumH[i] / count, meanX = sumX[i] / count
      let seH = ((sumSqH[i] / count - meanH * meanH) / (count - 1)).squareRoot()
      let seX = ((sumSqX[i] / count - meanX * meanX) / (count - 1)).squareRoot()
      worstH = Swift.max(worstH, abs(meanH - exact[i]) / seH)
      worstX = Swift.max(worstX, abs(meanX - exact[i]) / seX)
    }
    // Unbiased: every entry's mean within 4.5 standard errors (80 entries).
    #expect(worstH < 4.5)
    #expect(worstX < 4.5)
    #expect(errorX < errorH / 10, "XDiag \(errorX) vs Hutchinson \(errorH)")
    // Hutchinson's reported errors predict its squared error.
    #expect(reportedH > errorH / 2 && reportedH < errorH * 2, "reported \(reportedH) vs observed \(errorH)")
  }

  @Test func exactCasesAndGaussianProbes() throws {
    // A diagonal operator with Rademacher probes: z ⊙ Dz = d exactly.
    let d = NDArray<Double>([1, -2, 3, 0.5])
    let estimate = try hutchinsonDiagonal(DiagonalOperator(d), matvecs: 3)
    assertClose(estimate.value, d, rtol: 1e-15)
    assertClose(estimate.standardError!, NDArray(zeros: [4]), rtol: 0, atol: 1e-15)
    // Gaussian probes: consistent, converging with the probe count.
    let a = lowRankPlusSmall(30, seed: 82)
    let many = try hutchinsonDiagonal(DenseOperator(a), matvecs: 4000, distribution: .gaussian, blockSize: 500, seed: 3)
    let error = (many.value - a.diagonal()).norm() / a.diagonal().norm()
    #expect(error < 0.1, "relative error \(error)")
    // XDiag on a non-symmetric operator uses the transpose and stays close.
    var rng = RandomGenerator(seed: 83)
    let u: NDArray<Double> = rng.normalArray(shape: [40, 3]), v: NDArray<Double> = rng.normalArray(shape: [3, 40])
    let nonSymmetric = matmul(u, v) + 0.001 * (rng.normalArray(shape: [40, 40]) as NDArray<Double>)
    let x = try xDiagonal(DenseOperator(nonSymmetric), matvecs: 20, seed: 4)
    #expect((x.value - nonSymmetric.diagonal()).norm() < 0.05 * nonSymmetric.diagonal().norm())
  }

  @Test func sameSeedSameResultAndBadInput() throws {
    let op = DenseOperator(lowRankPlusSmall(30, seed: 84))
    let h1 = try hutchinsonDiagonal(op, matvecs: 12, blockSize: 5, seed: 2)
    let h2 = try hutchinsonDiagonal(op, matvecs: 12, blockSize: 5, seed: 2)
    #expect(h1.value == h2.value && h1.standardError == h2.standardError)
    let x1 = try xDiagonal(op, matvecs: 12, blockSize: 5, seed: 2)
    let x2 = try xDiagonal(op, matvecs: 12, blockSize: 5, seed: 2)
    #expect(x1.value == x2.value && x1.standardError == x2.standardError)
    assertClose(x1.value, try xDiagonal(op, matvecs: 12, blockSize: 32, seed: 2).value, rtol: 1e-10, atol: 1e-12)
    #expect(x1.value != (try xDiagonal(op, matvecs: 12, seed: 3)).value)
    var events = [ProgressEvent]()
    _ = try xDiagonal(op, matvecs: 12, blockSize: 4) { events.append($0) }
    #expect(events.map(\.completed) == [4, 6, 10, 12] && events.allSatisfy { $0.task == "XDiag" && $0.total == 12 })

    #expect(throws: SolverError.self) { try hutchinsonDiagonal(op, matvecs: 0) }
    #expect(throws: SolverError.self) { try xDiagonal(op, matvecs: 3) }
    #expect(throws: SolverError.self) { try xDiagonal(op, matvecs: 100) }
    #expect(throws: LinearOperatorError.self) { try xDiagonal(DenseOperator(NDArray<Double>(zeros: [3, 4])), matvecs: 4) }
    #expect(throws: LinearOperatorError.self) { try hutchinsonDiagonal(DenseOperator(NDArray<Double>(zeros: [3, 4])), matvecs: 4) }
  }
}
