// The only file that calls OpenBLAS. It converts Swift types to CBLAS's enums and
// `Int32`s, checks that every buffer holds the elements its dimensions address, and
// hands the `s`/`d` routine to one generic, checked implementation per operation.
import COpenBLAS
import Synchronization

@usableFromInline
enum OpenBLAS {
  // MARK: Checks and conversions

  /// `Int` to the BLAS integer, stopping with a message instead of a silent wrap.
  @inline(__always)
  static func blasInt(_ value: Int, _ name: StaticString, _ routine: StaticString) -> Int32 {
    precondition(
      value >= 0 && value <= Int(Int32.max),
      "\(routine): \(name) = \(value) is outside the 32-bit BLAS integer range")
    return Int32(value)
  }

  /// Elements spanned by a row-major `rows×columns` matrix with leading dimension `ld`.
  @inline(__always)
  static func span(rows: Int, columns: Int, ld: Int) -> Int {
    rows == 0 || columns == 0 ? 0 : (rows - 1) * ld + columns
  }

  /// Elements spanned by a strided vector.
  @inline(__always)
  static func span(count: Int, stride: Int) -> Int {
    count == 0 ? 0 : (count - 1) * abs(stride) + 1
  }

  @inline(__always)
  static func check(
    _ routine: StaticString, _ name: StaticString, has: Int, needs: Int, ld: Int? = nil,
    columns: Int = 0
  ) {
    precondition(has >= needs, "\(routine): buffer \(name) holds \(has) elements, needs \(needs)")
    if let ld { precondition(ld >= max(1, columns), "\(routine): leading dimension of \(name) is \(ld) < \(max(1, columns))") }
  }

  @inline(__always)
  static func cblas(_ t: Transpose) -> CBLAS_TRANSPOSE {
    t == .none ? CblasNoTrans : CblasTrans
  }

  @inline(__always)
  static func cblas(_ t: Triangle) -> CBLAS_UPLO { t == .upper ? CblasUpper : CblasLower }

  /// Rows and columns of `op(A)`'s storage, given the shape `rows×columns` of `op(A)`.
  @inline(__always)
  static func stored(_ t: Transpose, rows: Int, columns: Int) -> (Int, Int) {
    t == .none ? (rows, columns) : (columns, rows)
  }

  // MARK: Level 1

  typealias AxpyRoutine<T> = @Sendable (Int32, T, UnsafePointer<T>?, Int32, UnsafeMutablePointer<T>?, Int32) -> Void
  static func axpy<T>(
    _ f: AxpyRoutine<T>, count: Int, alpha: T, x: UnsafeBufferPointer<T>, strideX: Int,
    y: UnsafeMutableBufferPointer<T>, strideY: Int
  ) {
    check("axpy", "x", has: x.count, needs: span(count: count, stride: strideX))
    check("axpy", "y", has: y.count, needs: span(count: count, stride: strideY))
    guard count > 0 else { return }
    OpenBLAS.counted { f(blasInt(count, "n", "axpy"), alpha, x.baseAddress, Int32(strideX), y.baseAddress, Int32(strideY)) }
  }

  typealias DotRoutine<T> = @Sendable (Int32, UnsafePointer<T>?, Int32, UnsafePointer<T>?, Int32) -> T
  static func dot<T: BinaryFloatingPoint>(
    _ f: DotRoutine<T>, count: Int, x: UnsafeBufferPointer<T>, strideX: Int,
    y: UnsafeBufferPointer<T>, strideY: Int
  ) -> T {
    check("dot", "x", has: x.count, needs: span(count: count, stride: strideX))
    check("dot", "y", has: y.count, needs: span(count: count, stride: strideY))
    guard count > 0 else { return 0 }
    return OpenBLAS.counted { f(blasInt(count, "n", "dot"), x.baseAddress, Int32(strideX), y.baseAddress, Int32(strideY)) }
  }

  typealias Nrm2Routine<T> = @Sendable (Int32, UnsafePointer<T>?, Int32) -> T
  static func nrm2<T: BinaryFloatingPoint>(
    _ f: Nrm2Routine<T>, count: Int, x: UnsafeBufferPointer<T>, stride: Int
  ) -> T {
    check("nrm2", "x", has: x.count, needs: span(count: count, stride: stride))
    guard count > 0 else { return 0 }
    return OpenBLAS.counted { f(blasInt(count, "n", "nrm2"), x.baseAddress, Int32(stride)) }
  }

