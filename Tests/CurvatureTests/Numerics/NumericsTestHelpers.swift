import Curvature
import CurvatureTestSupport
import Testing

/// Naive reference implementations for the numerics tests.
///
/// Everything here is plain Swift loops accumulated in `Double`, independent of BLAS,
/// LAPACK and FFTW, so that a test compares the library against a different code path.
/// Matrices are row-major buffers with an explicit leading dimension, as in the library.
enum NumericsReference {
  // MARK: Data

  /// Deterministic standard normal scalars (drawn in Double, rounded to `T`).
  static func randomScalars<T: BLASScalar>(_ count: Int, seed: UInt64, _: T.Type = T.self) -> [T] {
    var rng = RandomGenerator(seed: seed, stream: 17)
    return (0..<count).map { _ in T(rng.normal()) }
  }

  /// Elements spanned by a strided vector (BLAS convention).
  static func span(count: Int, stride: Int) -> Int {
    count == 0 ? 0 : (count - 1) * abs(stride) + 1
  }

  /// Elements spanned by a row-major `rows×columns` matrix with leading dimension `ld`.
  static func span(rows: Int, columns: Int, ld: Int) -> Int {
    rows == 0 || columns == 0 ? 0 : (rows - 1) * ld + columns
  }

  /// Buffer position of logical element `i` of a strided vector of `count` elements.
  /// A negative stride walks the buffer backwards (reference BLAS semantics).
  static func stridedIndex(_ i: Int, count: Int, stride: Int) -> Int {
    stride >= 0 ? i * stride : (count - 1 - i) * (-stride)
  }

  /// `op(A)[i][j]` of a row-major matrix stored with leading dimension `ld`, as Double.
  static func element<T: BLASScalar>(_ a: [T], ld: Int, _ t: Transpose, _ i: Int, _ j: Int) -> Double {
    t == .none ? Double(a[i * ld + j]) : Double(a[j * ld + i])
  }

  // MARK: Dense matrices (NDArray, Double accumulation)

  /// `a b` for matrices, by the triple loop.
  static func matmul<T: BLASScalar>(_ a: NDArray<T>, _ b: NDArray<T>) -> NDArray<T> {
    precondition(a.rank == 2 && b.rank == 2 && a.shape[1] == b.shape[0])
    let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
    return NDArray(shape: [m, n]) { index in
      var sum = 0.0
      for p in 0..<k { sum += Double(a.scalars[index[0] * k + p]) * Double(b.scalars[p * n + index[1]]) }
      return T(sum)
    }
  }

  /// The transpose of a matrix, by index swapping.
  static func transpose<T: BLASScalar>(_ a: NDArray<T>) -> NDArray<T> {
    precondition(a.rank == 2)
    return NDArray(shape: [a.shape[1], a.shape[0]]) { index in a.scalars[index[1] * a.shape[1] + index[0]] }
  }

  /// `a x` for a matrix and a vector.
  static func matvec<T: BLASScalar>(_ a: NDArray<T>, _ x: NDArray<T>) -> NDArray<T> {
    matmul(a, x.reshaped([x.count, 1])).reshaped([a.shape[0]])
  }

  /// The `n×n` identity.
  static func identity<T: BLASScalar>(_ n: Int, _: T.Type = T.self) -> NDArray<T> {
    NDArray(shape: [n, n]) { index in index[0] == index[1] ? 1 : 0 }
  }

  /// The Frobenius norm, accumulated in Double.
  static func norm<T: BLASScalar>(_ a: NDArray<T>) -> Double {
    a.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
  }

  /// The matrix with column `j` multiplied by `d[j]`, i.e. `a diag(d)`.
  static func scaleColumns<T: BLASScalar>(_ a: NDArray<T>, by d: NDArray<T>) -> NDArray<T> {
    NDArray(shape: a.shape) { index in T(Double(a.scalars[index[0] * a.shape[1] + index[1]]) * Double(d.scalars[index[1]])) }
  }

  /// The determinant by Gaussian elimination with partial pivoting, in Double.
  static func determinant<T: BLASScalar>(_ a: NDArray<T>) -> Double {
    let n = a.shape[0]
    var m = a.scalars.map(Double.init)
    var det = 1.0
    for c in 0..<n {
      var pivot = c
      for r in c..<n where abs(m[r * n + c]) > abs(m[pivot * n + c]) { pivot = r }
      if m[pivot * n + c] == 0 { return 0 }
      if pivot != c {
        for j in 0..<n { m.swapAt(c * n + j, pivot * n + j) }
        det = -det
      }
      det *= m[c * n + c]
      for r in (c + 1)..<max(c + 1, n) {
        let factor = m[r * n + c] / m[c * n + c]
        for j in c..<n { m[r * n + j] -= factor * m[c * n + j] }
      }
    }
    return det
  }

  // MARK: Complex data and the naive DFT

  /// The element type of an array-to-array function, e.g. `Complex<T>` from `plan.forward`.
  ///
  /// The test target does not depend on swift-numerics, so `Complex` cannot be named here;
  /// this recovers the type from the Curvature API instead.
  static func elementType<E>(of _: ([E]) -> [E]) -> E.Type { E.self }

  /// Complex values of type `C` (layout-compatible with `(re, im)` pairs of `T`, as
  /// swift-numerics' `Complex<T>` is) from real and imaginary parts.
  static func makeComplex<C, T: BLASScalar>(_ re: [T], _ im: [T], as _: C.Type) -> [C] {
    precondition(re.count == im.count)
    precondition(MemoryLayout<C>.stride == 2 * MemoryLayout<T>.stride, "unexpected complex layout")
    var interleaved = [T]()
    interleaved.reserveCapacity(2 * re.count)
    for i in re.indices { interleaved += [re[i], im[i]] }
    return [C](unsafeUninitializedCapacity: re.count) { buffer, initialized in
      interleaved.withUnsafeBytes { bytes in UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes) }
      initialized = re.count
    }
  }

  /// The multi-index of a row-major flat position.
  static func multiIndex(_ flat: Int, _ shape: [Int]) -> [Int] {
    var rest = flat
    var index = [Int](repeating: 0, count: shape.count)
    for axis in stride(from: shape.count - 1, through: 0, by: -1) {
      index[axis] = rest % shape[axis]
      rest /= shape[axis]
    }
    return index
  }

  /// The multi-dimensional DFT `X_k = Σ_j x_j e^{sign·2πi Σ_d j_d k_d / n_d}` of one array,
  /// by the double loop.
  static func dft(re: [Double], im: [Double], shape: [Int], sign: Double) -> (re: [Double], im: [Double]) {
    let total = shape.reduce(1, *)
    let indices = (0..<total).map { multiIndex($0, shape) }
    var outRe = [Double](repeating: 0, count: total), outIm = outRe
    for k in 0..<total {
      for j in 0..<total {
        var phase = 0.0
        for d in shape.indices {
          phase += Double((indices[j][d] * indices[k][d]) % shape[d]) / Double(shape[d])
        }
        let angle = sign * 2 * Double.pi * phase
        let (c, s) = (Double.cos(angle), Double.sin(angle))
        outRe[k] += re[j] * c - im[j] * s
        outIm[k] += re[j] * s + im[j] * c
      }
    }
    return (outRe, outIm)
  }

  // MARK: Comparison

  /// `assertClose` for plain arrays of equal length.
  static func assertCloseScalars<T: BLASScalar>(
    _ actual: [T], _ expected: [T], rtol: T, atol: T, _ comment: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    assertClose(NDArray(actual), NDArray(expected), rtol: rtol, atol: atol, comment, sourceLocation: sourceLocation)
  }
}
