import Curvature
import CurvatureTestSupport
import Testing

/// `eigsh(A, k:, which:)` beside `lanczosEigenpairs(_:options:)`, and Lanczos residual norms
/// that are the pairs' true residuals (issue 19).
@Suite struct EigshTests {
  /// `‖A v − λ v‖` per returned pair, from one product with the eigenvectors, by loops.
  func residuals<T: BLASScalar>(_ a: some LinearOperator<T>, _ result: EigenpairResult<T>) throws -> [Double] {
    let v = result.eigenvectors, av = try a.apply(v)
    let (n, k) = (v.shape[0], v.shape[1])
    return (0..<k).map { j in
      (0..<n).reduce(0.0) { sum, i in
        let r = Double(av[i, j] - result.eigenvalues[j] * v[i, j])
        return sum + r * r
      }.squareRoot()
    }
  }

  func shortForm<T: APITestScalar>(_: T.Type) throws {
    let a: NDArray<T> = RandomMatrices.symmetric(eigenvalues: (0..<40).map { Double($0 % 13) - 4.5 + 0.01 * Double($0) }, seed: 9)
    let op = DenseOperator(a)
    let short = try eigsh(op, k: 3, which: .largest, tolerance: 1e-5, seed: 2)
    let long = try lanczosEigenpairs(op, options: LanczosOptions(count: 3, which: .largest, tolerance: 1e-5, seed: 2))
    #expect(short.eigenvalues == long.eigenvalues && short.eigenvectors == long.eigenvectors)
    #expect(short.residualNorms == long.residualNorms && short.matvecs == long.matvecs && short.converged)
    // scipy's defaults: k = 6, which = "LM".
    let defaults = try eigsh(op, tolerance: 1e-5)
    let lm = try lanczosEigenpairs(op, options: LanczosOptions(count: 6, which: .largestMagnitude, tolerance: 1e-5))
    // To rounding, not bits: other tests' parallel regions set OpenBLAS to one thread while
    // they run, and a multi-threaded product sums in another order than a one-threaded one
    // (the full parallel suite hit this in the last bits of the Double run).
    let rtol = T.self == Float.self ? 1e-4 : 1e-10
    expectClose(defaults.eigenvalues.converted(to: Double.self), lm.eigenvalues.converted(to: Double.self), rtol: rtol, "eigsh defaults vs Lanczos LM")
    #expect(throws: SolverError.self) { try eigsh(op, k: 0) }
  }

  @Test func eigshIsTheShortFormOfLanczos() throws {
    try shortForm(Float.self)
    try shortForm(Double.self)
  }

  func trueResiduals<T: APITestScalar>(_: T.Type) throws {
    // Four distinct eigenvalues: the Krylov space is invariant after 4 steps, where the
    // Lanczos estimate |β s| is exactly 0, but the computed pairs carry rounding.
    let values = (0..<30).map { [3.0, 1.5, -0.7, 0.2][$0 % 4] }
    let a: NDArray<T> = RandomMatrices.symmetric(eigenvalues: values, seed: 10)
    let op = DenseOperator(a)
    for options in [
      LanczosOptions(count: 2, which: .largest, seed: 1),
      LanczosOptions(count: 3, which: .smallest, seed: 4, verifiesMultiplicity: false),
      LanczosOptions(count: 30, which: .largest),                         // dense fallback
    ] {
      let result = try lanczosEigenpairs(op, options: options)
      let exact = try residuals(op, result)
      #expect(result.residualNorms.count == exact.count)
      for (reported, truth) in zip(result.residualNorms, exact) {
        // The reported residual is the true one (the same product, summed in another order).
        #expect(Swift.abs(reported - truth) <= 1e-3 * truth, "reported \(reported), true \(truth), \(options.count) \(options.which)")
        // Never below rounding (the estimate was 0 here); converged, within the tolerance
        // `max(1e-10 |λ|, 10 ε ‖A‖)` with room for the estimate's optimism.
        #expect(truth > 0)
        if result.converged { #expect(truth < 10 * Swift.max(1e-10 * 3, 10 * Double(T.ulpOfOne) * 3)) }
      }
    }
  }

  @Test func lanczosReportsTrueResiduals() throws {
    try trueResiduals(Float.self)
    try trueResiduals(Double.self)
  }

  @Test func residualsOfAnUnconvergedRunAreTrueToo() throws {
    let values = (0..<150).map { 10 * Double.cos(Double($0)) }
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: values, seed: 11)
    let result = try lanczosEigenpairs(DenseOperator(a), options: .init(count: 4, maxBasisSize: 6, maxRestarts: 2, seed: 1))
    #expect(!result.converged)
    for (reported, truth) in zip(result.residualNorms, try residuals(DenseOperator(a), result)) {
      #expect(Swift.abs(reported - truth) <= 1e-9 * truth)
    }
  }
}
