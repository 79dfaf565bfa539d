import CurvatureNumerics

// Block-diagonal operators (direct sums): blocks of any shapes along the diagonal, applied
// to consecutive row ranges and queried blockwise.

/// The block-diagonal operator `diag(B₁, B₂, …, B_m)` (the direct sum `B₁ ⊕ ⋯ ⊕ B_m`).
///
/// Block `Bᵢ` of shape `[rᵢ, cᵢ]` occupies rows `Rᵢ = r₁ + ⋯ + rᵢ₋₁ ..< Rᵢ + rᵢ` and columns
/// `Cᵢ ..< Cᵢ + cᵢ`; everything else is zero. Blocks may be rectangular (then the blocks do
/// not sit on the main diagonal) and of any operator type; a layer-wise curvature
/// approximation is the typical use.
///
/// ```math
/// ⎡ B₁        ⎤ ⎡ x₁ ⎤   ⎡ B₁ x₁ ⎤
/// ⎢    ⋱      ⎥ ⎢ ⋮  ⎥ = ⎢   ⋮   ⎥       ‖B‖_F² = Σᵢ ‖Bᵢ‖_F²,  det B = Πᵢ det Bᵢ
/// ⎣       B_m ⎦ ⎣ x_m⎦   ⎣ B_m x_m⎦
/// ```
///
/// ```swift
/// let b = blockDiagonal([DenseOperator(a1), DiagonalOperator(d), IdentityOperator(size: 3)])
/// let y = try b.apply(x)                  // each block on its slice of x
/// let inverse = try b.inverse()           // a block-diagonal operator of the blocks' inverses
/// ```
public struct BlockDiagonalOperator<Scalar: BLASScalar>: LinearOperator {
  /// The blocks, top-left first. Nested block-diagonal operators are flattened.
  public let blocks: [any LinearOperator<Scalar>]
  /// The first row of each block, followed by `rowCount` (`blocks.count + 1` entries).
  public let rowOffsets: [Int]
  /// The first column of each block, followed by `columnCount` (`blocks.count + 1` entries).
  public let columnOffsets: [Int]

  /// The block-diagonal operator with the given blocks, top-left first.
  ///
  /// A block that is itself a `BlockDiagonalOperator` contributes its blocks.
  /// - Parameter blocks: Operators of any shapes; none gives the `0×0` operator.
  /// - Complexity: O(m) for m blocks; nothing is computed.
  public init(_ blocks: [any LinearOperator<Scalar>]) {
    var flat = [any LinearOperator<Scalar>]()
    for block in blocks {
      if let nested = block as? BlockDiagonalOperator<Scalar> {
        flat.append(contentsOf: nested.blocks)
      } else {
        flat.append(block)
      }
    }
    var rows = [0], columns = [0]
    for block in flat {
      rows.append(rows[rows.count - 1] + block.rowCount)
      columns.append(columns[columns.count - 1] + block.columnCount)
    }
    self.blocks = flat
    self.rowOffsets = rows
    self.columnOffsets = columns
  }

  /// The block-diagonal operator with the given blocks, top-left first.
  /// - Parameter blocks: Operators of any shapes.
  public init(_ blocks: any LinearOperator<Scalar>...) {
    self.init(blocks)
  }

  /// The sum of the blocks' row counts.
  public var rowCount: Int { rowOffsets[rowOffsets.count - 1] }
  /// The sum of the blocks' column counts.
  public var columnCount: Int { columnOffsets[columnOffsets.count - 1] }

  /// Whether every block is square and symmetric (then so is the whole).
  public var isSymmetric: Bool { blocks.allSatisfy { $0.isSquare && $0.isSymmetric } }

