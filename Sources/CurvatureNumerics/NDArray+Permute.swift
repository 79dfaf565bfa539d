// Axis permutations as contiguous copies. Elements are moved as raw 4- or 8-byte words so
// the loop is concrete (and fast) even when called from code generic over the scalar.

extension NDArray {
  /// The array with its axes reordered: axis `i` of the result is axis `axes[i]` of `self`.
  ///
  /// - Parameter axes: A permutation of `0..<rank`.
  /// - Returns: A new contiguous array of shape `axes.map { shape[$0] }`.
  /// - Complexity: O(count); matrices go through OpenBLAS's omatcopy.
  public func permuted(_ axes: [Int]) -> NDArray {
    precondition(
      axes.sorted() == Array(0..<rank),
      "permuted: \(axes) is not a permutation of the axes of shape \(shape)")
    if axes == Array(0..<rank) { return self }
    let newShape = axes.map { shape[$0] }
    if rank == 2 { return transposed() }
    var sourceStrides = [Int](repeating: 1, count: rank)
    for axis in stride(from: rank - 2, through: 0, by: -1) {
      sourceStrides[axis] = sourceStrides[axis + 1] * shape[axis + 1]
    }
    let strides = axes.map { sourceStrides[$0] }
    // The gather writes every element: no zero fill first.
    var result = NDArray(uninitializedShape: newShape) { _ in }
    withUnsafeBufferPointer { src in
      result.withUnsafeMutableBufferPointer { dst in
        let from = UnsafeRawBufferPointer(src), to = UnsafeMutableRawBufferPointer(dst)
        if MemoryLayout<Scalar>.size == 4 {
          stridedGather(from.bindMemory(to: UInt32.self), to.bindMemory(to: UInt32.self), newShape, strides)
        } else {
          stridedGather(from.bindMemory(to: UInt64.self), to.bindMemory(to: UInt64.self), newShape, strides)
        }
      }
    }
    return result
  }
}

/// Copies `source` into `destination` (contiguous, row-major `shape`) reading with `strides`.
func stridedGather<Word>(
  _ source: UnsafeBufferPointer<Word>, _ destination: UnsafeMutableBufferPointer<Word>,
  _ shape: [Int], _ strides: [Int]
) {
  let count = shape.reduce(1, *)
  guard count > 0 else { return }
  // Axes the source steps through as one (a permutation's untouched neighbours, broadcast
  // runs) are joined, so rows are as long as they can be.
  let (shape, strides, _) = mergedAxes(shape, strides, strides)
  let rank = shape.count
  let inner = shape[rank - 1], innerStride = strides[rank - 1]
  var index = [Int](repeating: 0, count: rank)
  var base = 0
  var written = 0
  while written < count {
    if innerStride == 1 {
      for j in 0..<inner { destination[written + j] = source[base + j] }
    } else {
      var s = base
      for j in 0..<inner {
        destination[written + j] = source[s]
        s += innerStride
      }
    }
    written += inner
    // Advance the outer multi-index (all axes but the last) and its source offset.
    var axis = rank - 2
    while axis >= 0 {
      index[axis] += 1
      base += strides[axis]
      if index[axis] < shape[axis] { break }
      base -= strides[axis] * shape[axis]
      index[axis] = 0
      axis -= 1
    }
  }
}
