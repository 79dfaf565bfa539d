// Standardization over chosen axes (LayerNorm passes the trailing ones), as one primitive
// (issue 17: a transformer's LayerNorms spent their backward pass in the rules of the
// eight operations that spell it out). The value comes from array kernels in the order of
// those operations, so with their bits; the derivative is one rule, written in
// differentiable operations on the input when the input is live, so derivatives of every
// order stay right.
import CurvatureNumerics

extension Tensor {
  /// `(x − μ) / √(σ² + ε)` over `axes`, with `μ` the mean and `σ²` the biased variance
  /// over them: PyTorch's `layer_norm` without its weight and bias.
  ///
  /// Its Jacobian is symmetric, `(I − 11ᵀ/n − x̂ x̂ᵀ/n) / √(σ² + ε)` per slice of `n`
  /// entries (`x̂` the output), so cotangents and tangents map alike, in a few passes.
  ///
  /// - Parameters:
  ///   - axes: The axes to standardize over (negative axes count from the end); distinct.
  ///   - epsilon: `ε`, added to the variance.
  /// - Returns: A tensor shaped like `self`.
  /// - Precondition: `axes` are in range and distinct.
  /// - Complexity: O(count), a few passes.
  public func standardized(alongAxes axes: [Int], epsilon: Scalar) -> Tensor {
    let a = axes.map { $0 < 0 ? $0 + rank : $0 }
    precondition(a.allSatisfy { $0 >= 0 && $0 < rank }, "standardized: axes \(axes) out of range for shape \(shape)")
    precondition(Set(a).count == a.count, "standardized: axes \(axes) name an axis more than once for shape \(shape)")
    let inverseCount = NDArray<Scalar>(scalar: 1 / Scalar(a.map { shape[$0] }.reduce(1, *)))
    let mean = NDArray.binary(.multiply, value.reduced(.sum, axes: a, keepingDimensions: true), inverseCount)
    let centered = NDArray.binary(.subtract, value, mean)
    let variance = NDArray.binary(.multiply, centered.map(.square).reduced(.sum, axes: a, keepingDimensions: true), inverseCount)
    let scale = NDArray.binary(.add, variance, NDArray(scalar: epsilon)).map(.sqrt)
    let output = NDArray.binary(.divide, centered, scale)
    return Tensor.primitive(
      output, inputs: [self],
      pullback: { g, _ in [standardizationProduct(g, axes: a, epsilon: epsilon, output: output, scale: scale)] },
      differential: { t in
        t[0].map { droppingTangent().standardizationProduct($0, axes: a, epsilon: epsilon, output: output, scale: scale) }
      })
  }

  /// `(v − mean v − x̂ mean(x̂ ⊙ v)) / s` over `axes`: the Jacobian of `standardized` times
  /// `v`, with `x̂` and `s = √(σ² + ε)` recomputed from `self` in differentiable operations
  /// when `self` is live, else the constants `output` and `scale`.
  private func standardizationProduct(
    _ v: Tensor, axes: [Int], epsilon: Scalar, output: NDArray<Scalar>, scale: NDArray<Scalar>
  ) -> Tensor {
    var xhat = Tensor(output), s = Tensor(scale)
    if isLive {
      let centered = self - mean(alongAxes: axes, keepingDimensions: true)
      s = (centered.squared().mean(alongAxes: axes, keepingDimensions: true) + epsilon).sqrt()
      xhat = centered / s
    }
    let projection = xhat * (xhat * v).mean(alongAxes: axes, keepingDimensions: true)
    return (v - v.mean(alongAxes: axes, keepingDimensions: true) - projection) / s
  }
}
