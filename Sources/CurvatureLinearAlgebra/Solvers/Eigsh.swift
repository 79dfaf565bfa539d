import CurvatureNumerics

/// The `k` eigenpairs of a symmetric operator selected by `which`, in the form of scipy's
/// `scipy.sparse.linalg.eigsh(A, k=, which=)`: a short spelling of
/// `lanczosEigenpairs(_:options:onProgress:)` with the default `LanczosOptions` otherwise.
///
/// ```swift
/// let top = try eigsh(hessian, k: 10, which: .largest)
/// print(top.eigenvalues, top.residualNorms)
/// ```
/// scipy's `which="LA"`, `"SA"`, `"LM"` are `.largest`, `.smallest`, `.largestMagnitude`.
/// Unlike scipy, the eigenvalues come in the order of `which` (descending for `.largest`,
/// ascending for `.smallest`, by descending `|λ|` for `.largestMagnitude`), not ascending.
/// - Parameters:
///   - a: A symmetric operator (`isSymmetric` true).
///   - k: The number of eigenpairs (scipy's default 6), `1 ≤ k ≤ n`.
///   - which: Which end of the spectrum (default `.largestMagnitude`, scipy's `"LM"`).
///   - tolerance: The relative residual at which a pair counts as converged (default
///     `LanczosOptions`' 1e-10).
///   - seed: Seeds the start vector: equal seeds, equal results.
/// - Returns: The same `EigenpairResult` as `lanczosEigenpairs`: eigenvalues, eigenvectors
///   `[n, k]`, the true residual norms, matvecs, restarts and whether all converged.
/// - Throws: What `lanczosEigenpairs(_:options:onProgress:)` throws (e.g.
///   `SolverError.invalidArgument` for a non-symmetric operator or `k` outside `1...n`).
/// - Complexity: As `lanczosEigenpairs`: one product per Lanczos vector, memory
///   `(maxBasisSize + 1) · n` scalars with `maxBasisSize = min(n, max(2k + 1, k + 20))`.
public func eigsh<A: LinearOperator>(
  _ a: A, k: Int = 6, which: EigenvalueSelection = .largestMagnitude, tolerance: Double = 1e-10, seed: UInt64 = 0
) throws -> EigenpairResult<A.Scalar> {
  try lanczosEigenpairs(a, options: LanczosOptions(count: k, which: which, tolerance: tolerance, seed: seed))
}
