import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// EKFAC against its definition: the corrected eigenvalues are the diagonal of the exact
/// curvature block (GGN, Monte Carlo Fisher with the same samples, empirical Fisher) in
/// KFAC's eigenbasis, so EKFAC is strictly closer to that block than KFAC wherever KFAC
/// is not exact; closed forms and inverses against the dense matrix.
@Suite struct EKFACTests {
  typealias T = KFACTesting

  /// Problems covering MLPs with each loss, a grouped strided convolution, sequence
  /// outputs with a term per position (which curvlinops' EKFAC does not support) and
  /// sequences reduced to one term per data point.
  static let caseNames = [
    "mlp_tanh_ce", "mlp_sigmoid_mse_sum", "mlp_relu_bce", "grouped_cnn_ce", "sequence_mse", "sequence_bce_sum",
    "sequence_to_vector_ce",
  ]

  static func problem(_ name: String) throws -> CurvatureProblem<Double> {
    switch name {
    case "mlp_tanh_ce": return try T.mlp(Tanh(), .crossEntropy, n: 6)
    case "mlp_sigmoid_mse_sum": return try T.mlp(Sigmoid(), .mse, .sum, n: 6)
    case "mlp_relu_bce": return try T.mlp(ReLU(), .bceWithLogits, n: 6)
    case "grouped_cnn_ce": return try T.groupedCNN(.crossEntropy, n: 4)
    case "sequence_mse": return try T.sequence(.mse, n: 3)
    case "sequence_bce_sum": return try T.sequence(.bceWithLogits, .sum, n: 3)
    case "sequence_to_vector_ce": return try T.sequenceToVector(.crossEntropy, n: 4)
    default: preconditionFailure("unknown case \(name)")
    }
  }

