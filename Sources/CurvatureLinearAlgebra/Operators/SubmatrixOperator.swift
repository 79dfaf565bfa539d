import CurvatureNumerics

// Submatrices of operators: a selection of rows and columns (a parameter subset, say),
// applied through the parent by scattering and gathering.

/// The submatrix `A[rows, columns]` of an operator, for arbitrary index selections.
///
/// With selection matrices `P_r` (`[|rows|, m]`, `P_r[a, rows[a]] = 1`) and `P_c`
/// (`[|columns|, n]`), the submatrix is
///
/// ```math
/// S = P_r A P_cᵀ,    S[a, b] = A[rows[a], columns[b]]
/// S X = P_r (A (P_cᵀ X)),    Sᵀ Y = P_c (Aᵀ (P_rᵀ Y))
/// ```
///
/// so a product scatters `X` into the parent's column space (`P_cᵀ X`, adding rows that
/// select the same column), applies the parent once and gathers the selected rows. Indices
/// may repeat and come in any order. With `rows == columns` the submatrix is principal: it
/// is symmetric when the parent is and its diagonal is the parent's, gathered.
///
/// ```swift
/// let h = DenseOperator(hessian)                                  // [n, n]
/// let block = try h.principalSubmatrix(Array(10..<20))            // the Hessian of a parameter subset
/// let y = try block.apply(x)                                      // x: [10] or [10, k]
/// ```
public struct SubmatrixOperator<Scalar: BLASScalar>: LinearOperator {
  /// The operator the entries come from.
  public let parent: any LinearOperator<Scalar>
  /// The selected rows of `parent`, in order (row `a` of the submatrix is `parent` row `rowIndices[a]`).
  public let rowIndices: [Int]
  /// The selected columns of `parent`, in order.
  public let columnIndices: [Int]

  /// The submatrix of `parent` with the given rows and columns.
  ///
  /// A submatrix of a `SubmatrixOperator` selects from its parent directly.
  /// - Parameters:
  ///   - parent: Any operator.
  ///   - rows: Row indices in `0..<parent.rowCount`, in any order, repeats allowed.
  ///   - columns: Column indices in `0..<parent.columnCount`, in any order, repeats allowed.
  /// - Throws: `LinearOperatorError.incompatible` naming the first index out of range.
  /// - Complexity: O(|rows| + |columns|).
  public init(_ parent: any LinearOperator<Scalar>, rows: [Int], columns: [Int]) throws {
    try SubmatrixOperator.check(rows, bound: parent.rowCount, kind: "row", parent: parent)
    try SubmatrixOperator.check(columns, bound: parent.columnCount, kind: "column", parent: parent)
    if let nested = parent as? SubmatrixOperator<Scalar> {
      self.parent = nested.parent
      self.rowIndices = rows.map { nested.rowIndices[$0] }
      self.columnIndices = columns.map { nested.columnIndices[$0] }
    } else {
      self.parent = parent
      self.rowIndices = rows
      self.columnIndices = columns
    }
  }

  /// The principal submatrix `A[indices, indices]` of `parent`.
  /// - Parameters:
  ///   - parent: Any operator.
  ///   - indices: Indices below both `parent.rowCount` and `parent.columnCount`.
  /// - Throws: `LinearOperatorError.incompatible` naming the first index out of range.
  /// - Complexity: O(|indices|).
  public init(_ parent: any LinearOperator<Scalar>, principal indices: [Int]) throws {
    try self.init(parent, rows: indices, columns: indices)
  }

  /// A submatrix whose indices are known to be in range.
  init(checkedParent parent: any LinearOperator<Scalar>, rows: [Int], columns: [Int]) {
    self.parent = parent
    self.rowIndices = rows
    self.columnIndices = columns
  }

  static func check(_ indices: [Int], bound: Int, kind: String, parent: any LinearOperator<Scalar>) throws {
    if let bad = indices.firstIndex(where: { $0 < 0 || $0 >= bound }) {
      throw LinearOperatorError.incompatible(
        "\(kind) index \(indices[bad]) (at position \(bad)) is out of range 0..<\(bound) of a \(parent.rowCount)×\(parent.columnCount) operator")
    }
  }

  /// The number of selected rows.
  public var rowCount: Int { rowIndices.count }
  /// The number of selected columns.
  public var columnCount: Int { columnIndices.count }

  /// Whether the selection is principal (`rowIndices == columnIndices`).
  public var isPrincipal: Bool { rowIndices == columnIndices }

  /// Whether the submatrix is principal and the parent symmetric.
  public var isSymmetric: Bool { isPrincipal && parent.isSymmetric }

