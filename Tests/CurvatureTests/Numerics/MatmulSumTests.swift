import Curvature
import CurvatureTestSupport
import Testing

/// `matmulSum`: `op(a₁) op(b₁) + op(a₂) op(b₂)` with the second gemm accumulated onto the
/// first (β = 1). For inner dimensions gemm keeps in one block it equals the two products
/// added by `+`, bit for bit, on every path of `matmul` (2-D, folded, per batch entry,
/// broadcast batch axes, both transposes); beyond it, to rounding.
@Suite struct MatmulSumTests {
  @Test func equalsTheSumFloat() { checkEqualsTheSum(Float.self) }
  @Test func equalsTheSumDouble() { checkEqualsTheSum(Double.self) }

  /// The shapes of one case: batch axes of each factor and `m, k, n`.
  private static let shapes: [(batchA: [Int], batchB: [Int], m: Int, k: Int, n: Int)] = [
    ([], [], 7, 5, 3),  // one gemm
    ([3], [], 4, 6, 5),  // a's batch folded into rows (without transposeA)
    ([], [3], 4, 6, 5),  // b batched, a shared
    ([2], [2], 3, 9, 4),  // equal batch axes
    ([2, 1], [3], 3, 4, 2),  // broadcast batch axes
    ([], [], 33, 200, 17),  // one block of a larger inner dimension
    ([], [], 4, 0, 3),  // no inner dimension: zeros
  ]

  private func checkEqualsTheSum<T: BLASScalar>(_: T.Type) {
    for (index, s) in Self.shapes.enumerated() {
      for transposeA in [false, true] {
        for transposeB in [false, true] {
          let seed = UInt64(300 + 4 * index) + (transposeA ? 2 : 0) + (transposeB ? 1 : 0)
          var rng = RandomGenerator(seed: seed)
          let shapeA = s.batchA + (transposeA ? [s.k, s.m] : [s.m, s.k])
          let shapeB = s.batchB + (transposeB ? [s.n, s.k] : [s.k, s.n])
          let (a1, a2): (NDArray<T>, NDArray<T>) = (rng.normalArray(shape: shapeA), rng.normalArray(shape: shapeA))
          let (b1, b2): (NDArray<T>, NDArray<T>) = (rng.normalArray(shape: shapeB), rng.normalArray(shape: shapeB))
          let sum = matmulSum(a1, b1, a2, b2, transposeA: transposeA, transposeB: transposeB)
          let expected =
            matmul(a1, b1, transposeA: transposeA, transposeB: transposeB)
            + matmul(a2, b2, transposeA: transposeA, transposeB: transposeB)
          #expect(
            bitIdentical(sum, expected),
            "\(shapeA) × \(shapeB), transposeA \(transposeA), transposeB \(transposeB)")
        }
      }
    }
  }

  /// Products of different shapes are a programmer error: a precondition names both.
  @Test func differentShapesStop() async {
    await #expect(processExitsWith: .failure) {
      let a = NDArray<Double>(zeros: [2, 3]), b = NDArray<Double>(zeros: [3, 4])
      _ = matmulSum(a, b, a, NDArray<Double>(zeros: [3, 5]))
    }
  }
}
