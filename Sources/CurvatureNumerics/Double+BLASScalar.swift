import RealModule

extension Double: BLASScalar {
  public static var dtypeName: String { "float64" }

  public static func axpy(count: Int, alpha: Double, x: UnsafeBufferPointer<Double>, strideX: Int, y: UnsafeMutableBufferPointer<Double>, strideY: Int) {
    OpenBLAS.axpy(OpenBLAS.double.axpy, count: count, alpha: alpha, x: x, strideX: strideX, y: y, strideY: strideY)
  }
  public static func dot(count: Int, x: UnsafeBufferPointer<Double>, strideX: Int, y: UnsafeBufferPointer<Double>, strideY: Int) -> Double {
    OpenBLAS.dot(OpenBLAS.double.dot, count: count, x: x, strideX: strideX, y: y, strideY: strideY)
  }
  public static func nrm2(count: Int, x: UnsafeBufferPointer<Double>, stride: Int) -> Double {
    OpenBLAS.nrm2(OpenBLAS.double.nrm2, count: count, x: x, stride: stride)
  }
  public static func scal(count: Int, alpha: Double, x: UnsafeMutableBufferPointer<Double>, stride: Int) {
    OpenBLAS.scal(OpenBLAS.double.scal, count: count, alpha: alpha, x: x, stride: stride)
  }
  public static func gemv(transpose: Transpose, m: Int, n: Int, alpha: Double, a: UnsafeBufferPointer<Double>, lda: Int, x: UnsafeBufferPointer<Double>, strideX: Int, beta: Double, y: UnsafeMutableBufferPointer<Double>, strideY: Int) {
    OpenBLAS.gemv(OpenBLAS.double.gemv, transpose: transpose, m: m, n: n, alpha: alpha, a: a, lda: lda, x: x, strideX: strideX, beta: beta, y: y, strideY: strideY)
  }
  public static func ger(m: Int, n: Int, alpha: Double, x: UnsafeBufferPointer<Double>, strideX: Int, y: UnsafeBufferPointer<Double>, strideY: Int, a: UnsafeMutableBufferPointer<Double>, lda: Int) {
    OpenBLAS.ger(OpenBLAS.double.ger, m: m, n: n, alpha: alpha, x: x, strideX: strideX, y: y, strideY: strideY, a: a, lda: lda)
  }
  public static func gemm(transposeA: Transpose, transposeB: Transpose, m: Int, n: Int, k: Int, alpha: Double, a: UnsafeBufferPointer<Double>, lda: Int, b: UnsafeBufferPointer<Double>, ldb: Int, beta: Double, c: UnsafeMutableBufferPointer<Double>, ldc: Int) {
    OpenBLAS.gemm(OpenBLAS.double.gemm, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
  }
  public static func syrk(triangle: Triangle, transpose: Transpose, n: Int, k: Int, alpha: Double, a: UnsafeBufferPointer<Double>, lda: Int, beta: Double, c: UnsafeMutableBufferPointer<Double>, ldc: Int) {
    OpenBLAS.syrk(OpenBLAS.double.syrk, triangle: triangle, transpose: transpose, n: n, k: k, alpha: alpha, a: a, lda: lda, beta: beta, c: c, ldc: ldc)
  }
  public static func trsm(side: Side, triangle: Triangle, transpose: Transpose, diagonal: DiagonalKind, m: Int, n: Int, alpha: Double, a: UnsafeBufferPointer<Double>, lda: Int, b: UnsafeMutableBufferPointer<Double>, ldb: Int) {
    OpenBLAS.trsm(OpenBLAS.double.trsm, side: side, triangle: triangle, transpose: transpose, diagonal: diagonal, m: m, n: n, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb)
  }
  public static func omatcopy(transpose: Transpose, rows: Int, columns: Int, alpha: Double, a: UnsafeBufferPointer<Double>, lda: Int, b: UnsafeMutableBufferPointer<Double>, ldb: Int) {
    OpenBLAS.omatcopy(OpenBLAS.double.omatcopy, transpose: transpose, rows: rows, columns: columns, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb)
  }
  public static func syevd(vectors: Bool, triangle: Triangle, n: Int, a: UnsafeMutableBufferPointer<Double>, lda: Int, w: UnsafeMutableBufferPointer<Double>) throws(LAPACKError) {
    try LAPACKE.syevd(LAPACKE.double.syevd, vectors: vectors, triangle: triangle, n: n, a: a, lda: lda, w: w)
  }
  public static func stevd(vectors: Bool, n: Int, d: UnsafeMutableBufferPointer<Double>, e: UnsafeMutableBufferPointer<Double>, z: UnsafeMutableBufferPointer<Double>, ldz: Int) throws(LAPACKError) {
    try LAPACKE.stevd(LAPACKE.double.stevd, vectors: vectors, n: n, d: d, e: e, z: z, ldz: ldz)
  }
  public static func potrf(triangle: Triangle, n: Int, a: UnsafeMutableBufferPointer<Double>, lda: Int) throws(LAPACKError) {
    try LAPACKE.potrf(LAPACKE.double.potrf, triangle: triangle, n: n, a: a, lda: lda)
  }
  public static func potrs(triangle: Triangle, n: Int, nrhs: Int, a: UnsafeBufferPointer<Double>, lda: Int, b: UnsafeMutableBufferPointer<Double>, ldb: Int) throws(LAPACKError) {
    try LAPACKE.potrs(LAPACKE.double.potrs, triangle: triangle, n: n, nrhs: nrhs, a: a, lda: lda, b: b, ldb: ldb)
  }
  public static func getrf(m: Int, n: Int, a: UnsafeMutableBufferPointer<Double>, lda: Int, pivots: UnsafeMutableBufferPointer<Int32>) throws(LAPACKError) {
    try LAPACKE.getrf(LAPACKE.double.getrf, m: m, n: n, a: a, lda: lda, pivots: pivots)
  }
  public static func getrs(transpose: Transpose, n: Int, nrhs: Int, a: UnsafeBufferPointer<Double>, lda: Int, pivots: UnsafeBufferPointer<Int32>, b: UnsafeMutableBufferPointer<Double>, ldb: Int) throws(LAPACKError) {
    try LAPACKE.getrs(LAPACKE.double.getrs, transpose: transpose, n: n, nrhs: nrhs, a: a, lda: lda, pivots: pivots, b: b, ldb: ldb)
  }
  public static func gesvd(vectors: Bool, m: Int, n: Int, a: UnsafeMutableBufferPointer<Double>, lda: Int, s: UnsafeMutableBufferPointer<Double>, u: UnsafeMutableBufferPointer<Double>, ldu: Int, vt: UnsafeMutableBufferPointer<Double>, ldvt: Int) throws(LAPACKError) {
    try LAPACKE.gesvd(LAPACKE.double.gesvd, vectors: vectors, m: m, n: n, a: a, lda: lda, s: s, u: u, ldu: ldu, vt: vt, ldvt: ldvt)
  }
  public static func pbtrf(n: Int, kd: Int, ab: UnsafeMutableBufferPointer<Double>, ldab: Int) throws(LAPACKError) {
    try LAPACKE.pbtrf(LAPACKE.double.pbtrf, n: n, kd: kd, ab: ab, ldab: ldab)
  }
  public static func pbtrs(n: Int, kd: Int, nrhs: Int, ab: UnsafeBufferPointer<Double>, ldab: Int, b: UnsafeMutableBufferPointer<Double>, ldb: Int) throws(LAPACKError) {
    try LAPACKE.pbtrs(LAPACKE.double.pbtrs, n: n, kd: kd, nrhs: nrhs, ab: ab, ldab: ldab, b: b, ldb: ldb)
  }
  public static func makeFFTPlan(_ kind: FFTKind, shape: [Int], count: Int) -> FFTPlanHandle {
    FFTW.plan(kind, shape: shape, count: count, double: true)
  }
  public static func executeFFT(_ plan: FFTPlanHandle, input: UnsafeMutableRawPointer, output: UnsafeMutableRawPointer) {
    FFTW.execute(plan, input: input, output: output, double: true)
  }
  public static func applyUnary(_ f: UnaryFunction, _ x: UnsafeBufferPointer<Double>, _ y: UnsafeMutableBufferPointer<Double>) {
    unaryKernel(f, x, y)
  }
  public static func applyBinary(_ f: BinaryFunction, _ a: UnsafeBufferPointer<Double>, strides aStrides: [Int], _ b: UnsafeBufferPointer<Double>, strides bStrides: [Int], _ out: UnsafeMutableBufferPointer<Double>, shape: [Int]) {
    binaryKernel(f, a, aStrides, b, bStrides, out, shape)
  }
  public static func reduce(_ f: ReductionFunction, _ x: UnsafeBufferPointer<Double>, shape: [Int], reducedAxes: [Bool], _ out: UnsafeMutableBufferPointer<Double>) {
    reduceKernel(f, x, shape, reducedAxes, out)
  }
  public static func gather(_ source: UnsafeBufferPointer<Double>, indices: UnsafeBufferPointer<Int>, _ destination: UnsafeMutableBufferPointer<Double>) {
    gatherKernel(source, indices, destination)
  }
  public static func scatterAdd(_ source: UnsafeBufferPointer<Double>, indices: UnsafeBufferPointer<Int>, _ destination: UnsafeMutableBufferPointer<Double>) {
    scatterAddKernel(source, indices, destination)
  }
  public static func firstNonFinite(_ values: UnsafeBufferPointer<Double>) -> Int? {
    firstNonFiniteDouble(values)
  }
}
