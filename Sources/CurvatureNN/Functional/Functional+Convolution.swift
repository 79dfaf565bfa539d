import CurvatureNumerics
import CurvatureAutodiff

// 1-D and 2-D convolutions with PyTorch's semantics. Both run through `CurvatureAutodiff`'s
// conv2d (unfold + gemm); a 1-D convolution is a 2-D one over a height-1 image. Asymmetric
// padding ("same" with an even effective kernel) pads the difference explicitly and leaves
// the symmetric part to the convolution.

extension Functional {
  /// 1-D convolution (cross-correlation) — PyTorch's `F.conv1d` with zero padding.
  ///
  /// - Parameters:
  ///   - x: `[N, Cin, L]` (or one signal `[Cin, L]`).
  ///   - weight: `[Cout, Cin/groups, k]`.
  ///   - bias: `[Cout]`, or nil.
  ///   - stride: The window step, ≥ 1.
  ///   - padding: Zeros on each side, ≥ 0.
  ///   - dilation: The spacing between kernel taps, ≥ 1.
  ///   - groups: The number of independent channel groups; divides `Cin` and `Cout`.
  /// - Returns: `[N, Cout, Lout]` (or `[Cout, Lout]`) with
  ///   `Lout = ⌊(L + 2·padding − dilation·(k − 1) − 1) / stride⌋ + 1 ≥ 1`.
  /// - Precondition: The shapes and attributes are as listed.
  /// - Complexity: O(N · Cout · Cin/groups · k · Lout) in BLAS.
  public static func conv1d<S: BLASScalar>(
    _ x: Tensor<S>, weight: Tensor<S>, bias: Tensor<S>?, stride: Int, padding: Int, dilation: Int, groups: Int
  ) -> Tensor<S> {
    conv1d(x, weight: weight, bias: bias, stride: stride, padding: (padding, padding), dilation: dilation, groups: groups)
  }

  /// 1-D convolution with possibly different zero padding on the two sides (PyTorch's
  /// `F.conv1d(..., padding="same")` once resolved: `before = total / 2`, `after = total − before`).
  ///
  /// - Parameters:
  ///   - x: `[N, Cin, L]` (or one signal `[Cin, L]`).
  ///   - weight: `[Cout, Cin/groups, k]`.
  ///   - bias: `[Cout]`, or nil.
  ///   - stride: The window step, ≥ 1.
  ///   - padding: Zeros before and after the signal, each ≥ 0.
  ///   - dilation: The spacing between kernel taps, ≥ 1.
  ///   - groups: The number of independent channel groups; divides `Cin` and `Cout`.
  /// - Returns: `[N, Cout, Lout]` (or `[Cout, Lout]`) with
  ///   `Lout = ⌊(L + before + after − dilation·(k − 1) − 1) / stride⌋ + 1 ≥ 1`.
  /// - Precondition: The shapes and attributes are as listed.
  /// - Complexity: O(N · Cout · Cin/groups · k · Lout) in BLAS.
  public static func conv1d<S: BLASScalar>(
    _ x: Tensor<S>, weight: Tensor<S>, bias: Tensor<S>?, stride: Int, padding: (before: Int, after: Int),
    dilation: Int, groups: Int
  ) -> Tensor<S> {
    precondition(x.rank == 2 || x.rank == 3, "conv1d: input \(x.shape) is not [N, Cin, L] or [Cin, L]")
    precondition(weight.rank == 3, "conv1d: weight \(weight.shape) is not [Cout, Cin/groups, k]")
    let images = x.reshaped(Array(x.shape.dropLast()) + [1, x.shape[x.rank - 1]])
    let kernels = weight.reshaped([weight.shape[0], weight.shape[1], 1, weight.shape[2]])
    let y = conv2d(
      images, weight: kernels, bias: bias, stride: [1, stride], padding: [(0, 0), padding],
      dilation: [1, dilation], groups: groups)
    var shape = y.shape
    shape.remove(at: shape.count - 2)
    return y.reshaped(shape)
  }