  /// `B X`: each block applied to its row range of `X`.
  /// - Parameter x: A block of column vectors `[columnCount, k]`.
  /// - Returns: `[rowCount, k]`.
  /// - Throws: Whatever a block's product throws.
  /// - Complexity: One product per block on a `[cᵢ, k]` slice, plus O((rowCount + columnCount) k) copying.
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    try blockwise(x, transpose: false)
  }

  /// `Bᵀ X = diag(B₁ᵀ, …, B_mᵀ) X`: each block's transpose applied to its row range of `X`.
  /// - Parameter x: A block of column vectors `[rowCount, k]`.
  /// - Returns: `[columnCount, k]`.
  /// - Throws: Whatever a block's transposed product throws.
  /// - Complexity: As `apply(matrix:)`.
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    try blockwise(x, transpose: true)
  }

  /// Applies each block (or its transpose) to its slice of rows of `x` and stacks the results.
  func blockwise(_ x: NDArray<Scalar>, transpose: Bool) throws -> NDArray<Scalar> {
    let k = x.shape[1]
    let (inputs, outputs) = transpose ? (rowOffsets, columnOffsets) : (columnOffsets, rowOffsets)
    let outputCount = outputs[outputs.count - 1]
    var result = [Scalar]()
    result.reserveCapacity(outputCount * k)
    for (i, block) in blocks.enumerated() {
      let (start, end) = (inputs[i], inputs[i + 1])
      let outputRows = outputs[i + 1] - outputs[i]
      if outputRows == 0 { continue }
      if start == end || k == 0 {
        result.append(contentsOf: repeatElement(0, count: outputRows * k))
        continue
      }
      let slice = NDArray(shape: [end - start, k], scalars: Array(x.scalars[(start * k)..<(end * k)]))
      let product = transpose ? try block.applyTranspose(slice) : try block.apply(slice)
      result.append(contentsOf: product.scalars)
    }
    return NDArray(shape: [outputCount, k], scalars: result)
  }

  /// The dense matrix, assembled from the blocks' dense matrices.
  /// - Returns: `[rowCount, columnCount]`, zero outside the blocks.
  /// - Throws: Whatever a block's `dense()` throws.
  /// - Complexity: O(rowCount · columnCount) plus the blocks' `dense()`.
  public func dense() throws -> NDArray<Scalar> {
    let n = columnCount
    var result = NDArray<Scalar>(zeros: [rowCount, n])
    for (i, block) in blocks.enumerated() where block.rowCount > 0 && block.columnCount > 0 {
      let matrix = try block.dense()
      let (rows, columns) = (block.rowCount, block.columnCount)
      for r in 0..<rows {
        let target = (rowOffsets[i] + r) * n + columnOffsets[i]
        result.scalars.replaceSubrange(target..<(target + columns), with: matrix.scalars[(r * columns)..<((r + 1) * columns)])
      }
    }
    return result
  }

  /// The main diagonal, from the blocks.
  ///
  /// A block whose first row and first column coincide (every block, when all are square)
  /// contributes its own `diagonal()`. A block off the main diagonal contributes the
  /// entries the main diagonal crosses, found with one product on unit vectors.
  /// - Returns: A vector of length `min(rowCount, columnCount)`; zero where no block lies.
  /// - Throws: Whatever a block's `diagonal()` or product throws.
  /// - Complexity: The blocks' diagonals, plus one product per off-diagonal block.
  public func diagonal() throws -> NDArray<Scalar> {
    var entries = [Scalar](repeating: 0, count: Swift.min(rowCount, columnCount))
    for (i, block) in blocks.enumerated() {
      let (row, column) = (rowOffsets[i], columnOffsets[i])
      let start = Swift.max(row, column)
      let end = Swift.min(row + block.rowCount, column + block.columnCount)
      guard start < end else { continue }
      if row == column {
        let d = try block.diagonal()
        for p in start..<end { entries[p] = d.scalars[p - row] }
      } else {
        // The entries B[p - row, p - column] for p in start..<end: one probe column each.
        let width = end - start
        var probe = NDArray<Scalar>(zeros: [block.columnCount, width])
        for p in start..<end { probe.scalars[(p - column) * width + (p - start)] = 1 }
        let columns = try block.apply(probe)
        for p in start..<end { entries[p] = columns.scalars[(p - row) * width + (p - start)] }
      }
    }
    return NDArray(entries)
  }

  /// The trace, `Σᵢ tr(Bᵢ)` when every block is square.
  /// - Returns: The sum of the diagonal.
  /// - Throws: `LinearOperatorError.notSquare` when the operator is not square, or what a
  ///   block's `trace()` throws.
  /// - Complexity: The blocks' traces (through `diagonal()` when some block is rectangular).
  public func trace() throws -> Scalar {
    try requireSquare("trace")
    guard blocks.allSatisfy(\.isSquare) else { return try diagonal().sum() }
    return try blocks.reduce(0) { $0 + (try $1.trace()) }
  }

  /// The Frobenius norm, `(Σᵢ ‖Bᵢ‖_F²)^{1/2}`, scaled by the largest block norm so that it
  /// does not overflow.
  /// - Returns: `‖B‖_F`.
  /// - Throws: Whatever a block's `frobeniusNorm()` throws.
  /// - Complexity: The blocks' norms.
  public func frobeniusNorm() throws -> Scalar {
    let norms = try blocks.map { try $0.frobeniusNorm() }
    guard let largest = norms.max(), largest > 0, largest.isFinite else { return norms.max() ?? 0 }
    let sum = norms.reduce(0) { $0 + ($1 / largest) * ($1 / largest) }
    return largest * sum.squareRoot()
  }

  /// The sign and log-magnitude of the determinant, `Πᵢ det Bᵢ`, from the blocks'.
  ///
  /// A square operator with a rectangular block is singular (its rank is at most
  /// `Σᵢ min(rᵢ, cᵢ) < n`), giving sign 0 and log-magnitude −∞.
  /// - Returns: `(sign, logMagnitude)`, with sign 0 and −∞ for a singular operator.
  /// - Throws: `LinearOperatorError.notSquare` when the operator is not square, or what a
  ///   block's `logDeterminant()` throws.
  /// - Complexity: The blocks' log-determinants (O(Σ nᵢ³) by default).
  public func logDeterminant() throws -> (sign: Scalar, logMagnitude: Scalar) {
    try requireSquare("logDeterminant")
    guard blocks.allSatisfy(\.isSquare) else { return (0, -.infinity) }
    var sign: Scalar = 1, logMagnitude: Scalar = 0
    for block in blocks {
      let (s, l) = try block.logDeterminant()
      if s == 0 { return (0, -.infinity) }
      sign *= s
      logMagnitude += l
    }
    return (sign, logMagnitude)
  }

  /// The inverse, `diag(B₁⁻¹, …, B_m⁻¹)`, as a block-diagonal operator.
  /// - Returns: A `BlockDiagonalOperator` of the blocks' inverses.
  /// - Throws: `LinearOperatorError.notSquare` when the operator is not square;
  ///   `LinearOperatorError.singular` when a block is rectangular or a block's `inverse()`
  ///   finds it singular.
  /// - Complexity: The blocks' inverses (O(Σ nᵢ³) by default).
  public func inverse() throws -> any LinearOperator<Scalar> {
    try requireSquare("inverse")
    if let i = blocks.firstIndex(where: { !$0.isSquare }) {
      throw LinearOperatorError.singular(
        "block \(i) is \(blocks[i].rowCount)×\(blocks[i].columnCount), so the block-diagonal operator has rank below \(rowCount)")
    }
    return BlockDiagonalOperator(try blocks.map { try $0.inverse() })
  }

  /// The transpose, `diag(B₁ᵀ, …, B_mᵀ)`, as a block-diagonal operator (symmetric blocks
  /// stay as they are).
  /// - Returns: The block-diagonal operator of the blocks' transposes.
  /// - Complexity: O(m); nothing is computed.
  public func transposed() -> BlockDiagonalOperator<Scalar> {
    BlockDiagonalOperator(blocks.map { $0.isSymmetric ? $0 : TransposedOperator($0) })
  }
}

