import Numerics

/// Whether a matrix operand enters a product as it is or transposed.
public enum Transpose: Sendable, Hashable {
  /// Use the matrix as stored.
  case none
  /// Use the transpose of the stored matrix.
  case transpose
}

/// Which triangle of a symmetric or triangular matrix holds the data.
public enum Triangle: Sendable, Hashable {
  /// The upper triangle.
  case upper
  /// The lower triangle.
  case lower
}

/// On which side a triangular matrix multiplies in `trsm`.
public enum Side: Sendable, Hashable {
  /// Solve `op(A) X = αB`.
  case left
  /// Solve `X op(A) = αB`.
  case right
}

/// Whether a triangular matrix has an implicit unit diagonal.
public enum DiagonalKind: Sendable, Hashable {
  /// The diagonal entries are stored.
  case nonUnit
  /// The diagonal entries are 1 and not read.
  case unit
}

/// The kind of transform an FFT plan computes.
public enum FFTKind: Sendable, Hashable {
  /// Real input to the non-redundant half of its complex spectrum (last axis `n/2 + 1`).
  case realToComplex
  /// Half spectrum back to real data, unnormalized (a round trip scales by the size).
  case complexToReal
  /// Complex forward transform, `X_k = Σ x_j e^{-2πi jk/n}`.
  case complexForward
  /// Complex backward transform, `x_j = Σ X_k e^{+2πi jk/n}`, unnormalized.
  case complexBackward
}

