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
public func matmul<T: BLASScalar>(
  _ a: Tensor<T>, _ b: Tensor<T>, transposeA: Bool = false, transposeB: Bool = false
) -> Tensor<T> {
  precondition(a.rank >= 2 && b.rank >= 2, "matmul: tensors of shapes \(a.shape) and \(b.shape) need rank ≥ 2")
  let value = matmul(a.value, b.value, transposeA: transposeA, transposeB: transposeB)
  let (shapeA, shapeB) = (a.shape, b.shape)
  return Tensor.primitive(
    value, inputs: [a, b],
    pullback: { g, needed in
      var da: Tensor<T>? = nil, db: Tensor<T>? = nil
      if needed[0] {
        // d op(A) = G op(B)ᵀ
        da = transposeA
          ? matmul(b, g, transposeA: transposeB, transposeB: true)
          : matmul(g, b, transposeB: !transposeB)
        da = da!.summed(toShape: shapeA)
      }
      if needed[1] && shapeB.count == 2 && shapeA.count > 2 && !transposeA {
        // A matrix applied to a batch (a Linear layer on a sequence): one gemm over the
        // folded batch instead of a gemm per entry and a reduction.
        let a2 = a.reshaped([-1, shapeA[shapeA.count - 1]]), g2 = g.reshaped([-1, g.shape[g.rank - 1]])
        db = transposeB ? matmul(g2, a2, transposeA: true) : matmul(a2, g2, transposeA: true)
      } else if needed[1] {
        // d op(B) = op(A)ᵀ G
        db = transposeB
          ? matmul(g, a, transposeA: true, transposeB: transposeA)
          : matmul(a, g, transposeA: !transposeA)
        db = db!.summed(toShape: shapeB)
      }
      return [da, db]
    },
    differential: { t in
      // One forward level: multiply tangents by the primals without their tangents.
      let (a, b) = (a.droppingTangent(), b.droppingTangent())
      let left = t[0].map { matmul($0, b, transposeA: transposeA, transposeB: transposeB) }
      let right = t[1].map { matmul(a, $0, transposeA: transposeA, transposeB: transposeB) }
      return Tensor.sumOfTangents(left, right, shape: value.shape)
    })
}
