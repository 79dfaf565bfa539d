import CurvatureNumerics

// The dense matrix of any operator from its products, with progress reports: the one loop
// over blocks of identity columns (the default `dense()` and `curv dense` both use it).

extension LinearOperator {
  /// The matrix `[rowCount, columnCount]`, formed from products with blocks of identity
  /// columns (one `apply` per block), reporting progress after every block.
  ///
  /// Unlike `dense()`, which structured operators answer from their structure, this always
  /// multiplies: column `j` of the result is `A eⱼ` as `apply` computes it. A curvature
  /// matrix needs `columnCount` products (one pass over the data per block), which is what
  /// `onProgress` follows.
  ///
  /// ```swift
  /// let g = try GGNOperator(problem).dense { event in
  ///   print("\(event.completed)/\(event.total) columns")
  /// }
  /// ```
  /// - Parameters:
  ///   - blockSize: Identity columns per product; bounds the probe to
  ///     `columnCount × blockSize` entries. 64 by default.
  ///   - task: The task named in the progress events.
  ///   - onProgress: Called with `completed = 0` before the first product and after each
  ///     block with the columns done so far, of `total = columnCount`; nil for no reports.
  /// - Returns: The matrix, `[rowCount, columnCount]`.
  /// - Throws: `LinearOperatorError.unsupported` when `blockSize < 1`; whatever `apply`
  ///   throws.
  /// - Complexity: `⌈columnCount / blockSize⌉` products with `blockSize` columns each, plus
  ///   O(rowCount · columnCount) to assemble the result.
  public func dense(
    blockSize: Int = 64, task: String = "dense", onProgress: ProgressHandler?
  ) throws -> NDArray<Scalar> {
    guard blockSize >= 1 else {
      throw LinearOperatorError.unsupported("dense: a block of \(blockSize) identity columns; it must be at least 1")
    }
    let n = columnCount
    var result = NDArray<Scalar>(zeros: [rowCount, n])
    onProgress?(ProgressEvent(task: task, completed: 0, total: n))
    var start = 0
    while start < n {
      let width = Swift.min(blockSize, n - start)
      var probe = NDArray<Scalar>(zeros: [n, width])
      for j in 0..<width { probe[start + j, j] = 1 }
      let columns = try apply(probe)
      for i in 0..<rowCount {
        for j in 0..<width { result.scalars[i * n + start + j] = columns.scalars[i * width + j] }
      }
      start += width
      onProgress?(ProgressEvent(task: task, completed: start, total: n))
    }
    return result
  }
}
