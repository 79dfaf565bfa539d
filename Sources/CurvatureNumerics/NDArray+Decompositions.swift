// Dense factorizations and solves through LAPACK. Every failure LAPACK reports is thrown
// as a `LAPACKError` naming the routine and its `info`.

extension NDArray {
  /// The eigen-decomposition `A = V diag(λ) Vᵀ` of a symmetric matrix (syevd).
  ///
  /// Only the lower triangle of `self` is read.
  /// - Returns: Eigenvalues in ascending order, and the orthonormal eigenvectors as the
  ///   *columns* of `vectors`.
  /// - Throws: `LAPACKError` (`ssyevd`/`dsyevd`) on non-convergence or NaN input.
  /// - Complexity: O(n³).
  public func symmetricEigen() throws(LAPACKError) -> (values: NDArray, vectors: NDArray) {
    let n = squareOrder("symmetricEigen")
    var a = self
    var w = NDArray(zeros: [n])
    try a.withUnsafeMutableBufferPointer { (pa: inout UnsafeMutableBufferPointer<Scalar>) throws(LAPACKError) in
      try w.withUnsafeMutableBufferPointer { (pw: inout UnsafeMutableBufferPointer<Scalar>) throws(LAPACKError) in
        try Scalar.syevd(vectors: true, triangle: .lower, n: n, a: pa, lda: Swift.max(1, n), w: pw)
      }
    }
    return (w, a)
  }

  /// The eigenvalues of a symmetric matrix in ascending order (syevd without vectors).
  /// - Throws: `LAPACKError` on non-convergence or NaN input.
  /// - Complexity: O(n³).
  public func symmetricEigenvalues() throws(LAPACKError) -> NDArray {
    let n = squareOrder("symmetricEigenvalues")
    var a = self
    var w = NDArray(zeros: [n])
    try a.withUnsafeMutableBufferPointer { (pa: inout UnsafeMutableBufferPointer<Scalar>) throws(LAPACKError) in
      try w.withUnsafeMutableBufferPointer { (pw: inout UnsafeMutableBufferPointer<Scalar>) throws(LAPACKError) in
        try Scalar.syevd(vectors: false, triangle: .lower, n: n, a: pa, lda: Swift.max(1, n), w: pw)
      }
    }
    return w
  }

  /// The lower-triangular Cholesky factor `L` with `A = LLᵀ` of a symmetric positive
  /// definite matrix (potrf); the strict upper triangle of the result is zero.
  /// - Throws: `LAPACKError` (`spotrf`/`dpotrf`) naming the first leading minor that is
  ///   not positive definite.
  /// - Complexity: O(n³/3).
  public func cholesky() throws(LAPACKError) -> NDArray {
    let n = squareOrder("cholesky")
    var l = self
    try l.withUnsafeMutableBufferPointer { (p: inout UnsafeMutableBufferPointer<Scalar>) throws(LAPACKError) in
      try Scalar.potrf(triangle: .lower, n: n, a: p, lda: Swift.max(1, n))
      for i in 0..<n { for j in (i + 1)..<Swift.max(i + 1, n) { p[i * n + j] = 0 } }
    }
    return l
  }

  /// Solves `A X = B` given the Cholesky factor `L` of `A` (potrs).
  /// - Parameter rhs: `B`, a vector `[n]` or a matrix `[n, k]`.
  /// - Returns: `X`, shaped like `rhs`.
  /// - Throws: `LAPACKError` on an illegal argument (NaN input).
  /// - Complexity: O(n² k).
  public func choleskySolve(_ rhs: NDArray) throws(LAPACKError) -> NDArray {
    let n = squareOrder("choleskySolve")
    precondition(rhs.shape.first == n && rhs.rank <= 2, "choleskySolve: right-hand side \(rhs.shape) for factor \(shape)")
    let k = rhs.rank == 1 ? 1 : rhs.shape[1]
    var x = rhs
    try withUnsafeBufferPointer { (pa: UnsafeBufferPointer<Scalar>) throws(LAPACKError) in
      try x.withUnsafeMutableBufferPointer { (pb: inout UnsafeMutableBufferPointer<Scalar>) throws(LAPACKError) in
        try Scalar.potrs(triangle: .lower, n: n, nrhs: k, a: pa, lda: Swift.max(1, n), b: pb, ldb: Swift.max(1, k))
      }
    }
    return x
  }

