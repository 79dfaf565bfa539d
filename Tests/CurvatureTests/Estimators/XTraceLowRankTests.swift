import Curvature
import CurvatureTestSupport
import Testing

/// XTrace and XDiag on low-rank operators (issue 20): a sketch `AΩ` of rank below the `m`
/// test vectors is the common case for curvature matrices. Below rank `m` every
/// leave-one-out basis spans the operator's range, so the estimates are exact up to
/// rounding; at and above `m` they are ordinary finite estimates; the zero operator gives
/// zeros, not NaN.
@Suite struct XTraceLowRankTests {
  @Test func xtraceExactBelowSketchSizeFloat() throws { try checkXTraceLowRank(Float.self) }
  @Test func xtraceExactBelowSketchSizeDouble() throws { try checkXTraceLowRank(Double.self) }
  @Test func xdiagExactBelowSketchSizeFloat() throws { try checkXDiagLowRank(Float.self) }
  @Test func xdiagExactBelowSketchSizeDouble() throws { try checkXDiagLowRank(Double.self) }
  @Test func zeroOperatorFloat() throws { try checkZeroOperator(Float.self) }
  @Test func zeroOperatorDouble() throws { try checkZeroOperator(Double.self) }
  @Test func nonSymmetricLowRankFloat() throws { try checkNonSymmetricLowRank(Float.self) }
  @Test func nonSymmetricLowRankDouble() throws { try checkNonSymmetricLowRank(Double.self) }

  /// The GGN of a small classifier has rank at most N·C = 8 of P = 114: XTrace and XDiag
  /// with 10 test vectors recover its trace and diagonal.
  @Test func ggnOfSmallClassifier() throws {
    var rng = RandomGenerator(seed: 20)
    let x: NDArray<Double> = rng.normalArray(shape: [4, 4])
    let model = try Sequential<Double>(
      [Linear(inFeatures: 4, outFeatures: 16), Tanh(), Linear(inFeatures: 16, outFeatures: 2)], seed: 21)
    let problem = try CurvatureProblem(
      model: model, loss: Loss(.crossEntropy), data: try ArrayDataset(inputs: x, targets: .classes([0, 1, 1, 0])),
      batchSize: 4)
    let ggn = GGNOperator(problem)
    let dense = try ggn.dense()
    #expect(problem.dimension == 114)
    let exactTrace = dense.trace(), scale = dense.diagonal().scalars.map(abs).max()!
    for seed: UInt64 in [0, 1, 2] {
      let trace = try xTrace(ggn, matvecs: 20, seed: seed)
      #expect(abs(trace.value - exactTrace) <= 1e-9 * exactTrace, "seed \(seed): \(trace.value) vs \(exactTrace)")
      let diagonal = try xDiagonal(ggn, matvecs: 20, seed: seed)
      assertClose(diagonal.value, dense.diagonal(), rtol: 1e-8, atol: 1e-9 * scale, "seed \(seed)")
    }
  }

  /// Hutch++ below its minimum budget says which argument is wrong, its value and minimum.
  @Test func hutchPlusPlusNamesTheMatvecsArgument() throws {
    let op = DenseOperator(RandomMatrices.spd(10, seed: 3, Double.self))
    do {
      _ = try hutchPlusPlusTrace(op, matvecs: 2)
      Issue.record("hutchPlusPlusTrace accepted 2 matvecs")
    } catch let error as SolverError {
      #expect(error.description.contains("hutchPlusPlusTrace"), "\(error)")
      #expect(error.description.contains("matvecs = 2"), "\(error)")
      #expect(error.description.contains("the matvecs argument must be at least 3"), "\(error)")
    }
  }
}

/// Symmetric test matrices `n = 60` of the given rank: PSD (eigenvalues 1…rank) or
/// indefinite (alternating signs).
private func lowRankMatrix<T: BLASScalar>(rank: Int, definite: Bool, seed: UInt64, _: T.Type) -> NDArray<T> {
  let n = 60
  let values = (0..<n).map { i -> Double in
    guard i < rank else { return 0 }
    let sign: Double = definite || i % 2 == 0 ? 1 : -1
    return sign * Double(1 + i % 5)
  }
  return RandomMatrices.symmetric(eigenvalues: values, seed: seed)
}

/// Rounding of the estimators: products of `n`-vectors with an operator of norm `norm`.
private func roundingTolerance<T: BLASScalar>(_: T.Type, n: Int, norm: Double) -> Double {
  100 * Double(T.ulpOfOne) * Double(n) * norm
}

