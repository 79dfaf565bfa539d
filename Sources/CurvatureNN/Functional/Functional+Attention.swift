import CurvatureNumerics
import CurvatureAutodiff

// Scaled dot-product attention as batched matmuls (BLAS) around a softmax, and the
// masked fill that builds attention masks by hand. Masks are constants built from values,
// so they add no derivative of their own, except an additive mask tensor, which is
// differentiated like any other input.

extension Functional {
  /// Scaled dot-product attention — PyTorch's `F.scaled_dot_product_attention(query, key,
  /// value, attn_mask, dropout_p=0, is_causal, scale)`:
  /// `softmax(scale · Q Kᵀ + M) V` with `M` the mask as additive `0`/`−∞` entries.
  ///
  /// A query row whose keys are all masked out (every entry of `M` in that row is `−∞`)
  /// gives zeros and no gradient, as PyTorch's `_safe_softmax` (PyTorch ≥ 2.5, every
  /// backend on CPU).
  ///
  /// - Parameters:
  ///   - query: `[..., L, E]`.
  ///   - key: `[..., S, E]`.
  ///   - value: `[..., S, Ev]`.
  ///   - mask: A mask that broadcasts to `[..., L, S]`, or nil.
  ///   - maskKind: `.boolean` (0/1 entries, 1 attends) or `.additive` (added to the scores).
  ///   - isCausal: Also mask out keys after the query (`j > i`, PyTorch's top-left aligned
  ///     lower-triangular mask of shape `[L, S]`).
  ///   - scale: The score factor, or nil for `1/√E`.
  /// - Returns: `[..., L, Ev]`, the batch axes broadcast.
  /// - Precondition: The shapes are as listed and the batch axes broadcast.
  /// - Complexity: O(batch · L · S · (E + Ev)) in BLAS, plus O(batch · L · S) for the softmax.
  public static func scaledDotProductAttention<S: BLASScalar>(
    query: Tensor<S>, key: Tensor<S>, value: Tensor<S>, mask: Tensor<S>?, maskKind: AttentionMaskKind,
    isCausal: Bool, scale: Double?
  ) -> Tensor<S> {
    precondition(
      query.rank >= 2 && key.rank >= 2 && value.rank >= 2,
      "scaledDotProductAttention: query \(query.shape), key \(key.shape), value \(value.shape) need rank ≥ 2")
    let (l, e) = (query.shape[query.rank - 2], query.shape[query.rank - 1])
    let s = key.shape[key.rank - 2]
    precondition(key.shape[key.rank - 1] == e, "scaledDotProductAttention: key \(key.shape) does not end in E = \(e)")
    precondition(value.shape[value.rank - 2] == s, "scaledDotProductAttention: value \(value.shape) does not have S = \(s) rows")
    let factor = S(scale ?? 1 / Double(e).squareRoot())
    let scores = CurvatureAutodiff.matmul(query * factor, key, transposeB: true)  // [..., L, S]

    var additive: Tensor<S>? = nil
    if let mask {
      switch maskKind {
      case .boolean:
        additive = constant(-S.infinity, whereNonzero: complement(mask.value.map(.abs).map(.step)))
      case .additive:
        additive = mask
      }
    }
    if isCausal {
      var causal = [S](repeating: 0, count: l * s)
      for i in 0..<l {
        for j in (i + 1)..<Swift.max(i + 1, s) { causal[i * s + j] = -S.infinity }
      }
      let triangle = Tensor(NDArray(shape: [l, s], scalars: causal))
      additive = additive.map { $0 + triangle } ?? triangle
    }
    guard var additive else {
      return CurvatureAutodiff.matmul(scores.softmax(alongAxis: -1), value)
    }
    if additive.rank == 0 { additive = additive.reshaped([1]) }
    // Rows of the mask that are all −∞: PyTorch's safe softmax makes them zero. The mask
    // there is replaced by zeros (so the softmax stays finite) and the row is then zeroed.
    let extent = additive.shape[additive.rank - 1]
    let maskValues = additive.value.scalars
    let rowCount = extent == 0 ? 0 : maskValues.count / extent
    var live = [Bool](repeating: true, count: rowCount)
    for row in 0..<rowCount {
      live[row] = maskValues[(row * extent)..<((row + 1) * extent)].contains { $0 != -S.infinity }
    }
    guard live.contains(false) else {
      return CurvatureAutodiff.matmul((scores + additive).softmax(alongAxis: -1), value)
    }
    let liveEntries = NDArray<S>(shape: additive.shape, scalars: live.flatMap { Array(repeating: $0 ? 1 : 0, count: extent) })
    let cleared = keeping(additive, whereNonzero: liveEntries)
    let rowShape = Array(additive.shape.dropLast()) + [1]
    let keep = Tensor(NDArray(shape: rowShape, scalars: live.map { $0 ? S(1) : 0 }))
    let weights = (scores + cleared).softmax(alongAxis: -1) * keep
    return CurvatureAutodiff.matmul(weights, value)
  }

  /// `x` with `value` wherever `mask` is nonzero — PyTorch's `x.masked_fill(mask, value)`
  /// (out of place, so `x` and `mask` broadcast together).
  ///
  /// Filled entries are exactly `value` (also `±∞`, whatever `x` holds there) and pass no
  /// derivative to `x`; the others are `x`'s, with its derivatives.
  /// - Parameters:
  ///   - x: Any tensor.
  ///   - mask: 0/1 entries (a boolean as numbers), broadcasting with `x`.
  ///   - value: The fill value; may be `-inf`, `inf` or `nan`.
  /// - Returns: A tensor of the broadcast shape of `x` and `mask`.
  /// - Precondition: The shapes broadcast.
  /// - Complexity: O(count of the result).
  public static func maskedFill<S: BLASScalar>(_ x: Tensor<S>, mask: Tensor<S>, value: Double) -> Tensor<S> {
    guard let shape = NDArray<S>.broadcastShape(x.shape, mask.shape) else {
      preconditionFailure("maskedFill: mask \(mask.shape) does not broadcast with input \(x.shape)")
    }
    let filled = mask.value.broadcast(to: shape).map(.abs).map(.step)
    let input = x.broadcast(to: shape)
    guard anyNonzero(filled) else { return input }
    return keeping(input, whereNonzero: complement(filled)) + constant(S(value), whereNonzero: filled)
  }
}