  typealias ScalRoutine<T> = @Sendable (Int32, T, UnsafeMutablePointer<T>?, Int32) -> Void
  static func scal<T>(
    _ f: ScalRoutine<T>, count: Int, alpha: T, x: UnsafeMutableBufferPointer<T>, stride: Int
  ) {
    check("scal", "x", has: x.count, needs: span(count: count, stride: stride))
    guard count > 0 else { return }
    OpenBLAS.counted { f(blasInt(count, "n", "scal"), alpha, x.baseAddress, Int32(stride)) }
  }

  // MARK: Level 2

  typealias GemvRoutine<T> = @Sendable (
    CBLAS_ORDER, CBLAS_TRANSPOSE, Int32, Int32, T, UnsafePointer<T>?, Int32,
    UnsafePointer<T>?, Int32, T, UnsafeMutablePointer<T>?, Int32
  ) -> Void
  static func gemv<T: BinaryFloatingPoint>(
    _ f: GemvRoutine<T>, transpose: Transpose, m: Int, n: Int, alpha: T,
    a: UnsafeBufferPointer<T>, lda: Int, x: UnsafeBufferPointer<T>, strideX: Int, beta: T,
    y: UnsafeMutableBufferPointer<T>, strideY: Int
  ) {
    let (xCount, yCount) = transpose == .none ? (n, m) : (m, n)
    check("gemv", "a", has: a.count, needs: span(rows: m, columns: n, ld: lda), ld: lda, columns: n)
    check("gemv", "x", has: x.count, needs: span(count: xCount, stride: strideX))
    check("gemv", "y", has: y.count, needs: span(count: yCount, stride: strideY))
    guard yCount > 0 else { return }
    guard xCount > 0 else {
      scaleOrZero(beta, y, count: yCount, stride: strideY)
      return
    }
    OpenBLAS.counted { f(
      CblasRowMajor, cblas(transpose), blasInt(m, "m", "gemv"), blasInt(n, "n", "gemv"), alpha,
      a.baseAddress, blasInt(lda, "lda", "gemv"), x.baseAddress, Int32(strideX), beta,
      y.baseAddress, Int32(strideY)) }
  }

  typealias GerRoutine<T> = @Sendable (
    CBLAS_ORDER, Int32, Int32, T, UnsafePointer<T>?, Int32, UnsafePointer<T>?, Int32,
    UnsafeMutablePointer<T>?, Int32
  ) -> Void
  static func ger<T>(
    _ f: GerRoutine<T>, m: Int, n: Int, alpha: T, x: UnsafeBufferPointer<T>, strideX: Int,
    y: UnsafeBufferPointer<T>, strideY: Int, a: UnsafeMutableBufferPointer<T>, lda: Int
  ) {
    check("ger", "a", has: a.count, needs: span(rows: m, columns: n, ld: lda), ld: lda, columns: n)
    check("ger", "x", has: x.count, needs: span(count: m, stride: strideX))
    check("ger", "y", has: y.count, needs: span(count: n, stride: strideY))
    guard m > 0, n > 0 else { return }
    OpenBLAS.counted { f(
      CblasRowMajor, blasInt(m, "m", "ger"), blasInt(n, "n", "ger"), alpha, x.baseAddress,
      Int32(strideX), y.baseAddress, Int32(strideY), a.baseAddress, blasInt(lda, "lda", "ger")) }
  }

  // MARK: Level 3

  typealias GemmRoutine<T> = @Sendable (
    CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, Int32, Int32, Int32, T,
    UnsafePointer<T>?, Int32, UnsafePointer<T>?, Int32, T, UnsafeMutablePointer<T>?, Int32
  ) -> Void
  static func gemm<T: BinaryFloatingPoint>(
    _ f: GemmRoutine<T>, transposeA: Transpose, transposeB: Transpose, m: Int, n: Int, k: Int,
    alpha: T, a: UnsafeBufferPointer<T>, lda: Int, b: UnsafeBufferPointer<T>, ldb: Int,
    beta: T, c: UnsafeMutableBufferPointer<T>, ldc: Int
  ) {
    let (ar, ac) = stored(transposeA, rows: m, columns: k)
    let (br, bc) = stored(transposeB, rows: k, columns: n)
    check("gemm", "a", has: a.count, needs: span(rows: ar, columns: ac, ld: lda), ld: lda, columns: ac)
    check("gemm", "b", has: b.count, needs: span(rows: br, columns: bc, ld: ldb), ld: ldb, columns: bc)
    check("gemm", "c", has: c.count, needs: span(rows: m, columns: n, ld: ldc), ld: ldc, columns: n)
    guard m > 0, n > 0 else { return }
    guard k > 0 else {
      for row in 0..<m { scaleOrZero(beta, UnsafeMutableBufferPointer(rebasing: c[(row * ldc)...]), count: n, stride: 1) }
      return
    }
    OpenBLAS.counted { f(
      CblasRowMajor, cblas(transposeA), cblas(transposeB), blasInt(m, "m", "gemm"),
      blasInt(n, "n", "gemm"), blasInt(k, "k", "gemm"), alpha, a.baseAddress,
      blasInt(lda, "lda", "gemm"), b.baseAddress, blasInt(ldb, "ldb", "gemm"), beta,
      c.baseAddress, blasInt(ldc, "ldc", "gemm")) }
  }

