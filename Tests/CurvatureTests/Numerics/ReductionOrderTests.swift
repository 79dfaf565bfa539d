import Curvature
import CurvatureNumerics
import CurvatureTestSupport
import Testing

/// `reduced` merges neighbouring axes reduced alike and drops axes of extent 1 (longer rows
/// for the weight-gradient sums of convolutions); every output must still receive its
/// inputs in row-major order, starting from 0 (sum) or −∞ (max): the same bits as a plain
/// loop, signed zeros and NaNs included (also where rows are summed four side by side).
/// And `matmul` and `permuted` write results without a zero fill first: an empty inner
/// dimension must still give zeros.
@Suite struct ReductionOrderTests {
  @Test func sumsFollowRowMajorOrderFloat() { checkReductionOrder(Float.self) }
  @Test func sumsFollowRowMajorOrderDouble() { checkReductionOrder(Double.self) }
  @Test func unfilledProductsFloat() { checkUnfilledProducts(Float.self) }
  @Test func unfilledProductsDouble() { checkUnfilledProducts(Double.self) }
}

/// The reduction by one accumulator per output, in row-major order of the input.
private func naiveReduce<T: BLASScalar>(_ x: NDArray<T>, _ f: ReductionFunction, axes: Set<Int>) -> [T] {
  let shape = x.shape
  let kept = shape.indices.filter { !axes.contains($0) }
  let outCount = kept.reduce(1) { $0 * shape[$1] }
  var out = [T](repeating: f == .sum ? 0 : -T.infinity, count: outCount)
  var index = [Int](repeating: 0, count: shape.count)
  for value in x.scalars {
    let o = kept.reduce(0) { $0 * shape[$1] + index[$1] }
    if f == .sum {
      out[o] += value
    } else if value > out[o] || value.isNaN {
      out[o] = value
    }
    NDArray<T>.increment(&index, in: shape)
  }
  return out
}

private func bits<T: BLASScalar>(_ values: [T]) -> [String] {
  values.map { "\($0.sign) \($0.exponentBitPattern) \($0.significandBitPattern)" }
}

private func checkReductionOrder<T: BLASScalar>(_: T.Type) {
  let cases: [([Int], [Int])] = [
    ([4, 3, 5], [0]), ([1, 4, 3, 5], [0, 1]), ([2, 1, 3, 1, 4], [0, 2]), ([3, 4, 5, 2], [1, 2]),
    ([3, 4, 5, 2], [0, 1, 3]), ([2, 3, 4], [2]), ([1, 1, 1], [0, 1]), ([5, 1, 6], [0, 1, 2]), ([1, 7, 1], [1]),
    // Rows summed four side by side (a kept axis before a reduced last one): groups and rest.
    ([3, 9, 7], [0, 2]), ([2, 8, 33], [2]), ([4, 3, 1, 6], [3]),
  ]
  for (shape, axes) in cases {
    let count = shape.reduce(1, *)
    // Large and small magnitudes, so another order of additions rounds differently, and
    // negative zeros (0 + −0 = +0, so an output that skipped its initial 0 would differ).
    var scalars: [T] = RandomMatrices.gaussian(1, count, seed: UInt64(300 + count), T.self).scalars.enumerated().map {
      $0.offset % 3 == 0 ? $0.element * 1e6 : $0.element
    }
    for i in stride(from: 1, to: count, by: 4) { scalars[i] = -0.0 }
    let x = NDArray(shape: shape, scalars: scalars)
    for f in [ReductionFunction.sum, .max] {
      let result = x.reduced(f, axes: axes)
      #expect(bits(result.scalars) == bits(naiveReduce(x, f, axes: Set(axes))), "\(f) over \(axes) of \(shape)")
    }
  }
  // An all-negative-zero sum is +0 (starts from 0), also when every axis has extent 1.
  let negativeZero = NDArray<T>(shape: [1, 1], scalars: [-0.0])
  #expect(negativeZero.reduced(.sum, axes: [0]).scalars[0].sign == .plus)
  #expect(negativeZero.reduced(.sum, axes: [0, 1]).scalars[0].sign == .plus)
}

private func checkUnfilledProducts<T: BLASScalar>(_: T.Type) {
  // k = 0, batched: zeros, not whatever the memory held.
  for _ in 0..<3 {
    let product = matmul(NDArray<T>(zeros: [3, 2, 0]), NDArray<T>(zeros: [3, 0, 4]))
    #expect(product == NDArray(zeros: [3, 2, 4]))
  }
  // β = 0 over memory that held NaNs before (freed and reused): no NaN leaks in.
  for _ in 0..<3 {
    _ = NDArray<T>(repeating: .nan, shape: [64, 64])
    let a: NDArray<T> = RandomMatrices.gaussian(64, 16, seed: 401)
    let b: NDArray<T> = RandomMatrices.gaussian(16, 64, seed: 402)
    #expect(matmul(a, b).scalars.allSatisfy { $0.isFinite })
    #expect(a.reshaped([4, 16, 16]).permuted([2, 0, 1]).scalars.allSatisfy { $0.isFinite })
  }
}
