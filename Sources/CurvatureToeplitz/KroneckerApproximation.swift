import CurvatureNumerics
import CurvatureLinearAlgebra

/// The nearest Kronecker-product approximation `M = Σ_{r<R} A_r ⊗ B_r` of a BTTB matrix, with
/// Toeplitz factors, from one small SVD (Van Loan & Pitsianis 1993; Kamm & Nagy 2000).
///
/// Van Loan & Pitsianis minimize `‖A − Σ A_r ⊗ B_r‖_F` by an SVD of a rearrangement of `A`.
/// For a BTTB matrix with generator `t_{p,q}` the optimal factors are Toeplitz (Kamm & Nagy
/// 2000) and the rearrangement collapses to the generator weighted by how often each
/// coefficient occurs: with `a_p`, `b_q` the coefficients of `A_r`, `B_r`,
///
///     ‖A − A₁ ⊗ B₁‖²_F = Σ_{p,q} (n₁ − |p|)(n₂ − |q|) (t_{p,q} − a_p b_q)²,
///
/// so the factors come from the SVD `W₁ G W₂ = Σ σ_r u_r v_rᵀ` of the
/// `(2n₁ − 1) × (2n₂ − 1)` weighted generator, `W_i = diag((n_i − |p|)^{1/2})`:
/// `a^{(r)} = σ_r^{1/2} W₁⁻¹ u_r`, `b^{(r)} = σ_r^{1/2} W₂⁻¹ v_r`, and the relative error is
/// `(Σ_{r≥R} σ_r²)^{1/2} / (Σ σ_r²)^{1/2}`. Separable kernels are exact at rank 1 (RBF), and
/// with a nugget or a Laplacian-type symbol `f(x) + g(y)` at rank 2.
///
/// The inverse is exact (`inverted()`): rank 1 is `A₁⁻¹ ⊗ B₁⁻¹`. Rank 2 first rewrites
/// `M = C₁ ⊗ D₁ + C₂ ⊗ D₂` with positive definite `C₁ = c₁A₁ + c₂A₂`, `D₁ = d₁B₁ + d₂B₂`
/// (`c · d = 1`; the rest `I − cdᵀ` has rank 1 and gives `C₂`, `D₂`), then uses the
/// simultaneous diagonalization `M = (L_C ⊗ L_D)(I ⊗ I + C̃ ⊗ D̃)(L_C ⊗ L_D)ᵀ` with
/// Cholesky factors `C₁ = L_C L_Cᵀ`, `D₁ = L_D L_Dᵀ` and eigendecompositions
/// `C̃ = L_C⁻¹ C₂ L_C⁻ᵀ = Q_C Λ_C Q_Cᵀ`, `D̃ = Q_D Λ_D Q_Dᵀ`; with `W = L⁻ᵀQ`
///
///     M⁻¹ vec X = vec(W_C [(W_Cᵀ X W_D) ⊘ (1 + λ_C λ_Dᵀ)] W_Dᵀ),
///
/// dense O(n₁³ + n₂³) once and O(N(n₁ + n₂)) per product.
public struct KroneckerApproximation<Scalar: BLASScalar>: LinearOperator {
  /// One term `A_r ⊗ B_r`.
  public struct Term: Sendable {
    /// `A_r`, of order `n₁` (acts on the block index).
    public let left: ToeplitzOperator<Scalar>
    /// `B_r`, of order `n₂` (acts within blocks).
    public let right: ToeplitzOperator<Scalar>
  }

  /// The terms, largest singular value first.
  public let terms: [Term]
  /// All singular values of the weighted generator, descending.
  public let singularValues: [Double]
  /// `‖A − M‖_F / ‖A‖_F`.
  public let relativeError: Double
  let denseLeft: [NDArray<Scalar>]
  let denseRight: [NDArray<Scalar>]

