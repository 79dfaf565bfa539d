import CurvatureNumerics
import CurvatureAutodiff

extension Functional {
  /// Rows of an embedding table looked up by index — PyTorch's `F.embedding(indices,
  /// weight, padding_idx)`.
  ///
  /// The lookup is one gather, so its pullback scatters cotangents back into the rows (a
  /// row used several times collects all of them). The row `paddingIndex` is looked up like
  /// any other, but as a constant: it receives no gradient, as in PyTorch, and for
  /// consistency no tangent either (PyTorch's forward mode would pass its tangent through;
  /// with this rule `⟨u, J v⟩ = ⟨Jᵀu, v⟩` holds exactly).
  ///
  /// - Parameters:
  ///   - indices: Row numbers as exact integers, each in `0..<V` (any shape `I`).
  ///   - weight: The table `[V, D]`.
  ///   - paddingIndex: The row that gets no gradient (negative counts from the end), or nil.
  /// - Returns: `I + [D]`.
  /// - Precondition: `weight` has rank 2 and every index is an integer in `0..<V`.
  /// - Complexity: O(count(I) · D) in one gather.
  public static func embedding<S: BLASScalar>(_ indices: NDArray<S>, weight: Tensor<S>, paddingIndex: Int?) -> Tensor<S> {
    precondition(weight.rank == 2, "embedding: weight \(weight.shape) is not [V, D]")
    let (rows, width) = (weight.shape[0], weight.shape[1])
    let padding = paddingIndex.map { $0 < 0 ? $0 + rows : $0 }
    let positions = indices.scalars.map { value -> Int in
      precondition(value >= 0 && value < S(rows) && value.rounded() == value, "embedding: index \(value) is not an integer in 0..<\(rows)")
      return Int(value)
    }
    let shape = indices.shape + [width]
    var flat = [Int](repeating: -1, count: positions.count * width)
    var padded = false
    for (k, row) in positions.enumerated() {
      if row == padding {
        padded = true
        continue
      }
      let (source, target) = (row * width, k * width)
      for d in 0..<width { flat[target + d] = source + d }
    }
    let looked = weight.gathering(flatIndices: flat, shape: shape)
    guard padded, let padding else { return looked }
    // The padding row's value, placed as a constant where the padding index occurs.
    var constant = [S](repeating: 0, count: flat.count)
    weight.value.withUnsafeBufferPointer { table in
      for (k, row) in positions.enumerated() where row == padding {
        for d in 0..<width { constant[k * width + d] = table[padding * width + d] }
      }
    }
    return looked + Tensor(NDArray(shape: shape, scalars: constant))
  }
}
