// The only file that calls LAPACKE. It converts to LAPACK's `Int32` and `char` arguments,
// checks buffer sizes, allocates workspace that callers need not see, and turns a non-zero
// `info` into a thrown `LAPACKError` naming the precision-prefixed routine.
import CLAPACKE

enum LAPACKE {
  typealias Int = Swift.Int

  @inline(__always)
  static func lapackInt(_ value: Int, _ name: StaticString, _ routine: String) -> Int32 {
    precondition(
      value >= 0 && value <= Int(Int32.max),
      "\(routine): \(name) = \(value) is outside the 32-bit LAPACK integer range")
    return Int32(value)
  }

  @inline(__always)
  static func char(_ c: Unicode.Scalar) -> CChar { CChar(UInt8(ascii: c)) }

  @inline(__always)
  static func uplo(_ t: Triangle) -> CChar { t == .upper ? char("U") : char("L") }

  @inline(__always)
  static func check(_ routine: String, _ name: StaticString, has: Int, needs: Int) {
    precondition(has >= needs, "\(routine): buffer \(name) holds \(has) elements, needs \(needs)")
  }

  @inline(__always)
  static func square(_ n: Int, _ ld: Int, _ routine: String, _ name: StaticString) -> Int {
    precondition(ld >= max(1, n), "\(routine): leading dimension of \(name) is \(ld) < \(max(1, n))")
    return OpenBLAS.span(rows: n, columns: n, ld: ld)
  }

  @inline(__always)
  static func finish(_ info: Int32, _ routine: String) throws(LAPACKError) {
    if info != 0 { throw LAPACKError(routine: routine, info: Int(info)) }
  }

  /// The routine name with its precision prefix, e.g. `spotrf` for Float.
  static func name<T>(_ base: String, _: T.Type) -> String {
    (T.self == Float.self ? "s" : "d") + base
  }

  // MARK: Eigenvalues

  typealias SyevdRoutine<T> = @Sendable (Int32, CChar, CChar, Int32, UnsafeMutablePointer<T>?, Int32, UnsafeMutablePointer<T>?) -> Int32
  static func syevd<T>(
    _ f: SyevdRoutine<T>, vectors: Bool, triangle: Triangle, n: Int,
    a: UnsafeMutableBufferPointer<T>, lda: Int, w: UnsafeMutableBufferPointer<T>
  ) throws(LAPACKError) {
    let routine = name("syevd", T.self)
    check(routine, "a", has: a.count, needs: square(n, lda, routine, "a"))
    check(routine, "w", has: w.count, needs: n)
    guard n > 0 else { return }
    try finish(
      OpenBLAS.counted { f(LAPACK_ROW_MAJOR, vectors ? char("V") : char("N"), uplo(triangle),
        lapackInt(n, "n", routine), a.baseAddress, lapackInt(lda, "lda", routine), w.baseAddress) },
      routine)
  }

  typealias StevdRoutine<T> = @Sendable (Int32, CChar, Int32, UnsafeMutablePointer<T>?, UnsafeMutablePointer<T>?, UnsafeMutablePointer<T>?, Int32) -> Int32
  static func stevd<T>(
    _ f: StevdRoutine<T>, vectors: Bool, n: Int, d: UnsafeMutableBufferPointer<T>,
    e: UnsafeMutableBufferPointer<T>, z: UnsafeMutableBufferPointer<T>, ldz: Int
  ) throws(LAPACKError) {
    let routine = name("stevd", T.self)
    check(routine, "d", has: d.count, needs: n)
    check(routine, "e", has: e.count, needs: max(0, n - 1))
    if vectors { check(routine, "z", has: z.count, needs: square(n, ldz, routine, "z")) }
    guard n > 0 else { return }
    // `e` and `z` may be empty (n = 1, or no vectors); LAPACK does not read them then,
    // but LAPACKE wants valid pointers.
    var scratch: [T] = [d[0]]
    let info = scratch.withUnsafeMutableBufferPointer { s in
      OpenBLAS.counted { f(LAPACK_ROW_MAJOR, vectors ? char("V") : char("N"), lapackInt(n, "n", routine),
        d.baseAddress, e.baseAddress ?? s.baseAddress, vectors ? z.baseAddress : s.baseAddress,
        // LAPACKE's row-major path checks ldz ≥ n even when no vectors are computed.
        vectors ? lapackInt(ldz, "ldz", routine) : lapackInt(Swift.max(1, n), "ldz", routine)) }
    }
    try finish(info, routine)
  }