/// The block-diagonal operator `diag(B₁, …, B_m)` of the given blocks.
/// - Parameter blocks: Operators of any shapes, top-left first.
/// - Returns: A `BlockDiagonalOperator`; block-diagonal blocks contribute their blocks.
/// - Complexity: O(m); nothing is computed.
public func blockDiagonal<Scalar: BLASScalar>(_ blocks: [any LinearOperator<Scalar>]) -> BlockDiagonalOperator<Scalar> {
  BlockDiagonalOperator(blocks)
}

/// The block-diagonal operator `diag(A, B)` (the direct sum `A ⊕ B`) of two operators.
/// - Parameters:
///   - first: The top-left block.
///   - second: The bottom-right block.
/// - Returns: A `BlockDiagonalOperator`.
/// - Complexity: O(1); nothing is computed.
public func blockDiagonal<A: LinearOperator, B: LinearOperator>(_ first: A, _ second: B) -> BlockDiagonalOperator<A.Scalar>
where A.Scalar == B.Scalar {
  BlockDiagonalOperator([first, second])
}

extension LinearOperator {
  /// The block-diagonal operator that repeats this operator `count` times, `I_count ⊗ A`
  /// stored blockwise.
  /// - Parameter count: The number of copies, at least 0.
  /// - Returns: `diag(A, A, …, A)`.
  /// - Complexity: O(count); nothing is computed.
  public func blockDiagonal(repeating count: Int) -> BlockDiagonalOperator<Scalar> {
    precondition(count >= 0, "blockDiagonal(repeating:): negative count \(count)")
    return BlockDiagonalOperator(Array(repeating: self as any LinearOperator<Scalar>, count: count))
  }
}
