// BLAS-backed products of `NDArray`s: matrix and batched matrix products, matrix-vector
// products, outer and Kronecker products, and the level-1 arithmetic built on axpy/scal.

/// The matrix product `op(a) op(b)`, batched over leading axes.
///
/// - `a` `[m, k]` and `b` `[k, n]`: one gemm.
/// - `a` `[..., m, k]` and `b` `[k, n]`: the leading axes of `a` fold into the rows of a
///   single gemm (a Linear layer on a sequence costs one BLAS call).
/// - `a` `[..., m, k]` and `b` `[..., k, n]` whose leading axes broadcast (NumPy rules):
///   one gemm per batch entry.
/// - `a` `[m, k]` and `b` `[k]`: a gemv, giving `[m]`.
///
/// - Parameters:
///   - a: The left factor, rank ≥ 2.
///   - b: The right factor, rank ≥ 1.
///   - transposeA: Use the transpose of each `a` matrix (its last two axes swapped).
///   - transposeB: Use the transpose of each `b` matrix.
/// - Returns: The product, with the batch axes of the batched operand.
/// - Complexity: O(batch · m · n · k) flops in BLAS.
@_specialize(where T == Float)
@_specialize(where T == Double)
public func matmul<T: BLASScalar>(
  _ a: NDArray<T>, _ b: NDArray<T>, transposeA: Bool = false, transposeB: Bool = false
) -> NDArray<T> {
  // Specialized (above): called from the generic tensor layer, the per-batch-entry loop ran
  // unspecialized, looking up slice metadata for every gemm of an attention's heads.
  precondition(a.rank >= 2 && b.rank >= 1, "matmul: shapes \(a.shape) and \(b.shape) need rank ≥ 2 and ≥ 1")
  if b.rank == 1 {
    precondition(a.rank == 2 && !transposeB, "matmul: a vector right factor needs a matrix left factor, got \(a.shape)")
    return matvec(a, b, transpose: transposeA)
  }
  let product = MatrixProduct<T>(a.shape, b.shape, transposeA: transposeA, transposeB: transposeB)
  // gemm with β = 0 writes every element of C (OpenBLAS stores zeros, it does not scale
  // what is there), so C needs no zero fill of its own: one pass over fresh memory fewer.
  var c = product.k == 0 ? NDArray<T>(zeros: product.shape) : NDArray<T>(uninitializedShape: product.shape) { _ in }
  product.run(a, b, beta: 0, into: &c)
  return c
}

/// The sum of two matrix products of the same shape, `op(a₁) op(b₁) + op(a₂) op(b₂)`, the
/// second accumulated onto the first by gemm (β = 1): no second result array and no
/// separate addition. (The tangent of a product, `ȧ b + a ḃ`.)
///
/// Where gemm keeps the inner dimension in one block (OpenBLAS's `GEMM_Q`, a few hundred),
/// each element is `fl(x + y)` of the two products, the same bits as their sum by `+`;
/// beyond it, gemm adds the blocks onto the first product one by one (another order).
/// - Parameters:
///   - a1: The first product's left factor, rank ≥ 2.
///   - b1: The first product's right factor, rank ≥ 2.
///   - a2: The second product's left factor, rank ≥ 2.
///   - b2: The second product's right factor, rank ≥ 2.
///   - transposeA: Use the transpose of each `a` matrix (both products).
///   - transposeB: Use the transpose of each `b` matrix (both products).
/// - Returns: The sum, with the batch axes of the batched operands.
/// - Precondition: Both products have the same shape.
/// - Complexity: Two products' flops in BLAS, one result array.
@_specialize(where T == Float)
@_specialize(where T == Double)
public func matmulSum<T: BLASScalar>(
  _ a1: NDArray<T>, _ b1: NDArray<T>, _ a2: NDArray<T>, _ b2: NDArray<T>,
  transposeA: Bool = false, transposeB: Bool = false
) -> NDArray<T> {
  precondition(b1.rank >= 2 && b2.rank >= 2, "matmulSum: shapes \(b1.shape) and \(b2.shape) need rank ≥ 2")
  var c = matmul(a1, b1, transposeA: transposeA, transposeB: transposeB)
  let second = MatrixProduct<T>(a2.shape, b2.shape, transposeA: transposeA, transposeB: transposeB)
  precondition(
    second.shape == c.shape, "matmulSum: products of shapes \(c.shape) and \(second.shape) differ")
  second.run(a2, b2, beta: 1, into: &c)
  return c
}

