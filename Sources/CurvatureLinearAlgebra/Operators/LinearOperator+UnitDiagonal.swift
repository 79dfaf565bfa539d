import CurvatureNumerics

// The diagonal of any square operator from products with blocks of unit vectors: the one
// fallback for operators without a cheaper exact diagonal (the Hessian blocks of a graph
// model that second-order terms without a rule touch), used by the library and by `curv diag`
// and `curv trace`.

extension LinearOperator {
  /// The diagonal from products with blocks of unit vectors, without forming the matrix.
  ///
  /// ```swift
  /// let d = try HessianOperator(problem).diagonalByUnitProducts()
  /// ```
  /// - Parameters:
  ///   - blockSize: Unit vectors per product (32 by default).
  ///   - task: The task named in the progress events.
  ///   - onProgress: Called after each block with the entries done so far, of
  ///     `total = columnCount`; nil for no reports.
  /// - Returns: The diagonal, `[columnCount]`.
  /// - Throws: `LinearOperatorError.notSquare` for a non-square operator,
  ///   `LinearOperatorError.unsupported` for `blockSize < 1`; whatever `apply` throws.
  /// - Complexity: `⌈n / blockSize⌉` products with `blockSize` columns, `n` products in all.
  public func diagonalByUnitProducts(
    blockSize: Int = 32, task: String = "diagonal", onProgress: ProgressHandler? = nil
  ) throws -> NDArray<Scalar> {
    try requireSquare("diagonal")
    guard blockSize >= 1 else {
      throw LinearOperatorError.unsupported("diagonal: a block of \(blockSize) unit vectors; it must be at least 1")
    }
    let n = columnCount
    var diagonal = [Scalar](repeating: 0, count: n)
    var start = 0
    while start < n {
      let width = Swift.min(blockSize, n - start)
      var units = [Scalar](repeating: 0, count: n * width)
      for j in 0..<width { units[(start + j) * width + j] = 1 }
      let columns = try apply(NDArray(shape: [n, width], scalars: units))
      for j in 0..<width { diagonal[start + j] = columns.scalars[(start + j) * width + j] }
      start += width
      onProgress?(ProgressEvent(task: task, completed: start, total: n))
    }
    return NDArray(diagonal)
  }
}
