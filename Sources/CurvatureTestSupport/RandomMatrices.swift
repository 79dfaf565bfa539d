import Curvature

/// Random test matrices with known structure, all seeded.
public enum RandomMatrices {
  /// An `rows×columns` matrix of standard normal entries.
  public static func gaussian<T: BLASScalar>(_ rows: Int, _ columns: Int, seed: UInt64, _: T.Type = T.self) -> NDArray<T> {
    var rng = RandomGenerator(seed: seed)
    return rng.normalArray(shape: [rows, columns])
  }

  /// A random orthogonal `n×n` matrix (the Q of a Gaussian matrix's SVD).
  public static func orthogonal<T: BLASScalar>(_ n: Int, seed: UInt64, _: T.Type = T.self) -> NDArray<T> {
    let g: NDArray<Double> = gaussian(n, n, seed: seed)
    // SVD of a Gaussian matrix cannot fail to converge in practice; a failure is a bug.
    let (u, _, vt) = try! g.svd()
    return matmul(u, vt).converted(to: T.self)
  }

  /// A symmetric matrix `Q diag(eigenvalues) Qᵀ` with the given eigenvalues.
  public static func symmetric<T: BLASScalar>(eigenvalues: [Double], seed: UInt64, _: T.Type = T.self) -> NDArray<T> {
    let n = eigenvalues.count
    let q: NDArray<Double> = orthogonal(n, seed: seed)
    var scaled = q
    for i in 0..<n { for j in 0..<n { scaled[i, j] *= eigenvalues[j] } }
    let a = matmul(scaled, q, transposeB: true)
    // Symmetrize exactly so that tests of symmetric routines see a symmetric input.
    return (0.5 * (a + a.transposed())).converted(to: T.self)
  }

  /// A symmetric positive definite matrix with eigenvalues spaced geometrically from 1 to
  /// `conditionNumber`.
  public static func spd<T: BLASScalar>(_ n: Int, conditionNumber: Double = 100, seed: UInt64, _: T.Type = T.self) -> NDArray<T> {
    let values = (0..<n).map { i in n == 1 ? 1 : Double.pow(conditionNumber, Double(i) / Double(n - 1)) }
    return symmetric(eigenvalues: values, seed: seed)
  }
}
