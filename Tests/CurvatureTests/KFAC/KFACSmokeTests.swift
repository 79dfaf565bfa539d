import Curvature
import CurvatureTestSupport
import Testing

/// First checks of KFAC where theory says it is exact, against the operators' dense GGN and
/// empirical Fisher (the thorough suite lives beside this file).
@Suite struct KFACSmokeTests {
  static func mlp(_ activation: any Layer<Double>, loss: Loss<Double>, points: Int, seed: UInt64) throws -> CurvatureProblem<Double> {
    var rng = RandomGenerator(seed: seed)
    let model = try Sequential<Double>(
      [Linear(inFeatures: 3, outFeatures: 4), activation, Linear(inFeatures: 4, outFeatures: 2)], seed: seed)
    let x: NDArray<Double> = rng.normalArray(shape: [points, 3])
    let targets: Targets<Double> = loss.kind == .crossEntropy
      ? .classes((0..<points).map { $0 % 2 }) : .values(rng.uniformArray(shape: [points, 2]))
    return try CurvatureProblem(model: model, loss: loss, data: try ArrayDataset(inputs: x, targets: targets))
  }

  /// The block-diagonal part of a dense matrix for the given block sizes.
  static func blockDiagonalPart(_ m: NDArray<Double>, sizes: [Int]) -> NDArray<Double> {
    var result = NDArray<Double>(zeros: m.shape)
    var start = 0
    for size in sizes {
      for i in start..<(start + size) { for j in start..<(start + size) { result[i, j] = m[i, j] } }
      start += size
    }
    return result
  }

  @Test func onePointType2EqualsGGNBlocks() throws {
    for activation in [Tanh<Double>() as any Layer<Double>, Sigmoid<Double>(), ReLU<Double>()] {
      for loss in [Loss<Double>(.mse), Loss(.crossEntropy, reduction: .sum), Loss(.crossEntropy)] {
        let problem = try Self.mlp(activation, loss: loss, points: 1, seed: 4)
        for joint in [false, true] {
          let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .type2, jointBias: joint))
          let sizes = joint ? [4 * 3 + 4, 2 * 4 + 2] : [12, 4, 8, 2]
          let ggn = try GGNOperator(problem).dense()
          // The joint block orders [W b] row by row; compare in the flat order via products.
          let expected = joint ? try Self.jointReference(ggn) : Self.blockDiagonalPart(ggn, sizes: sizes)
          assertClose(try kfac.dense(), expected, rtol: 1e-10, atol: 1e-13, "\(activation) \(loss.kind) joint=\(joint)")
          let ef = try EmpiricalFisherOperator(problem).dense()
          let kfacEF = try KFACOperator(problem, options: KFACOptions(fisherType: .empirical, jointBias: joint)).dense()
          assertClose(kfacEF, joint ? try Self.jointReference(ef) : Self.blockDiagonalPart(ef, sizes: sizes), rtol: 1e-10, atol: 1e-13)
        }
      }
    }
  }

  /// The layer blocks (weight and bias together) of a dense matrix in flat order.
  static func jointReference(_ m: NDArray<Double>) throws -> NDArray<Double> {
    blockDiagonalPart(m, sizes: [12 + 4, 8 + 2])
  }

  @Test func closedFormsAndInverseMatchDense() throws {
    // MSE keeps B full rank (with two classes the cross-entropy Hessian has rank 1).
    let problem = try Self.mlp(Tanh(), loss: Loss(.mse), points: 9, seed: 6)
    for joint in [false, true] {
      let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .type2, jointBias: joint))
      let dense = try kfac.dense()
      assertClose(try kfac.trace(), dense.trace(), rtol: 1e-10)
      assertClose(try kfac.diagonal(), dense.diagonal(), rtol: 1e-10, atol: 1e-14)
      assertClose(try kfac.frobeniusNorm(), dense.norm(), rtol: 1e-10)
      let (sign, logMagnitude) = try kfac.logDeterminant()
      let (denseSign, denseLog) = try dense.signAndLogDeterminant()
      #expect(sign == denseSign)
      assertClose(logMagnitude, denseLog, rtol: 1e-8)
      let damped = dense + 0.1 * NDArray<Double>.identity(dense.shape[0])
      assertClose(try kfac.inverse(damping: 0.1).dense(), try damped.inverse(), rtol: 1e-8, atol: 1e-10)
    }
  }
}
