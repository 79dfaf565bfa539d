import CurvatureNumerics

// 2-D convolution with PyTorch semantics, composed of two linear primitives — unfold
// (im2col by strided loops) and its adjoint fold (col2im) — and batched matmuls through
// gemm. Each primitive's pullback is the other one and its differential is itself, so
// conv2d's VJP, JVP, gradient of gradient and Hessian-vector products all come from the
// composition. (A conv/convT/convW primitive family with one unfold of the batch as
// [Cin·kh·kw, N·L] was measured no faster on the compare.py CNN; see Benchmarks/README.md.)

/// Sliding-window patches of a batch of images as columns — PyTorch's
/// `torch.nn.functional.unfold` (im2col).
///
/// Row `(c·kh + i)·kw + j` of the result holds tap `(i, j)` of channel `c`; column
/// `y·Wout + x` is the window at output position `(y, x)`. Taps in the padding are zero.
///
/// ```swift
/// let x = Tensor<Float>(zeros: [2, 3, 8, 8])
/// let columns = unfold(x, kernelSize: (3, 3), padding: (1, 1))   // [2, 27, 64]
/// ```
/// - Parameters:
///   - x: Images `[N, C, H, W]` (or one image `[C, H, W]`).
///   - kernelSize: The window extents `(kh, kw)`.
///   - stride: The window steps per axis.
///   - padding: Implicit zeros on both sides of each axis.
///   - dilation: The spacing between taps per axis.
/// - Returns: `[N, C·kh·kw, L]` (or `[C·kh·kw, L]`) with `L = Hout·Wout`. Linear in `x`:
///   its pullback is `fold` and its differential `unfold` of the tangent.
/// - Complexity: O(N·C·kh·kw·L) copies (strided loops, no index maps).
public func unfold<T: BLASScalar>(
  _ x: Tensor<T>, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
  padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)
) -> Tensor<T> {
  precondition(x.rank == 3 || x.rank == 4, "unfold: input of shape \(x.shape) is not [N, C, H, W] or [C, H, W]")
  if x.rank == 3 {
    let batched = unfold(x.expandingShape(at: 0), kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation)
    return batched.reshaped(Array(batched.shape.dropFirst()))
  }
  let s = x.shape
  let geometry = Conv2dGeometry(
    batch: s[0], channels: s[1], height: s[2], width: s[3], kernelSize: kernelSize, stride: stride,
    padding: padding, dilation: dilation, operation: "unfold")
  return Tensor.unfolded(x, geometry)
}

/// The adjoint of `unfold`: columns of patches summed back into images — PyTorch's
/// `torch.nn.functional.fold` (col2im). Overlapping taps add up; taps in the padding are
/// dropped.
///
/// `fold(unfold(x))` multiplies each pixel by the number of windows covering it; with
/// `stride == kernelSize` and no padding or dilation, it is `x`.
/// - Parameters:
///   - columns: `[N, C·kh·kw, L]` (or `[C·kh·kw, L]`), laid out as `unfold` produces them.
///   - outputSize: The image extents `(H, W)`.
///   - kernelSize, stride, padding, dilation: The window, as for `unfold`.
/// - Returns: `[N, C, H, W]` (or `[C, H, W]`). Linear: its pullback is `unfold` and its
///   differential `fold` of the tangent.
/// - Precondition: The row count is a multiple of `kh·kw` and `L` is the number of windows
///   that fit in `outputSize`.
/// - Complexity: O(N·C·kh·kw·L) scatter-adds.
public func fold<T: BLASScalar>(
  _ columns: Tensor<T>, outputSize: (Int, Int), kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
  padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)
) -> Tensor<T> {
  precondition(
    columns.rank == 2 || columns.rank == 3,
    "fold: input of shape \(columns.shape) is not [N, C·kh·kw, L] or [C·kh·kw, L]")
  if columns.rank == 2 {
    let batched = fold(
      columns.expandingShape(at: 0), outputSize: outputSize, kernelSize: kernelSize, stride: stride,
      padding: padding, dilation: dilation)
    return batched.reshaped(Array(batched.shape.dropFirst()))
  }
  let s = columns.shape
  precondition(kernelSize.0 >= 1 && kernelSize.1 >= 1, "fold: kernel size \(kernelSize) must be positive")
  let taps = kernelSize.0 * kernelSize.1
  precondition(
    s[1] % taps == 0,
    "fold: \(s[1]) rows of input \(s) are not a multiple of kh·kw = \(taps) for kernel size \(kernelSize)")
  let geometry = Conv2dGeometry(
    batch: s[0], channels: s[1] / taps, height: outputSize.0, width: outputSize.1, kernelSize: kernelSize,
    stride: stride, padding: padding, dilation: dilation, operation: "fold")
  precondition(
    s[2] == geometry.patchCount,
    "fold: input \(s) has \(s[2]) columns, but output size \(outputSize) with kernel size \(kernelSize), stride \(stride), padding \(padding) and dilation \(dilation) has \(geometry.outputHeight)·\(geometry.outputWidth) = \(geometry.patchCount) windows")
  return Tensor.folded(columns, geometry)
}

