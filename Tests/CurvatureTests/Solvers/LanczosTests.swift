import Curvature
import CurvatureTestSupport
import Testing

/// Exact eigenpairs of a symmetric matrix ordered as `which` asks.
func referenceEigenpairs(_ a: NDArray<Double>, which: EigenvalueSelection) throws -> (values: [Double], vectors: NDArray<Double>) {
  let (values, vectors) = try a.symmetricEigen()
  let order: [Int]
  switch which {
  case .largest: order = Array(values.scalars.indices.reversed())
  case .smallest: order = Array(values.scalars.indices)
  case .largestMagnitude: order = values.scalars.indices.sorted { abs(values[$0]) > abs(values[$1]) }
  }
  let n = values.count
  let sorted = NDArray<Double>(shape: [n, n]) { vectors[$0[0], order[$0[1]]] }
  return (order.map { values[$0] }, sorted)
}

/// Checks a Lanczos result against LAPACK: eigenvalues to `rtol`, orthonormal vectors with
/// small true residuals, and — for eigenvalues separated from the rest of the spectrum by
/// `gap` — the vectors themselves up to sign; `clusters` lists index ranges whose vectors
/// are compared as subspaces (repeated or clustered eigenvalues).
func checkEigenpairs(
  _ result: EigenpairResult<Double>, _ a: NDArray<Double>, which: EigenvalueSelection,
  rtol: Double = 1e-8, vectorTolerance: Double = 1e-6, orthonormality: Double = 1e-10, clusters: [Range<Int>] = [],
  sourceLocation: SourceLocation = #_sourceLocation
) throws {
  let k = result.eigenvalues.count
  let n = a.shape[0]
  let (values, vectors) = try referenceEigenpairs(a, which: which)
  let scale = values.map(abs).max()!
  #expect(result.converged, sourceLocation: sourceLocation)
  assertClose(result.eigenvalues, NDArray(Array(values.prefix(k))), rtol: rtol, atol: rtol * scale, "eigenvalues", sourceLocation: sourceLocation)
  let v = result.eigenvectors
  #expect(v.shape == [n, k], sourceLocation: sourceLocation)
  assertClose(matmul(v, v, transposeA: true), NDArray.identity(k), rtol: 0, atol: orthonormality, "orthonormality", sourceLocation: sourceLocation)
  // True residuals ‖A v − λ v‖.
  let av = matmul(a, v)
  for j in 0..<k {
    var worst = 0.0
    for i in 0..<n { worst += (av[i, j] - result.eigenvalues[j] * v[i, j]) * (av[i, j] - result.eigenvalues[j] * v[i, j]) }
    #expect(worst.squareRoot() <= 1e-7 * scale, "residual of pair \(j): \(worst.squareRoot())", sourceLocation: sourceLocation)
  }
  // Vectors up to sign outside clusters; subspaces inside.
  let inCluster = Set(clusters.flatMap { Array($0) })
  for j in 0..<k where !inCluster.contains(j) {
    var dot = 0.0
    for i in 0..<n { dot += v[i, j] * vectors[i, j] }
    #expect(1 - abs(dot) <= vectorTolerance, "eigenvector \(j): |cos| = \(abs(dot))", sourceLocation: sourceLocation)
  }
  for cluster in clusters {
    // ‖(I − U Uᵀ) V‖_F with U the exact eigenvectors of the whole cluster.
    let u = NDArray<Double>(shape: [n, cluster.count]) { vectors[$0[0], cluster.lowerBound + $0[1]] }
    let block = NDArray<Double>(shape: [n, Swift.min(k, cluster.upperBound) - cluster.lowerBound]) { v[$0[0], cluster.lowerBound + $0[1]] }
    let outside = block - matmul(u, matmul(u, block, transposeA: true))
    #expect(outside.norm() <= vectorTolerance, "subspace of cluster \(cluster): \(outside.norm())", sourceLocation: sourceLocation)
  }
}