/// The shapes of a (batched) matrix product `op(a) op(b)` and its gemm calls.
private struct MatrixProduct<T: BLASScalar> {
  let transposeA: Bool, transposeB: Bool
  /// Rows and columns of `op(a)`'s and `op(b)`'s matrices.
  let m: Int, n: Int, k: Int
  /// Rows and columns of `a`'s and `b`'s stored matrices.
  let ar: Int, ac: Int, br: Int, bc: Int
  let batchA: [Int], batchB: [Int], batchShape: [Int]
  /// The result's shape, `batchShape + [m, n]`.
  var shape: [Int] { batchShape + [m, n] }

  init(_ shapeA: [Int], _ shapeB: [Int], transposeA: Bool, transposeB: Bool) {
    precondition(shapeA.count >= 2 && shapeB.count >= 2, "matmul: shapes \(shapeA) and \(shapeB) need rank ≥ 2")
    (self.transposeA, self.transposeB) = (transposeA, transposeB)
    (ar, ac) = (shapeA[shapeA.count - 2], shapeA[shapeA.count - 1])
    (br, bc) = (shapeB[shapeB.count - 2], shapeB[shapeB.count - 1])
    (m, k) = transposeA ? (ac, ar) : (ar, ac)
    let (kb, columns) = transposeB ? (bc, br) : (br, bc)
    n = columns
    precondition(k == kb, "matmul: inner dimensions differ for \(shapeA)\(transposeA ? "ᵀ" : "") × \(shapeB)\(transposeB ? "ᵀ" : "")")
    (batchA, batchB) = (Array(shapeA.dropLast(2)), Array(shapeB.dropLast(2)))
    guard let batchShape = NDArray<T>.broadcastShape(batchA, batchB) else {
      preconditionFailure("matmul: batch axes \(batchA) and \(batchB) do not broadcast")
    }
    self.batchShape = batchShape
  }

  /// `c ← op(a) op(b) + β c` for `c` of `shape`.
  func run(_ a: NDArray<T>, _ b: NDArray<T>, beta: T, into c: inout NDArray<T>) {
    let batch = batchShape.reduce(1, *)
    // BLAS needs leading dimensions ≥ 1 even for matrices with no columns.
    let (lda, ldb, ldc) = (Swift.max(1, ac), Swift.max(1, bc), Swift.max(1, n))
    let ta: Transpose = transposeA ? .transpose : .none
    let tb: Transpose = transposeB ? .transpose : .none
    a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        c.withUnsafeMutableBufferPointer { pc in
          if batchB.isEmpty && !transposeA {
            // Fold a's batch axes into rows: [batch·m, k] × op(b).
            T.gemm(
              transposeA: .none, transposeB: tb, m: batch * m, n: n, k: k, alpha: 1, a: pa, lda: lda,
              b: pb, ldb: ldb, beta: beta, c: pc, ldc: ldc)
            return
          }
          // Matrix offsets of each operand per batch entry (0 along broadcast batch axes).
          let offsetsA = batchOffsets(T.self, batchA, batchShape, matrixSize: ar * ac)
          let offsetsB = batchOffsets(T.self, batchB, batchShape, matrixSize: br * bc)
          for i in 0..<batch {
            T.gemm(
              transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: 1,
              a: UnsafeBufferPointer(rebasing: pa[offsetsA[i]...]), lda: lda,
              b: UnsafeBufferPointer(rebasing: pb[offsetsB[i]...]), ldb: ldb, beta: beta,
              c: UnsafeMutableBufferPointer(rebasing: pc[(i * m * n)...]), ldc: ldc)
          }
        }
      }
    }
  }
}

