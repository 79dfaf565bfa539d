import CurvatureNumerics

// The Kronecker product of any number of operators, applied mode by mode (the vec trick)
// and queried through its factors.

/// The Kronecker product `A₁ ⊗ A₂ ⊗ ⋯ ⊗ A_m` of operators, never formed.
///
/// Each factor `Aₜ` is any operator of shape `[rₜ, cₜ]` (rectangular ones included); the
/// product has shape `[r₁ r₂ ⋯ r_m, c₁ c₂ ⋯ c_m]`. Rows and columns are numbered row-major,
/// the first factor's index varying slowest, which is the convention of
/// `kronecker(_:_:)` on `NDArray`s:
///
/// ```math
/// (A ⊗ B)[i·p + k, j·q + l] = A[i, j] · B[k, l]          (B of shape [p, q])
/// (A ⊗ B) vec(X) = vec(A X Bᵀ)                             (X of shape [c_A, c_B])
/// ```
///
/// where `vec` is the row-major flattening. A product `y = (A₁ ⊗ ⋯ ⊗ A_m) x` reshapes `x`
/// to a tensor `[c₁, …, c_m]` and multiplies each mode by its factor. Products are
/// batched over the columns of a block `[c₁⋯c_m, k]`: each factor is applied once, to one
/// block holding every fibre of its mode for all `k` columns, and a 2-D transpose between
/// factors rotates the next mode to the front.
///
/// Structural queries use the factors only:
///
/// ```math
/// tr(A ⊗ B) = tr(A) tr(B)            diag(A ⊗ B) = diag(A) ⊗ diag(B)
/// ‖A ⊗ B‖_F = ‖A‖_F ‖B‖_F            (A ⊗ B)⁻¹ = A⁻¹ ⊗ B⁻¹
/// det(A ⊗ B) = det(A)^{n_B} det(B)^{n_A}     (A: n_A×n_A, B: n_B×n_B)
/// ```
///
/// ```swift
/// let k = kronecker(DenseOperator(a), DenseOperator(b))   // a ⊗ b, never formed
/// let y = try k.apply(x)                                   // x: [cols(a)·cols(b)] or [_, k]
/// let (sign, logAbs) = try k.logDeterminant()              // from the factors' LUs
/// ```
public struct KroneckerOperator<Scalar: BLASScalar>: LinearOperator {
  /// The factors, leftmost (slowest index) first. Nested Kronecker products are flattened.
  public let factors: [any LinearOperator<Scalar>]
  /// The product of the factors' row counts.
  public let rowCount: Int
  /// The product of the factors' column counts.
  public let columnCount: Int

  /// The Kronecker product of `factors`, leftmost first.
  ///
  /// A factor that is itself a `KroneckerOperator` contributes its factors (the product is
  /// associative), so products built up two at a time apply every mode directly.
  /// - Parameter factors: One or more operators of any shapes.
  /// - Precondition: `factors` is not empty.
  /// - Complexity: O(m) for m factors; nothing is computed.
  public init(_ factors: [any LinearOperator<Scalar>]) {
    precondition(!factors.isEmpty, "KroneckerOperator: no factors")
    var flat = [any LinearOperator<Scalar>]()
    for factor in factors {
      if let nested = factor as? KroneckerOperator<Scalar> {
        flat.append(contentsOf: nested.factors)
      } else {
        flat.append(factor)
      }
    }
    self.factors = flat
    self.rowCount = flat.reduce(1) { $0 * $1.rowCount }
    self.columnCount = flat.reduce(1) { $0 * $1.columnCount }
  }

  /// The Kronecker product of the given factors, leftmost first.
  /// - Parameter factors: One or more operators of any shapes.
  /// - Precondition: At least one factor.
  public init(_ factors: any LinearOperator<Scalar>...) {
    self.init(factors)
  }

  /// Whether every factor is symmetric (then so is the product).
  public var isSymmetric: Bool { factors.allSatisfy(\.isSymmetric) }