/// An indefinite spectrum in [−4, 10] with irregular spacing.
func irregularSpectrum(_ n: Int) -> [Double] {
  (0..<n).map { i -> Double in
    let t = Double(i) / Double(n - 1)
    return -4 + 14 * t + 0.03 * Double.sin(7 * Double(i))
  }
}

@Suite struct LanczosTests {
  @Test(arguments: [1, 5, 20], EigenvalueSelection.allCases)
  func matchesLAPACKWithThickRestarts(k: Int, which: EigenvalueSelection) throws {
    let n = 150
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: irregularSpectrum(n), seed: 51)
    // A basis far smaller than convergence needs, so thick restarts do the work.
    let basis = k + (k == 1 ? 6 : 10)
    var events = [ProgressEvent]()
    let result = try lanczosEigenpairs(DenseOperator(a), options: .init(count: k, which: which, maxBasisSize: basis, seed: 7)) {
      events.append($0)
    }
    try checkEigenpairs(result, a, which: which)
    #expect(result.iterations > 2, "thick restart must be exercised")
    #expect(events.count >= result.iterations)
    #expect(events.allSatisfy { $0.task == "Lanczos" && $0.total == k && $0.completed <= k })
    #expect(events.last?.completed == k)
    #expect(zip(events, events.dropFirst()).allSatisfy { $0.completed <= $1.completed })
  }

  @Test func clusteredEigenvalues() throws {
    // Ten eigenvalues within 1e-3 at the top of the spectrum, the rest in [−2, 3].
    let n = 120
    var values = (0..<(n - 10)).map { -2 + 5 * Double($0) / Double(n - 11) }
    values += (0..<10).map { 5 + 1e-3 * Double($0) / 9 }
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: values, seed: 52)
    for k in [5, 10] {
      let result = try lanczosEigenpairs(DenseOperator(a), options: .init(count: k, which: .largest, tolerance: 1e-12, maxBasisSize: 24, seed: 3))
      // Eigenvalues 1.1e-4 apart: vectors are compared as the cluster's subspace.
      try checkEigenpairs(result, a, which: .largest, clusters: [0..<10])
    }
  }

  @Test func repeatedEigenvalues() throws {
    // 7 with multiplicity 3 on top, −6 with multiplicity 3 at the bottom.
    let n = 100
    var values = (0..<(n - 6)).map { -5 + 10.5 * Double($0) / Double(n - 7) }
    values += [7, 7, 7, -6, -6, -6]
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: values, seed: 53)
    for which in EigenvalueSelection.allCases {
      let result = try lanczosEigenpairs(DenseOperator(a), options: .init(count: 5, which: which, maxBasisSize: 20, seed: 4))
      try checkEigenpairs(result, a, which: which, clusters: which == .largestMagnitude ? [0..<3, 3..<6] : [0..<3])
    }
  }

  @Test func invariantSubspaceAndFewDistinctEigenvalues() throws {
    // Four distinct eigenvalues: every Krylov space is invariant after four steps (β = 0),
    // and copies of each eigenvalue come only from random restarts.
    let n = 60
    let values = (0..<n).map { Double([3, 1, -1, -2][$0 % 4]) }
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: values, seed: 54)
    for which in EigenvalueSelection.allCases {
      let result = try lanczosEigenpairs(DenseOperator(a), options: .init(count: 6, which: which, maxBasisSize: 16, seed: 5))
      let expected: [Double] = which == .smallest ? [-2, -2, -2, -2, -2, -2] : [3, 3, 3, 3, 3, 3]
      // Each eigenvalue has multiplicity 15: compare with the whole eigenspace.
      try checkEigenpairs(result, a, which: which, clusters: [0..<15])
      assertClose(result.eigenvalues, NDArray(expected), rtol: 1e-12)
    }
    // The identity: β₁ = 0 at once.
    let identity = try lanczosEigenpairs(IdentityOperator<Double>(size: 30), options: .init(count: 3))
    #expect(identity.converged)
    assertClose(identity.eigenvalues, NDArray([1, 1, 1]), rtol: 1e-14)
    // Zero operator: eigenvalue 0 converges through the absolute floor.
    let zero = try lanczosEigenpairs(DenseOperator(NDArray<Double>(zeros: [20, 20])), options: .init(count: 2))
    #expect(zero.converged)
    #expect(zero.eigenvalues.scalars == [0, 0])
  }

  @Test func smallOperatorsAndDenseFallback() throws {
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: irregularSpectrum(12), seed: 55)
    // k = n: dense syevd.
    let all = try lanczosEigenpairs(DenseOperator(a), options: .init(count: 12, which: .smallest))
    try checkEigenpairs(all, a, which: .smallest, rtol: 1e-12)
    #expect(all.iterations == 0)
    // k = n − 1 with the basis capped at n: Lanczos spans the whole space.
    let most = try lanczosEigenpairs(DenseOperator(a), options: .init(count: 11, which: .largest, maxBasisSize: 12, denseFallbackLimit: 0))
    try checkEigenpairs(most, a, which: .largest)
    // Tiny n.
    let one = try lanczosEigenpairs(DenseOperator(NDArray<Double>(rows: [[-2.5]])), options: .init(count: 1))
    #expect(one.eigenvalues.scalars == [-2.5])
    let two = try lanczosEigenpairs(DenseOperator(NDArray<Double>(rows: [[2, 1], [1, 2]])), options: .init(count: 1, denseFallbackLimit: 0))
    assertClose(two.eigenvalues, NDArray([3]), rtol: 1e-12)
  }

  @Test func rejectsBadInput() throws {
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: irregularSpectrum(12), seed: 56)
    // More eigenpairs than n, always; k = n without the dense fallback.
    #expect(throws: SolverError.self) { try lanczosEigenpairs(DenseOperator(a), options: .init(count: 13)) }
    #expect(throws: SolverError.self) { try lanczosEigenpairs(DenseOperator(a), options: .init(count: 12, denseFallbackLimit: 0)) }
    #expect(throws: SolverError.self) { try lanczosEigenpairs(DenseOperator(a), options: .init(count: 0)) }
    #expect(throws: SolverError.self) { try lanczosEigenpairs(DenseOperator(a), options: .init(count: 2, tolerance: 0)) }
    // A basis cap below k + 2.
    #expect(throws: SolverError.self) { try lanczosEigenpairs(DenseOperator(a), options: .init(count: 5, maxBasisSize: 6)) }
    // Non-square and non-symmetric operators.
    #expect(throws: LinearOperatorError.self) {
      try lanczosEigenpairs(DenseOperator(NDArray<Double>(zeros: [3, 4])), options: .init(count: 1))
    }
    var rng = RandomGenerator(seed: 57)
    let nonSymmetric = DenseOperator<Double>(rng.normalArray(shape: [12, 12]))
    #expect(!nonSymmetric.isSymmetric)
    do {
      _ = try lanczosEigenpairs(nonSymmetric, options: .init(count: 1))
      Issue.record("a non-symmetric operator was accepted")
    } catch let error as SolverError {
      #expect(error.description.contains("symmetric"))
    }
    #expect(throws: SolverError.self) { try powerIteration(nonSymmetric) }
    // NaN from the operator.
    var broken = a
    broken[2, 2] = .nan
    #expect(throws: SolverError.self) { try lanczosEigenpairs(DenseOperator(broken, isSymmetric: true), options: .init(count: 1)) }
  }

  @Test func sameSeedSameResult() throws {
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: irregularSpectrum(80), seed: 58)
    let options = LanczosOptions(count: 4, which: .largestMagnitude, maxBasisSize: 12, seed: 99)
    let first = try lanczosEigenpairs(DenseOperator(a), options: options)
    let second = try lanczosEigenpairs(DenseOperator(a), options: options)
    #expect(first.eigenvalues == second.eigenvalues)
    #expect(first.eigenvectors == second.eigenvectors)
    #expect(first.residualNorms == second.residualNorms)
    #expect(first.matvecs == second.matvecs)
    var other = options
    other.seed = 100
    let third = try lanczosEigenpairs(DenseOperator(a), options: other)
    #expect(third.eigenvectors != first.eigenvectors)
    assertClose(third.eigenvalues, first.eigenvalues, rtol: 1e-9)
    let power = PowerIterationOptions(count: 2, seed: 3)
    #expect(try powerIteration(DenseOperator(a), options: power).eigenvectors == (try powerIteration(DenseOperator(a), options: power).eigenvectors))
  }

  @Test func floatOperator() throws {
    let a: NDArray<Float> = RandomMatrices.symmetric(eigenvalues: irregularSpectrum(60), seed: 59)
    let result = try lanczosEigenpairs(DenseOperator(a), options: .init(count: 3, tolerance: 1e-5, maxBasisSize: 12))
    #expect(result.converged)
    let exact = try a.converted(to: Double.self).symmetricEigenvalues().scalars.suffix(3).reversed()
    assertClose(result.eigenvalues.converted(to: Double.self), NDArray(Array(exact)), rtol: 1e-5)
  }

  @Test func powerIterationWithDeflation() throws {
    // Well-separated top magnitudes 10, −8, 6, 4.5; the rest in [−1, 1].
    let n = 80
    var values = (0..<(n - 4)).map { -1 + 2 * Double($0) / Double(n - 5) }
    values += [10, -8, 6, 4.5]
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: values, seed: 60)
    var events = [ProgressEvent]()
    let result = try powerIteration(DenseOperator(a), options: .init(count: 4, tolerance: 1e-10, seed: 8)) { events.append($0) }
    #expect(result.converged)
    assertClose(result.eigenvalues, NDArray([10, -8, 6, 4.5]), rtol: 1e-8)
    try checkEigenpairs(
      EigenpairResult(eigenvalues: result.eigenvalues, eigenvectors: result.eigenvectors, residualNorms: result.residualNorms, matvecs: 0, iterations: 0, converged: true),
      a, which: .largestMagnitude, rtol: 1e-8, vectorTolerance: 1e-8, orthonormality: 1e-8)
    #expect(events.map(\.completed) == [1, 2, 3, 4])
    // Lanczos needs far fewer products for the same pairs.
    let lanczos = try lanczosEigenpairs(DenseOperator(a), options: .init(count: 4, which: .largestMagnitude, seed: 8))
    #expect(lanczos.matvecs < result.matvecs)
    // ±λ of equal magnitude: no convergence, reported as such.
    let pm: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: [5, -5, 1, 0.5, 0.2], seed: 61)
    let stuck = try powerIteration(DenseOperator(pm), options: .init(count: 1, maxIterations: 50))
    #expect(!stuck.converged)
  }

  @Test func reportsNonConvergence() throws {
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: irregularSpectrum(150), seed: 62)
    let result = try lanczosEigenpairs(DenseOperator(a), options: .init(count: 4, maxBasisSize: 6, maxRestarts: 2, seed: 1))
    #expect(!result.converged)
    #expect(result.iterations == 2)
    #expect(result.eigenvalues.shape == [4] && result.eigenvectors.shape == [150, 4])
    #expect(result.residualNorms.contains { $0 > 1e-6 })
    // Still a Rayleigh-Ritz approximation: the values lie inside the spectrum, in order.
    let values = result.eigenvalues.scalars
    #expect(zip(values, values.dropFirst()).allSatisfy { $0 >= $1 })
    #expect(values.allSatisfy { $0 <= 10.1 && $0 >= -4.1 })
  }
}
