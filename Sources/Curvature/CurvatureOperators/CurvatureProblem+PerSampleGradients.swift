import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// Per-sample gradients and their statistics: BackPACK's first-order extensions BatchGrad,
// BatchL2Grad, SumGradSquared and Variance (Dangel, Kunstner & Hennig, "BackPACK:
// Packing more into backprop", ICLR 2020), with BackPACK's scaling: sample n's gradient
// is that of its share of the loss, `g_n = ∇_θ (1/R) Σ_{t ∈ n} ℓ_t`, so that the
// gradients sum to the gradient of the loss (`mean` reduction: each carries the 1/R).

/// Per-sample gradient statistics of a set of data points (see
/// `CurvatureProblem.perSampleGradientStatistics(points:individualGradients:)`).
public struct PerSampleGradientStatistics<Scalar: BLASScalar>: Sendable {
  /// The number of data points `N`.
  public var count: Int
  /// `Σ_n g_n`, `[P]` over the selected blocks: the gradient of the loss over these points.
  public var gradient: NDArray<Scalar>
  /// `Σ_n g_n²` elementwise, `[P]` (BackPACK's SumGradSquared).
  public var sumOfSquares: NDArray<Scalar>
  /// `‖g_n^(b)‖²` per data point and selected block, `[N, blocks]` (BackPACK's BatchL2Grad).
  public var squaredNorms: NDArray<Scalar>
  /// The individual gradients `g_n`, `[N, P]` (BackPACK's BatchGrad), when requested.
  public var individual: NDArray<Scalar>?

  /// `(1/N) Σ_n g_n² − ((1/N) Σ_n g_n)²` elementwise, `[P]` (BackPACK's Variance).
  public var variance: NDArray<Scalar> {
    let n = Scalar(count)
    var v = sumOfSquares * (1 / n)
    v.add(gradient.map(.square), scaledBy: -1 / (n * n))
    return v
  }
}

extension CurvatureProblem {
  /// Per-sample gradients of a set of data points and their statistics, in one pass over
  /// the data (BackPACK's BatchGrad, BatchL2Grad, SumGradSquared and Variance at once).
  ///
  /// Sample n's gradient is `g_n = ∇_θ (1/R) Σ_{t ∈ n} ℓ_t` over its loss terms `t`, with
  /// the problem's reduction factor `R` (see `CurvatureProblem`): BackPACK's scaling when
  /// the points are the whole data set (a problem built on one minibatch gives BackPACK's
  /// values for that minibatch).
  ///
  /// ```swift
  /// let stats = try problem.perSampleGradientStatistics()
  /// let variance = stats.variance                   // [P]
  /// ```
  /// - Parameters:
  ///   - points: The data points (default: all), read in batches of `batchSize`.
  ///   - individualGradients: Also return the individual gradients `[N, P]`.
  /// - Returns: The statistics over the selected blocks.
  /// - Throws: `CurvatureError.invalidArgument` for points outside the data set;
  ///   `CurvatureError` for invalid data or non-finite values.
  /// - Complexity: One forward and one reverse pass per batch; Linear and convolution
  ///   weights from their tapped inputs and output gradients, other graph parameters by a
  ///   vector-Jacobian product of the node where they meet the data, per data point; other
  ///   layers of a `Sequential` (and models without taps) by a pass per data point.
  public func perSampleGradientStatistics(
    points: Range<Int>? = nil, individualGradients: Bool = false
  ) throws -> PerSampleGradientStatistics<Scalar> {
    let points = points ?? 0..<data.count
    guard points.lowerBound >= 0, points.upperBound <= data.count, !points.isEmpty else {
      throw CurvatureError.invalidArgument("per-sample gradients: data points \(points) are not a non-empty part of the \(data.count) data points")
    }
    let p = dimension, count = points.count
    var stats = PerSampleGradientStatistics<Scalar>(
      count: count, gradient: NDArray(zeros: [p]), sumOfSquares: NDArray(zeros: [p]),
      squaredNorms: NDArray(zeros: [count, blocks.count]), individual: individualGradients ? NDArray(zeros: [count, p]) : nil)
    var start = points.lowerBound
    while start < points.upperBound {
      let range = start..<Swift.min(start + batchSize, points.upperBound)
      let batch = try checkedBatch(range)
      let pass = try perPointForward(batch)
      let seed = loss.outputLayout(
        loss.outputGradients(pass.output.value, batch.targets) * (1 / Scalar(reductionFactor)), outputShape: pass.output.shape)
      let perBlock = try perPointGradients(pass, seeds: [seed], batch: batch)[0]
      var offset = 0
      for (i, g) in perBlock.enumerated() {
        let width = g.count / range.count
        try requireFinite(g, "per-sample gradients of data points \(range), block \(model.parameterSpecs[blocks[i]].name)")
        g.scalars.withUnsafeBufferPointer { x in
          for n in 0..<range.count {
            var norm: Scalar = 0
            let row = range.lowerBound - points.lowerBound + n
            for j in 0..<width {
              let v = x[n * width + j]
              norm += v * v
              stats.gradient.scalars[offset + j] += v
              stats.sumOfSquares.scalars[offset + j] += v * v
              stats.individual?.scalars[row * p + offset + j] = v
            }
            stats.squaredNorms.scalars[row * blocks.count + i] = norm
          }
        }
        offset += width
      }
      start = range.upperBound
    }
    return stats
  }

  /// The individual gradients `g_n = ∇_θ (1/R) Σ_{t ∈ n} ℓ_t` of the data points (BackPACK's
  /// BatchGrad; see `perSampleGradientStatistics(points:individualGradients:)`).
  /// - Parameter points: The data points (default: all).
  /// - Returns: `[N, P]` over the selected blocks.
  /// - Throws: As `perSampleGradientStatistics(points:individualGradients:)`.
  /// - Complexity: As `perSampleGradientStatistics(points:individualGradients:)`; memory `N·P`.
  public func perSampleGradients(points: Range<Int>? = nil) throws -> NDArray<Scalar> {
    try perSampleGradientStatistics(points: points, individualGradients: true).individual!
  }

  /// The squared norms `‖g_n^(b)‖²` of the individual gradients per selected block
  /// (BackPACK's BatchL2Grad).
  /// - Parameter points: The data points (default: all).
  /// - Returns: `[N, blocks]`; sum over the last axis for the squared norm of `g_n`.
  /// - Throws: As `perSampleGradientStatistics(points:individualGradients:)`.
  public func perSampleSquaredGradientNorms(points: Range<Int>? = nil) throws -> NDArray<Scalar> {
    try perSampleGradientStatistics(points: points).squaredNorms
  }

  /// `Σ_n g_n²` elementwise (BackPACK's SumGradSquared).
  /// - Parameter points: The data points (default: all).
  /// - Returns: `[P]` over the selected blocks.
  /// - Throws: As `perSampleGradientStatistics(points:individualGradients:)`.
  public func sumOfSquaredGradients(points: Range<Int>? = nil) throws -> NDArray<Scalar> {
    try perSampleGradientStatistics(points: points).sumOfSquares
  }

  /// `(1/N) Σ_n g_n² − ((1/N) Σ_n g_n)²` elementwise (BackPACK's Variance).
  /// - Parameter points: The data points (default: all).
  /// - Returns: `[P]` over the selected blocks.
  /// - Throws: As `perSampleGradientStatistics(points:individualGradients:)`.
  public func gradientVariance(points: Range<Int>? = nil) throws -> NDArray<Scalar> {
    try perSampleGradientStatistics(points: points).variance
  }
}
