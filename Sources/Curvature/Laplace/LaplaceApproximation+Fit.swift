import CurvatureNumerics
import CurvatureLinearAlgebra

// The curvature `H` of the summed negative log-likelihood from the problem's operators,
// which carry the loss's reduction `1/R` (and MSE's Hessian 2): `H = factor · R · G` with
// factor ½ for regression (laplace-torch's `factor` turning MSE into ½‖f − y‖²) and 1 for
// classification.

extension LaplaceApproximation {
  static func fitCurvature(
    _ problem: CurvatureProblem<Scalar>, structure: LaplaceStructure, factor: Scalar
  ) throws -> LaplaceCurvature<Scalar> {
    let ggn = GGNOperator(problem)
    switch structure {
    case .full:
      var h = try ggn.dense(onProgress: nil) * factor
      let n = h.shape[0]
      for i in 0..<n {
        for j in (i + 1)..<Swift.max(i + 1, n) {
          let average = (h[i, j] + h[j, i]) / 2
          h[i, j] = average
          h[j, i] = average
        }
      }
      return .full(h)
    case .diag:
      return .diag(try ggn.diagonal() * factor)
    case let .kron(options):
      guard !options.jointBias else {
        throw CurvatureError.unsupported("a kron Laplace approximation keeps weight and bias in separate blocks (laplace-torch's curvlinops backend); jointBias is not supported")
      }
      return .kron(try kroneckerGroups(problem, options: options, factor: factor))
    case let .ekfac(options):
      guard !options.jointBias else {
        throw CurvatureError.unsupported("an ekfac Laplace approximation keeps weight and bias in separate blocks; jointBias is not supported")
      }
      return .kron(try ekfacGroups(problem, options: options, factor: factor))
    case let .lowRank(rank):
      guard rank >= 1 && rank <= problem.dimension else {
        throw CurvatureError.invalidArgument("the low-rank Laplace rank must be in 1...\(problem.dimension) (the number of parameters), got \(rank)")
      }
      let result = try lanczosEigenpairs(ggn, options: LanczosOptions(count: rank, which: .largest))
      return .lowRank(vectors: result.eigenvectors, values: result.eigenvalues * factor)
    }
  }

  /// KFAC's factors eigendecomposed per parameter tensor, in flat parameter order: a weight
  /// `B ⊗ A`, a separate bias `B` (laplace-torch's `Kron` from curvlinops' factors).
  static func kroneckerGroups(
    _ problem: CurvatureProblem<Scalar>, options: KFACOptions, factor: Scalar
  ) throws -> [LaplaceKroneckerGroup<Scalar>] {
    let layers = try KFACOperator(problem, options: options).computeFactors()
    var position = [Int: Int](), offset = [Int: Int](), running = 0
    for (i, block) in problem.blocks.enumerated() {
      position[block] = i
      offset[block] = running
      running += problem.model.parameterSpecs[block].count
    }
    // The eigendecompositions, spread over the ranks and broadcast (issue 18):
    // [Λ_B, Q_B] or [Λ_B, Q_B, Λ_A, Q_A] per layer.
    let decompositions = try problem.spreadOverRanks(layers, arrays: 4) { layer -> [NDArray<Scalar>] in
      let b = try (layer.gradientCovariance * factor).symmetricEigen()
      guard layer.weightBlock != nil, let a = layer.inputCovariance else { return [b.values, b.vectors] }
      let right = try a.symmetricEigen()
      return [b.values, b.vectors, right.values, right.vectors]
    }
    var groups = [LaplaceKroneckerGroup<Scalar>]()
    for (layer, parts) in zip(layers, decompositions) {
      let b = (values: parts[0], vectors: parts[1])
      if let weight = layer.weightBlock, layer.inputCovariance != nil {
        groups.append(LaplaceKroneckerGroup(
          tensor: position[weight]!, offset: offset[weight]!, leftValues: b.values, leftVectors: b.vectors,
          rightValues: parts[2], rightVectors: parts[3]))
      }
      if let bias = layer.biasBlock {
        groups.append(LaplaceKroneckerGroup(
          tensor: position[bias]!, offset: offset[bias]!, leftValues: b.values, leftVectors: b.vectors,
          rightValues: nil, rightVectors: nil))
      }
    }
    return try sortedCovering(groups, problem, name: "kron")
  }

  /// EKFAC's eigenbases and corrected eigenvalues per parameter tensor (the factor
  /// eigenvalues are unused, zero).
  static func ekfacGroups(
    _ problem: CurvatureProblem<Scalar>, options: KFACOptions, factor: Scalar
  ) throws -> [LaplaceKroneckerGroup<Scalar>] {
    let layers = try EKFACOperator(problem, options: options).computeFactors()
    let offset = blockOffsets(problem)
    var groups = [LaplaceKroneckerGroup<Scalar>]()
    for layer in layers {
      let out = layer.gradientBasis.shape[0]
      if let weight = layer.weightBlock, let basis = layer.inputBasis, let values = layer.eigenvalues {
        groups.append(LaplaceKroneckerGroup(
          tensor: offset[weight]!.position, offset: offset[weight]!.offset, leftValues: NDArray(zeros: [out]),
          leftVectors: layer.gradientBasis, rightValues: NDArray(zeros: [basis.shape[0]]), rightVectors: basis,
          corrected: NDArray(values.scalars) * factor))
      }
      if let bias = layer.biasBlock, let values = layer.biasEigenvalues {
        groups.append(LaplaceKroneckerGroup(
          tensor: offset[bias]!.position, offset: offset[bias]!.offset, leftValues: NDArray(zeros: [out]),
          leftVectors: layer.gradientBasis, rightValues: nil, rightVectors: nil, corrected: values * factor))
      }
    }
    return try sortedCovering(groups, problem, name: "ekfac")
  }

  /// The position among the selected blocks and the flat offset of every selected block.
  static func blockOffsets(_ problem: CurvatureProblem<Scalar>) -> [Int: (position: Int, offset: Int)] {
    var result = [Int: (position: Int, offset: Int)](), running = 0
    for (i, block) in problem.blocks.enumerated() {
      result[block] = (i, running)
      running += problem.model.parameterSpecs[block].count
    }
    return result
  }

  /// The groups in flat parameter order, after checking that they cover every parameter.
  static func sortedCovering(
    _ groups: [LaplaceKroneckerGroup<Scalar>], _ problem: CurvatureProblem<Scalar>, name: String
  ) throws -> [LaplaceKroneckerGroup<Scalar>] {
    guard groups.reduce(0, { $0 + $1.dimension }) == problem.dimension else {
      throw CurvatureError.unsupported("a \(name) Laplace approximation needs every covered parameter in a Linear or Conv2d layer")
    }
    return groups.sorted { $0.offset < $1.offset }
  }
}