  typealias SyrkRoutine<T> = @Sendable (
    CBLAS_ORDER, CBLAS_UPLO, CBLAS_TRANSPOSE, Int32, Int32, T, UnsafePointer<T>?, Int32, T,
    UnsafeMutablePointer<T>?, Int32
  ) -> Void
  static func syrk<T: BinaryFloatingPoint>(
    _ f: SyrkRoutine<T>, triangle: Triangle, transpose: Transpose, n: Int, k: Int, alpha: T,
    a: UnsafeBufferPointer<T>, lda: Int, beta: T, c: UnsafeMutableBufferPointer<T>, ldc: Int
  ) {
    let (ar, ac) = stored(transpose, rows: n, columns: k)
    check("syrk", "a", has: a.count, needs: span(rows: ar, columns: ac, ld: lda), ld: lda, columns: ac)
    check("syrk", "c", has: c.count, needs: span(rows: n, columns: n, ld: ldc), ld: ldc, columns: n)
    guard n > 0 else { return }
    guard k > 0 else {
      // Only the requested triangle is written, as syrk itself does.
      for row in 0..<n {
        let columns = triangle == .upper ? row..<n : 0..<(row + 1)
        scaleOrZero(beta, UnsafeMutableBufferPointer(rebasing: c[(row * ldc + columns.lowerBound)...]), count: columns.count, stride: 1)
      }
      return
    }
    OpenBLAS.counted { f(
      CblasRowMajor, cblas(triangle), cblas(transpose), blasInt(n, "n", "syrk"),
      blasInt(k, "k", "syrk"), alpha, a.baseAddress, blasInt(lda, "lda", "syrk"), beta,
      c.baseAddress, blasInt(ldc, "ldc", "syrk")) }
  }

  typealias TrsmRoutine<T> = @Sendable (
    CBLAS_ORDER, CBLAS_SIDE, CBLAS_UPLO, CBLAS_TRANSPOSE, CBLAS_DIAG, Int32, Int32, T,
    UnsafePointer<T>?, Int32, UnsafeMutablePointer<T>?, Int32
  ) -> Void
  static func trsm<T>(
    _ f: TrsmRoutine<T>, side: Side, triangle: Triangle, transpose: Transpose,
    diagonal: DiagonalKind, m: Int, n: Int, alpha: T, a: UnsafeBufferPointer<T>, lda: Int,
    b: UnsafeMutableBufferPointer<T>, ldb: Int
  ) {
    let order = side == .left ? m : n
    check("trsm", "a", has: a.count, needs: span(rows: order, columns: order, ld: lda), ld: lda, columns: order)
    check("trsm", "b", has: b.count, needs: span(rows: m, columns: n, ld: ldb), ld: ldb, columns: n)
    guard m > 0, n > 0 else { return }
    OpenBLAS.counted { f(
      CblasRowMajor, side == .left ? CblasLeft : CblasRight, cblas(triangle), cblas(transpose),
      diagonal == .unit ? CblasUnit : CblasNonUnit, blasInt(m, "m", "trsm"),
      blasInt(n, "n", "trsm"), alpha, a.baseAddress, blasInt(lda, "lda", "trsm"),
      b.baseAddress, blasInt(ldb, "ldb", "trsm")) }
  }

  typealias OmatcopyRoutine<T> = @Sendable (
    CBLAS_ORDER, CBLAS_TRANSPOSE, Int32, Int32, T, UnsafePointer<T>?, Int32,
    UnsafeMutablePointer<T>?, Int32
  ) -> Void
  static func omatcopy<T>(
    _ f: OmatcopyRoutine<T>, transpose: Transpose, rows: Int, columns: Int, alpha: T,
    a: UnsafeBufferPointer<T>, lda: Int, b: UnsafeMutableBufferPointer<T>, ldb: Int
  ) {
    let (br, bc) = stored(transpose, rows: rows, columns: columns)
    check("omatcopy", "a", has: a.count, needs: span(rows: rows, columns: columns, ld: lda), ld: lda, columns: columns)
    check("omatcopy", "b", has: b.count, needs: span(rows: br, columns: bc, ld: ldb), ld: ldb, columns: bc)
    guard rows > 0, columns > 0 else { return }
    OpenBLAS.counted { f(
      CblasRowMajor, cblas(transpose), blasInt(rows, "rows", "omatcopy"),
      blasInt(columns, "columns", "omatcopy"), alpha, a.baseAddress,
      blasInt(lda, "lda", "omatcopy"), b.baseAddress, blasInt(ldb, "ldb", "omatcopy")) }
  }

