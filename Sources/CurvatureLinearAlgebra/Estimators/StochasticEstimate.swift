import CurvatureNumerics

// Types and helpers shared by the randomized estimators: probe distributions, results with
// per-probe samples, blocked products and seeded probe generation.

/// The distribution of random probe vectors `z`; each has `E[z zᵀ] = I`.
public enum ProbeDistribution: Sendable, Hashable, CaseIterable {
  /// Independent ±1 entries: the lowest-variance choice for Hutchinson's estimator.
  case rademacher
  /// Independent standard normal entries.
  case gaussian
  /// Uniform on the sphere of radius `√n` (normalized Gaussian vectors).
  case sphere

  /// `count` probes of length `n` as rows `[count, n]`, drawn probe by probe (so the
  /// probes do not depend on how they are later grouped into blocks).
  func probes<T: BLASScalar>(_ count: Int, length n: Int, using rng: inout RandomGenerator) -> NDArray<T> {
    switch self {
    case .rademacher: return rng.rademacherArray(shape: [count, n])
    case .gaussian: return rng.normalArray(shape: [count, n])
    case .sphere:
      var z: NDArray<T> = rng.normalArray(shape: [count, n])
      for i in 0..<count {
        let norm = z.normOfRow(i)
        if norm > 0 { z.scaleRow(i, by: T(n).squareRoot() / norm) }
      }
      return z
    }
  }
}

/// A randomized estimate of a scalar (a trace, a log-determinant, a squared norm) with the
/// samples it averages.
public struct StochasticEstimate: Sendable, Hashable, CustomStringConvertible {
  /// The estimate: the mean of `samples`.
  public var value: Double
  /// `std(samples) / √count`, the standard error of the mean when the samples are
  /// independent (for XTrace's leave-one-out samples, the paper's error estimate); nil with
  /// fewer than two samples.
  public var standardError: Double?
  /// The per-probe values whose mean is `value` (for Hutch++: exact part plus each
  /// deflated probe; for XTrace: the leave-one-out estimates; for SLQ: one per probe).
  public var samples: [Double]
  /// Products with the operator (counted per vector) spent.
  public var matvecs: Int

  /// An estimate from its samples.
  public init(samples: [Double], matvecs: Int) {
    let (mean, error) = meanAndStandardError(samples)
    value = mean
    standardError = error
    self.samples = samples
    self.matvecs = matvecs
  }

  /// The value with its standard error and the products used.
  public var description: String {
    "\(value)" + (standardError.map { " ± \($0)" } ?? "") + " (\(samples.count) samples, \(matvecs) matvecs)"
  }
}

/// A randomized estimate of the diagonal of an operator.
public struct DiagonalEstimate<Scalar: BLASScalar>: Sendable {
  /// The estimated diagonal `[n]`.
  public var value: NDArray<Scalar>
  /// The standard error of each entry `[n]` (nil with fewer than two samples).
  public var standardError: NDArray<Scalar>?
  /// The number of samples averaged per entry.
  public var sampleCount: Int
  /// Products with the operator (or its transpose) spent.
  public var matvecs: Int

  /// An estimate from its parts.
  public init(value: NDArray<Scalar>, standardError: NDArray<Scalar>?, sampleCount: Int, matvecs: Int) {
    self.value = value
    self.standardError = standardError
    self.sampleCount = sampleCount
    self.matvecs = matvecs
  }
}

/// Checks the common arguments of an estimator.
func validateEstimator<A: LinearOperator>(
  _ a: A, _ name: String, matvecs: Int, minimum: Int, blockSize: Int, square: Bool = true
) throws {
  if square { try a.requireSquare(name) }
  guard matvecs >= minimum else {
    throw SolverError.invalidArgument("\(name): matvecs = \(matvecs) is too small; the matvecs argument must be at least \(minimum)")
  }
  guard blockSize >= 1 else {
    throw SolverError.invalidArgument("\(name): blockSize \(blockSize) must be at least 1")
  }
}

/// `A` (or `Aᵀ`) applied to each row of `rows` (`[count, n]`) in blocks of `blockSize`
/// columns; the results as rows `[count, m]`. Reports the running count to `progress`.
func applyInBlocks<A: LinearOperator>(
  _ a: A, rows: NDArray<A.Scalar>, blockSize: Int, transpose: Bool = false,
  progress: (Int) -> Void = { _ in }
) throws -> NDArray<A.Scalar> {
  let count = rows.shape[0]
  let outLength = transpose ? a.columnCount : a.rowCount
  var result = NDArray<A.Scalar>(zeros: [count, outLength])
  var start = 0
  while start < count {
    let width = Swift.min(blockSize, count - start)
    let block = rows.selectingRows(Array(start..<(start + width))).transposed()
    let product = (transpose ? try a.applyTranspose(block) : try a.apply(block)).transposed()
    guard product.isFinite else {
      throw LinearOperatorError.nonFinite("the operator returned NaN or infinity on a block of probes")
    }
    for j in 0..<width { result.copyRow(start + j, from: product, row: j) }
    start += width
    progress(start)
  }
  return result
}

