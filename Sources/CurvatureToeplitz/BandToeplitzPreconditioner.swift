import CurvatureNumerics
import CurvatureLinearAlgebra

/// The band Toeplitz preconditioner `(c·T[(2 − 2cos θ)^ν])⁻¹` for symmetric positive
/// definite Toeplitz matrices whose symbol has a zero of order `2ν` at `θ = 0`, applied by a
/// banded Cholesky factorization (LAPACK `?pbtrf`/`?pbtrs`) in O(νn).
///
/// When `f(0) = 0` the condition number of `T[f]` grows like `n^{2ν}`, circulant
/// preconditioners become singular or indefinite (the Strang circulant samples `f` at
/// `θ = 0`), and `T[1/f]` does not exist. The band matrix `B = T[g]` with
/// `g(θ) = (2 − 2cos θ)^ν = |1 − e^{iθ}|^{2ν}`, which has the same zero, has the
/// coefficients `b_k = (−1)^k C(2ν, ν + k)` for `|k| ≤ ν` (the `ν`-th power of the second
/// difference stencil `[−1, 2, −1]`), and the eigenvalues of `B⁻¹T[f]` lie in
/// `[min f/g, max f/g]` (R. Chan 1991; Chan & Ng 1996). With `f/g` bounded away from 0 and ∞,
/// PCG then converges in a number of iterations independent of `n`.
///
/// ```swift
/// let p = try BandToeplitzPreconditioner<Double>(size: n, zeroOrder: 1)      // θ² symbols
/// let q = try BandToeplitzPreconditioner<Double>(size: n, fitting: samples)  // ν chosen
/// ```
public struct BandToeplitzPreconditioner<Scalar: BLASScalar>: LinearOperator {
  /// The order `n`.
  public let size: Int
  /// `(b₀, …, b_ν)`: the band matrix has `b_{|j−l|}` at `(j, l)` for `|j − l| ≤ ν`.
  public let band: [Scalar]
  /// The upper Cholesky factor in LAPACK's row-major band storage, `(ν + 1) × n`.
  let factor: [Scalar]

  /// The inverse of a symmetric positive definite band Toeplitz matrix.
  /// - Parameters:
  ///   - n: The order.
  ///   - band: `(b₀, …, b_ν)` with `ν < n` (longer bands are truncated to `n`).
  /// - Throws: `ToeplitzError.lengthMismatch` for an empty band or `n < 1`, `.nonFinite`,
  ///   `.notPositiveDefinite` when the banded Cholesky factorization fails.
  /// - Complexity: O(ν² n) to factor.
  public init(size n: Int, band: [Scalar]) throws(ToeplitzError) {
    try ToeplitzValidation.requireNonEmpty(n, "the order")
    try ToeplitzValidation.requireNonEmpty(band.count, "the band")
    try ToeplitzValidation.requireFinite(band, "band")
    let kd = Swift.min(band.count, n) - 1
    // Row r, column j holds A(j − kd + r, j), i.e. the superdiagonal kd − r.
    var ab = [Scalar](repeating: 0, count: (kd + 1) * n)
    for r in 0...kd {
      for j in (kd - r)..<n { ab[r * n + j] = band[kd - r] }
    }
    do {
      try ab.withUnsafeMutableBufferPointer { (p: inout UnsafeMutableBufferPointer<Scalar>) throws(LAPACKError) in
        try Scalar.pbtrf(n: n, kd: kd, ab: p, ldab: n)
      }
    } catch {
      throw .notPositiveDefinite("the band Toeplitz matrix \(band.prefix(kd + 1)) of order \(n): \(error)")
    }
    size = n
    self.band = Array(band.prefix(kd + 1))
    factor = ab
  }

  /// `(c·T[(2 − 2cos θ)^ν])⁻¹`.
  /// - Parameters:
  ///   - n: The order.
  ///   - nu: `ν ≥ 1`, half the order of the symbol's zero at `θ = 0`.
  ///   - scale: `c > 0` (it does not change PCG iterations, only the scale of `M`).
  /// - Throws: `ToeplitzError.invalidArgument` for `ν < 1` or `c ≤ 0`.
  public init(size n: Int, zeroOrder nu: Int, scale: Double = 1) throws(ToeplitzError) {
    guard nu >= 1, scale > 0, scale.isFinite else {
      throw .invalidArgument("the band preconditioner needs ν ≥ 1 and scale > 0, got ν = \(nu), scale = \(scale)")
    }
    try self.init(size: n, band: BandToeplitzPreconditioner.coefficients(zeroOrder: nu).map { Scalar(scale * $0) })
  }

  /// The band preconditioner fitted to symbol samples on `θ_j = 2πj/m`: `ν ∈ 1…maxOrder`
  /// minimizing `max(f/g_ν) / min(f/g_ν)` over `θ_j ≠ 0` (the condition number bound of
  /// `B⁻¹T[f]`), and `c = (min · max)^{1/2}` of `f/g_ν`, which centres that spectrum at 1.
  /// - Throws: `ToeplitzError.lengthMismatch` when `m < 2n`, `.nonFinite`,
  ///   `.symbolNotPositive` when `f ≤ 0` at some `θ_j ≠ 0`.
  public init(size n: Int, fitting samples: [Double], maxOrder: Int = 4) throws(ToeplitzError) {
    let (nu, scale) = try BandToeplitzPreconditioner.fit(samples, size: n, maxOrder: maxOrder)
    try self.init(size: n, zeroOrder: nu, scale: scale)
  }