/// The element offset of each batch entry's matrix when `batch` is broadcast to `target`.
func batchOffsets<T: BLASScalar>(_: T.Type, _ batch: [Int], _ target: [Int], matrixSize: Int) -> [Int] {
  let count = target.reduce(1, *)
  if batch.isEmpty { return [Int](repeating: 0, count: count) }
  let strides = NDArray<T>.broadcastStrides(of: batch, to: target)
  var offsets = [Int]()
  offsets.reserveCapacity(count)
  var index = [Int](repeating: 0, count: target.count)
  for _ in 0..<count {
    offsets.append(zip(index, strides).reduce(0) { $0 + $1.0 * $1.1 } * matrixSize)
    NDArray<T>.increment(&index, in: target)
  }
  return offsets
}

/// The matrix-vector product `op(a) x` (gemv).
///
/// - Parameters:
///   - a: A matrix `[m, n]`.
///   - x: A vector of length `n` (or `m` when `transpose` is true).
///   - transpose: Multiply by `aᵀ` instead.
/// - Returns: A vector of length `m` (or `n`).
/// - Complexity: O(m · n).
@_specialize(where T == Float)
@_specialize(where T == Double)
public func matvec<T: BLASScalar>(_ a: NDArray<T>, _ x: NDArray<T>, transpose: Bool = false) -> NDArray<T> {
  precondition(a.rank == 2 && x.rank == 1, "matvec: shapes \(a.shape) and \(x.shape) are not matrix and vector")
  let (m, n) = (a.shape[0], a.shape[1])
  precondition(x.count == (transpose ? m : n), "matvec: \(a.shape)\(transpose ? "ᵀ" : "") × \(x.shape)")
  var y = NDArray<T>(zeros: [transpose ? n : m])
  a.withUnsafeBufferPointer { pa in
    x.withUnsafeBufferPointer { px in
      y.withUnsafeMutableBufferPointer { py in
        T.gemv(
          transpose: transpose ? .transpose : .none, m: m, n: n, alpha: 1, a: pa, lda: Swift.max(1, n),
          x: px, strideX: 1, beta: 0, y: py, strideY: 1)
      }
    }
  }
  return y
}

/// The outer product `u vᵀ` of two vectors (ger).
/// - Complexity: O(|u| · |v|).
public func outer<T: BLASScalar>(_ u: NDArray<T>, _ v: NDArray<T>) -> NDArray<T> {
  precondition(u.rank == 1 && v.rank == 1, "outer: shapes \(u.shape) and \(v.shape) are not vectors")
  var result = NDArray<T>(zeros: [u.count, v.count])
  u.withUnsafeBufferPointer { pu in
    v.withUnsafeBufferPointer { pv in
      result.withUnsafeMutableBufferPointer { pr in
        T.ger(m: u.count, n: v.count, alpha: 1, x: pu, strideX: 1, y: pv, strideY: 1, a: pr, lda: Swift.max(1, v.count))
      }
    }
  }
  return result
}

/// The Kronecker product `a ⊗ b` of two matrices: the block matrix `[a_ij b]`.
///
/// Computed as the outer product of the flattened factors followed by one axis
/// permutation, `[m, n, p, q] → [m, p, n, q]`, so it costs one ger and one copy.
/// - Complexity: O(mnpq).
public func kronecker<T: BLASScalar>(_ a: NDArray<T>, _ b: NDArray<T>) -> NDArray<T> {
  precondition(a.rank == 2 && b.rank == 2, "kronecker: shapes \(a.shape) and \(b.shape) are not matrices")
  let (m, n, p, q) = (a.shape[0], a.shape[1], b.shape[0], b.shape[1])
  return outer(a.flattened(), b.flattened())
    .reshaped([m, n, p, q])
    .permuted([0, 2, 1, 3])
    .reshaped([m * p, n * q])
}

