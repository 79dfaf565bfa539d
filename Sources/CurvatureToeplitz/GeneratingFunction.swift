import ComplexModule
import CurvatureNumerics

/// Generating functions (symbols) of Toeplitz and BTTB matrices: samples on uniform grids,
/// Fourier coefficients, and symbols estimated from matrix entries.
///
/// The Toeplitz matrix `T_n[f]` of a 2π-periodic function `f` has the Fourier coefficients
/// of `f` on its diagonals,
///
///     t_k = (1/2π) ∫_{−π}^{π} f(θ) e^{−ikθ} dθ,      f(θ) = Σ_k t_k e^{ikθ},
///
/// and for 2 levels `t_{p,q} = (1/4π²) ∫∫ f(x, y) e^{−i(px + qy)} dx dy`. Real symmetric
/// matrices have real even symbols (`f(−θ) = f(θ)`), and by Grenander-Szegő the eigenvalues
/// of `T_n[f]` lie in `(min f, max f)`.
///
/// Samples live on the uniform grid `θ_j = 2πj/m`, `j = 0…m−1` (with `m ≥ 2n`); `θ_j` for
/// `j > m/2` is the same point as `θ_j − 2π ∈ (−π, 0)`, which is where a function given on
/// `(−π, π]` must be evaluated (`gridPoint(_:of:)` does this). The coefficients are then
/// the trapezoidal rule `t_k ≈ (1/m) Σ_j f(θ_j) e^{−ikθ_j}`, one FFT, exact for
/// trigonometric polynomials of degree `< m − n`.
public enum GeneratingFunction {
  /// The grid point `θ_j = 2πj/m`, reported in `(−π, π]`.
  /// - Parameters:
  ///   - j: The index, `0 ≤ j < m`.
  ///   - m: The number of grid points.
  /// - Returns: `2πj/m`, minus `2π` when `j > m/2`.
  public static func gridPoint(_ j: Int, of m: Int) -> Double {
    let theta = 2 * Double.pi * Double(j) / Double(m)
    return 2 * j > m ? theta - 2 * .pi : theta
  }

  /// The default grid for a matrix of order `n`.
  /// - Returns: A fast FFT size `≥ max(4n, 32)` (see `fftFriendlySize(atLeast:)`).
  public static func defaultGridSize(for n: Int) -> Int { fftFriendlySize(atLeast: Swift.max(4 * n, 32)) }

  /// Samples of a symbol given on `(−π, π]`.
  /// - Returns: `f(θ_j)` for `j = 0…m−1`, with `θ_j` reported in `(−π, π]`.
  /// - Complexity: `m` evaluations of `f`.
  public static func samples(of f: (Double) -> Double, gridSize m: Int) -> [Double] {
    (0..<m).map { f(gridPoint($0, of: m)) }
  }

  /// Samples of a 2-level symbol given on `(−π, π]²`.
  /// - Returns: `[m₁, m₂]` with `f(x_a, y_b)` at `[a, b]`, each coordinate in `(−π, π]`.
  /// - Complexity: `m₁m₂` evaluations of `f`.
  public static func samples(of f: (Double, Double) -> Double, gridShape: [Int]) -> NDArray<Double> {
    precondition(gridShape.count == 2, "GeneratingFunction.samples: grid shape \(gridShape) is not 2-D")
    return NDArray(shape: gridShape) { i in f(gridPoint(i[0], of: gridShape[0]), gridPoint(i[1], of: gridShape[1])) }
  }

  // MARK: Coefficients from samples

  /// Checks that samples on a 1- or 2-level grid are finite, even (`f(−θ) = f(θ)`) and that
  /// the grid has at least `2n` points per level.
  static func validate(_ samples: NDArray<Double>, orders: [Int], name: String) throws(ToeplitzError) {
    guard samples.rank == orders.count else {
      throw .lengthMismatch("\(name) has shape \(samples.shape); a \(orders.count)-level matrix needs a \(orders.count)-D grid")
    }
    for (m, n) in zip(samples.shape, orders) where m < 2 * n {
      throw .lengthMismatch("\(name) has \(m) grid points along an axis; the grid needs m ≥ 2n = \(2 * n)")
    }
    try ToeplitzValidation.requireFinite(samples.scalars, name)
    let (m1, m2) = samples.rank == 1 ? (1, samples.shape[0]) : (samples.shape[0], samples.shape[1])
    let scale = samples.scalars.reduce(0) { Swift.max($0, Swift.abs($1)) }
    for a in 0..<m1 {
      for b in 0..<m2 {
        let value = samples.scalars[a * m2 + b]
        let mirrored = samples.scalars[((m1 - a) % m1) * m2 + (m2 - b) % m2]
        if Swift.abs(value - mirrored) > 1e-8 * scale {
          let position = samples.rank == 1 ? "θ_\(b)" : "(x_\(a), y_\(b))"
          throw .invalidArgument(
            "\(name) is not even: f at \(position) is \(value) but at the mirrored point \(mirrored); a real symmetric matrix has an even symbol (evaluate θ_j for j > m/2 as θ_j − 2π)")
        }
      }
    }
  }