  /// `(A₁ ⊗ ⋯ ⊗ A_m) X` for `X` of shape `[columnCount, k]`, mode by mode.
  /// - Parameter x: A block of column vectors `[columnCount, k]`.
  /// - Returns: `[rowCount, k]`.
  /// - Throws: Whatever a factor's product throws.
  /// - Complexity: One product of each factor `Aₜ` with a block of `N·k / cₜ` columns, where
  ///   `N` is the length of the input at that stage, and `m + 1` transposes of the block.
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    try modeProducts(x, transpose: false)
  }

  /// `(A₁ ⊗ ⋯ ⊗ A_m)ᵀ X = (A₁ᵀ ⊗ ⋯ ⊗ A_mᵀ) X` for `X` of shape `[rowCount, k]`.
  /// - Parameter x: A block of column vectors `[rowCount, k]`.
  /// - Returns: `[columnCount, k]`.
  /// - Throws: Whatever a factor's transposed product throws.
  /// - Complexity: As `apply(matrix:)`, with the factors' transposed products.
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    try modeProducts(x, transpose: true)
  }

  /// Multiplies every mode of `x` (`[n₁⋯n_m, k]`, row-major) by its factor or its transpose.
  ///
  /// The block is kept as a 2-D array whose first axis is the mode about to be multiplied:
  ///
  /// ```text
  /// [n₁, (n₂ ⋯ n_m k)]  --A₁-->  [o₁, (n₂ ⋯ n_m k)]  --transpose-->  [(n₂ ⋯ n_m k), o₁]
  ///                     =  [n₂, (n₃ ⋯ n_m k o₁)]  --A₂--> …  -->  [k, (o₁ ⋯ o_m)]  --transpose--> [o₁⋯o_m, k]
  /// ```
  func modeProducts(_ x: NDArray<Scalar>, transpose: Bool) throws -> NDArray<Scalar> {
    let k = x.shape[1]
    let outputCount = transpose ? columnCount : rowCount
    if factors.count == 1 {
      return transpose ? try factors[0].applyTranspose(x) : try factors[0].apply(x)
    }
    // An empty input or output dimension makes the result a block of zeros (possibly empty).
    if k == 0 || outputCount == 0 || x.count == 0 { return NDArray(zeros: [outputCount, k]) }
    var current = x
    for factor in factors {
      let front = transpose ? factor.rowCount : factor.columnCount
      let block = current.reshaped([front, current.count / front])
      let product = transpose ? try factor.applyTranspose(block) : try factor.apply(block)
      current = product.transposed()
    }
    // `current` is [k, o₁ ⋯ o_m] in row-major order.
    return current.reshaped([k, outputCount]).transposed()
  }

  /// The dense matrix, the Kronecker product of the factors' dense matrices.
  /// - Returns: `[rowCount, columnCount]`.
  /// - Throws: Whatever a factor's `dense()` throws.
  /// - Complexity: O(rowCount · columnCount) plus the factors' `dense()`.
  public func dense() throws -> NDArray<Scalar> {
    var result = try factors[0].dense()
    for factor in factors.dropFirst() { result = kronecker(result, try factor.dense()) }
    return result
  }

  /// The main diagonal, `diag(A₁) ⊗ ⋯ ⊗ diag(A_m)` when every factor is square.
  ///
  /// With rectangular factors, entry `p` is `Πₜ Aₜ[iₜ, jₜ]` where `(i₁, …, i_m)` are the
  /// digits of `p` in the mixed radix of the row counts and `(j₁, …, j_m)` those in the
  /// radix of the column counts; the factors' dense matrices supply the entries.
  /// - Returns: A vector of length `min(rowCount, columnCount)`.
  /// - Throws: Whatever a factor's `diagonal()` or `dense()` throws.
  /// - Complexity: O(min(rowCount, columnCount)) plus the factors' diagonals (or, with
  ///   rectangular factors, `O(m · min(rowCount, columnCount))` plus their dense matrices).
  public func diagonal() throws -> NDArray<Scalar> {
    if factors.allSatisfy(\.isSquare) {
      var result = try factors[0].diagonal()
      for factor in factors.dropFirst() { result = kroneckerOfVectors(result, try factor.diagonal()) }
      return result
    }
    let matrices = try factors.map { try $0.dense() }
    let length = Swift.min(rowCount, columnCount)
    var entries = [Scalar](repeating: 1, count: length)
    for p in 0..<length {
      var (row, column) = (p, p)
      var value: Scalar = 1
      for matrix in matrices.reversed() {
        let (rows, columns) = (matrix.shape[0], matrix.shape[1])
        value *= matrix.scalars[(row % rows) * columns + column % columns]
        row /= rows
        column /= columns
      }
      entries[p] = value
    }
    return NDArray(entries)
  }

  /// The trace, `Πₜ tr(Aₜ)` when every factor is square.
  /// - Returns: The sum of the diagonal.
  /// - Throws: `LinearOperatorError.notSquare` when the product is not square, or what a
  ///   factor's `trace()` throws.
  /// - Complexity: The factors' traces (through `diagonal()` when some factor is rectangular).
  public func trace() throws -> Scalar {
    try requireSquare("trace")
    guard factors.allSatisfy(\.isSquare) else { return try diagonal().sum() }
    return try factors.reduce(1) { $0 * (try $1.trace()) }
  }

  /// The Frobenius norm, `Πₜ ‖Aₜ‖_F`.
  /// - Returns: `‖A₁ ⊗ ⋯ ⊗ A_m‖_F`.
  /// - Throws: Whatever a factor's `frobeniusNorm()` throws.
  /// - Complexity: The factors' norms.
  public func frobeniusNorm() throws -> Scalar {
    try factors.reduce(1) { $0 * (try $1.frobeniusNorm()) }
  }

  /// The sign and log-magnitude of the determinant, from the factors'.
  ///
  /// For square factors of orders `nₜ` and `n = Π nₜ`:
  ///
  /// ```math
  /// log|det(A₁ ⊗ ⋯ ⊗ A_m)| = Σₜ (n / nₜ) log|det(Aₜ)|
  /// sign det(A₁ ⊗ ⋯ ⊗ A_m) = Πₜ sign(det Aₜ)^{n / nₜ}
  /// ```
  ///
  /// A square product of rectangular factors is singular: its rank is at most
  /// `Πₜ min(rₜ, cₜ) < n`, so the result is sign 0 and log-magnitude −∞.
  /// - Returns: `(sign, logMagnitude)`, with sign 0 and −∞ for a singular product.
  /// - Throws: `LinearOperatorError.notSquare` when the product is not square, or what a
  ///   factor's `logDeterminant()` throws.
  /// - Complexity: The factors' log-determinants (O(Σ nₜ³) by default).
  public func logDeterminant() throws -> (sign: Scalar, logMagnitude: Scalar) {
    try requireSquare("logDeterminant")
    if rowCount == 0 { return (1, 0) }
    guard factors.allSatisfy(\.isSquare) else { return (0, -.infinity) }
    var sign: Scalar = 1, logMagnitude: Scalar = 0
    for factor in factors {
      let (s, l) = try factor.logDeterminant()
      if s == 0 { return (0, -.infinity) }
      let multiplicity = rowCount / factor.rowCount
      if s < 0 && multiplicity % 2 == 1 { sign = -sign }
      logMagnitude += Scalar(multiplicity) * l
    }
    return (sign, logMagnitude)
  }

  /// The inverse, `A₁⁻¹ ⊗ ⋯ ⊗ A_m⁻¹`, as a Kronecker operator.
  /// - Returns: A `KroneckerOperator` of the factors' inverses.
  /// - Throws: `LinearOperatorError.notSquare` when the product is not square;
  ///   `LinearOperatorError.singular` when a factor is rectangular (the product then has
  ///   rank below its order) or a factor's `inverse()` finds it singular.
  /// - Complexity: The factors' inverses (O(Σ nₜ³) by default).
  public func inverse() throws -> any LinearOperator<Scalar> {
    try requireSquare("inverse")
    guard factors.allSatisfy(\.isSquare) else {
      let shapes = factors.map { "\($0.rowCount)×\($0.columnCount)" }.joined(separator: " ⊗ ")
      throw LinearOperatorError.singular(
        "the Kronecker product \(shapes) has rectangular factors, so its rank is below \(rowCount)")
    }
    return KroneckerOperator(try factors.map { try $0.inverse() })
  }

  /// The transpose, `A₁ᵀ ⊗ ⋯ ⊗ A_mᵀ`, as a Kronecker operator (symmetric factors stay as
  /// they are).
  /// - Returns: The Kronecker product of the factors' transposes.
  /// - Complexity: O(m); nothing is computed.
  public func transposed() -> KroneckerOperator<Scalar> {
    KroneckerOperator(factors.map { $0.isSymmetric ? $0 : TransposedOperator($0) })
  }
}