  /// The band preconditioner fitted to the symbol estimated from a symmetric Toeplitz
  /// matrix: its truncated Fourier series `f_n` on `GeneratingFunction.defaultGridSize(for: n)`
  /// points, used only where it has converged (where it agrees with `f_{⌈n/2⌉}` to 10%) —
  /// near a zero of `f` the truncation error dominates the small values of `f`.
  /// - Throws: `ToeplitzError.invalidArgument` for a nonsymmetric matrix or when fewer than
  ///   1/16 of the grid points are reliable (then give the symbol's samples instead).
  public init(fitting toeplitz: ToeplitzOperator<Scalar>, maxOrder: Int = 4) throws(ToeplitzError) {
    guard toeplitz.isSymmetric else { throw .invalidArgument("the band preconditioner needs a symmetric Toeplitz matrix") }
    let n = toeplitz.size, m = GeneratingFunction.defaultGridSize(for: n)
    let column = toeplitz.column.map { Double($0) }
    let full = GeneratingFunction.samples(ofSymmetricColumn: column, gridSize: m, fejer: false)
    let half = GeneratingFunction.samples(ofSymmetricColumn: Array(column.prefix((n + 1) / 2)), gridSize: m, fejer: false)
    let reliable = (1..<m).filter { full[$0] > 0 && Swift.abs(full[$0] - half[$0]) <= 0.1 * full[$0] }
    guard reliable.count >= Swift.max(2, m / 16) else {
      throw .invalidArgument("the entries do not determine the symbol well enough to choose the band (only \(reliable.count) of \(m) grid points converged); give samples of the symbol")
    }
    let (nu, scale) = BandToeplitzPreconditioner.bestOrder(full, at: reliable, maxOrder: maxOrder)
    try self.init(size: n, zeroOrder: nu, scale: scale)
  }

  /// `ν`, the half-bandwidth.
  public var order: Int { band.count - 1 }
  public var rowCount: Int { size }
  public var columnCount: Int { size }
  public var isSymmetric: Bool { true }

  /// `B⁻¹ X` by two banded triangular solves.
  /// - Complexity: O(ν n k).
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    let k = x.shape[1]
    guard k > 0 else { return x }
    var result = x
    let kd = order
    try factor.withUnsafeBufferPointer { (ab: UnsafeBufferPointer<Scalar>) throws(LAPACKError) in
      try result.withUnsafeMutableBufferPointer { (b: inout UnsafeMutableBufferPointer<Scalar>) throws(LAPACKError) in
        try Scalar.pbtrs(n: size, kd: kd, nrhs: k, ab: ab, ldab: size, b: b, ldb: Swift.max(1, k))
      }
    }
    return result
  }

  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try apply(matrix: x) }

  /// `log det B⁻¹ = −2 Σ_j log U_jj`.
  public func logDeterminant() throws -> (sign: Scalar, logMagnitude: Scalar) {
    let diagonal = factor[(order * size)...]
    return (1, -2 * Scalar(diagonal.reduce(0.0) { $0 + Double.log(Double($1)) }))
  }

  // MARK: Band coefficients

  /// The band of `T[(2 − 2cos θ)^ν]`.
  /// - Returns: `(b₀, …, b_ν)` with `b_k = (−1)^k C(2ν, ν + k)`.
  public static func coefficients(zeroOrder nu: Int) -> [Double] {
    (0...nu).map { k in (k % 2 == 0 ? 1 : -1) * binomial(2 * nu, nu + k) }
  }

  static func binomial(_ n: Int, _ k: Int) -> Double {
    var result = 1.0
    for i in 0..<k { result = result * Double(n - i) / Double(i + 1) }
    return result
  }

  /// The order `ν` and scale `c` fitted to symbol samples (see `init(size:fitting:maxOrder:)`).
  /// - Returns: `ν ∈ 1…maxOrder` minimizing the spread of `f/g_ν`, and `c`.
  /// - Throws: `ToeplitzError.lengthMismatch`, `.nonFinite`, `.invalidArgument` for
  ///   samples that are not even, `.symbolNotPositive`.
  public static func fit(_ samples: [Double], size n: Int, maxOrder: Int = 4) throws(ToeplitzError) -> (order: Int, scale: Double) {
    try ToeplitzValidation.requireNonEmpty(n, "the order")
    try GeneratingFunction.validate(NDArray(samples), orders: [n], name: "the symbol samples")
    let m = samples.count
    if let j = (1..<m).first(where: { !(samples[$0] > 0) }) {
      throw .symbolNotPositive(
        "f = \(samples[j]) at θ = \(GeneratingFunction.gridPoint(j, of: m)); the band preconditioner needs f > 0 away from θ = 0")
    }
    return bestOrder(samples, at: Array(1..<m), maxOrder: maxOrder)
  }

  /// The `ν` minimizing the spread `max/min` of `f/g_ν` over the grid points `indices`
  /// (all with `θ ≠ 0` and `f > 0`), and the scale `(min · max)^{1/2}`.
  static func bestOrder(_ samples: [Double], at indices: [Int], maxOrder: Int) -> (order: Int, scale: Double) {
    let m = samples.count
    var best = (order: 1, scale: 1.0, spread: Double.infinity)
    for nu in 1...Swift.max(1, maxOrder) {
      var low = Double.infinity, high = 0.0
      for j in indices {
        let g = Double.pow(2 - 2 * Double.cos(2 * .pi * Double(j) / Double(m)), Double(nu))
        let ratio = samples[j] / g
        low = Swift.min(low, ratio)
        high = Swift.max(high, ratio)
      }
      if high / low < best.spread { best = (nu, (low * high).squareRoot(), high / low) }
    }
    return (best.order, best.scale)
  }
}
