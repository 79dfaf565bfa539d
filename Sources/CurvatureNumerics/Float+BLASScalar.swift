import RealModule

extension Float: BLASScalar {
  public static var dtypeName: String { "float32" }

  public static func axpy(count: Int, alpha: Float, x: UnsafeBufferPointer<Float>, strideX: Int, y: UnsafeMutableBufferPointer<Float>, strideY: Int) {
    OpenBLAS.axpy(OpenBLAS.single.axpy, count: count, alpha: alpha, x: x, strideX: strideX, y: y, strideY: strideY)
  }
  public static func dot(count: Int, x: UnsafeBufferPointer<Float>, strideX: Int, y: UnsafeBufferPointer<Float>, strideY: Int) -> Float {
    OpenBLAS.dot(OpenBLAS.single.dot, count: count, x: x, strideX: strideX, y: y, strideY: strideY)
  }
  public static func nrm2(count: Int, x: UnsafeBufferPointer<Float>, stride: Int) -> Float {
    OpenBLAS.nrm2(OpenBLAS.single.nrm2, count: count, x: x, stride: stride)
  }
  public static func scal(count: Int, alpha: Float, x: UnsafeMutableBufferPointer<Float>, stride: Int) {
    OpenBLAS.scal(OpenBLAS.single.scal, count: count, alpha: alpha, x: x, stride: stride)
  }
  public static func gemv(transpose: Transpose, m: Int, n: Int, alpha: Float, a: UnsafeBufferPointer<Float>, lda: Int, x: UnsafeBufferPointer<Float>, strideX: Int, beta: Float, y: UnsafeMutableBufferPointer<Float>, strideY: Int) {
    OpenBLAS.gemv(OpenBLAS.single.gemv, transpose: transpose, m: m, n: n, alpha: alpha, a: a, lda: lda, x: x, strideX: strideX, beta: beta, y: y, strideY: strideY)
  }
  public static func ger(m: Int, n: Int, alpha: Float, x: UnsafeBufferPointer<Float>, strideX: Int, y: UnsafeBufferPointer<Float>, strideY: Int, a: UnsafeMutableBufferPointer<Float>, lda: Int) {
    OpenBLAS.ger(OpenBLAS.single.ger, m: m, n: n, alpha: alpha, x: x, strideX: strideX, y: y, strideY: strideY, a: a, lda: lda)
  }
  public static func gemm(transposeA: Transpose, transposeB: Transpose, m: Int, n: Int, k: Int, alpha: Float, a: UnsafeBufferPointer<Float>, lda: Int, b: UnsafeBufferPointer<Float>, ldb: Int, beta: Float, c: UnsafeMutableBufferPointer<Float>, ldc: Int) {
    OpenBLAS.gemm(OpenBLAS.single.gemm, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
  }
  public static func syrk(triangle: Triangle, transpose: Transpose, n: Int, k: Int, alpha: Float, a: UnsafeBufferPointer<Float>, lda: Int, beta: Float, c: UnsafeMutableBufferPointer<Float>, ldc: Int) {
    OpenBLAS.syrk(OpenBLAS.single.syrk, triangle: triangle, transpose: transpose, n: n, k: k, alpha: alpha, a: a, lda: lda, beta: beta, c: c, ldc: ldc)
  }
  public static func trsm(side: Side, triangle: Triangle, transpose: Transpose, diagonal: DiagonalKind, m: Int, n: Int, alpha: Float, a: UnsafeBufferPointer<Float>, lda: Int, b: UnsafeMutableBufferPointer<Float>, ldb: Int) {
    OpenBLAS.trsm(OpenBLAS.single.trsm, side: side, triangle: triangle, transpose: transpose, diagonal: diagonal, m: m, n: n, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb)
  }
  public static func omatcopy(transpose: Transpose, rows: Int, columns: Int, alpha: Float, a: UnsafeBufferPointer<Float>, lda: Int, b: UnsafeMutableBufferPointer<Float>, ldb: Int) {
    OpenBLAS.omatcopy(OpenBLAS.single.omatcopy, transpose: transpose, rows: rows, columns: columns, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb)
  }
  public static func syevd(vectors: Bool, triangle: Triangle, n: Int, a: UnsafeMutableBufferPointer<Float>, lda: Int, w: UnsafeMutableBufferPointer<Float>) throws(LAPACKError) {
    try LAPACKE.syevd(LAPACKE.single.syevd, vectors: vectors, triangle: triangle, n: n, a: a, lda: lda, w: w)
  }
  public static func stevd(vectors: Bool, n: Int, d: UnsafeMutableBufferPointer<Float>, e: UnsafeMutableBufferPointer<Float>, z: UnsafeMutableBufferPointer<Float>, ldz: Int) throws(LAPACKError) {
    try LAPACKE.stevd(LAPACKE.single.stevd, vectors: vectors, n: n, d: d, e: e, z: z, ldz: ldz)
  }
  public static func potrf(triangle: Triangle, n: Int, a: UnsafeMutableBufferPointer<Float>, lda: Int) throws(LAPACKError) {
    try LAPACKE.potrf(LAPACKE.single.potrf, triangle: triangle, n: n, a: a, lda: lda)
  }
  public static func potrs(triangle: Triangle, n: Int, nrhs: Int, a: UnsafeBufferPointer<Float>, lda: Int, b: UnsafeMutableBufferPointer<Float>, ldb: Int) throws(LAPACKError) {
    try LAPACKE.potrs(LAPACKE.single.potrs, triangle: triangle, n: n, nrhs: nrhs, a: a, lda: lda, b: b, ldb: ldb)
  }
  public static func getrf(m: Int, n: Int, a: UnsafeMutableBufferPointer<Float>, lda: Int, pivots: UnsafeMutableBufferPointer<Int32>) throws(LAPACKError) {
    try LAPACKE.getrf(LAPACKE.single.getrf, m: m, n: n, a: a, lda: lda, pivots: pivots)
  }
  public static func getrs(transpose: Transpose, n: Int, nrhs: Int, a: UnsafeBufferPointer<Float>, lda: Int, pivots: UnsafeBufferPointer<Int32>, b: UnsafeMutableBufferPointer<Float>, ldb: Int) throws(LAPACKError) {
    try LAPACKE.getrs(LAPACKE.single.getrs, transpose: transpose, n: n, nrhs: nrhs, a: a, lda: lda, pivots: pivots, b: b, ldb: ldb)
  }
  public static func gesvd(vectors: Bool, m: Int, n: Int, a: UnsafeMutableBufferPointer<Float>, lda: Int, s: UnsafeMutableBufferPointer<Float>, u: UnsafeMutableBufferPointer<Float>, ldu: Int, vt: UnsafeMutableBufferPointer<Float>, ldvt: Int) throws(LAPACKError) {
    try LAPACKE.gesvd(LAPACKE.single.gesvd, vectors: vectors, m: m, n: n, a: a, lda: lda, s: s, u: u, ldu: ldu, vt: vt, ldvt: ldvt)
  }
  public static func pbtrf(n: Int, kd: Int, ab: UnsafeMutableBufferPointer<Float>, ldab: Int) throws(LAPACKError) {
    try LAPACKE.pbtrf(LAPACKE.single.pbtrf, n: n, kd: kd, ab: ab, ldab: ldab)
  }
  public static func pbtrs(n: Int, kd: Int, nrhs: Int, ab: UnsafeBufferPointer<Float>, ldab: Int, b: UnsafeMutableBufferPointer<Float>, ldb: Int) throws(LAPACKError) {
    try LAPACKE.pbtrs(LAPACKE.single.pbtrs, n: n, kd: kd, nrhs: nrhs, ab: ab, ldab: ldab, b: b, ldb: ldb)
  }
  public static func makeFFTPlan(_ kind: FFTKind, shape: [Int], count: Int) -> FFTPlanHandle {
    FFTW.plan(kind, shape: shape, count: count, double: false)
  }
  public static func executeFFT(_ plan: FFTPlanHandle, input: UnsafeMutableRawPointer, output: UnsafeMutableRawPointer) {
    FFTW.execute(plan, input: input, output: output, double: false)
  }
  public static func applyUnary(_ f: UnaryFunction, _ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>) {
    unaryKernel(f, x, y)
  }
  public static func applyBinary(_ f: BinaryFunction, _ a: UnsafeBufferPointer<Float>, strides aStrides: [Int], _ b: UnsafeBufferPointer<Float>, strides bStrides: [Int], _ out: UnsafeMutableBufferPointer<Float>, shape: [Int]) {
    binaryKernel(f, a, aStrides, b, bStrides, out, shape)
  }
  public static func reduce(_ f: ReductionFunction, _ x: UnsafeBufferPointer<Float>, shape: [Int], reducedAxes: [Bool], _ out: UnsafeMutableBufferPointer<Float>) {
    reduceKernel(f, x, shape, reducedAxes, out)
  }
  public static func gather(_ source: UnsafeBufferPointer<Float>, indices: UnsafeBufferPointer<Int>, _ destination: UnsafeMutableBufferPointer<Float>) {
    gatherKernel(source, indices, destination)
  }
  public static func scatterAdd(_ source: UnsafeBufferPointer<Float>, indices: UnsafeBufferPointer<Int>, _ destination: UnsafeMutableBufferPointer<Float>) {
    scatterAddKernel(source, indices, destination)
  }
  public static func firstNonFinite(_ values: UnsafeBufferPointer<Float>) -> Int? {
    firstNonFiniteFloat(values)
  }
}