  /// 2-D convolution (cross-correlation) — PyTorch's `F.conv2d` with zero padding.
  ///
  /// - Parameters:
  ///   - x: `[N, Cin, H, W]` (or one image `[Cin, H, W]`).
  ///   - weight: `[Cout, Cin/groups, kh, kw]`.
  ///   - bias: `[Cout]`, or nil.
  ///   - stride: The window steps `[sh, sw]` (one entry: both), each ≥ 1.
  ///   - padding: The zeros on both sides of each axis `[ph, pw]` (one entry: both), each ≥ 0.
  ///   - dilation: The tap spacings `[dh, dw]` (one entry: both), each ≥ 1.
  ///   - groups: The number of independent channel groups; divides `Cin` and `Cout`.
  /// - Returns: `[N, Cout, Hout, Wout]` (or `[Cout, Hout, Wout]`) with
  ///   `Hout = ⌊(H + 2ph − dh(kh − 1) − 1) / sh⌋ + 1 ≥ 1`, likewise `Wout`.
  /// - Precondition: The shapes and attributes are as listed.
  /// - Complexity: O(N · Cout · Cin/groups · kh · kw · Hout · Wout) in BLAS.
  public static func conv2d<S: BLASScalar>(
    _ x: Tensor<S>, weight: Tensor<S>, bias: Tensor<S>?, stride: [Int], padding: [Int], dilation: [Int], groups: Int
  ) -> Tensor<S> {
    conv2d(
      x, weight: weight, bias: bias, stride: stride, padding: padding.map { (before: $0, after: $0) },
      dilation: dilation, groups: groups)
  }

  /// 2-D convolution with possibly different zero padding before and after each axis
  /// (PyTorch's `F.conv2d(..., padding="same")` once resolved per axis).
  ///
  /// - Parameters:
  ///   - x: `[N, Cin, H, W]` (or one image `[Cin, H, W]`).
  ///   - weight: `[Cout, Cin/groups, kh, kw]`.
  ///   - bias: `[Cout]`, or nil.
  ///   - stride: The window steps `[sh, sw]` (one entry: both), each ≥ 1.
  ///   - padding: The zeros `(before, after)` for the height and the width axis (one
  ///     entry: both), each ≥ 0.
  ///   - dilation: The tap spacings `[dh, dw]` (one entry: both), each ≥ 1.
  ///   - groups: The number of independent channel groups; divides `Cin` and `Cout`.
  /// - Returns: `[N, Cout, Hout, Wout]` (or `[Cout, Hout, Wout]`) with
  ///   `Hout = ⌊(H + before + after − dh(kh − 1) − 1) / sh⌋ + 1 ≥ 1`, likewise `Wout`.
  /// - Precondition: The shapes and attributes are as listed.
  /// - Complexity: O(N · Cout · Cin/groups · kh · kw · Hout · Wout) in BLAS, plus a copy
  ///   of the input when the padding is asymmetric.
  public static func conv2d<S: BLASScalar>(
    _ x: Tensor<S>, weight: Tensor<S>, bias: Tensor<S>?, stride: [Int], padding: [(before: Int, after: Int)],
    dilation: [Int], groups: Int
  ) -> Tensor<S> {
    let (stride, padding, dilation) = (perAxis(stride, "stride"), perAxis(padding, "padding"), perAxis(dilation, "dilation"))
    precondition(x.rank == 3 || x.rank == 4, "conv2d: input \(x.shape) is not [N, Cin, H, W] or [Cin, H, W]")
    // The symmetric part goes to the convolution; the excess on one side is padded here.
    var input = x
    var symmetric = [0, 0]
    for axis in 0..<2 {
      let (before, after) = padding[axis]
      precondition(before >= 0 && after >= 0, "conv2d: negative padding \(padding[axis])")
      let common = Swift.min(before, after)
      symmetric[axis] = common
      if before != after {
        input = input.padded(alongAxis: input.rank - 2 + axis, before: before - common, after: after - common)
      }
    }
    return CurvatureAutodiff.conv2d(
      input, weight: weight, bias: bias, stride: (stride[0], stride[1]), padding: (symmetric[0], symmetric[1]),
      dilation: (dilation[0], dilation[1]), groups: groups)
  }

  /// A per-axis attribute of one or two entries as two entries.
  private static func perAxis<T>(_ values: [T], _ name: String) -> [T] {
    precondition(values.count == 1 || values.count == 2, "conv2d: \(name) needs 1 or 2 entries, got \(values.count)")
    return values.count == 1 ? [values[0], values[0]] : values
  }
}
