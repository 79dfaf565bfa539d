import CurvatureNumerics
import CurvatureAutodiff

// Affine maps and matrix products, each one gemm (or a batch of them) through BLAS.

extension Functional {
  /// `x Wᵀ + b` over the last axis of `x` — PyTorch's `F.linear` (any rank).
  ///
  /// The leading axes of `x` fold into the rows of a single gemm.
  /// - Parameters:
  ///   - x: `[..., in]` (rank ≥ 1).
  ///   - weight: `[out, in]`.
  ///   - bias: `[out]`, or nil.
  /// - Returns: `[..., out]`.
  /// - Precondition: The shapes are as listed.
  /// - Complexity: O(rows · in · out) in one gemm.
  public static func linear<S: BLASScalar>(_ x: Tensor<S>, weight: Tensor<S>, bias: Tensor<S>?) -> Tensor<S> {
    precondition(x.rank >= 1 && weight.rank == 2, "linear: input \(x.shape) and weight \(weight.shape) must be [..., in] and [out, in]")
    let (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
    precondition(x.shape[x.rank - 1] == inFeatures, "linear: input \(x.shape) does not end in in = \(inFeatures) of weight \(weight.shape)")
    let rows = x.reshaped([-1, inFeatures])
    var y = CurvatureAutodiff.matmul(rows, weight, transposeB: true)
    if let bias {
      precondition(bias.shape == [outFeatures], "linear: bias \(bias.shape) is not [out] = [\(outFeatures)]")
      y = y + bias
    }
    return y.reshaped(Array(x.shape.dropLast()) + [outFeatures])
  }

  /// The matrix product with PyTorch's rules — `torch.matmul` (also `@` and `bmm`).
  ///
  /// - Both 1-D: the dot product, shape `[]`.
  /// - `a` 1-D: it is a row `[1, k]` for the product, and that axis is dropped after.
  /// - `b` 1-D: it is a column `[k, 1]` for the product, and that axis is dropped after.
  /// - Otherwise the leading (batch) axes broadcast; a 2-D `b` under a batched `a` folds
  ///   into one gemm.
  /// - Parameters:
  ///   - a: `[..., n, k]` or `[k]`.
  ///   - b: `[..., k, m]` or `[k]`.
  /// - Returns: The product, shaped as `torch.matmul`'s.
  /// - Precondition: The inner extents agree and the batch axes broadcast.
  /// - Complexity: O(batch · n · k · m) in BLAS.
  public static func matmul<S: BLASScalar>(_ a: Tensor<S>, _ b: Tensor<S>) -> Tensor<S> {
    precondition(a.rank >= 1 && b.rank >= 1, "matmul: operands \(a.shape) and \(b.shape) must have rank ≥ 1")
    if a.rank == 1 && b.rank == 1 {
      precondition(a.shape == b.shape, "matmul: vectors \(a.shape) and \(b.shape) differ in length")
      return CurvatureAutodiff.matmul(a.reshaped([1, -1]), b.reshaped([-1, 1])).reshaped([])
    }
    if a.rank == 1 {
      let product = matmul(a.reshaped([1, a.shape[0]]), b)
      var shape = product.shape
      shape.remove(at: shape.count - 2)
      return product.reshaped(shape)
    }
    if b.rank == 1 {
      let product = matmul(a, b.reshaped([b.shape[0], 1]))
      return product.reshaped(Array(product.shape.dropLast()))
    }
    precondition(
      a.shape[a.rank - 1] == b.shape[b.rank - 2],
      "matmul: inner extents of \(a.shape) and \(b.shape) differ")
    if b.rank == 2 && a.rank > 2 {
      let (n, k) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
      let folded = CurvatureAutodiff.matmul(a.reshaped([-1, k]), b)
      return folded.reshaped(Array(a.shape.dropLast(2)) + [n, b.shape[1]])
    }
    return CurvatureAutodiff.matmul(a, b)
  }
}
