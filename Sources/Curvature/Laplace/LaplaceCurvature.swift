import CurvatureNumerics

/// One Kronecker group of a `kron` Laplace approximation: a weight block `B ⊗ A` (both
/// factors eigendecomposed) or a separate bias block `B`, with the parameter tensor it
/// covers. Eigenvalues ascend; eigenvectors are the columns.
struct LaplaceKroneckerGroup<Scalar: BLASScalar>: Sendable {
  /// The position of the parameter tensor among the problem's selected blocks.
  var tensor: Int
  /// Offset of the tensor in the flat parameter vector.
  var offset: Int
  /// `B`'s (output-gradient covariance, scaled to the summed log-likelihood) eigenpairs.
  var leftValues: NDArray<Scalar>
  var leftVectors: NDArray<Scalar>
  /// `A`'s (input covariance) eigenpairs; nil for a bias block.
  var rightValues: NDArray<Scalar>?
  var rightVectors: NDArray<Scalar>?

  var rows: Int { leftValues.count }
  var columns: Int { rightValues?.count ?? 1 }
  var dimension: Int { rows * columns }

  /// The eigenvalues `l_B ⊗ l_A` of the group, row-major `[rows, columns]`.
  var eigenvalues: [Scalar] {
    guard let right = rightValues else { return leftValues.scalars }
    return leftValues.scalars.flatMap { l in right.scalars.map { l * $0 } }
  }
}

/// The log-likelihood curvature `H` (GGN of the summed log-likelihood, with σ = 1 for
/// regression; the posterior precision is `H/σ² + diag(prior)`).
enum LaplaceCurvature<Scalar: BLASScalar>: Sendable {
  case full(NDArray<Scalar>)
  case diag(NDArray<Scalar>)
  case kron([LaplaceKroneckerGroup<Scalar>])
  case lowRank(vectors: NDArray<Scalar>, values: NDArray<Scalar>)
}
