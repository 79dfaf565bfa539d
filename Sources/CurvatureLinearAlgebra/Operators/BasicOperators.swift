import CurvatureNumerics

// The elementary operators: dense, identity, diagonal.

/// A dense matrix as an operator: products are gemms, structural queries LAPACK calls.
public struct DenseOperator<Scalar: BLASScalar>: LinearOperator {
  /// The matrix, `[rowCount, columnCount]`.
  public let matrix: NDArray<Scalar>
  public let isSymmetric: Bool

  /// Wraps a matrix.
  /// - Parameters:
  ///   - matrix: A rank-2 array.
  ///   - isSymmetric: Whether it is symmetric; when nil, checked exactly.
  public init(_ matrix: NDArray<Scalar>, isSymmetric: Bool? = nil) {
    precondition(matrix.rank == 2, "DenseOperator: shape \(matrix.shape) is not a matrix")
    self.matrix = matrix
    self.isSymmetric = isSymmetric ?? (matrix.shape[0] == matrix.shape[1] && matrix == matrix.transposed())
  }

  public var rowCount: Int { matrix.shape[0] }
  public var columnCount: Int { matrix.shape[1] }

  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { matmul(matrix, x) }
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    matmul(matrix, x, transposeA: true)
  }
  public func dense() throws -> NDArray<Scalar> { matrix }
  public func diagonal() throws -> NDArray<Scalar> { matrix.diagonal() }
  public func frobeniusNorm() throws -> Scalar { matrix.norm() }
}

/// The identity `I` of a given size.
public struct IdentityOperator<Scalar: BLASScalar>: LinearOperator {
  /// The number of rows and columns.
  public let size: Int

  /// The `size×size` identity.
  public init(size: Int) {
    precondition(size >= 0, "IdentityOperator: negative size \(size)")
    self.size = size
  }

  public var rowCount: Int { size }
  public var columnCount: Int { size }
  public var isSymmetric: Bool { true }
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { x }
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { x }
  public func dense() throws -> NDArray<Scalar> { .identity(size) }
  public func diagonal() throws -> NDArray<Scalar> { NDArray(repeating: 1, shape: [size]) }
  public func trace() throws -> Scalar { Scalar(size) }
  public func frobeniusNorm() throws -> Scalar { Scalar(size).squareRoot() }
  public func logDeterminant() throws -> (sign: Scalar, logMagnitude: Scalar) { (1, 0) }
  public func inverse() throws -> any LinearOperator<Scalar> { self }
}

/// A diagonal matrix `diag(d)`.
public struct DiagonalOperator<Scalar: BLASScalar>: LinearOperator {
  /// The diagonal entries.
  public let entries: NDArray<Scalar>

  /// The diagonal matrix with the given entries (a vector).
  public init(_ entries: NDArray<Scalar>) {
    precondition(entries.rank == 1, "DiagonalOperator: entries of shape \(entries.shape) are not a vector")
    self.entries = entries
  }

  public var rowCount: Int { entries.count }
  public var columnCount: Int { entries.count }
  public var isSymmetric: Bool { true }

  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    NDArray.binary(.multiply, x, entries.reshaped([entries.count, 1]))
  }
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try apply(matrix: x) }
  public func dense() throws -> NDArray<Scalar> { entries.diagonalMatrix() }
  public func diagonal() throws -> NDArray<Scalar> { entries }
  public func trace() throws -> Scalar { entries.sum() }
  public func frobeniusNorm() throws -> Scalar { entries.norm() }

  public func logDeterminant() throws -> (sign: Scalar, logMagnitude: Scalar) {
    var sign: Scalar = 1, logMagnitude: Scalar = 0
    for d in entries.scalars {
      if d == 0 { return (0, -.infinity) }
      if d < 0 { sign = -sign }
      logMagnitude += Scalar.log(Swift.abs(d))
    }
    return (sign, logMagnitude)
  }

  public func inverse() throws -> any LinearOperator<Scalar> {
    if let zero = entries.scalars.firstIndex(of: 0) {
      throw LinearOperatorError.singular("diagonal entry \(zero) is zero")
    }
    return DiagonalOperator(entries.map(.reciprocal))
  }
}