  /// `S X = P_r A P_cᵀ X`: scatter, one product of the parent, gather.
  /// - Parameter x: A block of column vectors `[columnCount, k]`.
  /// - Returns: `[rowCount, k]`.
  /// - Throws: Whatever the parent's product throws.
  /// - Complexity: One product of the parent with `[parent.columnCount, k]`, plus
  ///   O((parent.columnCount + rowCount + columnCount) k).
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    let k = x.shape[1]
    let full = x.scatteredAdd(Self.flatIndices(columnIndices, k), shape: [parent.columnCount, k])
    let product = try parent.apply(full)
    return product.gathered(Self.flatIndices(rowIndices, k), shape: [rowCount, k])
  }

  /// `Sᵀ Y = P_c Aᵀ P_rᵀ Y`: scatter, one transposed product of the parent, gather.
  /// - Parameter x: A block of column vectors `[rowCount, k]`.
  /// - Returns: `[columnCount, k]`.
  /// - Throws: Whatever the parent's transposed product throws.
  /// - Complexity: As `apply(matrix:)`, with the parent's transposed product.
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    let k = x.shape[1]
    let full = x.scatteredAdd(Self.flatIndices(rowIndices, k), shape: [parent.rowCount, k])
    let product = try parent.applyTranspose(full)
    return product.gathered(Self.flatIndices(columnIndices, k), shape: [columnCount, k])
  }

  /// The flat positions of the selected rows of a row-major `[_, k]` array.
  static func flatIndices(_ rows: [Int], _ k: Int) -> [Int] {
    var result = [Int]()
    result.reserveCapacity(rows.count * k)
    for row in rows {
      for j in 0..<k { result.append(row * k + j) }
    }
    return result
  }

  /// The dense submatrix: gathered directly from a dense parent, otherwise by products on
  /// identity columns.
  /// - Returns: `[rowCount, columnCount]`.
  /// - Throws: Whatever the parent's product throws.
  /// - Complexity: O(rowCount · columnCount) for a `DenseOperator` parent; otherwise
  ///   `columnCount` columns of products of the parent, in blocks.
  public func dense() throws -> NDArray<Scalar> {
    if let dense = parent as? DenseOperator<Scalar> {
      let n = dense.columnCount
      var indices = [Int]()
      indices.reserveCapacity(rowCount * columnCount)
      for row in rowIndices {
        for column in columnIndices { indices.append(row * n + column) }
      }
      return dense.matrix.gathered(indices, shape: [rowCount, columnCount])
    }
    return try denseByProducts()
  }

  /// The main diagonal, `A[rows[p], columns[p]]` for `p < min(rowCount, columnCount)`.
  ///
  /// A principal submatrix gathers the parent's `diagonal()`; otherwise one product of the
  /// parent with the selected unit columns gives the entries.
  /// - Returns: A vector of length `min(rowCount, columnCount)`.
  /// - Throws: Whatever the parent's `diagonal()` or product throws.
  /// - Complexity: The parent's diagonal, or one product of the parent with
  ///   `min(rowCount, columnCount)` columns.
  public func diagonal() throws -> NDArray<Scalar> {
    if isPrincipal {
      return try parent.diagonal().gathered(rowIndices, shape: [rowCount])
    }
    let width = Swift.min(rowCount, columnCount)
    var probe = NDArray<Scalar>(zeros: [parent.columnCount, width])
    for p in 0..<width { probe.scalars[columnIndices[p] * width + p] = 1 }
    let columns = try parent.apply(probe)
    return NDArray((0..<width).map { columns.scalars[rowIndices[$0] * width + $0] })
  }

  /// The transpose `A[rows, columns]ᵀ = Aᵀ[columns, rows]`, as a submatrix of the parent's
  /// transpose.
  /// - Returns: A `SubmatrixOperator` of `TransposedOperator(parent)`.
  /// - Complexity: O(rowCount + columnCount).
  public func transposed() -> SubmatrixOperator<Scalar> {
    SubmatrixOperator(
      checkedParent: parent.isSymmetric ? parent : TransposedOperator(parent),
      rows: columnIndices, columns: rowIndices)
  }
}

extension LinearOperator {
  /// The submatrix `A[rows, columns]` of this operator.
  /// - Parameters:
  ///   - rows: Row indices in `0..<rowCount`, in any order, repeats allowed.
  ///   - columns: Column indices in `0..<columnCount`, in any order, repeats allowed.
  /// - Returns: A `SubmatrixOperator` (nothing is computed).
  /// - Throws: `LinearOperatorError.incompatible` for an index out of range.
  /// - Complexity: O(|rows| + |columns|).
  public func submatrix(rows: [Int], columns: [Int]) throws -> SubmatrixOperator<Scalar> {
    try SubmatrixOperator(self, rows: rows, columns: columns)
  }

  /// The principal submatrix `A[indices, indices]` of this operator (the curvature of a
  /// parameter subset, for instance).
  /// - Parameter indices: Indices below both `rowCount` and `columnCount`.
  /// - Returns: A `SubmatrixOperator` (nothing is computed).
  /// - Throws: `LinearOperatorError.incompatible` for an index out of range.
  /// - Complexity: O(|indices|).
  public func principalSubmatrix(_ indices: [Int]) throws -> SubmatrixOperator<Scalar> {
    try SubmatrixOperator(self, principal: indices)
  }
}
