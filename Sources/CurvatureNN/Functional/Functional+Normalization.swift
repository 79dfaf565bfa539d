import CurvatureNumerics
import CurvatureAutodiff

// Normalization layers as compositions of reductions and broadcast arithmetic, so their
// derivatives of every order (including through the statistics) follow from those ops.

extension Functional {
  /// Layer normalization over the trailing axes — PyTorch's
  /// `F.layer_norm(x, normalized_shape, weight, bias, eps)`:
  /// `(x − mean) / √(var + eps) · weight + bias`, with the mean and the biased variance
  /// taken over the last `normalizedShape.count` axes.
  ///
  /// - Parameters:
  ///   - x: `[..., *normalizedShape]`.
  ///   - normalizedShape: The trailing extents to normalize over (non-empty).
  ///   - weight: `normalizedShape`, or nil (1).
  ///   - bias: `normalizedShape`, or nil (0).
  ///   - eps: Added to the variance, > 0.
  /// - Returns: A tensor shaped like `x`.
  /// - Precondition: `x` ends in `normalizedShape`; `weight` and `bias` are shaped like it.
  /// - Complexity: O(count).
  public static func layerNorm<S: BLASScalar>(
    _ x: Tensor<S>, normalizedShape: [Int], weight: Tensor<S>?, bias: Tensor<S>?, eps: Double
  ) -> Tensor<S> {
    let axes = trailingAxes(of: x, normalizedShape: normalizedShape, function: "layerNorm")
    var y = x.standardized(alongAxes: axes, epsilon: S(eps))
    if let weight {
      precondition(weight.shape == normalizedShape, "layerNorm: weight \(weight.shape) is not \(normalizedShape)")
      y = y * weight
    }
    if let bias {
      precondition(bias.shape == normalizedShape, "layerNorm: bias \(bias.shape) is not \(normalizedShape)")
      y = y + bias
    }
    return y
  }

  /// Root-mean-square normalization over the trailing axes — PyTorch's
  /// `F.rms_norm(x, normalized_shape, weight, eps)`: `x / √(mean(x²) + eps) · weight`.
  ///
  /// - Parameters:
  ///   - x: `[..., *normalizedShape]`.
  ///   - normalizedShape: The trailing extents to normalize over (non-empty).
  ///   - weight: `normalizedShape`, or nil (1).
  ///   - eps: Added to the mean square; nil takes the machine epsilon of `S`
  ///     (`torch.finfo(dtype).eps`, as PyTorch's default).
  /// - Returns: A tensor shaped like `x`.
  /// - Precondition: `x` ends in `normalizedShape`; `weight` is shaped like it.
  /// - Complexity: O(count).
  public static func rmsNorm<S: BLASScalar>(
    _ x: Tensor<S>, normalizedShape: [Int], weight: Tensor<S>?, eps: Double?
  ) -> Tensor<S> {
    let axes = trailingAxes(of: x, normalizedShape: normalizedShape, function: "rmsNorm")
    let epsilon = eps.map { S($0) } ?? S.ulpOfOne
    var y = x / (x.squared().mean(alongAxes: axes, keepingDimensions: true) + epsilon).sqrt()
    if let weight {
      precondition(weight.shape == normalizedShape, "rmsNorm: weight \(weight.shape) is not \(normalizedShape)")
      y = y * weight
    }
    return y
  }

  /// Batch normalization in evaluation mode — PyTorch's `F.batch_norm(x, running_mean,
  /// running_var, weight, bias, training=False, eps=eps)`:
  /// `(x − running_mean) / √(running_var + eps) · weight + bias` per channel (axis 1).
  ///
  /// - Parameters:
  ///   - x: `[N, C]`, `[N, C, L]` or `[N, C, H, W]`.
  ///   - runningMean: `[C]`.
  ///   - runningVar: `[C]`.
  ///   - weight: `[C]`, or nil (1).
  ///   - bias: `[C]`, or nil (0).
  ///   - eps: Added to the variance, > 0.
  /// - Returns: A tensor shaped like `x`.
  /// - Precondition: The shapes are as listed.
  /// - Complexity: O(count).
  public static func batchNorm<S: BLASScalar>(
    _ x: Tensor<S>, runningMean: Tensor<S>, runningVar: Tensor<S>, weight: Tensor<S>?, bias: Tensor<S>?, eps: Double
  ) -> Tensor<S> {
    precondition(x.rank >= 2, "batchNorm: input \(x.shape) has no channel axis")
    let channels = x.shape[1]
    let perChannel = [channels] + Array(repeating: 1, count: x.rank - 2)
    func column(_ t: Tensor<S>, _ name: String) -> Tensor<S> {
      precondition(t.shape == [channels], "batchNorm: \(name) \(t.shape) is not [C] = [\(channels)]")
      return t.reshaped(perChannel)
    }
    var y = (x - column(runningMean, "running_mean")) / (column(runningVar, "running_var") + S(eps)).sqrt()
    if let weight { y = y * column(weight, "weight") }
    if let bias { y = y + column(bias, "bias") }
    return y
  }

  /// The axes of the trailing `normalizedShape`, checked against the input's shape.
  private static func trailingAxes<S: BLASScalar>(of x: Tensor<S>, normalizedShape: [Int], function: String) -> [Int] {
    let k = normalizedShape.count
    precondition(
      k >= 1 && k <= x.rank && Array(x.shape.suffix(k)) == normalizedShape,
      "\(function): input \(x.shape) does not end in normalized shape \(normalizedShape)")
    return Array((x.rank - k)..<x.rank)
  }
}
