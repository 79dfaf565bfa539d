import CurvatureNumerics

// Matrix products through gemm: forward, pullback and differential are all matmuls, so a
// Linear layer's forward, VJP and JVP each cost gemms and nothing else.

/// The matrix product `op(a) op(b)` of tensors, batched over leading axes with
/// broadcasting (see `matmul(_:_:transposeA:transposeB:)` on `NDArray`).
///
/// - Parameters:
///   - a: The left factor, rank ≥ 2.
///   - b: The right factor, rank ≥ 2.
///   - transposeA: Use the transpose of each `a` matrix.
///   - transposeB: Use the transpose of each `b` matrix.
/// - Returns: The product; its pullback and differential are matmuls too.
/// - Complexity: O(batch · m · n · k) in BLAS.
@_specialize(where T == Float)
@_specialize(where T == Double)
public func matmul<T: BLASScalar>(
  _ a: Tensor<T>, _ b: Tensor<T>, transposeA: Bool = false, transposeB: Bool = false
) -> Tensor<T> {
  precondition(a.rank >= 2 && b.rank >= 2, "matmul: tensors of shapes \(a.shape) and \(b.shape) need rank ≥ 2")
  let value = matmul(a.value, b.value, transposeA: transposeA, transposeB: transposeB)
  return Tensor.primitive(
    value, inputs: [a, b],
    pullback: { g, needed in
      let (da, db) = matmulPullback(g, a, b, transposeA: transposeA, transposeB: transposeB, needed: (needed[0], needed[1]))
      return [da, db]
    },
    differential: { t in
      matmulDifferential(t[0], t[1], a, b, transposeA: transposeA, transposeB: transposeB, shape: value.shape)
    })
}

/// `op(a₁) op(b₁) + op(a₂) op(b₂)` for two products of the same shape, as one primitive
/// whose value accumulates the second gemm onto the first (`matmulSum` on arrays): the
/// tangent `ȧ b + a ḃ` of a product without a second array and an addition.
func matmulSum<T: BLASScalar>(
  _ a1: Tensor<T>, _ b1: Tensor<T>, _ a2: Tensor<T>, _ b2: Tensor<T>, transposeA: Bool, transposeB: Bool
) -> Tensor<T> {
  let value = matmulSum(a1.value, b1.value, a2.value, b2.value, transposeA: transposeA, transposeB: transposeB)
  return Tensor.primitive(
    value, inputs: [a1, b1, a2, b2],
    pullback: { g, needed in
      let first = matmulPullback(g, a1, b1, transposeA: transposeA, transposeB: transposeB, needed: (needed[0], needed[1]))
      let second = matmulPullback(g, a2, b2, transposeA: transposeA, transposeB: transposeB, needed: (needed[2], needed[3]))
      return [first.0, first.1, second.0, second.1]
    },
    differential: { t in
      Tensor.sumOfTangents(
        matmulDifferential(t[0], t[1], a1, b1, transposeA: transposeA, transposeB: transposeB, shape: value.shape),
        matmulDifferential(t[2], t[3], a2, b2, transposeA: transposeA, transposeB: transposeB, shape: value.shape),
        shape: value.shape)
    })
}

/// The cotangents of `op(a) op(b)`'s factors for the output cotangent `g` (those `needed`).
private func matmulPullback<T: BLASScalar>(
  _ g: Tensor<T>, _ a: Tensor<T>, _ b: Tensor<T>, transposeA: Bool, transposeB: Bool, needed: (Bool, Bool)
) -> (Tensor<T>?, Tensor<T>?) {
  let (shapeA, shapeB) = (a.shape, b.shape)
  var da: Tensor<T>? = nil, db: Tensor<T>? = nil
  if needed.0 {
    // d op(A) = G op(B)ᵀ
    da = transposeA
      ? matmul(b, g, transposeA: transposeB, transposeB: true)
      : matmul(g, b, transposeB: !transposeB)
    da = da!.summed(toShape: shapeA)
  }
  if needed.1 && shapeB.count == 2 && shapeA.count > 2 && !transposeA {
    // A matrix applied to a batch (a Linear layer on a sequence): one gemm over the
    // folded batch instead of a gemm per entry and a reduction.
    let a2 = a.reshaped([-1, shapeA[shapeA.count - 1]]), g2 = g.reshaped([-1, g.shape[g.rank - 1]])
    db = transposeB ? matmul(g2, a2, transposeA: true) : matmul(a2, g2, transposeA: true)
  } else if needed.1 {
    // d op(B) = op(A)ᵀ G
    db = transposeB
      ? matmul(g, a, transposeA: true, transposeB: transposeA)
      : matmul(a, g, transposeA: !transposeA)
    db = db!.summed(toShape: shapeB)
  }
  return (da, db)
}

/// The tangent `ȧ op(b) + op(a) ḃ` of `op(a) op(b)` (one forward level: the primals
/// without their tangents), nil when neither factor has one. With both, one `matmulSum`.
private func matmulDifferential<T: BLASScalar>(
  _ ta: Tensor<T>?, _ tb: Tensor<T>?, _ a: Tensor<T>, _ b: Tensor<T>, transposeA: Bool, transposeB: Bool, shape: [Int]
) -> Tensor<T>? {
  let (a, b) = (a.droppingTangent(), b.droppingTangent())
  if let ta, let tb, ta.shape == a.shape, tb.shape == b.shape {
    return matmulSum(ta, b, a, tb, transposeA: transposeA, transposeB: transposeB)
  }
  let left = ta.map { matmul($0, b, transposeA: transposeA, transposeB: transposeB) }
  let right = tb.map { matmul(a, $0, transposeA: transposeA, transposeB: transposeB) }
  return Tensor.sumOfTangents(left, right, shape: shape)
}