  /// The rank-`R` nearest Kronecker product of a BTTB matrix.
  /// - Parameters:
  ///   - bttb: The matrix to approximate.
  ///   - rank: `R`, 1 or 2 (at most `min(2n₁ − 1, 2n₂ − 1)`).
  /// - Throws: `ToeplitzError.invalidArgument` for another rank, `.nonFinite` when the SVD
  ///   fails.
  /// - Complexity: One SVD of `(2n₁ − 1) × (2n₂ − 1)`.
  public init(approximating bttb: BTTBOperator<Scalar>, rank: Int = 1) throws(ToeplitzError) {
    let (n1, n2) = (bttb.blockCount, bttb.blockSize)
    guard rank == 1 || rank == 2 else { throw .invalidArgument("Kronecker approximations of rank 1 or 2 are supported, not \(rank)") }
    let w1 = (0..<(2 * n1 - 1)).map { Double(n1 - Swift.abs($0 - n1 + 1)).squareRoot() }
    let w2 = (0..<(2 * n2 - 1)).map { Double(n2 - Swift.abs($0 - n2 + 1)).squareRoot() }
    let weighted = NDArray<Double>(shape: [2 * n1 - 1, 2 * n2 - 1]) { i in
      w1[i[0]] * w2[i[1]] * Double(bttb.generator[i[0], i[1]])
    }
    let (u, s, vt): (NDArray<Double>, NDArray<Double>, NDArray<Double>)
    do { (u, s, vt) = try weighted.svd() } catch { throw .nonFinite("the SVD of the weighted generator failed: \(error)") }
    let used = Swift.min(rank, s.count)
    var terms = [Term]()
    for r in 0..<used {
      let root = s.scalars[r].squareRoot()
      var a = (0..<(2 * n1 - 1)).map { root * u[$0, r] / w1[$0] }
      var b = (0..<(2 * n2 - 1)).map { root * vt[r, $0] / w2[$0] }
      // Fix the sign so that the leading factors have positive diagonals.
      if a[n1 - 1] < 0 || (a[n1 - 1] == 0 && b[n2 - 1] < 0) {
        a = a.map { -$0 }
        b = b.map { -$0 }
      }
      // Singular vectors of a symmetric generator are even only up to rounding; make them exact.
      a = KroneckerApproximation.evenIfNearlyEven(a)
      b = KroneckerApproximation.evenIfNearlyEven(b)
      terms.append(Term(
        left: try ToeplitzOperator(coefficients: a.map { Scalar($0) }),
        right: try ToeplitzOperator(coefficients: b.map { Scalar($0) })))
    }
    let total = s.scalars.reduce(0) { $0 + $1 * $1 }
    let rest = s.scalars.dropFirst(used).reduce(0) { $0 + $1 * $1 }
    self.terms = terms
    singularValues = s.scalars
    relativeError = total > 0 ? (rest / total).squareRoot() : 0
    // Dense factors for gemm products (orders n₁ and n₂ only). Toeplitz dense() cannot fail.
    denseLeft = terms.map { try! $0.left.dense() }
    denseRight = terms.map { try! $0.right.dense() }
  }

  public var rowCount: Int { terms[0].left.size * terms[0].right.size }
  public var columnCount: Int { rowCount }
  public var isSymmetric: Bool { terms.allSatisfy { $0.left.isSymmetric && $0.right.isSymmetric } }
  /// The number of terms.
  public var rank: Int { terms.count }

  /// `M X = Σ_r vec(A_r X_c B_rᵀ)` for each column `X_c` reshaped to `[n₁, n₂]`.
  /// - Complexity: O(R k N (n₁ + n₂)).
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    mapColumns(x) { grid in
      var sum = NDArray<Scalar>(zeros: grid.shape)
      for r in terms.indices { sum.add(matmul(matmul(denseLeft[r], grid), denseRight[r], transposeB: true)) }
      return sum
    }
  }

  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    mapColumns(x) { grid in
      var sum = NDArray<Scalar>(zeros: grid.shape)
      for r in terms.indices { sum.add(matmul(matmul(denseLeft[r], grid, transposeA: true), denseRight[r])) }
      return sum
    }
  }

  /// Applies `body` to each column of `x` reshaped to the `[n₁, n₂]` grid.
  func mapColumns(_ x: NDArray<Scalar>, _ body: (NDArray<Scalar>) -> NDArray<Scalar>) -> NDArray<Scalar> {
    let (n1, n2, k) = (terms[0].left.size, terms[0].right.size, x.shape[1])
    return kroneckerMapColumns(x, n1: n1, n2: n2, k: k, body)
  }

  /// The exact inverse `M⁻¹` as an operator.
  /// - Returns: `M⁻¹` applied through the factors (two or four small gemms per column).
  /// - Throws: `ToeplitzError.notPositiveDefinite` when (rank 1) a factor is singular or
  ///   (rank 2) no tried combination of the factors is positive definite or `M` is not;
  ///   `.invalidArgument` when a rank-2 term has nonsymmetric factors.
  /// - Complexity: O(n₁³ + n₂³).
  public func inverted() throws(ToeplitzError) -> KroneckerInverse<Scalar> {
    try KroneckerInverse(self)
  }

  /// `v` with `v_{−k}` and `v_k` replaced by their mean when they agree to 1e-10 relative
  /// (indices centred on the middle entry), otherwise `v`.
  static func evenIfNearlyEven(_ v: [Double]) -> [Double] {
    let scale = v.reduce(0) { Swift.max($0, Swift.abs($1)) }
    guard zip(v, v.reversed()).allSatisfy({ Swift.abs($0 - $1) <= 1e-10 * scale }) else { return v }
    return zip(v, v.reversed()).map { ($0 + $1) / 2 }
  }

  /// The inverse, `inverted()`, as an existential.
  public func inverse() throws -> any LinearOperator<Scalar> { try inverted() }

  /// The preconditioner `M⁻¹` of a BTTB matrix, `M` its rank-`R` nearest Kronecker product.
  /// - Returns: The exact inverse of the approximation.
  /// - Throws: Like `init(approximating:rank:)` and `inverted()`.
  public static func preconditioner(for bttb: BTTBOperator<Scalar>, rank: Int = 2) throws(ToeplitzError) -> KroneckerInverse<Scalar> {
    try KroneckerApproximation(approximating: bttb, rank: rank).inverted()
  }
}

