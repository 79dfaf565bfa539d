import Curvature
import CurvatureTestSupport
import Testing

/// KFAC products on a layer wide enough for `matmulSymmetric`'s kernel (1,100 inputs, two
/// outputs, so `V A` has two rows and `A` is 1,101² or 1,100²): on every block the product
/// is `(B ⊗ A) v` from the factors, for computed factors (symmetric to the bit: the kernel
/// where the processor has it) and for given factors that are not (one `±0` pair: gemm).
@Suite struct KFACWideLayerTests {
  typealias T = KFACTesting

  static func problem() throws -> CurvatureProblem<Double> {
    var rng = RandomGenerator(seed: 29, stream: 3)
    let inputs: NDArray<Double> = rng.normalArray(shape: [4, 1100])
    return try T.problem(
      [Linear(inFeatures: 1100, outFeatures: 2)], seed: 29, inputs: inputs,
      targets: T.targets(.mse, outputShape: [4, 2], rng: &rng), loss: Loss(.mse))
  }

  /// `(B ⊗ A) v` on each Kronecker block of the layout, `B v` on a separate bias block.
  static func expected(_ problem: CurvatureProblem<Double>, _ factors: [KFACLayerFactors<Double>], _ v: NDArray<Double>) -> NDArray<Double> {
    var result = v
    for (f, block) in zip(factors, T.layout(problem, factors)) {
      for (indices, matrix) in [
        (block.weightIndices, f.inputCovariance.map { kronecker(f.gradientCovariance, $0) }),
        (block.biasIndices, f.gradientCovariance),
      ] {
        guard let indices, let matrix else { continue }
        let product = matvec(matrix, NDArray(shape: [indices.count], scalars: indices.map { v.scalars[$0] }))
        for (p, i) in indices.enumerated() { result.scalars[i] = product.scalars[p] }
      }
    }
    return result
  }

  @Test(arguments: [false, true])
  func productIsTheKroneckerProductOfTheFactors(_ joint: Bool) throws {
    let problem = try Self.problem()
    let options = KFACOptions(fisherType: .type2, jointBias: joint)
    let kfac = try KFACOperator(problem, options: options)
    var factors = try kfac.computeFactors()
    let order = factors[0].inputCovariance!.shape[0]
    #expect(order >= symmetricKernelMinOrder && factors[0].inputCovariance!.isSymmetricToTheBit())
    var rng = RandomGenerator(seed: 31)
    let v: NDArray<Double> = rng.normalArray(shape: [problem.dimension])
    expectClose(try kfac.apply(v), Self.expected(problem, factors, v), rtol: 1e-12, "computed factors, joint = \(joint)")

    // One pair of zeros of opposite signs: the same values, not symmetric to the bit.
    factors[0].inputCovariance![5, 700] = 0
    factors[0].inputCovariance![700, 5] = -0.0
    let given = try KFACOperator(problem, options: options, factors: factors)
    expectClose(try given.apply(v), Self.expected(problem, factors, v), rtol: 1e-12, "given factors, joint = \(joint)")
  }
}