/// 2-D convolution (cross-correlation, as in deep learning) — PyTorch's
/// `torch.nn.functional.conv2d`:
/// `out[n, o, y, x] = bias[o] + Σ_{c, i, j} weight[o, c, i, j] ·
/// input[n, g·Cin/groups + c, y·s₀ − p₀ + i·d₀, x·s₁ − p₁ + j·d₁]` for `o` in group `g`,
/// with zeros outside the image.
///
/// Computed as `unfold`, one batched matmul (gemm per sample and group), a reshape and a
/// broadcast bias, so its derivatives of every order come from those operations.
///
/// ```swift
/// let y = conv2d(x, weight: w, bias: b, stride: (2, 2), padding: (1, 1))
/// ```
/// - Parameters:
///   - input: `[N, Cin, H, W]` (or one image `[Cin, H, W]`).
///   - weight: `[Cout, Cin/groups, kh, kw]`.
///   - bias: `[Cout]`, or nil.
///   - stride: The window steps per axis.
///   - padding: Implicit zeros on both sides of each axis.
///   - dilation: The spacing between kernel taps per axis.
///   - groups: Split the channels into this many independent convolutions (`groups == Cin`
///     with `Cout` a multiple of it is a depthwise convolution).
/// - Returns: `[N, Cout, Hout, Wout]` (or `[Cout, Hout, Wout]`), with
///   `Hout = ⌊(H + 2p₀ − d₀(kh − 1) − 1) / s₀⌋ + 1` and likewise `Wout`.
/// - Precondition: `groups` divides `Cin` and `Cout`, the weight is
///   `[Cout, Cin/groups, kh, kw]`, the bias is `[Cout]`, and the output is not empty.
/// - Complexity: O(N·Cout·(Cin/groups)·kh·kw·Hout·Wout) in BLAS, plus the unfold.
public func conv2d<T: BLASScalar>(
  _ input: Tensor<T>, weight: Tensor<T>, bias: Tensor<T>? = nil, stride: (Int, Int) = (1, 1),
  padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1
) -> Tensor<T> {
  precondition(
    input.rank == 3 || input.rank == 4, "conv2d: input of shape \(input.shape) is not [N, Cin, H, W] or [Cin, H, W]")
  if input.rank == 3 {
    let batched = conv2d(
      input.expandingShape(at: 0), weight: weight, bias: bias, stride: stride, padding: padding,
      dilation: dilation, groups: groups)
    return batched.reshaped(Array(batched.shape.dropFirst()))
  }
  precondition(weight.rank == 4, "conv2d: weight of shape \(weight.shape) is not [Cout, Cin/groups, kh, kw]")
  precondition(groups >= 1, "conv2d: groups \(groups) must be positive")
  let (n, cin) = (input.shape[0], input.shape[1])
  let (cout, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
  precondition(
    cin % groups == 0, "conv2d: \(cin) input channels (input \(input.shape)) are not divisible by groups = \(groups)")
  precondition(
    cout % groups == 0, "conv2d: \(cout) output channels (weight \(weight.shape)) are not divisible by groups = \(groups)")
  precondition(
    weight.shape[1] == cin / groups,
    "conv2d: weight \(weight.shape) must be [Cout, Cin/groups = \(cin / groups), kh, kw] for input \(input.shape) and groups = \(groups)")
  if let bias {
    precondition(bias.shape == [cout], "conv2d: bias of shape \(bias.shape) must be [Cout] = [\(cout)] for weight \(weight.shape)")
  }
  let geometry = Conv2dGeometry(
    batch: n, channels: cin, height: input.shape[2], width: input.shape[3], kernelSize: (kh, kw),
    stride: stride, padding: padding, dilation: dilation, operation: "conv2d")
  let columns = Tensor.unfolded(input, geometry)  // [N, Cin·kh·kw, L]
  let k = (cin / groups) * kh * kw, l = geometry.patchCount
  let product: Tensor<T>
  if groups == 1 {
    // [Cout, K] × [N, K, L] → [N, Cout, L]: one gemm per sample.
    product = matmul(weight.reshaped([cout, k]), columns)
  } else {
    // The rows of group g are contiguous (channel-major), so the groups are a batch axis:
    // [G, Cout/G, K] × [N, G, K, L] → [N, G, Cout/G, L].
    product = matmul(weight.reshaped([groups, cout / groups, k]), columns.reshaped([n, groups, k, l]))
  }
  let output = product.reshaped([n, cout, geometry.outputHeight, geometry.outputWidth])
  guard let bias else { return output }
  return output + bias.reshaped([cout, 1, 1])
}

extension Tensor {
  /// `unfold` for a validated geometry, as a primitive.
  static func unfolded(_ x: Tensor, _ geometry: Conv2dGeometry) -> Tensor {
    precondition(x.shape == geometry.inputShape, "unfold: input \(x.shape) for geometry \(geometry)")
    if geometry.isPointwise { return x.reshaped(geometry.unfoldedShape) }
    return primitive(
      geometry.unfold(x.value), inputs: [x],
      pullback: { g, _ in [folded(g, geometry)] },
      differential: { t in t[0].map { unfolded($0, geometry) } })
  }

  /// `fold` for a validated geometry, as a primitive.
  static func folded(_ columns: Tensor, _ geometry: Conv2dGeometry) -> Tensor {
    precondition(columns.shape == geometry.unfoldedShape, "fold: input \(columns.shape) for geometry \(geometry)")
    if geometry.isPointwise { return columns.reshaped(geometry.inputShape) }
    return primitive(
      geometry.fold(columns.value), inputs: [columns],
      pullback: { g, _ in [unfolded(g, geometry)] },
      differential: { t in t[0].map { folded($0, geometry) } })
  }
}