  /// `Λ*` equals `diag((Q_B ⊗ Q_A)ᵀ G (Q_B ⊗ Q_A))` for the block `G` of `reference`,
  /// the bases are eigenbases of KFAC's factors, and EKFAC's dense matrix is
  /// `Q diag(Λ*) Qᵀ` per block.
  static func expectDefinition(
    _ problem: CurvatureProblem<Double>, _ options: KFACOptions, reference: NDArray<Double>, _ label: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> (ekfac: NDArray<Double>, kfac: NDArray<Double>, blocks: NDArray<Double>) {
    let kfac = try KFACOperator(problem, options: options)
    let ekfac = try EKFACOperator(correcting: kfac)
    let factors = try ekfac.computeFactors()
    let kfacFactors = try kfac.computeFactors()
    let layout = T.layout(problem, factors)
    for ((f, k), block) in zip(zip(factors, kfacFactors), layout) {
      let qb = f.gradientBasis
      // Q_Bᵀ B Q_B is diagonal (Q_B is an orthonormal eigenbasis of B); likewise for A.
      let rotatedB = matmul(matmul(qb, k.gradientCovariance, transposeA: true), qb)
      expectClose(rotatedB, rotatedB.diagonal().diagonalMatrix(), rtol: 1e-10, atolFactor: 1e-12, "\(label) Q_B", sourceLocation: sourceLocation)
      if let indices = block.weightIndices {
        let qa = f.inputBasis!
        let rotatedA = matmul(matmul(qa, k.inputCovariance!, transposeA: true), qa)
        expectClose(rotatedA, rotatedA.diagonal().diagonalMatrix(), rtol: 1e-10, atolFactor: 1e-12, "\(label) Q_A", sourceLocation: sourceLocation)
        let q = kronecker(qb, qa)
        let g = T.submatrix(reference, indices)
        let expected = matmul(matmul(q, g, transposeA: true), q).diagonal().reshaped(f.eigenvalues!.shape)
        expectClose(f.eigenvalues!, expected, rtol: 1e-10, atolFactor: 1e-12, "\(label) Λ* of layer \(f.layer)", sourceLocation: sourceLocation)
      }
      if let indices = block.biasIndices {
        let g = T.submatrix(reference, indices)
        let expected = matmul(matmul(qb, g, transposeA: true), qb).diagonal()
        expectClose(f.biasEigenvalues!, expected, rtol: 1e-10, atolFactor: 1e-12, "\(label) bias λ* of layer \(f.layer)", sourceLocation: sourceLocation)
      }
    }
    // The dense matrix: Q diag(Λ*) Qᵀ on each block, zero elsewhere.
    let dense = try ekfac.dense()
    var expected = NDArray<Double>(zeros: dense.shape)
    for (f, block) in zip(factors, layout) {
      var parts = [([Int], NDArray<Double>, NDArray<Double>)]()
      if let indices = block.weightIndices { parts.append((indices, kronecker(f.gradientBasis, f.inputBasis!), f.eigenvalues!.flattened())) }
      if let indices = block.biasIndices { parts.append((indices, f.gradientBasis, f.biasEigenvalues!)) }
      for (indices, q, values) in parts {
        let m = matmul(matmul(q, values.diagonalMatrix()), q, transposeB: true)
        for (a, i) in indices.enumerated() { for (b, j) in indices.enumerated() { expected[i, j] = m[a, b] } }
      }
    }
    expectClose(dense, expected, rtol: 1e-10, atolFactor: 1e-12, "\(label) dense", sourceLocation: sourceLocation)
    return (dense, try kfac.dense(), T.blockPart(reference, groups: layout.flatMap(\.groups)))
  }

  /// The definition holds, and EKFAC is strictly closer than KFAC to the exact block, for
  /// type-2, mc and empirical, separate and joint bias, expand and reduce.
  @Test(arguments: caseNames)
  func correctedEigenvaluesAreTheDiagonalInTheEigenbasis(_ name: String) throws {
    let problem = try Self.problem(name)
    let approximations: [KFACApproximation] = name.hasPrefix("mlp") ? [.expand] : [.expand, .reduce]
    for fisherType in [FisherType.type2, .mc, .empirical] {
      let base = KFACOptions(fisherType: fisherType, mcSamples: fisherType == .mc ? 2 : 1, seed: 17)
      let reference = try T.reference(problem, base)
      for approximation in approximations {
        for joint in [false, true] {
          var options = base
          options.approximation = approximation
          options.jointBias = joint
          let label = "\(name) \(fisherType.rawValue) \(approximation) joint=\(joint)"
          let (ekfac, kfac, blocks) = try Self.expectDefinition(problem, options, reference: reference, label)
          let (e, k) = (T.distance(ekfac, blocks), T.distance(kfac, blocks))
          #expect(e < k * (1 - 1e-6), "\(label): ‖EKFAC − G‖ = \(e), ‖KFAC − G‖ = \(k)")
        }
      }
    }
  }

  /// Parameter subsets: weights only, biases only, one layer.
  @Test(arguments: [[0, 2], [1, 3], [2, 3], [0, 1, 3]])
  func parameterSubsets(_ blocks: [Int]) throws {
    let problem = try T.mlp(Tanh(), .crossEntropy, n: 5, blocks: blocks)
    let reference = try GGNOperator(problem).dense()
    for joint in [false, true] {
      let options = KFACOptions(fisherType: .type2, jointBias: joint)
      let (ekfac, kfac, blockPart) = try Self.expectDefinition(problem, options, reference: reference, "blocks \(blocks) joint=\(joint)")
      let (e, k) = (T.distance(ekfac, blockPart), T.distance(kfac, blockPart))
      if blocks == [1, 3] {
        // Separate bias blocks are B itself: KFAC and EKFAC are exact.
        #expect(e <= 1e-12 * blockPart.norm() && k <= 1e-12 * blockPart.norm())
      } else {
        #expect(e < k * (1 - 1e-6), "blocks \(blocks) joint=\(joint): \(e) vs \(k)")
      }
    }
  }

  /// Trace, diagonal, Frobenius norm, log-determinant, damped and undamped inverses equal
  /// those of the dense matrix.
  @Test(arguments: ["mlp_sigmoid_mse_sum", "grouped_cnn_ce", "sequence_mse"])
  func closedFormsAndInversesMatchDense(_ name: String) throws {
    let problem = try Self.problem(name)
    for joint in [false, true] {
      for fisherType in [FisherType.type2, .empirical] {
        let ekfac = try EKFACOperator(problem, options: KFACOptions(fisherType: fisherType, jointBias: joint))
        let dense = try ekfac.dense()
        let label = "\(name) \(fisherType.rawValue) joint=\(joint)"
        assertClose(try ekfac.trace(), dense.trace(), rtol: 1e-10, label)
        expectClose(try ekfac.diagonal(), dense.diagonal(), rtol: 1e-10, atolFactor: 1e-12, label)
        assertClose(try ekfac.frobeniusNorm(), dense.norm(), rtol: 1e-10, label)
        for damping in [1e-3, 0.5] {
          let damped = dense + damping * NDArray<Double>.identity(dense.shape[0])
          let inverse = try ekfac.inverse(damping: damping)
          #expect(inverse.damping == damping)
          expectClose(try inverse.dense(), try damped.inverse(), rtol: 1e-8, atolFactor: 1e-10, "\(label) δ = \(damping)")
        }
        let (sign, logMagnitude) = try ekfac.logDeterminant()
        let (denseSign, denseLog) = try dense.signAndLogDeterminant()
        if fisherType == .type2 && name == "mlp_sigmoid_mse_sum" {
          // Full rank: every corrected eigenvalue is positive.
          #expect(sign == 1 && denseSign == 1)
          assertClose(logMagnitude, denseLog, rtol: 1e-8, label)
          expectClose(try ekfac.inverse().dense(), try dense.inverse(), rtol: 1e-7, atolFactor: 1e-9, "\(label) undamped inverse")
        } else if sign == 0 {
          #expect(logMagnitude == -.infinity)
          #expect(throws: LinearOperatorError.self) { try ekfac.inverse() }
        }
      }
    }
  }

  /// Building from a KFAC operator, batching and repeated use give the same factors.
  @Test func factorsAreReproducible() throws {
    let problem = try T.sequence(.mse, n: 4)
    let options = KFACOptions(fisherType: .mc, mcSamples: 3, seed: 8, jointBias: true)
    let direct = try EKFACOperator(problem, options: options).computeFactors()
    let corrected = try EKFACOperator(correcting: try KFACOperator(problem, options: options)).computeFactors()
    #expect(direct == corrected)
    let batched = try EKFACOperator(try T.problem(problem, batchSize: 3), options: options).computeFactors()
    for (a, b) in zip(direct, batched) {
      expectClose(a.eigenvalues!, b.eigenvalues!, rtol: 1e-9, atolFactor: 1e-12)
    }
    let ekfac = try EKFACOperator(problem, options: options)
    #expect(try ekfac.computeFactors() == ekfac.computeFactors())
  }

  /// EKFAC in Float agrees with Double to Float accuracy (the factors are well separated).
  @Test func floatAgreesWithDouble() throws {
    let problem = try T.mlp(Sigmoid(), .mse, .sum, n: 6)
    let options = KFACOptions(fisherType: .type2, jointBias: true)
    let double = try EKFACOperator(problem, options: options)
    let float = try EKFACOperator(try KFACInverseTests.inFloat(problem), options: options)
    let reference = try double.dense()
    let tolerance = 1e-4 * CurvatureCases.maxMagnitude(reference)
    assertClose(try float.dense().converted(to: Double.self), reference, rtol: 1e-3, atol: tolerance)
    assertClose(Double(try float.trace()), try double.trace(), rtol: 1e-4)
    assertClose(
      try float.inverse(damping: 0.1).dense().converted(to: Double.self), try double.inverse(damping: 0.1).dense(),
      rtol: 1e-3, atol: 1e-4)
  }

  /// Invalid options and unsupported models are reported clearly.
  @Test func errors() throws {
    let problem = try T.mlp(Tanh(), .crossEntropy, n: 3)
    #expect(throws: CurvatureError.self) { try EKFACOperator(problem, options: KFACOptions(fisherType: .forwardOnly)) }
    #expect(throws: CurvatureError.self) { try EKFACOperator(problem, options: KFACOptions(fisherType: .type2, mcSamples: 2)) }
    let model = try FunctionModel<Double>(
      parameterSpecs: [ParameterSpec(name: "w", shape: [3, 3])], parameters: [.identity(3)]) { x, p in matmul(x, p[0]) }
    let functional = try CurvatureProblem(
      model: model, loss: Loss(.crossEntropy), data: problem.data, checkDeterminism: false)
    #expect(throws: CurvatureError.self) { try EKFACOperator(functional, options: KFACOptions(fisherType: .type2)) }
    // A convolution whose output is the network's output feeds several loss terms per
    // data point: its per-term gradients are not available.
    var rng = RandomGenerator(seed: 1)
    let conv = try T.problem(
      [try Conv2d(inChannels: 1, outChannels: 2, kernelSize: (2, 2))], seed: 1, inputs: rng.normalArray(shape: [2, 1, 3, 3]),
      targets: .values(rng.normalArray(shape: [2, 2, 2, 2])), loss: Loss(.mse))
    let ekfac = try EKFACOperator(conv, options: KFACOptions(fisherType: .type2))
    #expect(throws: CurvatureError.self) { try ekfac.computeFactors() }
    #expect(throws: CurvatureError.self) { try ekfac.inverse(damping: -1) }
    let factors = try EKFACOperator(problem, options: KFACOptions(fisherType: .type2)).computeFactors()
    #expect(throws: CurvatureError.self) {
      try EKFACOperator(problem, options: KFACOptions(fisherType: .type2, jointBias: true), factors: factors)
    }
  }
}