  /// Solves `A X = B` for a square matrix `A` by LU with partial pivoting (getrf, getrs).
  /// - Parameter rhs: `B`, a vector `[n]` or a matrix `[n, k]`.
  /// - Returns: `X`, shaped like `rhs`.
  /// - Throws: `LAPACKError` (`sgetrf`/`dgetrf`) when `A` is exactly singular.
  /// - Complexity: O(n³).
  public func solve(_ rhs: NDArray) throws(LAPACKError) -> NDArray {
    let n = squareOrder("solve")
    precondition(rhs.shape.first == n && rhs.rank <= 2, "solve: right-hand side \(rhs.shape) for matrix \(shape)")
    let (lu, pivots) = try luFactorization()
    let k = rhs.rank == 1 ? 1 : rhs.shape[1]
    var x = rhs
    try lu.withUnsafeBufferPointer { (pa: UnsafeBufferPointer<Scalar>) throws(LAPACKError) in
      try pivots.withUnsafeBufferPointer { (pp: UnsafeBufferPointer<Int32>) throws(LAPACKError) in
        try x.withUnsafeMutableBufferPointer { (pb: inout UnsafeMutableBufferPointer<Scalar>) throws(LAPACKError) in
          try Scalar.getrs(transpose: .none, n: n, nrhs: k, a: pa, lda: Swift.max(1, n), pivots: pp, b: pb, ldb: Swift.max(1, k))
        }
      }
    }
    return x
  }

  /// The inverse of a square matrix (LU).
  /// - Throws: `LAPACKError` when the matrix is exactly singular.
  /// - Complexity: O(n³).
  public func inverse() throws(LAPACKError) -> NDArray {
    try solve(.identity(squareOrder("inverse")))
  }

  /// The sign and the logarithm of the absolute value of the determinant (LU).
  ///
  /// A singular matrix gives sign 0 and log-magnitude −∞ rather than an error.
  /// - Throws: `LAPACKError` on NaN input.
  /// - Complexity: O(n³).
  public func signAndLogDeterminant() throws(LAPACKError) -> (sign: Scalar, logMagnitude: Scalar) {
    let n = squareOrder("signAndLogDeterminant")
    let lu: NDArray, pivots: [Int32]
    do {
      (lu, pivots) = try luFactorization()
    } catch where error.info > 0 {
      return (0, -.infinity)
    }
    var sign: Scalar = 1, logMagnitude: Scalar = 0
    for i in 0..<n {
      let u = lu.scalars[i * n + i]
      if u < 0 { sign = -sign }
      if Int(pivots[i]) != i + 1 { sign = -sign }
      logMagnitude += Scalar.log(Swift.abs(u))
    }
    return (sign, logMagnitude)
  }

  /// The thin singular value decomposition `A = U diag(s) Vᵀ` (gesvd).
  /// - Returns: `u` `[m, r]`, `s` `[r]` descending, `vt` `[r, n]` with `r = min(m, n)`.
  /// - Throws: `LAPACKError` (`sgesvd`/`dgesvd`) on non-convergence or NaN input.
  /// - Complexity: O(mn · min(m, n)).
  public func svd() throws(LAPACKError) -> (u: NDArray, s: NDArray, vt: NDArray) {
    precondition(rank == 2, "svd: shape \(shape) is not a matrix")
    let (m, n) = (shape[0], shape[1])
    let r = Swift.min(m, n)
    var a = self
    var s = NDArray(zeros: [r]), u = NDArray(zeros: [m, r]), vt = NDArray(zeros: [r, n])
    try a.withUnsafeMutableBufferPointer { (pa: inout UnsafeMutableBufferPointer<Scalar>) throws(LAPACKError) in
      try s.withUnsafeMutableBufferPointer { (ps: inout UnsafeMutableBufferPointer<Scalar>) throws(LAPACKError) in
        try u.withUnsafeMutableBufferPointer { (pu: inout UnsafeMutableBufferPointer<Scalar>) throws(LAPACKError) in
          try vt.withUnsafeMutableBufferPointer { (pv: inout UnsafeMutableBufferPointer<Scalar>) throws(LAPACKError) in
            try Scalar.gesvd(
              vectors: true, m: m, n: n, a: pa, lda: Swift.max(1, n), s: ps, u: pu,
              ldu: Swift.max(1, r), vt: pv, ldvt: Swift.max(1, n))
          }
        }
      }
    }
    return (u, s, vt)
  }