extension NDArray {
  /// The transpose of a matrix (OpenBLAS omatcopy).
  /// - Complexity: O(count).
  public func transposed() -> NDArray {
    precondition(rank == 2, "transposed: shape \(shape) is not a matrix; use permuted(_:)")
    let (rows, columns) = (shape[0], shape[1])
    var result = NDArray(zeros: [columns, rows])
    withUnsafeBufferPointer { src in
      result.withUnsafeMutableBufferPointer { dst in
        Scalar.omatcopy(
          transpose: .transpose, rows: rows, columns: columns, alpha: 1, a: src,
          lda: max(1, columns), b: dst, ldb: max(1, rows))
      }
    }
    return result
  }

  /// The inner product of two arrays of equal shape, taken over all elements (dot).
  public func dot(_ other: NDArray) -> Scalar {
    precondition(shape == other.shape, "dot: shapes \(shape) and \(other.shape) differ")
    return withUnsafeBufferPointer { x in
      other.withUnsafeBufferPointer { y in Scalar.dot(count: count, x: x, strideX: 1, y: y, strideY: 1) }
    }
  }

  /// The Euclidean (Frobenius) norm over all elements (nrm2).
  public func norm() -> Scalar {
    withUnsafeBufferPointer { x in Scalar.nrm2(count: count, x: x, stride: 1) }
  }

  /// The sum of all elements, accumulated in pairs for accuracy.
  public func sum() -> Scalar {
    withUnsafeBufferPointer { NDArray.pairwiseSum($0) }
  }

  static func pairwiseSum(_ x: UnsafeBufferPointer<Scalar>) -> Scalar {
    if x.count <= 64 {
      var total: Scalar = 0
      for value in x { total += value }
      return total
    }
    let half = x.count / 2
    return pairwiseSum(UnsafeBufferPointer(rebasing: x[..<half]))
      + pairwiseSum(UnsafeBufferPointer(rebasing: x[half...]))
  }

  /// The main diagonal of a matrix.
  public func diagonal() -> NDArray {
    precondition(rank == 2, "diagonal: shape \(shape) is not a matrix")
    let n = Swift.min(shape[0], shape[1])
    return NDArray(shape: [n], scalars: (0..<n).map { scalars[$0 * shape[1] + $0] })
  }

  /// The trace of a square matrix.
  public func trace() -> Scalar {
    precondition(rank == 2 && shape[0] == shape[1], "trace: shape \(shape) is not square")
    return diagonal().sum()
  }

  /// A square matrix with `self` (a vector) on its diagonal.
  public func diagonalMatrix() -> NDArray {
    precondition(rank == 1, "diagonalMatrix: shape \(shape) is not a vector")
    var result = NDArray(zeros: [count, count])
    for i in 0..<count { result.scalars[i * count + i] = scalars[i] }
    return result
  }

  /// `self ← self + alpha · other` for arrays of equal shape (axpy).
  public mutating func add(_ other: NDArray, scaledBy alpha: Scalar = 1) {
    precondition(shape == other.shape, "add: shapes \(shape) and \(other.shape) differ")
    let n = count
    other.withUnsafeBufferPointer { x in
      withUnsafeMutableBufferPointer { y in Scalar.axpy(count: n, alpha: alpha, x: x, strideX: 1, y: y, strideY: 1) }
    }
  }

  /// `self ← alpha · self` (scal).
  public mutating func scale(by alpha: Scalar) {
    let n = count
    withUnsafeMutableBufferPointer { x in Scalar.scal(count: n, alpha: alpha, x: x, stride: 1) }
  }

  /// Elementwise sum of arrays of equal shape.
  public static func + (lhs: NDArray, rhs: NDArray) -> NDArray {
    var result = lhs
    result.add(rhs)
    return result
  }

  /// Elementwise difference of arrays of equal shape.
  public static func - (lhs: NDArray, rhs: NDArray) -> NDArray {
    var result = lhs
    result.add(rhs, scaledBy: -1)
    return result
  }

  /// Every element multiplied by a scalar.
  public static func * (lhs: Scalar, rhs: NDArray) -> NDArray {
    var result = rhs
    result.scale(by: lhs)
    return result
  }

  /// Every element multiplied by a scalar.
  public static func * (lhs: NDArray, rhs: Scalar) -> NDArray { rhs * lhs }

  /// Every element negated.
  public static prefix func - (operand: NDArray) -> NDArray { -1 * operand }
}
