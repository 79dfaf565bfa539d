import CurvatureNumerics

/// `A⁻¹` of a symmetric positive definite operator, applied by conjugate gradients.
///
/// Each product `A⁻¹ X` solves `A Y = X` for all columns of `X` at once with
/// (preconditioned) CG to the tolerance in `options` (Hestenes & Stiefel 1952), so the
/// operator composes with everything else that takes a `LinearOperator`: damped inverses
/// in natural-gradient steps, influence functions, Laplace posteriors.
///
/// ```swift
/// let inverse = CGInverseOperator(ggn.damped(by: 1e-3), options: .init(relativeTolerance: 1e-8))
/// let step = try inverse.apply(gradient)
/// ```
public struct CGInverseOperator<Scalar: BLASScalar>: LinearOperator {
  /// The operator `A` being inverted.
  public let base: any LinearOperator<Scalar>
  /// `M ≈ A⁻¹` used inside every solve, or nil.
  public let preconditioner: (any LinearOperator<Scalar>)?
  /// The tolerances and iteration limit of every solve.
  public let options: ConjugateGradientOptions

  /// The inverse of `base`, applied by CG.
  /// - Parameters:
  ///   - base: A square, symmetric positive definite operator.
  ///   - preconditioner: An optional symmetric positive definite `M ≈ A⁻¹`.
  ///   - options: Stopping rules of each solve.
  /// - Precondition: `base` is square.
  public init(
    _ base: any LinearOperator<Scalar>, preconditioner: (any LinearOperator<Scalar>)? = nil,
    options: ConjugateGradientOptions = ConjugateGradientOptions()
  ) {
    precondition(base.isSquare, "CGInverseOperator: a \(base.rowCount)×\(base.columnCount) operator is not square")
    self.base = base
    self.preconditioner = preconditioner
    self.options = options
  }

  public var rowCount: Int { base.rowCount }
  public var columnCount: Int { base.columnCount }
  public var isSymmetric: Bool { base.isSymmetric }

  /// `A⁻¹ X` by one batched CG solve.
  /// - Throws: `SolverError` when the solve does not reach the tolerance (`.notConverged`),
  ///   meets non-positive curvature (`.breakdown`) or non-finite values; or what `A` throws.
  /// - Complexity: CG iterations × (one product with `A` and `M`).
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    try conjugateGradient(base, x, preconditioner: preconditioner, options: options).requireConverged()
  }

  /// `A⁻ᵀ X`, which is `A⁻¹ X` for the symmetric `A` this operator expects.
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    if base.isSymmetric { return try apply(matrix: x) }
    return try CGInverseOperator(TransposedOperator(base), preconditioner: preconditioner.map { TransposedOperator($0) }, options: options).apply(matrix: x)
  }

  public func inverse() throws -> any LinearOperator<Scalar> { base }

  public func logDeterminant() throws -> (sign: Scalar, logMagnitude: Scalar) {
    let (sign, logMagnitude) = try base.logDeterminant()
    return (sign, -logMagnitude)
  }
}