private func checkXTraceLowRank<T: BLASScalar>(_: T.Type) throws {
  let m = 10  // 20 matvecs
  for rank in [1, 2, 5, m - 1, m, m + 1, 30] {
    for definite in [true, false] {
      let a = lowRankMatrix(rank: rank, definite: definite, seed: UInt64(100 + rank), T.self)
      let exact = a.converted(to: Double.self).trace()
      let op = DenseOperator(a)
      let variants: [(String, () throws -> StochasticEstimate)] = [
        ("sphere", { try xTrace(op, matvecs: 2 * m, seed: 5) }),
        ("gaussian", { try xTrace(op, matvecs: 2 * m, distribution: .gaussian, seed: 6) }),
        ("rademacher", { try xTrace(op, matvecs: 2 * m, distribution: .rademacher, improved: false, seed: 7) }),
      ]
      for (name, run) in variants {
        let estimate = try run()
        let label = "\(T.self) rank \(rank) \(definite ? "PSD" : "indefinite") \(name)"
        #expect(estimate.value.isFinite && estimate.samples.count == m, "\(label): \(estimate.value)")
        if rank < m {
          let tolerance = roundingTolerance(T.self, n: 60, norm: 5)
          #expect(abs(estimate.value - exact) <= tolerance, "\(label): \(estimate.value) vs \(exact)")
          #expect(estimate.samples.allSatisfy { abs($0 - exact) <= tolerance }, "\(label): \(estimate.samples)")
        } else {
          // Not exact, but an estimate of the right size.
          #expect(abs(estimate.value - exact) <= 3 * Double(rank) * 5, "\(label): \(estimate.value) vs \(exact)")
        }
      }
    }
  }
}

private func checkXDiagLowRank<T: BLASScalar>(_: T.Type) throws {
  let m = 10
  for rank in [1, 2, 5, m - 1, m, m + 1, 30] {
    for definite in [true, false] {
      let a = lowRankMatrix(rank: rank, definite: definite, seed: UInt64(200 + rank), T.self)
      let exact = a.diagonal().converted(to: Double.self)
      let estimate = try xDiagonal(DenseOperator(a), matvecs: 2 * m, seed: 8)
      let value = estimate.value.converted(to: Double.self)
      let label = "\(T.self) rank \(rank) \(definite ? "PSD" : "indefinite")"
      #expect(value.isFinite && estimate.standardError?.isFinite == true, "\(label)")
      if rank < m {
        let worst = (value - exact).scalars.map(abs).max()!
        #expect(worst <= roundingTolerance(T.self, n: 60, norm: 5), "\(label): error \(worst)")
      }
    }
  }
}

private func checkZeroOperator<T: BLASScalar>(_: T.Type) throws {
  let op = DenseOperator(NDArray<T>(zeros: [30, 30]))
  for distribution in [ProbeDistribution.sphere, .gaussian] {
    let estimate = try xTrace(op, matvecs: 12, distribution: distribution, seed: 1)
    #expect(estimate.value == 0 && estimate.samples.allSatisfy { $0 == 0 }, "\(distribution): \(estimate)")
    #expect(estimate.standardError == 0)
  }
  #expect(try xTrace(op, matvecs: 12, distribution: .rademacher, improved: false).value == 0)
  let diagonal = try xDiagonal(op, matvecs: 12, seed: 1)
  #expect(diagonal.value.scalars.allSatisfy { $0 == 0 } && diagonal.standardError?.scalars.allSatisfy { $0 == 0 } == true)
}

/// A = G Hᵀ of rank 3, not symmetric: both estimators are exact with 6 test vectors.
private func checkNonSymmetricLowRank<T: BLASScalar>(_: T.Type) throws {
  let g: NDArray<Double> = RandomMatrices.gaussian(40, 3, seed: 31)
  let h: NDArray<Double> = RandomMatrices.gaussian(40, 3, seed: 32)
  let a = matmul(g, h, transposeB: true)
  let op = DenseOperator(a.converted(to: T.self))
  let norm = try a.svd().s.scalars[0]
  let tolerance = roundingTolerance(T.self, n: 40, norm: norm)
  let trace = try xTrace(op, matvecs: 12, distribution: .gaussian, seed: 2)
  #expect(abs(trace.value - a.trace()) <= tolerance, "\(T.self): \(trace.value) vs \(a.trace())")
  let diagonal = try xDiagonal(op, matvecs: 12, seed: 3).value.converted(to: Double.self)
  let worst = (diagonal - a.diagonal()).scalars.map(abs).max()!
  #expect(worst <= tolerance, "\(T.self): error \(worst)")
}