/// The LQ factorization `X = L Q` of a wide matrix `X` `[k, n]` (`k ≤ n`) by Householder
/// reflections applied with BLAS level 2: `L` `[k, k]` lower triangular and `Q` `[k, n]`
/// with orthonormal rows. For a block of vectors stored as rows, `Q`'s rows are an
/// orthonormal basis of their span, and `Xᵀ = Qᵀ Lᵀ` is the thin QR of the tall `Xᵀ`.
/// Rank-deficient `X` still gives orthonormal rows (then `L` has zeros on its diagonal).
func householderLQ<T: BLASScalar>(_ x: NDArray<T>) -> (l: NDArray<T>, q: NDArray<T>) {
  let (k, n) = (x.shape[0], x.shape[1])
  precondition(k <= n, "householderLQ: \(k) rows exceed \(n) columns")
  var a = x
  var reflectors = [[T]]()
  var taus = [T]()
  for j in 0..<k {
    // The reflector H = I − τ v vᵀ maps a[j, j:] to (β, 0, …, 0).
    var v = Array(a.scalars[(j * n + j)..<(j * n + n)])
    let alpha = v[0]
    var tailNorm: T = 0
    if v.count > 1 {
      tailNorm = v.withUnsafeBufferPointer { T.nrm2(count: v.count - 1, x: UnsafeBufferPointer(rebasing: $0[1...]), stride: 1) }
    }
    if tailNorm == 0 {
      reflectors.append(v.map { _ in 0 })
      taus.append(0)
      continue
    }
    let norm = (alpha * alpha + tailNorm * tailNorm).squareRoot()
    let beta = alpha >= 0 ? -norm : norm
    let tau = (beta - alpha) / beta
    let scale = 1 / (alpha - beta)
    v[0] = 1
    for i in 1..<v.count { v[i] *= scale }
    // a[j:, j:] ← a[j:, j:] (I − τ v vᵀ): w = a[j:, j:] v, then a −= τ w vᵀ.
    let rows = k - j, columns = n - j
    var w = [T](repeating: 0, count: rows)
    a.withUnsafeMutableBufferPointer { p in
      let sub = UnsafeMutableBufferPointer(rebasing: p[(j * n + j)...])
      v.withUnsafeBufferPointer { pv in
        w.withUnsafeMutableBufferPointer { pw in
          T.gemv(transpose: .none, m: rows, n: columns, alpha: 1, a: UnsafeBufferPointer(sub), lda: n, x: pv, strideX: 1, beta: 0, y: pw, strideY: 1)
        }
        w.withUnsafeBufferPointer { pw in
          T.ger(m: rows, n: columns, alpha: -tau, x: pw, strideX: 1, y: pv, strideY: 1, a: sub, lda: n)
        }
      }
    }
    reflectors.append(v)
    taus.append(tau)
  }
  var l = NDArray<T>(zeros: [k, k])
  for i in 0..<k { for j in 0...i { l.scalars[i * k + j] = a.scalars[i * n + j] } }
  // Q = [I_k 0] H_{k−1} ⋯ H₀, applying H_j to rows j..<k (rows above are still e_i).
  var q = NDArray<T>(zeros: [k, n])
  for i in 0..<k { q.scalars[i * n + i] = 1 }
  for j in stride(from: k - 1, through: 0, by: -1) where taus[j] != 0 {
    let rows = k - j, columns = n - j
    var w = [T](repeating: 0, count: rows)
    let v = reflectors[j]
    q.withUnsafeMutableBufferPointer { p in
      let sub = UnsafeMutableBufferPointer(rebasing: p[(j * n + j)...])
      v.withUnsafeBufferPointer { pv in
        w.withUnsafeMutableBufferPointer { pw in
          T.gemv(transpose: .none, m: rows, n: columns, alpha: 1, a: UnsafeBufferPointer(sub), lda: n, x: pv, strideX: 1, beta: 0, y: pw, strideY: 1)
        }
        w.withUnsafeBufferPointer { pw in
          T.ger(m: rows, n: columns, alpha: -taus[j], x: pw, strideX: 1, y: pv, strideY: 1, a: sub, lda: n)
        }
      }
    }
  }
  return (l, q)
}