  /// `y ← βy` for the degenerate products with an empty inner dimension (BLAS semantics:
  /// `β = 0` overwrites, so NaNs already in `y` do not survive).
  static func scaleOrZero<T: BinaryFloatingPoint>(
    _ beta: T, _ y: UnsafeMutableBufferPointer<T>, count: Int, stride: Int
  ) {
    for i in 0..<count { y[i * stride] = beta == 0 ? 0 : beta * y[i * stride] }
  }

  // MARK: Runtime

  /// BLAS and LAPACK calls running now, in any thread (see `stopWorkers`).
  private static let callsInFlight = Atomic<Int>(0)

  /// `body` (one BLAS or LAPACK call), counted in `callsInFlight` while it runs. The
  /// increment is a sequentially consistent read-modify-write, so the count OpenBLAS reads
  /// in the call comes after it: a `stopWorkers` that sees no call in flight set the count
  /// to one before, and a call it did not see runs on its caller's thread alone.
  @inline(__always)
  static func counted<R>(_ body: () -> R) -> R {
    callsInFlight.wrappingAdd(1, ordering: .sequentiallyConsistent)
    defer { callsInFlight.wrappingSubtract(1, ordering: .releasing) }
    return body()
  }

  /// Whether OpenBLAS's worker threads exist (started by a multi-threaded call, until
  /// `stopWorkers` joins them).
  static var workersRunning: Bool { openblas_workers_running() != 0 }

  /// Joins OpenBLAS's worker threads, unless no worker runs or a BLAS or LAPACK call is in
  /// flight (it could be using them: joining would wait forever). Call it only after setting
  /// the thread count to one, with the count's lock held, so no call can start using them.
  /// The next multi-threaded call starts them again (`blas_thread_init`, about 0.1 ms).
  /// - Returns: Whether the workers are stopped now.
  @discardableResult
  static func stopWorkers() -> Bool {
    guard workersRunning else { return true }
    // A full barrier between the thread-count store above and this load (see `counted`).
    guard callsInFlight.compareExchange(expected: 0, desired: 0, ordering: .sequentiallyConsistent).exchanged else {
      return false
    }
    _ = blas_thread_shutdown_()
    return true
  }

  /// Number of threads OpenBLAS uses.
  static var threadCount: Int {
    get { Int(openblas_get_num_threads()) }
    set { openblas_set_num_threads(blasInt(max(1, newValue), "threads", "openblas_set_num_threads")) }
  }

  /// OpenBLAS's build configuration and the CPU core it dispatched to.
  static var configuration: String {
    let config = openblas_get_config().map { String(cString: $0) } ?? "unknown"
    let core = openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    return "\(config.split(separator: " ").joined(separator: " ")) (core \(core))"
  }
}

// MARK: Typed entry points, one line each

extension OpenBLAS {
  static let single = Routines<Float>(
    axpy: cblas_saxpy, dot: cblas_sdot, nrm2: cblas_snrm2, scal: cblas_sscal,
    gemv: cblas_sgemv, ger: cblas_sger, gemm: cblas_sgemm, syrk: cblas_ssyrk,
    trsm: cblas_strsm, omatcopy: cblas_somatcopy)
  static let double = Routines<Double>(
    axpy: cblas_daxpy, dot: cblas_ddot, nrm2: cblas_dnrm2, scal: cblas_dscal,
    gemv: cblas_dgemv, ger: cblas_dger, gemm: cblas_dgemm, syrk: cblas_dsyrk,
    trsm: cblas_dtrsm, omatcopy: cblas_domatcopy)

  /// The routines of one precision, so each operation is implemented once above.
  struct Routines<T>: Sendable {
    let axpy: AxpyRoutine<T>
    let dot: DotRoutine<T>
    let nrm2: Nrm2Routine<T>
    let scal: ScalRoutine<T>
    let gemv: GemvRoutine<T>
    let ger: GerRoutine<T>
    let gemm: GemmRoutine<T>
    let syrk: SyrkRoutine<T>
    let trsm: TrsmRoutine<T>
    let omatcopy: OmatcopyRoutine<T>
  }
}