  /// The Fourier coefficients of an even symbol from its samples on `θ_j = 2πj/m`.
  /// - Parameters:
  ///   - samples: `f(θ_j)`, `j = 0…m−1`.
  ///   - n: How many coefficients.
  /// - Returns: `(t₀, …, t_{n−1})` (and `t_{−k} = t_k`).
  /// - Throws: `ToeplitzError.lengthMismatch` when `m < 2n`, `.nonFinite`, `.invalidArgument`
  ///   for samples that are not even.
  /// - Complexity: One real FFT of size `m`.
  public static func coefficients(samples: [Double], count n: Int) throws(ToeplitzError) -> [Double] {
    try ToeplitzValidation.requireNonEmpty(n, "the order")
    try validate(NDArray(samples), orders: [n], name: "the symbol samples")
    let m = samples.count
    let spectrum = RealFFTPlan<Double>(shape: [m]).forward(samples)
    return (0..<n).map { spectrum[$0].real / Double(m) }
  }

  /// The generator of a 2-level even symbol from samples on the `m₁ × m₂` grid.
  /// - Returns: `[2n₁ − 1, 2n₂ − 1]` with `t_{p,q}` at `[n₁ − 1 + p, n₂ − 1 + q]`.
  /// - Throws: Like `coefficients(samples:count:)`, per level.
  /// - Complexity: One 2-D real FFT of size `m₁m₂`.
  public static func generator(samples: NDArray<Double>, blockCount n1: Int, blockSize n2: Int) throws(ToeplitzError) -> NDArray<Double> {
    try ToeplitzValidation.requireNonEmpty(n1 * n2, "the grid")
    try validate(samples, orders: [n1, n2], name: "the symbol samples")
    let (m1, m2) = (samples.shape[0], samples.shape[1])
    let h = m2 / 2 + 1
    let spectrum = RealFFTPlan<Double>(shape: [m1, m2]).forward(samples.scalars)
    let scale = 1 / Double(m1 * m2)
    return NDArray(shape: [2 * n1 - 1, 2 * n2 - 1]) { i in
      let (p, q) = (i[0] - n1 + 1, i[1] - n2 + 1)
      // The half spectrum holds q ≥ 0; t_{p,q} = t_{−p,−q} for the rest.
      let (a, b) = q >= 0 ? ((p + m1) % m1, q) : ((m1 - p) % m1, -q)
      return spectrum[a * h + b].real * scale
    }
  }

  // MARK: Symbols estimated from entries

  /// Samples of `f_n(θ) = Σ_{|k|<n} w_k t_k e^{ikθ}` for a symmetric Toeplitz column, with
  /// `w_k = 1` (the truncated Fourier series) or the Fejér weights `w_k = 1 − |k|/n`.
  ///
  /// The Fejér (Cesàro) mean equals `(1/n) v(θ)ᴴ T v(θ)` with `v(θ) = (e^{ijθ})_j`, so it is
  /// positive for every `θ` when `T` is positive definite, even where the truncated series
  /// is not.
  /// - Returns: `f_n(θ_j)` for `j = 0…m−1`.
  /// - Complexity: One real FFT of size `m`.
  public static func samples(ofSymmetricColumn column: [Double], gridSize m: Int, fejer: Bool) -> [Double] {
    let n = column.count
    precondition(m >= 2 * n - 1, "GeneratingFunction.samples: grid of \(m) points for order \(n)")
    var embedded = [Double](repeating: 0, count: m)
    for k in 0..<n {
      let w = fejer ? 1 - Double(k) / Double(n) : 1
      embedded[k] += w * column[k]
      if k > 0 { embedded[m - k] += w * column[k] }
    }
    // For an even sequence the DFT is real and equals Σ t_k e^{ikθ_j}.
    let spectrum = RealFFTPlan<Double>(shape: [m]).forward(embedded)
    return (0..<m).map { j in spectrum[j <= m / 2 ? j : m - j].real }
  }

  /// Samples on `m₁ × m₂` of `f(x, y) = Σ w_{p,q} t_{p,q} e^{i(px + qy)}` for a symmetric BTTB
  /// generator, with `w = 1` or the 2-level Fejér weights `(1 − |p|/n₁)(1 − |q|/n₂)` (positive
  /// for a positive definite BTTB matrix, as in 1 level).
  /// - Returns: `[m₁, m₂]` samples.
  /// - Complexity: One 2-D real FFT.
  public static func samples(ofGenerator generator: NDArray<Double>, gridShape: [Int], fejer: Bool) -> NDArray<Double> {
    let (n1, n2) = ((generator.shape[0] + 1) / 2, (generator.shape[1] + 1) / 2)
    let (m1, m2) = (gridShape[0], gridShape[1])
    precondition(m1 >= 2 * n1 - 1 && m2 >= 2 * n2 - 1, "GeneratingFunction.samples: grid \(gridShape) for \(n1)×\(n2)")
    var embedded = [Double](repeating: 0, count: m1 * m2)
    for p in (1 - n1)..<n1 {
      for q in (1 - n2)..<n2 {
        let w = fejer ? (1 - Double(Swift.abs(p)) / Double(n1)) * (1 - Double(Swift.abs(q)) / Double(n2)) : 1
        embedded[((p + m1) % m1) * m2 + (q + m2) % m2] += w * generator[n1 - 1 + p, n2 - 1 + q]
      }
    }
    let h = m2 / 2 + 1
    let spectrum = RealFFTPlan<Double>(shape: [m1, m2]).forward(embedded)
    return NDArray(shape: [m1, m2]) { i in
      let (a, b) = i[1] < h ? (i[0], i[1]) : ((m1 - i[0]) % m1, m2 - i[1])
      return spectrum[a * h + b].real
    }
  }
}
