import CurvatureNumerics

// Compositions that keep structure: linear combinations, products, transposes. Each one
// answers structural queries from its operands where the algebra allows.

/// A linear combination `Σ cᵢ Aᵢ` of operators of equal shape.
public struct SumOperator<Scalar: BLASScalar>: LinearOperator {
  /// The operands.
  public let terms: [any LinearOperator<Scalar>]
  /// One coefficient per operand.
  public let coefficients: [Scalar]

  /// The combination `Σ coefficients[i] · terms[i]`.
  /// - Precondition: At least one term; all of one shape; one coefficient per term.
  public init(_ terms: [any LinearOperator<Scalar>], coefficients: [Scalar]? = nil) {
    precondition(!terms.isEmpty, "SumOperator: no terms")
    let (rows, columns) = (terms[0].rowCount, terms[0].columnCount)
    for term in terms {
      precondition(
        term.rowCount == rows && term.columnCount == columns,
        "SumOperator: a \(term.rowCount)×\(term.columnCount) term cannot be added to \(rows)×\(columns)")
    }
    self.terms = terms
    self.coefficients = coefficients ?? Array(repeating: 1, count: terms.count)
    precondition(self.coefficients.count == terms.count, "SumOperator: \(self.coefficients.count) coefficients for \(terms.count) terms")
  }

  public var rowCount: Int { terms[0].rowCount }
  public var columnCount: Int { terms[0].columnCount }
  public var isSymmetric: Bool { terms.allSatisfy(\.isSymmetric) }

  func combine(_ parts: (any LinearOperator<Scalar>) throws -> NDArray<Scalar>) rethrows -> NDArray<Scalar> {
    var result = try parts(terms[0]) * coefficients[0]
    for (term, c) in zip(terms.dropFirst(), coefficients.dropFirst()) {
      result.add(try parts(term), scaledBy: c)
    }
    return result
  }

  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try combine { try $0.apply(x) } }
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try combine { try $0.applyTranspose(x) } }
  public func dense() throws -> NDArray<Scalar> { try combine { try $0.dense() } }
  public func diagonal() throws -> NDArray<Scalar> { try combine { try $0.diagonal() } }
  public func trace() throws -> Scalar {
    try requireSquare("trace")
    return try zip(terms, coefficients).reduce(0) { $0 + $1.1 * (try $1.0.trace()) }
  }
}

/// A scalar multiple `c A`.
public struct ScaledOperator<Scalar: BLASScalar>: LinearOperator {
  /// The operand.
  public let base: any LinearOperator<Scalar>
  /// The factor.
  public let factor: Scalar

  /// The operator `factor · base`.
  public init(_ base: any LinearOperator<Scalar>, factor: Scalar) {
    self.base = base
    self.factor = factor
  }

  public var rowCount: Int { base.rowCount }
  public var columnCount: Int { base.columnCount }
  public var isSymmetric: Bool { base.isSymmetric }
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try base.apply(x) * factor }
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try base.applyTranspose(x) * factor }
  public func dense() throws -> NDArray<Scalar> { try base.dense() * factor }
  public func diagonal() throws -> NDArray<Scalar> { try base.diagonal() * factor }
  public func trace() throws -> Scalar { try factor * base.trace() }
  public func frobeniusNorm() throws -> Scalar { try Swift.abs(factor) * base.frobeniusNorm() }

  public func logDeterminant() throws -> (sign: Scalar, logMagnitude: Scalar) {
    try requireSquare("logDeterminant")
    if factor == 0 { return (0, -.infinity) }
    let (sign, logMagnitude) = try base.logDeterminant()
    let n = Scalar(rowCount)
    let flips = factor < 0 && rowCount % 2 == 1
    return (flips ? -sign : sign, logMagnitude + n * Scalar.log(Swift.abs(factor)))
  }

  public func inverse() throws -> any LinearOperator<Scalar> {
    try requireSquare("inverse")
    guard factor != 0 else { throw LinearOperatorError.singular("scaled by zero") }
    return ScaledOperator(try base.inverse(), factor: 1 / factor)
  }
}

/// A product `A₁ A₂ ⋯ A_m`, applied right to left.
public struct ProductOperator<Scalar: BLASScalar>: LinearOperator {
  /// The factors, leftmost first.
  public let factors: [any LinearOperator<Scalar>]
  public let isSymmetric: Bool

  /// The product of `factors` (leftmost first).
  /// - Parameters:
  ///   - factors: Operators whose inner dimensions agree.
  ///   - isSymmetric: Whether the product is known to be symmetric (e.g. `B A Bᵀ` with
  ///     symmetric `A`); false by default.
  /// - Precondition: Inner dimensions agree.
  public init(_ factors: [any LinearOperator<Scalar>], isSymmetric: Bool = false) {
    precondition(!factors.isEmpty, "ProductOperator: no factors")
    for (left, right) in zip(factors, factors.dropFirst()) {
      precondition(
        left.columnCount == right.rowCount,
        "ProductOperator: a \(left.rowCount)×\(left.columnCount) factor cannot multiply a \(right.rowCount)×\(right.columnCount) one")
    }
    self.factors = factors
    self.isSymmetric = isSymmetric
  }