  // MARK: Cholesky and LU

  typealias PotrfRoutine<T> = @Sendable (Int32, CChar, Int32, UnsafeMutablePointer<T>?, Int32) -> Int32
  static func potrf<T>(
    _ f: PotrfRoutine<T>, triangle: Triangle, n: Int, a: UnsafeMutableBufferPointer<T>, lda: Int
  ) throws(LAPACKError) {
    let routine = name("potrf", T.self)
    check(routine, "a", has: a.count, needs: square(n, lda, routine, "a"))
    guard n > 0 else { return }
    try finish(
      OpenBLAS.counted { f(LAPACK_ROW_MAJOR, uplo(triangle), lapackInt(n, "n", routine), a.baseAddress,
        lapackInt(lda, "lda", routine)) }, routine)
  }

  typealias PotrsRoutine<T> = @Sendable (Int32, CChar, Int32, Int32, UnsafePointer<T>?, Int32, UnsafeMutablePointer<T>?, Int32) -> Int32
  static func potrs<T>(
    _ f: PotrsRoutine<T>, triangle: Triangle, n: Int, nrhs: Int, a: UnsafeBufferPointer<T>,
    lda: Int, b: UnsafeMutableBufferPointer<T>, ldb: Int
  ) throws(LAPACKError) {
    let routine = name("potrs", T.self)
    check(routine, "a", has: a.count, needs: square(n, lda, routine, "a"))
    precondition(ldb >= max(1, nrhs), "\(routine): ldb = \(ldb) < nrhs = \(nrhs)")
    check(routine, "b", has: b.count, needs: OpenBLAS.span(rows: n, columns: nrhs, ld: ldb))
    guard n > 0, nrhs > 0 else { return }
    try finish(
      OpenBLAS.counted { f(LAPACK_ROW_MAJOR, uplo(triangle), lapackInt(n, "n", routine),
        lapackInt(nrhs, "nrhs", routine), a.baseAddress, lapackInt(lda, "lda", routine),
        b.baseAddress, lapackInt(ldb, "ldb", routine)) }, routine)
  }

  typealias GetrfRoutine<T> = @Sendable (Int32, Int32, Int32, UnsafeMutablePointer<T>?, Int32, UnsafeMutablePointer<Int32>?) -> Int32
  static func getrf<T>(
    _ f: GetrfRoutine<T>, m: Int, n: Int, a: UnsafeMutableBufferPointer<T>, lda: Int,
    pivots: UnsafeMutableBufferPointer<Int32>
  ) throws(LAPACKError) {
    let routine = name("getrf", T.self)
    precondition(lda >= max(1, n), "\(routine): lda = \(lda) < n = \(n)")
    check(routine, "a", has: a.count, needs: OpenBLAS.span(rows: m, columns: n, ld: lda))
    check(routine, "pivots", has: pivots.count, needs: min(m, n))
    guard m > 0, n > 0 else { return }
    try finish(
      OpenBLAS.counted { f(LAPACK_ROW_MAJOR, lapackInt(m, "m", routine), lapackInt(n, "n", routine),
        a.baseAddress, lapackInt(lda, "lda", routine), pivots.baseAddress) }, routine)
  }

