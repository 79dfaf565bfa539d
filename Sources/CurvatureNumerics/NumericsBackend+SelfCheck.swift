import ComplexModule

/// One line of the numerical back end's self-check.
public struct SelfCheckResult: Sendable, CustomStringConvertible {
  /// What was checked, e.g. `gemm float64`.
  public var name: String
  /// The largest deviation from the reference computation.
  public var error: Double
  /// The deviation allowed for this check.
  public var tolerance: Double
  /// Whether `error ≤ tolerance`.
  public var passed: Bool { error <= tolerance }

  /// The check in one line: ok or FAIL, the largest error and the tolerance.
  public var description: String {
    "\(passed ? "ok  " : "FAIL") \(name.padding(toLength: 24)) max error \(error) (tolerance \(tolerance))"
  }
}

extension String {
  fileprivate func padding(toLength length: Int) -> String {
    count >= length ? self : self + String(repeating: " ", count: length - count)
  }
}

extension NumericsBackend {
  /// Checks that BLAS, LAPACK and FFTW are linked and compute correctly, in both precisions:
  /// gemm against a naive product, Cholesky against its reconstruction, the symmetric
  /// eigen-decomposition against its reconstruction, and an FFT round trip.
  ///
  /// - Returns: One result per check; all pass on a healthy installation.
  /// - Complexity: A few milliseconds.
  public static func selfCheck() -> [SelfCheckResult] {
    check(Float.self, tolerance: 1e-4) + check(Double.self, tolerance: 1e-11)
  }

  static func check<T: BLASScalar>(_: T.Type, tolerance: Double) -> [SelfCheckResult] {
    var rng = RandomGenerator(seed: 7)
    let a: NDArray<T> = rng.normalArray(shape: [5, 4]), b: NDArray<T> = rng.normalArray(shape: [4, 3])
    let product = matmul(a, b)
    var gemmError = 0.0
    for i in 0..<5 {
      for j in 0..<3 {
        var naive = 0.0
        for k in 0..<4 { naive += Double(a[i, k]) * Double(b[k, j]) }
        gemmError = max(gemmError, abs(naive - Double(product[i, j])))
      }
    }
    let spd = matmul(a, a, transposeA: true) + NDArray<T>.identity(4)
    var choleskyError = Double.infinity, eigenError = Double.infinity
    if let l = try? spd.cholesky() {
      choleskyError = Double((matmul(l, l, transposeB: true) - spd).norm() / spd.norm())
    }
    if let (values, vectors) = try? spd.symmetricEigen() {
      var scaled = vectors
      for i in 0..<4 { for j in 0..<4 { scaled[i, j] *= values[j] } }
      eigenError = Double((matmul(scaled, vectors, transposeB: true) - spd).norm() / spd.norm())
    }
    let signal: [T] = (0..<16).map { T($0 % 5) - 2 }
    let plan = RealFFTPlan<T>(shape: [16])
    let roundTrip = plan.inverse(plan.forward(signal))
    let fftError = zip(signal, roundTrip).map { abs(Double($0) - Double($1) / 16) }.max() ?? 0
    let name = T.dtypeName
    return [
      SelfCheckResult(name: "gemm \(name)", error: gemmError, tolerance: tolerance * 10),
      SelfCheckResult(name: "potrf \(name)", error: choleskyError, tolerance: tolerance),
      SelfCheckResult(name: "syevd \(name)", error: eigenError, tolerance: tolerance * 10),
      SelfCheckResult(name: "fft round trip \(name)", error: fftError, tolerance: tolerance),
    ]
  }
}