  /// Solves `op(T) X = B` for a triangular matrix `T = self` (trsm).
  /// - Parameters:
  ///   - rhs: `B`, a vector `[n]` or a matrix `[n, k]`.
  ///   - triangle: Which triangle of `self` holds `T`.
  ///   - transpose: Solve with `Tᵀ`.
  /// - Returns: `X`, shaped like `rhs`.
  /// - Complexity: O(n² k).
  public func triangularSolve(
    _ rhs: NDArray, triangle: Triangle = .lower, transpose: Bool = false
  ) -> NDArray {
    let n = squareOrder("triangularSolve")
    precondition(rhs.shape.first == n && rhs.rank <= 2, "triangularSolve: right-hand side \(rhs.shape) for matrix \(shape)")
    let k = rhs.rank == 1 ? 1 : rhs.shape[1]
    var x = rhs
    withUnsafeBufferPointer { pa in
      x.withUnsafeMutableBufferPointer { pb in
        Scalar.trsm(
          side: .left, triangle: triangle, transpose: transpose ? .transpose : .none,
          diagonal: .nonUnit, m: n, n: k, alpha: 1, a: pa, lda: Swift.max(1, n), b: pb,
          ldb: Swift.max(1, k))
      }
    }
    return x
  }

  /// The eigen-decomposition of the symmetric tridiagonal matrix with `diagonal` and
  /// `offDiagonal` (stevd), the small dense step of Lanczos methods.
  /// - Returns: Ascending eigenvalues and eigenvectors as columns of an `n×n` matrix.
  /// - Throws: `LAPACKError` (`sstevd`/`dstevd`) on non-convergence or NaN input.
  /// - Complexity: O(n²) to O(n³).
  public static func tridiagonalEigen(
    diagonal: NDArray, offDiagonal: NDArray
  ) throws(LAPACKError) -> (values: NDArray, vectors: NDArray) {
    let n = diagonal.count
    precondition(
      diagonal.rank == 1 && offDiagonal.rank == 1 && offDiagonal.count == Swift.max(0, n - 1),
      "tridiagonalEigen: diagonal \(diagonal.shape) needs off-diagonal of length \(Swift.max(0, n - 1)), got \(offDiagonal.shape)")
    var d = diagonal, e = offDiagonal, z = NDArray(zeros: [n, n])
    try d.withUnsafeMutableBufferPointer { (pd: inout UnsafeMutableBufferPointer<Scalar>) throws(LAPACKError) in
      try e.withUnsafeMutableBufferPointer { (pe: inout UnsafeMutableBufferPointer<Scalar>) throws(LAPACKError) in
        try z.withUnsafeMutableBufferPointer { (pz: inout UnsafeMutableBufferPointer<Scalar>) throws(LAPACKError) in
          try Scalar.stevd(vectors: true, n: n, d: pd, e: pe, z: pz, ldz: Swift.max(1, n))
        }
      }
    }
    return (d, z)
  }

  func luFactorization() throws(LAPACKError) -> (NDArray, [Int32]) {
    let n = squareOrder("LU")
    var lu = self
    var pivots = [Int32](repeating: 0, count: n)
    try lu.withUnsafeMutableBufferPointer { (pa: inout UnsafeMutableBufferPointer<Scalar>) throws(LAPACKError) in
      try pivots.withUnsafeMutableBufferPointer { (pp: inout UnsafeMutableBufferPointer<Int32>) throws(LAPACKError) in
        try Scalar.getrf(m: n, n: n, a: pa, lda: Swift.max(1, n), pivots: pp)
      }
    }
    return (lu, pivots)
  }

  func squareOrder(_ caller: String) -> Int {
    precondition(rank == 2 && shape[0] == shape[1], "\(caller): shape \(shape) is not a square matrix")
    return shape[0]
  }
}