  typealias GetrsRoutine<T> = @Sendable (Int32, CChar, Int32, Int32, UnsafePointer<T>?, Int32, UnsafePointer<Int32>?, UnsafeMutablePointer<T>?, Int32) -> Int32
  static func getrs<T>(
    _ f: GetrsRoutine<T>, transpose: Transpose, n: Int, nrhs: Int, a: UnsafeBufferPointer<T>,
    lda: Int, pivots: UnsafeBufferPointer<Int32>, b: UnsafeMutableBufferPointer<T>, ldb: Int
  ) throws(LAPACKError) {
    let routine = name("getrs", T.self)
    check(routine, "a", has: a.count, needs: square(n, lda, routine, "a"))
    check(routine, "pivots", has: pivots.count, needs: n)
    precondition(ldb >= max(1, nrhs), "\(routine): ldb = \(ldb) < nrhs = \(nrhs)")
    check(routine, "b", has: b.count, needs: OpenBLAS.span(rows: n, columns: nrhs, ld: ldb))
    guard n > 0, nrhs > 0 else { return }
    try finish(
      OpenBLAS.counted { f(LAPACK_ROW_MAJOR, transpose == .none ? char("N") : char("T"),
        lapackInt(n, "n", routine), lapackInt(nrhs, "nrhs", routine), a.baseAddress,
        lapackInt(lda, "lda", routine), pivots.baseAddress, b.baseAddress,
        lapackInt(ldb, "ldb", routine)) }, routine)
  }

  // MARK: SVD

  typealias GesvdRoutine<T> = @Sendable (
    Int32, CChar, CChar, Int32, Int32, UnsafeMutablePointer<T>?, Int32, UnsafeMutablePointer<T>?,
    UnsafeMutablePointer<T>?, Int32, UnsafeMutablePointer<T>?, Int32, UnsafeMutablePointer<T>?
  ) -> Int32
  static func gesvd<T: BinaryFloatingPoint>(
    _ f: GesvdRoutine<T>, vectors: Bool, m: Int, n: Int, a: UnsafeMutableBufferPointer<T>,
    lda: Int, s: UnsafeMutableBufferPointer<T>, u: UnsafeMutableBufferPointer<T>, ldu: Int,
    vt: UnsafeMutableBufferPointer<T>, ldvt: Int
  ) throws(LAPACKError) {
    let routine = name("gesvd", T.self)
    let r = min(m, n)
    precondition(lda >= max(1, n), "\(routine): lda = \(lda) < n = \(n)")
    check(routine, "a", has: a.count, needs: OpenBLAS.span(rows: m, columns: n, ld: lda))
    check(routine, "s", has: s.count, needs: r)
    if vectors {
      precondition(ldu >= max(1, r) && ldvt >= max(1, n), "\(routine): ldu = \(ldu) or ldvt = \(ldvt) too small")
      check(routine, "u", has: u.count, needs: OpenBLAS.span(rows: m, columns: r, ld: ldu))
      check(routine, "vt", has: vt.count, needs: OpenBLAS.span(rows: r, columns: n, ld: ldvt))
    }
    guard r > 0 else { return }
    var superb = [T](repeating: 0, count: max(1, r - 1))
    var dummy: [T] = [0]
    let info = superb.withUnsafeMutableBufferPointer { sb in
      dummy.withUnsafeMutableBufferPointer { d in
        OpenBLAS.counted { f(LAPACK_ROW_MAJOR, vectors ? char("S") : char("N"), vectors ? char("S") : char("N"),
          lapackInt(m, "m", routine), lapackInt(n, "n", routine), a.baseAddress,
          lapackInt(lda, "lda", routine), s.baseAddress,
          vectors ? u.baseAddress : d.baseAddress, vectors ? lapackInt(ldu, "ldu", routine) : 1,
          vectors ? vt.baseAddress : d.baseAddress, vectors ? lapackInt(ldvt, "ldvt", routine) : 1,
          sb.baseAddress) }
      }
    }
    try finish(info, routine)
  }

  // MARK: Band Cholesky (upper, row-major band storage)