  public var rowCount: Int { factors[0].rowCount }
  public var columnCount: Int { factors[factors.count - 1].columnCount }

  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    try factors.reversed().reduce(x) { try $1.apply($0) }
  }
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    try factors.reduce(x) { try $1.applyTranspose($0) }
  }

  /// An upper bound on the rank: the smallest dimension along the chain of factors.
  var rankBound: Int { factors.reduce(rowCount) { Swift.min($0, $1.rowCount, $1.columnCount) } }

  /// The sign and log-magnitude of the determinant: the factors' combined when all are
  /// square; sign 0 and −∞ when an inner dimension is below the order (the product then
  /// has rank below its order, whatever the entries); otherwise an LU of `dense()`.
  public func logDeterminant() throws -> (sign: Scalar, logMagnitude: Scalar) {
    try requireSquare("logDeterminant")
    if rankBound < rowCount { return (0, -.infinity) }
    guard factors.allSatisfy(\.isSquare) else { return try dense().signAndLogDeterminant() }
    var sign: Scalar = 1, logMagnitude: Scalar = 0
    for factor in factors {
      let (s, l) = try factor.logDeterminant()
      sign *= s
      logMagnitude += l
    }
    return (sign, logMagnitude)
  }

  /// The inverse: the product of the factors' inverses in reverse order when all are
  /// square, otherwise the inverse of `dense()`.
  /// - Throws: `LinearOperatorError.singular` when an inner dimension is below the order
  ///   (rank-deficient by shape) or an inversion fails.
  public func inverse() throws -> any LinearOperator<Scalar> {
    try requireSquare("inverse")
    if rankBound < rowCount {
      let shapes = factors.map { "\($0.rowCount)×\($0.columnCount)" }.joined(separator: " · ")
      throw LinearOperatorError.singular("the product \(shapes) has rank at most \(rankBound) < \(rowCount)")
    }
    guard factors.allSatisfy(\.isSquare) else {
      do {
        return DenseOperator(try dense().inverse(), isSymmetric: isSymmetric)
      } catch let error as LAPACKError {
        throw LinearOperatorError.singular(error.description)
      }
    }
    return ProductOperator(try factors.reversed().map { try $0.inverse() }, isSymmetric: isSymmetric)
  }
}

/// The transpose `Aᵀ` of an operator.
public struct TransposedOperator<Scalar: BLASScalar>: LinearOperator {
  /// The operator being transposed.
  public let base: any LinearOperator<Scalar>

  /// The transpose of `base`.
  public init(_ base: any LinearOperator<Scalar>) { self.base = base }

  public var rowCount: Int { base.columnCount }
  public var columnCount: Int { base.rowCount }
  public var isSymmetric: Bool { base.isSymmetric }
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try base.applyTranspose(x) }
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try base.apply(x) }
  public func dense() throws -> NDArray<Scalar> { try base.dense().transposed() }
  public func diagonal() throws -> NDArray<Scalar> { try base.diagonal() }
  // The square checks come first so that errors report this operator's shape, not the base's.
  public func trace() throws -> Scalar {
    try requireSquare("trace")
    return try base.trace()
  }
  public func frobeniusNorm() throws -> Scalar { try base.frobeniusNorm() }
  public func logDeterminant() throws -> (sign: Scalar, logMagnitude: Scalar) {
    try requireSquare("logDeterminant")
    return try base.logDeterminant()
  }
  public func inverse() throws -> any LinearOperator<Scalar> {
    try requireSquare("inverse")
    return TransposedOperator(try base.inverse())
  }
}

/// The sum of two operators of equal shape.
public func + <A: LinearOperator, B: LinearOperator>(lhs: A, rhs: B) -> SumOperator<A.Scalar> where A.Scalar == B.Scalar {
  SumOperator([lhs, rhs])
}

/// The difference of two operators of equal shape.
public func - <A: LinearOperator, B: LinearOperator>(lhs: A, rhs: B) -> SumOperator<A.Scalar> where A.Scalar == B.Scalar {
  SumOperator([lhs, rhs], coefficients: [1, -1])
}

/// The product (composition) of two operators: `(A * B) x = A (B x)`.
public func * <A: LinearOperator, B: LinearOperator>(lhs: A, rhs: B) -> ProductOperator<A.Scalar> where A.Scalar == B.Scalar {
  ProductOperator([lhs, rhs])
}

/// A scalar multiple of an operator.
public func * <A: LinearOperator>(lhs: A.Scalar, rhs: A) -> ScaledOperator<A.Scalar> {
  ScaledOperator(rhs, factor: lhs)
}

/// A scalar multiple of an operator.
public func * <A: LinearOperator>(lhs: A, rhs: A.Scalar) -> ScaledOperator<A.Scalar> {
  ScaledOperator(lhs, factor: rhs)
}
