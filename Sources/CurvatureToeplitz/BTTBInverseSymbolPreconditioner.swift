import CurvatureNumerics
import CurvatureLinearAlgebra

/// The 2-level inverse generating function preconditioner `T[1/f(x, y)]` of a symmetric
/// positive definite BTTB matrix `T[f]`: a BTTB matrix, applied in O(N log N).
///
/// The 2-level version of `InverseSymbolPreconditioner` (Chan & Ng 1993): the generator of `1/f` comes from samples of `f` on the
/// `m₁ × m₂` grid `(x_a, y_b) = (2πa/m₁, 2πb/m₂)` by one 2-D FFT,
///
///     s_{p,q} = (1/m₁m₂) Σ_{a,b} e^{−i(p x_a + q y_b)} / f(x_a, y_b),   |p| < n₁, |q| < n₂.
///
/// Unlike level-2 circulant preconditioners, whose iteration counts grow with the grid for
/// 2-level problems (Serra Capizzano & Tyrtyshnikov 1999), `T[1/f] T[f]` keeps its
/// eigenvalues clustered around 1, with outliers from the boundary of the grid. When `f` is unknown it is estimated from the generator, falling back to
/// 2-level Fejér weights `(1 − |p|/n₁)(1 − |q|/n₂)` when the truncated series is not positive.
public struct BTTBInverseSymbolPreconditioner<Scalar: BLASScalar>: LinearOperator {
  /// `T[1/f]`.
  public let bttb: BTTBOperator<Scalar>
  /// The smallest and largest value of `f` on the grid.
  public let symbolRange: ClosedRange<Double>
  /// Whether the Fejér-weighted estimate was used.
  public let usedFejerWeights: Bool
  /// The grid `[m₁, m₂]`.
  public let gridShape: [Int]

  /// `T[1/f]` from samples of `f` on the `m₁ × m₂` grid (`m_i ≥ 2n_i`).
  /// - Parameters:
  ///   - n1: Blocks per block row.
  ///   - n2: Block order.
  ///   - samples: `[m₁, m₂]`, `samples[a, b] = f(2πa/m₁, 2πb/m₂)`, with `f(−x, −y) = f(x, y) > 0`.
  /// - Throws: `ToeplitzError.lengthMismatch` for a small grid, `.nonFinite`,
  ///   `.invalidArgument` for samples that are not even, `.symbolNotPositive` when `min f ≤ 0`.
  /// - Complexity: One 2-D FFT of size `m₁m₂`.
  public init(blockCount n1: Int, blockSize n2: Int, samples: NDArray<Double>) throws(ToeplitzError) {
    try self.init(blockCount: n1, blockSize: n2, samples: samples, fejer: false)
  }

  /// `T[1/f]` for a symbol given as a function on `(−π, π]²`.
  /// - Parameter gridShape: `[m₁, m₂]`; by default `GeneratingFunction.defaultGridSize` per level.
  /// - Throws: Like `init(blockCount:blockSize:samples:)`.
  public init(
    blockCount n1: Int, blockSize n2: Int, gridShape: [Int]? = nil, symbol: (Double, Double) -> Double
  ) throws(ToeplitzError) {
    let shape = gridShape ?? [GeneratingFunction.defaultGridSize(for: n1), GeneratingFunction.defaultGridSize(for: n2)]
    guard shape.count == 2 else { throw .lengthMismatch("grid shape \(shape) is not 2-D") }
    try self.init(blockCount: n1, blockSize: n2, samples: GeneratingFunction.samples(of: symbol, gridShape: shape), fejer: false)
  }

  /// `T[1/f]` with `f` estimated from the generator of a symmetric BTTB matrix, with the
  /// Fejér-weighted fallback.
  /// - Throws: `ToeplitzError.invalidArgument` for a nonsymmetric matrix;
  ///   `.notPositiveDefinite` when even the Fejér mean is not positive.
  public init(estimatingFrom bttb: BTTBOperator<Scalar>, gridShape: [Int]? = nil) throws(ToeplitzError) {
    guard bttb.isSymmetric else { throw .invalidArgument("T[1/f] needs a symmetric BTTB matrix (t₋ₚ,₋q = tₚ,q)") }
    let (n1, n2) = (bttb.blockCount, bttb.blockSize)
    let shape = gridShape ?? [GeneratingFunction.defaultGridSize(for: n1), GeneratingFunction.defaultGridSize(for: n2)]
    guard shape.count == 2, shape[0] >= 2 * n1, shape[1] >= 2 * n2 else {
      throw .invalidArgument("grid \(shape) for a \(n1)×\(n2) BTTB matrix; need m_i ≥ 2n_i")
    }
    let generator = bttb.generator.converted(to: Double.self)
    let truncated = GeneratingFunction.samples(ofGenerator: generator, gridShape: shape, fejer: false)
    if truncated.scalars.min()! > 0 {
      try self.init(blockCount: n1, blockSize: n2, samples: truncated, fejer: false)
      return
    }
    let fejer = GeneratingFunction.samples(ofGenerator: generator, gridShape: shape, fejer: true)
    guard fejer.scalars.min()! > 0 else {
      throw .notPositiveDefinite("the Fejér-weighted symbol has minimum \(fejer.scalars.min()!) ≤ 0, so the BTTB matrix is not positive definite")
    }
    try self.init(blockCount: n1, blockSize: n2, samples: fejer, fejer: true)
  }

  private init(blockCount n1: Int, blockSize n2: Int, samples: NDArray<Double>, fejer: Bool) throws(ToeplitzError) {
    try ToeplitzValidation.requireNonEmpty(n1 * n2, "the \(n1)×\(n2) grid")
    try GeneratingFunction.validate(samples, orders: [n1, n2], name: "the symbol samples")
    let low = samples.scalars.min()!, high = samples.scalars.max()!
    guard low > 0 else {
      let index = samples.scalars.firstIndex(of: low)!
      let (a, b) = (index / samples.shape[1], index % samples.shape[1])
      throw .symbolNotPositive(
        "min f = \(low) at (x, y) = (\(GeneratingFunction.gridPoint(a, of: samples.shape[0])), \(GeneratingFunction.gridPoint(b, of: samples.shape[1]))); T[1/f] needs f > 0")
    }
    let reciprocal = NDArray(shape: samples.shape, scalars: samples.scalars.map { 1 / $0 })
    let generator = try GeneratingFunction.generator(samples: reciprocal, blockCount: n1, blockSize: n2)
    bttb = try BTTBOperator(generator: generator.converted(to: Scalar.self))
    symbolRange = low...high
    usedFejerWeights = fejer
    gridShape = samples.shape
  }

  public var rowCount: Int { bttb.rowCount }
  public var columnCount: Int { bttb.columnCount }
  public var isSymmetric: Bool { true }

  /// `T[1/f] X`, a BTTB product.
  /// - Complexity: O(k N log N).
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try bttb.apply(matrix: x) }
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try bttb.apply(matrix: x) }
  public func dense() throws -> NDArray<Scalar> { try bttb.dense() }
}