  typealias PbtrfRoutine<T> = @Sendable (Int32, CChar, Int32, Int32, UnsafeMutablePointer<T>?, Int32) -> Int32
  static func pbtrf<T>(
    _ f: PbtrfRoutine<T>, n: Int, kd: Int, ab: UnsafeMutableBufferPointer<T>, ldab: Int
  ) throws(LAPACKError) {
    let routine = name("pbtrf", T.self)
    precondition(ldab >= max(1, n), "\(routine): ldab = \(ldab) < n = \(n)")
    check(routine, "ab", has: ab.count, needs: OpenBLAS.span(rows: kd + 1, columns: n, ld: ldab))
    guard n > 0 else { return }
    try finish(
      OpenBLAS.counted { f(LAPACK_ROW_MAJOR, char("U"), lapackInt(n, "n", routine), lapackInt(kd, "kd", routine),
        ab.baseAddress, lapackInt(ldab, "ldab", routine)) }, routine)
  }

  typealias PbtrsRoutine<T> = @Sendable (Int32, CChar, Int32, Int32, Int32, UnsafePointer<T>?, Int32, UnsafeMutablePointer<T>?, Int32) -> Int32
  static func pbtrs<T>(
    _ f: PbtrsRoutine<T>, n: Int, kd: Int, nrhs: Int, ab: UnsafeBufferPointer<T>, ldab: Int,
    b: UnsafeMutableBufferPointer<T>, ldb: Int
  ) throws(LAPACKError) {
    let routine = name("pbtrs", T.self)
    precondition(ldab >= max(1, n), "\(routine): ldab = \(ldab) < n = \(n)")
    check(routine, "ab", has: ab.count, needs: OpenBLAS.span(rows: kd + 1, columns: n, ld: ldab))
    precondition(ldb >= max(1, nrhs), "\(routine): ldb = \(ldb) < nrhs = \(nrhs)")
    check(routine, "b", has: b.count, needs: OpenBLAS.span(rows: n, columns: nrhs, ld: ldb))
    guard n > 0, nrhs > 0 else { return }
    try finish(
      OpenBLAS.counted { f(LAPACK_ROW_MAJOR, char("U"), lapackInt(n, "n", routine), lapackInt(kd, "kd", routine),
        lapackInt(nrhs, "nrhs", routine), ab.baseAddress, lapackInt(ldab, "ldab", routine),
        b.baseAddress, lapackInt(ldb, "ldb", routine)) }, routine)
  }

  /// LAPACK's version, e.g. `3.11.0`.
  static var version: String {
    var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
    LAPACKE_ilaver(&major, &minor, &patch)
    return "\(major).\(minor).\(patch)"
  }
}

// MARK: Typed entry points

extension LAPACKE {
  struct Routines<T>: Sendable {
    let syevd: SyevdRoutine<T>
    let stevd: StevdRoutine<T>
    let potrf: PotrfRoutine<T>
    let potrs: PotrsRoutine<T>
    let getrf: GetrfRoutine<T>
    let getrs: GetrsRoutine<T>
    let gesvd: GesvdRoutine<T>
    let pbtrf: PbtrfRoutine<T>
    let pbtrs: PbtrsRoutine<T>
  }

  static let single = Routines<Float>(
    syevd: LAPACKE_ssyevd, stevd: LAPACKE_sstevd, potrf: LAPACKE_spotrf, potrs: LAPACKE_spotrs,
    getrf: LAPACKE_sgetrf, getrs: LAPACKE_sgetrs, gesvd: LAPACKE_sgesvd,
    pbtrf: LAPACKE_spbtrf, pbtrs: LAPACKE_spbtrs)
  static let double = Routines<Double>(
    syevd: LAPACKE_dsyevd, stevd: LAPACKE_dstevd, potrf: LAPACKE_dpotrf, potrs: LAPACKE_dpotrs,
    getrf: LAPACKE_dgetrf, getrs: LAPACKE_dgetrs, gesvd: LAPACKE_dgesvd,
    pbtrf: LAPACKE_dpbtrf, pbtrs: LAPACKE_dpbtrs)
}