/// A floating-point type with BLAS, LAPACK and FFT routines: `Float` and `Double`.
///
/// Generic numerical code in Curvature is written once against this protocol; each
/// conformance forwards every requirement to the `s` (Float) or `d` (Double) routine of
/// OpenBLAS, LAPACKE or FFTW. Matrices are row-major with an explicit leading dimension
/// (the distance between the starts of consecutive rows), as in CBLAS's `CblasRowMajor`.
///
/// The requirements take buffers rather than raw pointers so that every call checks that
/// the buffers hold the elements its dimensions address; a violation is a programming
/// error and stops with a message naming the routine and the sizes.
public protocol BLASScalar: BinaryFloatingPoint, Real, Sendable, Codable
where RawSignificand: FixedWidthInteger {
  /// A short name for messages and file headers: `"float32"` or `"float64"`.
  static var dtypeName: String { get }

  // MARK: BLAS level 1

  /// `y ← αx + y` (`?axpy`).
  static func axpy(
    count: Int, alpha: Self, x: UnsafeBufferPointer<Self>, strideX: Int,
    y: UnsafeMutableBufferPointer<Self>, strideY: Int)

  /// `xᵀy` (`?dot`).
  static func dot(
    count: Int, x: UnsafeBufferPointer<Self>, strideX: Int,
    y: UnsafeBufferPointer<Self>, strideY: Int) -> Self

  /// The Euclidean norm `‖x‖₂`, computed without overflow (`?nrm2`).
  static func nrm2(count: Int, x: UnsafeBufferPointer<Self>, stride: Int) -> Self

  /// `x ← αx` (`?scal`).
  static func scal(count: Int, alpha: Self, x: UnsafeMutableBufferPointer<Self>, stride: Int)

  // MARK: BLAS levels 2 and 3

  /// `y ← α op(A) x + βy` for an `m×n` matrix `A` (`?gemv`).
  static func gemv(
    transpose: Transpose, m: Int, n: Int, alpha: Self,
    a: UnsafeBufferPointer<Self>, lda: Int,
    x: UnsafeBufferPointer<Self>, strideX: Int, beta: Self,
    y: UnsafeMutableBufferPointer<Self>, strideY: Int)

  /// `A ← αxyᵀ + A` for an `m×n` matrix `A` (`?ger`).
  static func ger(
    m: Int, n: Int, alpha: Self, x: UnsafeBufferPointer<Self>, strideX: Int,
    y: UnsafeBufferPointer<Self>, strideY: Int, a: UnsafeMutableBufferPointer<Self>, lda: Int)

  /// `C ← α op(A) op(B) + βC` with `C` of size `m×n` and inner dimension `k` (`?gemm`).
  static func gemm(
    transposeA: Transpose, transposeB: Transpose, m: Int, n: Int, k: Int, alpha: Self,
    a: UnsafeBufferPointer<Self>, lda: Int, b: UnsafeBufferPointer<Self>, ldb: Int,
    beta: Self, c: UnsafeMutableBufferPointer<Self>, ldc: Int)

  /// `C ← α AAᵀ + βC` (`.none`) or `C ← α AᵀA + βC` (`.transpose`) for `n×n` symmetric `C`,
  /// writing only the `triangle` of `C` (`?syrk`).
  static func syrk(
    triangle: Triangle, transpose: Transpose, n: Int, k: Int, alpha: Self,
    a: UnsafeBufferPointer<Self>, lda: Int, beta: Self,
    c: UnsafeMutableBufferPointer<Self>, ldc: Int)

  /// Solves a triangular system with many right-hand sides in place (`?trsm`):
  /// `op(A) X = αB` (`.left`) or `X op(A) = αB` (`.right`); `B` is `m×n`.
  static func trsm(
    side: Side, triangle: Triangle, transpose: Transpose, diagonal: DiagonalKind,
    m: Int, n: Int, alpha: Self, a: UnsafeBufferPointer<Self>, lda: Int,
    b: UnsafeMutableBufferPointer<Self>, ldb: Int)

  /// Out-of-place scaled copy `B ← α op(A)` for an `rows×columns` matrix `A`
  /// (OpenBLAS `?omatcopy`); the fast path for transposes.
  static func omatcopy(
    transpose: Transpose, rows: Int, columns: Int, alpha: Self,
    a: UnsafeBufferPointer<Self>, lda: Int, b: UnsafeMutableBufferPointer<Self>, ldb: Int)

  // MARK: LAPACK

  /// Eigen-decomposition of a symmetric `n×n` matrix by divide and conquer (`?syevd`).
  ///
  /// Eigenvalues are written to `w` in ascending order; when `vectors` is true, `a` is
  /// overwritten by the orthonormal eigenvectors, one per *column*.
  /// - Throws: `LAPACKError` when the algorithm fails to converge or an input is NaN.
  static func syevd(
    vectors: Bool, triangle: Triangle, n: Int, a: UnsafeMutableBufferPointer<Self>, lda: Int,
    w: UnsafeMutableBufferPointer<Self>) throws(LAPACKError)

  /// Eigen-decomposition of a symmetric tridiagonal matrix (`?stevd`): `d` holds the
  /// diagonal (overwritten by ascending eigenvalues), `e` the `n-1` off-diagonal entries;
  /// when `vectors` is true, `z` (`n×n`, row-major) receives eigenvectors as columns.
  /// - Throws: `LAPACKError` on non-convergence or NaN input.
  static func stevd(
    vectors: Bool, n: Int, d: UnsafeMutableBufferPointer<Self>,
    e: UnsafeMutableBufferPointer<Self>, z: UnsafeMutableBufferPointer<Self>, ldz: Int
  ) throws(LAPACKError)

  /// Cholesky factorization `A = LLᵀ` (or `UᵀU`) in place (`?potrf`).
  /// - Throws: `LAPACKError` naming the order of the first non-positive leading minor.
  static func potrf(
    triangle: Triangle, n: Int, a: UnsafeMutableBufferPointer<Self>, lda: Int
  ) throws(LAPACKError)

  /// Solves `AX = B` from a Cholesky factor computed by `potrf` (`?potrs`); `B` is `n×nrhs`.
  /// - Throws: `LAPACKError` on an illegal argument.
  static func potrs(
    triangle: Triangle, n: Int, nrhs: Int, a: UnsafeBufferPointer<Self>, lda: Int,
    b: UnsafeMutableBufferPointer<Self>, ldb: Int) throws(LAPACKError)

  /// LU factorization with partial pivoting `A = PLU` of an `m×n` matrix (`?getrf`).
  /// - Throws: `LAPACKError` when `U` has an exact zero on its diagonal (singular matrix).
  static func getrf(
    m: Int, n: Int, a: UnsafeMutableBufferPointer<Self>, lda: Int,
    pivots: UnsafeMutableBufferPointer<Int32>) throws(LAPACKError)

  /// Solves `op(A) X = B` from an LU factorization (`?getrs`).
  /// - Throws: `LAPACKError` on an illegal argument.
  static func getrs(
    transpose: Transpose, n: Int, nrhs: Int, a: UnsafeBufferPointer<Self>, lda: Int,
    pivots: UnsafeBufferPointer<Int32>, b: UnsafeMutableBufferPointer<Self>, ldb: Int
  ) throws(LAPACKError)

  /// Singular value decomposition `A = U Σ Vᵀ` of an `m×n` matrix, thin factors
  /// (`?gesvd` with `jobu = jobvt = 'S'`, or `'N'` when `vectors` is false).
  /// `s` receives `min(m, n)` singular values in descending order, `u` is `m×min(m,n)`,
  /// `vt` is `min(m,n)×n`; `a` is destroyed.
  /// - Throws: `LAPACKError` when the bidiagonal QR iteration does not converge.
  static func gesvd(
    vectors: Bool, m: Int, n: Int, a: UnsafeMutableBufferPointer<Self>, lda: Int,
    s: UnsafeMutableBufferPointer<Self>, u: UnsafeMutableBufferPointer<Self>, ldu: Int,
    vt: UnsafeMutableBufferPointer<Self>, ldvt: Int) throws(LAPACKError)

  /// Cholesky factorization of a symmetric positive definite band matrix with `kd`
  /// super-diagonals in LAPACK's row-major band storage (`?pbtrf`, upper).
  /// - Throws: `LAPACKError` naming the first non-positive leading minor.
  static func pbtrf(n: Int, kd: Int, ab: UnsafeMutableBufferPointer<Self>, ldab: Int)
    throws(LAPACKError)

  /// Solves `AX = B` from a band Cholesky factor computed by `pbtrf` (`?pbtrs`, upper).
  /// - Throws: `LAPACKError` on an illegal argument.
  static func pbtrs(
    n: Int, kd: Int, nrhs: Int, ab: UnsafeBufferPointer<Self>, ldab: Int,
    b: UnsafeMutableBufferPointer<Self>, ldb: Int) throws(LAPACKError)

  // MARK: FFT

  /// Creates a plan for `count` contiguous transforms of the given `shape` (row-major,
  /// last axis fastest). Planning is serialized behind a lock; executing is thread-safe.
  static func makeFFTPlan(_ kind: FFTKind, shape: [Int], count: Int) -> FFTPlanHandle

  /// Executes a plan on new arrays. Real data are `Self`, complex data interleaved
  /// `(re, im)` pairs of `Self`; a `.complexToReal` plan overwrites its input.
  static func executeFFT(
    _ plan: FFTPlanHandle, input: UnsafeMutableRawPointer, output: UnsafeMutableRawPointer)

  // MARK: Elementwise kernels

  /// `y[i] = f(x[i])`; `y` may be `x` itself.
  static func applyUnary(_ f: UnaryFunction, _ x: UnsafeBufferPointer<Self>, _ y: UnsafeMutableBufferPointer<Self>)

  /// `out[i] = f(a[…], b[…])` over a row-major `shape`, each operand read with its own
  /// stride per output axis (0 where it is broadcast).
  static func applyBinary(
    _ f: BinaryFunction, _ a: UnsafeBufferPointer<Self>, strides aStrides: [Int],
    _ b: UnsafeBufferPointer<Self>, strides bStrides: [Int],
    _ out: UnsafeMutableBufferPointer<Self>, shape: [Int])

  /// Reduces `x` (row-major `shape`) over the axes flagged in `reducedAxes` into `out`,
  /// laid out row-major over the kept axes.
  static func reduce(
    _ f: ReductionFunction, _ x: UnsafeBufferPointer<Self>, shape: [Int], reducedAxes: [Bool],
    _ out: UnsafeMutableBufferPointer<Self>)

  /// `destination[i] = source[indices[i]]`, or 0 where the index is negative.
  static func gather(
    _ source: UnsafeBufferPointer<Self>, indices: UnsafeBufferPointer<Int>,
    _ destination: UnsafeMutableBufferPointer<Self>)

  /// The index of the first NaN or infinity in `values`, or nil when all are finite: one
  /// vectorized pass over the bit patterns, whatever the caller's genericity.
  /// - Complexity: O(count).
  static func firstNonFinite(_ values: UnsafeBufferPointer<Self>) -> Int?

  /// `destination[indices[i]] += source[i]`, skipping negative indices.
  static func scatterAdd(
    _ source: UnsafeBufferPointer<Self>, indices: UnsafeBufferPointer<Int>,
    _ destination: UnsafeMutableBufferPointer<Self>)
}
