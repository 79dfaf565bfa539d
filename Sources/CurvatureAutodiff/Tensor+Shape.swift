// Shape operations: reshape, permutations, broadcasting and its adjoint. All are linear,
// so each one's pullback and differential is another shape operation.

extension Tensor {
  /// The same elements under a new shape (one extent may be -1).
  /// - Complexity: O(1) for the value; no copy.
  public func reshaped(_ newShape: [Int]) -> Tensor {
    let value = self.value.reshaped(newShape)
    if value.shape == shape { return self }
    let original = shape
    return Tensor.primitive(
      value, inputs: [self],
      pullback: { g, _ in [g.reshaped(original)] },
      differential: { t in t[0]?.reshaped(value.shape) })
  }

  /// The tensor flattened from `axis` on: `[d0, …, d(axis-1), Π rest]` (PyTorch's
  /// `flatten(start_dim=axis)`).
  public func flattened(from axis: Int = 0) -> Tensor {
    precondition(axis >= 0 && axis <= rank, "flattened(from:): axis \(axis) out of range for shape \(shape)")
    if axis == rank { return reshaped(shape + [1]) }
    return reshaped(Array(shape[..<axis]) + [-1])
  }

  /// The axes reordered: axis `i` of the result is axis `axes[i]` of `self`.
  /// - Complexity: O(count).
  public func permuted(_ axes: [Int]) -> Tensor {
    if axes == Array(0..<rank) { return self }
    var inversePermutation = [Int](repeating: 0, count: axes.count)
    for (i, axis) in axes.enumerated() { inversePermutation[axis] = i }
    let inverse = inversePermutation
    return Tensor.primitive(
      value.permuted(axes), inputs: [self],
      pullback: { g, _ in [g.permuted(inverse)] },
      differential: { t in t[0]?.permuted(axes) })
  }

  /// The last two axes swapped (the matrix transpose, batched).
  public func transposed() -> Tensor {
    precondition(rank >= 2, "transposed: shape \(shape) has fewer than two axes")
    var axes = Array(0..<rank)
    axes.swapAt(rank - 1, rank - 2)
    return permuted(axes)
  }

  /// The tensor repeated along stretched axes to `shape` (NumPy broadcasting).
  /// - Complexity: O(count of the result).
  public func broadcast(to target: [Int]) -> Tensor {
    if target == shape { return self }
    let original = shape
    return Tensor.primitive(
      value.broadcast(to: target), inputs: [self],
      pullback: { g, _ in [g.summed(toShape: original)] },
      differential: { t in t[0]?.broadcast(to: target) })
  }

  /// The sum over the axes that broadcasting to `shape` would stretch: the adjoint of
  /// `broadcast(to:)`.
  public func summed(toShape target: [Int]) -> Tensor {
    if target == shape { return self }
    let original = shape
    return Tensor.primitive(
      value.summed(toShape: target), inputs: [self],
      pullback: { g, _ in [g.broadcast(to: original)] },
      differential: { t in t[0]?.summed(toShape: target) })
  }

  /// The tensor with a new axis of extent 1 inserted at `axis`.
  public func expandingShape(at axis: Int) -> Tensor {
    let a = axis < 0 ? axis + rank + 1 : axis
    precondition(a >= 0 && a <= rank, "expandingShape(at:): axis \(axis) out of range for shape \(shape)")
    var newShape = shape
    newShape.insert(1, at: a)
    return reshaped(newShape)
  }
}
