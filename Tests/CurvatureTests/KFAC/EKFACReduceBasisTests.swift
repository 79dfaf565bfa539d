import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// Issue 20 §2: EKFAC-reduce on a CNN with strided, padded convolutions, where ours and
/// curvlinops' `EKFACLinearOperator(kfac_approx="reduce")` had differed by 6.6e-3.
///
/// Both compute the correction from the true per-example gradients `Σ_s g_s x_sᵀ` (summed
/// over the shared positions), in either setting; only the bases differ. The difference
/// is the basis, not the correction: on a 5×5 input, `Conv2d(3×3, stride 2, padding 1)`
/// reads input rows {1, 3} with kernel rows 0 and 2 alike (the rest is padding), and
/// columns likewise, so the position means of the 9 patch entries take only 4 distinct
/// values and reduce-A is singular whatever the data. In its null space every orthonormal
/// basis is an eigenbasis, and EKFAC — the exact curvature's diagonal in the chosen basis —
/// depends on which one `eigh` returns. With separated eigenvalues the two libraries agree
/// to rounding (fixture `cnn_strided_ce_mean`, a 6×6 input, in `KFACCurvlinopsTests`).
@Suite struct EKFACReduceBasisTests {
  typealias T = KFACTesting

  /// `Conv2d(1, 2, 3×3, stride 2, padding 1) – Tanh – Conv2d(2, 2, 2×2, stride 2,
  /// padding 1) – Flatten`, cross-entropy over the 8 outputs, on `[n, 1, side, side]`
  /// (`side` 5 or 6: 3×3, then 2×2 locations).
  static func stridedCNN(n: Int, side: Int) throws -> CurvatureProblem<Double> {
    var rng = RandomGenerator(seed: 13, stream: 11)
    return try T.problem(
      [try Conv2d(inChannels: 1, outChannels: 2, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1)), Tanh(),
       try Conv2d(inChannels: 2, outChannels: 2, kernelSize: (2, 2), stride: (2, 2), padding: (1, 1)), Flatten()],
      seed: 13, inputs: rng.normalArray(shape: [n, 1, side, side]),
      targets: T.targets(.crossEntropy, outputShape: [n, 8], rng: &rng), loss: Loss(.crossEntropy))
  }

  /// On the 5×5 input the first layer's reduce-A has a null space of dimension 5 however
  /// many data points; EKFAC is still the GGN's diagonal in our basis (and closer to the
  /// GGN than KFAC), another null-space basis gives another EKFAC with the same trace
  /// that differs only on the null space.
  @Test(arguments: [FisherType.type2, .empirical])
  func singularReduceFactorLeavesOnlyTheNullSpaceBasisDependent(_ fisherType: FisherType) throws {
    let problem = try Self.stridedCNN(n: 16, side: 5)
    let options = KFACOptions(fisherType: fisherType, approximation: .reduce)
    let reference = try T.reference(problem, options)
    let label = "strided CNN reduce \(fisherType.rawValue)"
    let (ekfac, kfac, blocks) = try EKFACTests.expectDefinition(problem, options, reference: reference, label)
    #expect(T.distance(ekfac, blocks) < T.distance(kfac, blocks) * (1 - 1e-6), "\(label)")

    let ours = try EKFACOperator(problem, options: options).computeFactors()
    let a = try KFACOperator(problem, options: options).computeFactors()[0].inputCovariance!
    let eigenvalues = try a.symmetricEigenvalues()
    let order = a.shape[0]
    let nullity = (0..<order).filter { abs(eigenvalues.scalars[$0]) <= 1e-12 * eigenvalues.scalars[order - 1] }.count
    #expect(nullity == 5, "\(label): reduce-A eigenvalues \(eigenvalues.scalars)")
    guard nullity >= 2 else { return }

    // Another eigenbasis of A: the first two null vectors rotated by 45°, with its own
    // corrected eigenvalues (the reference's diagonal in it).
    var factors = ours
    var qa = ours[0].inputBasis!
    for i in 0..<order {
      let (u, v) = (qa[i, 0], qa[i, 1])
      qa[i, 0] = (u + v) / Double(2).squareRoot()
      qa[i, 1] = (u - v) / Double(2).squareRoot()
    }
    let layout = T.layout(problem, ours)
    let indices = layout[0].weightIndices!
    let q = kronecker(ours[0].gradientBasis, qa)
    factors[0].inputBasis = qa
    factors[0].eigenvalues = matmul(matmul(q, T.submatrix(reference, indices), transposeA: true), q)
      .diagonal().reshaped(ours[0].eigenvalues!.shape)
    let other = try EKFACOperator(problem, options: options, factors: factors).dense()

    let difference = T.relativeDistance(other, ekfac)
    #expect(difference > 1e-4, "\(label): another null-space basis changes EKFAC (relative \(difference))")
    assertClose(other.trace(), ekfac.trace(), rtol: 1e-10, label)
    // Off the null space (Π = I ⊗ (I − P_N) on the first layer's weight, I elsewhere)
    // both are the same operator.
    var projector = NDArray<Double>.identity(ekfac.shape[0])
    var nullProjector = NDArray<Double>(zeros: [order, order])
    for i in 0..<order {
      for j in 0..<order {
        nullProjector[i, j] = (0..<nullity).reduce(0) { $0 + qa[i, $1] * qa[j, $1] }
      }
    }
    let local = kronecker(NDArray<Double>.identity(ours[0].weightShape[0]), NDArray<Double>.identity(order) - nullProjector)
    for (x, i) in indices.enumerated() {
      for (y, j) in indices.enumerated() { projector[i, j] = local[x, y] }
    }
    expectClose(
      matmul(matmul(projector, other), projector), matmul(matmul(projector, ekfac), projector),
      rtol: 1e-10, atolFactor: 1e-12, "\(label) off the null space")
  }

  /// On the 6×6 input (the committed fixture's layout) no kernel rows coincide and 16 data
  /// points give reduce-A full rank: EKFAC-reduce is unique.
  @Test func evenInputKeepsReduceFactorRegular() throws {
    let problem = try Self.stridedCNN(n: 16, side: 6)
    let options = KFACOptions(fisherType: .type2, approximation: .reduce)
    for layer in try KFACOperator(problem, options: options).computeFactors() {
      let eigenvalues = try layer.inputCovariance!.symmetricEigenvalues()
      #expect(eigenvalues.scalars[0] > 1e-6 * eigenvalues.scalars[eigenvalues.count - 1], "layer \(layer.layer): \(eigenvalues.scalars)")
    }
  }
}
