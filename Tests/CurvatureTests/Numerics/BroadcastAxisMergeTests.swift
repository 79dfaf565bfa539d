import Curvature
import CurvatureNumerics
import CurvatureTestSupport
import Testing

/// Elementwise binary operations and strided gathers (permutes, broadcasts) join
/// neighbouring axes that both operands step through as one (`mergedAxes`), so rows are
/// long: every element must still be `f(a[i], b[j])` of the right pair, bit for bit, for
/// contiguous, broadcast, size-1 and permuted layouts.
@Suite struct BroadcastAxisMergeTests {
  @Test func axesJoinWhereBothOperandsAllow() {
    // Same shape, both contiguous: one row.
    #expect(mergedAxes([2, 3, 4], [12, 4, 1], [12, 4, 1]) == ([24], [1], [1]))
    // A bias over the last axis: N·T rows of C.
    #expect(mergedAxes([2, 3, 4], [12, 4, 1], [0, 0, 1]) == ([6, 4], [4, 1], [0, 1]))
    // A per-row scale `[N, T, 1]`: the inner axis stays apart (stride 0 against 1).
    #expect(mergedAxes([2, 3, 4], [12, 4, 1], [3, 1, 0]) == ([6, 4], [4, 1], [1, 0]))
    // Extent-1 axes drop out whatever their strides.
    #expect(mergedAxes([2, 1, 4], [4, 99, 1], [4, 7, 1]) == ([8], [1], [1]))
    #expect(mergedAxes([1, 1], [0, 0], [0, 0]) == ([1], [0], [0]))
    // A transposed operand: nothing joins.
    #expect(mergedAxes([3, 4], [4, 1], [1, 3]) == ([3, 4], [4, 1], [1, 3]))
  }

  @Test func binaryMatchesTheIndexLoopFloat() { checkBinary(Float.self) }
  @Test func binaryMatchesTheIndexLoopDouble() { checkBinary(Double.self) }
  @Test func gathersMatchTheIndexLoopFloat() { checkGathers(Float.self) }
  @Test func gathersMatchTheIndexLoopDouble() { checkGathers(Double.self) }
}

/// The row-major multi-index of every flat position of `shape`.
private func multiIndices(_ shape: [Int]) -> [[Int]] {
  (0..<shape.reduce(1, *)).map { NumericsReference.multiIndex($0, shape) }
}

/// The flat position in `shape` of the broadcast multi-index `index` (trailing alignment).
private func position(_ index: [Int], in shape: [Int]) -> Int {
  let offset = index.count - shape.count
  var flat = 0
  for (axis, extent) in shape.enumerated() { flat = flat * extent + (extent == 1 ? 0 : index[offset + axis]) }
  return flat
}

private func values<T: BLASScalar>(_ shape: [Int], seed: UInt64) -> NDArray<T> {
  let count = shape.reduce(1, *)
  return NDArray(shape: shape, scalars: RandomMatrices.gaussian(1, Swift.max(count, 1), seed: seed, T.self).scalars.prefix(count).map { $0 })
}

private func checkBinary<T: BLASScalar>(_: T.Type) {
  let pairs: [([Int], [Int])] = [
    ([2, 3, 4], [2, 3, 4]), ([2, 3, 4], [4]), ([2, 3, 4], [2, 3, 1]), ([2, 3, 4], [1, 3, 1]), ([2, 1, 4], [3, 1]),
    ([5], [1]), ([1], [5]), ([2, 3, 4, 5], [3, 1, 5]), ([4, 1], [1, 6]), ([1, 1, 3], [2, 1, 1]), ([3, 4], [3, 4]),
    ([2, 4, 3, 3], [3, 3]), ([], [2, 2]),
  ]
  let functions: [BinaryFunction] = [.add, .subtract, .multiply, .divide, .maximum, .minimum]
  for (i, (sa, sb)) in pairs.enumerated() {
    let a: NDArray<T> = values(sa, seed: UInt64(500 + i)), b: NDArray<T> = values(sb, seed: UInt64(600 + i))
    let shape = NDArray<T>.broadcastShape(sa, sb)!
    for f in functions {
      let result = NDArray.binary(f, a, b)
      #expect(result.shape == shape)
      let expected = multiIndices(shape).map { index -> T in
        let x = a.scalars[position(index, in: sa)], y = b.scalars[position(index, in: sb)]
        switch f {
        case .add: return x + y
        case .subtract: return x - y
        case .multiply: return x * y
        case .divide: return x / y
        case .maximum: return x >= y ? x : y
        case .minimum: return x <= y ? x : y
        }
      }
      #expect(result.scalars == expected, "\(f) of \(sa) and \(sb)")
    }
  }
}

private func checkGathers<T: BLASScalar>(_: T.Type) {
  let permutations: [([Int], [Int])] = [
    ([2, 3, 4], [0, 2, 1]), ([2, 3, 4, 5], [0, 2, 1, 3]), ([2, 3, 4, 5], [3, 0, 1, 2]), ([2, 1, 4], [1, 0, 2]),
    ([4, 2, 3, 2], [0, 1, 3, 2]), ([3, 1, 1, 2], [3, 2, 1, 0]),
  ]
  for (i, (shape, axes)) in permutations.enumerated() {
    let x: NDArray<T> = values(shape, seed: UInt64(700 + i))
    let result = x.permuted(axes)
    let newShape = axes.map { shape[$0] }
    let expected = multiIndices(newShape).map { index -> T in
      var source = [Int](repeating: 0, count: shape.count)
      for (k, axis) in axes.enumerated() { source[axis] = index[k] }
      return x.scalars[position(source, in: shape)]
    }
    #expect(result.shape == newShape && result.scalars == expected, "permute \(shape) by \(axes)")
  }
  let broadcasts: [([Int], [Int])] = [([4], [2, 3, 4]), ([3, 1], [2, 3, 4]), ([1, 3, 1], [2, 3, 4]), ([2, 1, 4], [2, 3, 4])]
  for (i, (shape, target)) in broadcasts.enumerated() {
    let x: NDArray<T> = values(shape, seed: UInt64(800 + i))
    let expected = multiIndices(target).map { x.scalars[position($0, in: shape)] }
    #expect(x.broadcast(to: target).scalars == expected, "broadcast \(shape) to \(target)")
  }
}
