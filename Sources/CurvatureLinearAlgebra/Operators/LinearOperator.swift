import CurvatureNumerics

/// A matrix you multiply with, without necessarily forming it.
///
/// Every matrix in Curvature — curvature matrices of networks (Hessian, GGN, Fisher,
/// KFAC), structured matrices (dense, diagonal, Kronecker, block-diagonal, Toeplitz),
/// inverses and preconditioners — conforms, and solvers and estimators are written
/// against this protocol only.
///
/// A conformance implements the two products on a block of column vectors
/// (`apply(matrix:)`, `applyTranspose(matrix:)`), which it should batch (one gemm, not a
/// loop of matrix-vector products). Callers use `apply(_:)` and `applyTranspose(_:)`,
/// which take a vector `[n]` or a matrix `[n, k]` and check shapes. The structural
/// queries (`dense`, `diagonal`, `trace`, `logDeterminant`, `inverse`, `frobeniusNorm`)
/// have exact default implementations through `dense()`; structured operators override
/// them with what their structure makes cheap.
///
/// ```swift
/// let a = DenseOperator(matrix)                    // any [n, n] NDArray<Double>
/// let damped = a.damped(by: 0.1)                   // A + 0.1 I
/// let y = try damped.apply(x)                      // x: [n] or [n, k]
/// let b = try (a * a.transposed()).dense()         // products compose
/// ```
public protocol LinearOperator<Scalar>: Sendable {
  /// The element type.
  associatedtype Scalar: BLASScalar

  /// The number of rows (the length of `A x`).
  var rowCount: Int { get }

  /// The number of columns (the length of `x`).
  var columnCount: Int { get }

  /// Whether the operator equals its transpose. Curvature matrices are symmetric.
  var isSymmetric: Bool { get }

  /// `A X` for a block of column vectors `X` of shape `[columnCount, k]`, giving
  /// `[rowCount, k]`. Called through `apply(_:)`, which has checked the shape.
  /// - Throws: Whatever computing the product can throw (I/O, non-finite data).
  func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar>

  /// `Aᵀ X` for `X` of shape `[rowCount, k]`, giving `[columnCount, k]`. Called through
  /// `applyTranspose(_:)`, which has checked the shape.
  /// - Throws: Whatever computing the product can throw.
  func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar>

  /// The matrix itself, `[rowCount, columnCount]`.
  /// - Complexity: By default `columnCount` products in blocks of columns.
  func dense() throws -> NDArray<Scalar>

  /// The main diagonal.
  /// - Complexity: By default through `dense()`.
  func diagonal() throws -> NDArray<Scalar>

  /// The trace of a square operator.
  /// - Complexity: By default through `diagonal()`.
  func trace() throws -> Scalar

  /// The Frobenius norm `‖A‖_F`.
  /// - Complexity: By default through `dense()`.
  func frobeniusNorm() throws -> Scalar

  /// The sign and log-magnitude of the determinant of a square operator.
  /// - Complexity: By default an LU factorization of `dense()`, O(n³).
  func logDeterminant() throws -> (sign: Scalar, logMagnitude: Scalar)

  /// The inverse of a square operator, as an operator.
  /// - Throws: `LinearOperatorError.singular` when it does not exist.
  /// - Complexity: By default an inversion of `dense()`, O(n³).
  func inverse() throws -> any LinearOperator<Scalar>
}

extension LinearOperator {
  /// `A x` for a vector `[columnCount]` or `A X` for a matrix `[columnCount, k]`.
  /// - Parameter x: The vector or block of column vectors.
  /// - Returns: `[rowCount]` or `[rowCount, k]`.
  /// - Throws: `LinearOperatorError.shapeMismatch` for a wrong shape, or what the product throws.
  public func apply(_ x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    try checkOperand(x, length: columnCount, operation: "apply")
    if x.rank == 1 { return try apply(matrix: x.reshaped([x.count, 1])).reshaped([rowCount]) }
    return try apply(matrix: x)
  }

  /// `Aᵀ x` for a vector `[rowCount]` or `Aᵀ X` for a matrix `[rowCount, k]`.
  /// - Throws: `LinearOperatorError.shapeMismatch` for a wrong shape, or what the product throws.
  public func applyTranspose(_ x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    try checkOperand(x, length: rowCount, operation: "applyTranspose")
    if x.rank == 1 { return try applyTranspose(matrix: x.reshaped([x.count, 1])).reshaped([columnCount]) }
    return try applyTranspose(matrix: x)
  }

  func checkOperand(_ x: NDArray<Scalar>, length: Int, operation: String) throws {
    guard (x.rank == 1 || x.rank == 2) && x.shape[0] == length else {
      throw LinearOperatorError.shapeMismatch(
        operation: "\(operation) of a \(rowCount)×\(columnCount) operator",
        expected: "[\(length)] or [\(length), k]", actual: x.shape)
    }
  }

  /// Whether the operator is square.
  public var isSquare: Bool { rowCount == columnCount }

  package func requireSquare(_ operation: String) throws {
    guard isSquare else {
      throw LinearOperatorError.notSquare(operation: operation, rows: rowCount, columns: columnCount)
    }
  }

  public func dense() throws -> NDArray<Scalar> { try denseByProducts() }

  /// The matrix through products with blocks of 64 identity columns (the default `dense()`,
  /// also available to conformances that override `dense()` for special cases only).
  func denseByProducts() throws -> NDArray<Scalar> { try dense(blockSize: 64, onProgress: nil) }

  public func diagonal() throws -> NDArray<Scalar> { try dense().diagonal() }

  public func trace() throws -> Scalar {
    try requireSquare("trace")
    return try diagonal().sum()
  }

  public func frobeniusNorm() throws -> Scalar { try dense().norm() }

  public func logDeterminant() throws -> (sign: Scalar, logMagnitude: Scalar) {
    try requireSquare("logDeterminant")
    return try dense().signAndLogDeterminant()
  }

  public func inverse() throws -> any LinearOperator<Scalar> {
    try requireSquare("inverse")
    do {
      return DenseOperator(try dense().inverse(), isSymmetric: isSymmetric)
    } catch let error as LAPACKError {
      throw LinearOperatorError.singular(error.description)
    }
  }

  /// The determinant of a square operator (may overflow; prefer `logDeterminant`).
  public func determinant() throws -> Scalar {
    let (sign, logMagnitude) = try logDeterminant()
    return sign == 0 ? 0 : sign * Scalar.exp(logMagnitude)
  }

  /// The transpose `Aᵀ` as an operator (no work until applied).
  public func transposed() -> TransposedOperator<Scalar> { TransposedOperator(self) }

  /// `A + δI`: the damped operator, as one expression.
  /// - Precondition: The operator is square.
  public func damped(by delta: Scalar) -> SumOperator<Scalar> {
    precondition(isSquare, "damped(by:): a \(rowCount)×\(columnCount) operator is not square")
    return SumOperator([self, IdentityOperator<Scalar>(size: rowCount)], coefficients: [1, delta])
  }
}
