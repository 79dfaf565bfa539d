// Sums and means over axes. Their pullbacks broadcast the cotangent back.

extension Tensor {
  /// The sum over `axes` (negative axes count from the end).
  /// - Parameters:
  ///   - axes: The axes to sum over.
  ///   - keepingDimensions: Keep summed axes with extent 1.
  /// - Complexity: O(count).
  public func sum(alongAxes axes: [Int], keepingDimensions: Bool = false) -> Tensor {
    let normalized = axes.map { $0 < 0 ? $0 + rank : $0 }
    precondition(normalized.allSatisfy { $0 >= 0 && $0 < rank }, "sum: axes \(axes) out of range for shape \(shape)")
    precondition(Set(normalized).count == normalized.count, "sum: axes \(axes) name an axis more than once for shape \(shape)")
    let kept = shape.enumerated().map { normalized.contains($0.offset) ? 1 : $0.element }
    let value = self.value.reduced(.sum, axes: normalized, keepingDimensions: keepingDimensions)
    let original = shape, resultShape = value.shape
    return Tensor.primitive(
      value, inputs: [self],
      pullback: { g, _ in [g.reshaped(kept).broadcast(to: original)] },
      differential: { t in t[0]?.sum(alongAxes: normalized, keepingDimensions: keepingDimensions).reshaped(resultShape) })
  }

  /// The sum over `axis`.
  public func sum(alongAxis axis: Int, keepingDimensions: Bool = false) -> Tensor {
    sum(alongAxes: [axis], keepingDimensions: keepingDimensions)
  }

  /// The sum of all elements, as a rank-0 tensor.
  public func sum() -> Tensor { sum(alongAxes: Array(0..<rank)) }

  /// The mean over `axes`.
  public func mean(alongAxes axes: [Int], keepingDimensions: Bool = false) -> Tensor {
    let n = axes.map { shape[$0 < 0 ? $0 + rank : $0] }.reduce(1, *)
    return sum(alongAxes: axes, keepingDimensions: keepingDimensions) * (1 / Scalar(n))
  }

  /// The mean over `axis`.
  public func mean(alongAxis axis: Int, keepingDimensions: Bool = false) -> Tensor {
    mean(alongAxes: [axis], keepingDimensions: keepingDimensions)
  }

  /// The mean of all elements, as a rank-0 tensor.
  public func mean() -> Tensor { sum() * (1 / Scalar(Swift.max(count, 1))) }

  /// The maximum over `axes`, as a constant (no gradient): for numerically stable
  /// shifts such as the one inside `logSumExp`.
  public func maxValue(alongAxes axes: [Int], keepingDimensions: Bool = false) -> Tensor {
    Tensor(value.reduced(.max, axes: axes.map { $0 < 0 ? $0 + rank : $0 }, keepingDimensions: keepingDimensions))
  }
}