/// The exact inverse of a rank-1 or rank-2 Kronecker approximation (see
/// `KroneckerApproximation`): `A₁⁻¹ ⊗ B₁⁻¹`, or `(W_C ⊗ W_D) diag(1/(1 + λ_C ⊗ λ_D)) (W_C ⊗ W_D)ᵀ`.
public struct KroneckerInverse<Scalar: BLASScalar>: LinearOperator {
  /// The approximation inverted.
  public let approximation: KroneckerApproximation<Scalar>
  let left: NDArray<Scalar>
  let right: NDArray<Scalar>
  /// `1/(1 + d_A[i] d_B[j])` as `[n₁, n₂]` (rank 2 only).
  let scaling: NDArray<Scalar>?
  public let isSymmetric: Bool

  init(_ approximation: KroneckerApproximation<Scalar>) throws(ToeplitzError) {
    self.approximation = approximation
    let a1 = approximation.denseLeft[0].converted(to: Double.self)
    let b1 = approximation.denseRight[0].converted(to: Double.self)
    if approximation.rank == 1 {
      do {
        left = try a1.inverse().converted(to: Scalar.self)
        right = try b1.inverse().converted(to: Scalar.self)
      } catch {
        throw .notPositiveDefinite("a Kronecker factor is singular: \(error)")
      }
      scaling = nil
      isSymmetric = approximation.isSymmetric
      return
    }
    guard approximation.isSymmetric else {
      throw .invalidArgument("the rank-2 Kronecker inverse needs symmetric factors (a BTTB matrix with t₋ₚ,q = tₚ,q); use rank 1")
    }
    let a2 = approximation.denseLeft[1].converted(to: Double.self)
    let b2 = approximation.denseRight[1].converted(to: Double.self)
    // Recombine the terms so that the leading factors are positive definite:
    // M = C₁ ⊗ D₁ + C₂ ⊗ D₂ with C₁ = c₁A₁ + c₂A₂, D₁ = d₁B₁ + d₂B₂, c·d = 1, and
    // (C₂, D₂) from the rank-1 remainder I − c dᵀ = e fᵀ.
    let (c, lc) = try KroneckerInverse.definiteCombination(a1, a2, "A")
    var (d, ld) = try KroneckerInverse.definiteCombination(b1, b2, "B", sign: c)
    let dot = c.0 * d.0 + c.1 * d.1
    d = (d.0 / dot, d.1 / dot)
    ld = (1 / dot).squareRoot() * ld
    let remainder = [[1 - c.0 * d.0, -c.0 * d.1], [-c.1 * d.0, 1 - c.1 * d.1]]
    var (pi, pj) = (0, 0)
    for i in 0..<2 { for j in 0..<2 where Swift.abs(remainder[i][j]) > Swift.abs(remainder[pi][pj]) { (pi, pj) = (i, j) } }
    let e = (remainder[0][pj], remainder[1][pj])
    let f = (remainder[pi][0] / remainder[pi][pj], remainder[pi][1] / remainder[pi][pj])
    let c2 = e.0 * a1 + e.1 * a2, d2 = f.0 * b1 + f.1 * b2
    func whitened(_ l: NDArray<Double>, _ second: NDArray<Double>, _ name: String) throws(ToeplitzError) -> (w: NDArray<Double>, d: [Double]) {
      // S̃ = L⁻¹ S L⁻ᵀ, symmetrized against rounding; W = L⁻ᵀ Q.
      let half = l.triangularSolve(second)
      let tilde = l.triangularSolve(half.transposed())
      do {
        let (values, q) = try (0.5 * (tilde + tilde.transposed())).symmetricEigen()
        return (l.triangularSolve(q, transpose: true), values.scalars)
      } catch {
        throw .nonFinite("the eigendecomposition of the whitened Kronecker factor \(name) failed: \(error)")
      }
    }
    let (wa, da) = try whitened(lc, c2, "A")
    let (wb, db) = try whitened(ld, d2, "B")
    var factors = NDArray<Double>(zeros: [da.count, db.count])
    for i in da.indices {
      for j in db.indices {
        let value = 1 + da[i] * db[j]
        guard value > 0 else {
          throw .notPositiveDefinite("the rank-2 Kronecker approximation is indefinite (1 + λ_C λ_D = \(value)); use rank 1")
        }
        factors[i, j] = 1 / value
      }
    }
    left = wa.converted(to: Scalar.self)
    right = wb.converted(to: Scalar.self)
    scaling = factors.converted(to: Scalar.self)
    isSymmetric = true
  }