/// The Kronecker product of two vectors, `a ⊗ b` (row-major: `b`'s index varies fastest).
func kroneckerOfVectors<T: BLASScalar>(_ a: NDArray<T>, _ b: NDArray<T>) -> NDArray<T> {
  outer(a, b).flattened()
}

/// The Kronecker product `A ⊗ B` of two operators, as an operator.
///
/// ```math
/// (A ⊗ B)[i·p + k, j·q + l] = A[i, j] · B[k, l]
/// ```
///
/// - Parameters:
///   - lhs: The left factor `A` (its indices vary slowest).
///   - rhs: The right factor `B`.
/// - Returns: A `KroneckerOperator`; Kronecker operands contribute their factors, so
///   `kronecker(kronecker(a, b), c)` has the three factors `a, b, c`.
/// - Complexity: O(1); nothing is computed.
public func kronecker<A: LinearOperator, B: LinearOperator>(_ lhs: A, _ rhs: B) -> KroneckerOperator<A.Scalar>
where A.Scalar == B.Scalar {
  KroneckerOperator([lhs, rhs])
}

/// The Kronecker product `A₁ ⊗ A₂ ⊗ ⋯ ⊗ A_m` of any number of operators.
/// - Parameter factors: One or more operators, leftmost first.
/// - Returns: A `KroneckerOperator` of the factors.
/// - Precondition: `factors` is not empty.
/// - Complexity: O(m); nothing is computed.
public func kronecker<Scalar: BLASScalar>(_ factors: [any LinearOperator<Scalar>]) -> KroneckerOperator<Scalar> {
  KroneckerOperator(factors)
}