  public var rowCount: Int { approximation.rowCount }
  public var columnCount: Int { approximation.columnCount }

  /// A combination `c₁X₁ + c₂X₂` that is positive definite, with its Cholesky factor, tried
  /// over a few fixed directions (`(1, 0)` first, the leading term alone); with `sign`,
  /// only directions with `c · sign > 0`.
  static func definiteCombination(
    _ x1: NDArray<Double>, _ x2: NDArray<Double>, _ name: String, sign: (Double, Double)? = nil
  ) throws(ToeplitzError) -> ((Double, Double), NDArray<Double>) {
    let base: [(Double, Double)] = [(1, 0), (0, 1), (1, 1), (1, -1), (2, 1), (1, 2), (2, -1), (1, -2), (4, 1), (4, -1), (1, 4), (1, -4)]
    for direction in base + base.map({ (-$0.0, -$0.1) }) {
      if let sign, direction.0 * sign.0 + direction.1 * sign.1 <= 1e-12 { continue }
      if let l = try? (direction.0 * x1 + direction.1 * x2).cholesky() { return (direction, l) }
    }
    throw .notPositiveDefinite("no combination of the rank-2 Kronecker factors \(name)₁, \(name)₂ is positive definite; use rank 1")
  }

  /// `M⁻¹ X`, column by column on the `[n₁, n₂]` grid, by four (rank 2) or two (rank 1) gemms.
  /// - Complexity: O(k N (n₁ + n₂)).
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { multiply(x, transpose: false) }
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { multiply(x, transpose: true) }

  func multiply(_ x: NDArray<Scalar>, transpose: Bool) -> NDArray<Scalar> {
    let (n1, n2, k) = (left.shape[0], right.shape[0], x.shape[1])
    return kroneckerMapColumns(x, n1: n1, n2: n2, k: k) { grid in
      guard let scaling else {
        // (A⁻¹ ⊗ B⁻¹) vec X = vec(A⁻¹ X B⁻ᵀ); the transpose swaps in A⁻ᵀ, B⁻¹.
        return transpose
          ? matmul(matmul(left, grid, transposeA: true), right)
          : matmul(matmul(left, grid), right, transposeB: true)
      }
      let inner = NDArray.binary(.multiply, matmul(matmul(left, grid, transposeA: true), right), scaling)
      return matmul(matmul(left, inner), right, transposeB: true)
    }
  }
}

/// Applies `body` to each of the `k` columns of `x` (`[n₁n₂, k]`), each reshaped to `[n₁, n₂]`.
func kroneckerMapColumns<Scalar: BLASScalar>(
  _ x: NDArray<Scalar>, n1: Int, n2: Int, k: Int, _ body: (NDArray<Scalar>) -> NDArray<Scalar>
) -> NDArray<Scalar> {
  if k == 1 { return body(x.reshaped([n1, n2])).reshaped([n1 * n2, 1]) }
  var result = NDArray<Scalar>(zeros: [n1 * n2, k])
  for c in 0..<k {
    let column = NDArray(shape: [n1, n2], scalars: (0..<(n1 * n2)).map { x.scalars[$0 * k + c] })
    let mapped = body(column)
    for i in 0..<(n1 * n2) { result.scalars[i * k + c] = mapped.scalars[i] }
  }
  return result
}
