// im2col and col2im by strided loops: for each channel and kernel tap the valid window
// positions along a row form one interval, found once per tap, so the inner loop is a copy
// (stride 1: a memcpy) or a strided gather without bounds tests or index maps. The caller
// picks the destination layout through the row stride: `[C·kh·kw, L]` blocks per image (as
// `unfold` returns them) or `[C·kh·kw, N·L]` for the whole batch (one gemm per layer).

/// The geometry of a 2-D sliding window over one image `[C, H, W]`, for `im2col` and
/// `col2im` (`Hout`, `Wout` already computed by the caller, PyTorch's rule).
public struct WindowShape: Sendable, Hashable {
  /// `C`, the image's channels.
  public var channels: Int
  /// `H` and `W`, the image's extents.
  public var height: Int, width: Int
  /// The kernel extents.
  public var kernelHeight: Int, kernelWidth: Int
  /// The window steps.
  public var strideHeight: Int, strideWidth: Int
  /// The implicit zeros before each axis.
  public var paddingHeight: Int, paddingWidth: Int
  /// The tap spacings.
  public var dilationHeight: Int, dilationWidth: Int
  /// `Hout` and `Wout`, the number of window positions per axis.
  public var outputHeight: Int, outputWidth: Int

  /// A window geometry from its parts.
  /// - Parameters:
  ///   - channels: `C`.
  ///   - height: `H`.
  ///   - width: `W`.
  ///   - kernel: `(kh, kw)`.
  ///   - stride: The steps per axis, ≥ 1.
  ///   - padding: The zeros before each axis, ≥ 0.
  ///   - dilation: The tap spacings, ≥ 1.
  ///   - output: `(Hout, Wout)`.
  public init(
    channels: Int, height: Int, width: Int, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int),
    dilation: (Int, Int), output: (Int, Int)
  ) {
    self.channels = channels
    (self.height, self.width) = (height, width)
    (kernelHeight, kernelWidth) = kernel
    (strideHeight, strideWidth) = stride
    (paddingHeight, paddingWidth) = padding
    (dilationHeight, dilationWidth) = dilation
    (outputHeight, outputWidth) = output
  }

  /// `C·kh·kw`, the rows of the unfolded image.
  public var patchSize: Int { channels * kernelHeight * kernelWidth }
  /// `Hout·Wout`, the columns of the unfolded image.
  public var patchCount: Int { outputHeight * outputWidth }

  /// The output columns `lo..<hi` whose tap at input column offset `offset` lands inside
  /// `0..<extent`, stepping by `stride`.
  @inline(__always)
  static func inside(offset: Int, stride: Int, extent: Int, count: Int) -> (Int, Int) {
    let lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride
    let span = extent - offset
    let hi = span <= 0 ? 0 : Swift.min(count, (span + stride - 1) / stride)
    return (Swift.min(lo, hi), hi)
  }
}

/// Unfolds one image `[C, H, W]` at `source` into `C·kh·kw` rows of `Hout·Wout` columns,
/// row `r` starting at `destination + r·rowStride` (zeros for taps in the padding) —
/// `torch.nn.functional.unfold` of one sample.
/// - Parameters:
///   - source: The image, `C·H·W` scalars, row-major.
///   - destination: Where row 0 starts; every row is written in full.
///   - rowStride: The distance between rows, ≥ `Hout·Wout`.
///   - shape: The window.
/// - Complexity: O(C·kh·kw·Hout·Wout) copies.
public func im2col<T: BLASScalar>(
  _ source: UnsafePointer<T>, _ destination: UnsafeMutablePointer<T>, rowStride: Int, _ shape: WindowShape
) {
  // Concrete calls, so the loops are specialized whatever the caller's genericity.
  if T.self == Float.self {
    im2colKernel(
      UnsafeRawPointer(source).assumingMemoryBound(to: Float.self),
      UnsafeMutableRawPointer(destination).assumingMemoryBound(to: Float.self), rowStride, shape)
  } else if T.self == Double.self {
    im2colKernel(
      UnsafeRawPointer(source).assumingMemoryBound(to: Double.self),
      UnsafeMutableRawPointer(destination).assumingMemoryBound(to: Double.self), rowStride, shape)
  } else {
    im2colKernel(source, destination, rowStride, shape)
  }
}

/// Adds the columns of one unfolded image back into the image `[C, H, W]` at `destination`
/// (overlapping taps sum, taps in the padding are dropped) — `torch.nn.functional.fold` of
/// one sample, accumulating: the destination is not cleared first. Each pixel receives its
/// taps in the order (channel, kernel row, kernel column, window row, window column).
/// - Parameters:
///   - source: Row 0 of the columns; row `r` starts at `source + r·rowStride`.
///   - destination: The image, `C·H·W` scalars, row-major.
///   - rowStride: The distance between rows, ≥ `Hout·Wout`.
///   - shape: The window.
/// - Complexity: O(C·kh·kw·Hout·Wout) additions.
public func col2im<T: BLASScalar>(
  _ source: UnsafePointer<T>, _ destination: UnsafeMutablePointer<T>, rowStride: Int, _ shape: WindowShape
) {
  if T.self == Float.self {
    col2imKernel(
      UnsafeRawPointer(source).assumingMemoryBound(to: Float.self),
      UnsafeMutableRawPointer(destination).assumingMemoryBound(to: Float.self), rowStride, shape)
  } else if T.self == Double.self {
    col2imKernel(
      UnsafeRawPointer(source).assumingMemoryBound(to: Double.self),
      UnsafeMutableRawPointer(destination).assumingMemoryBound(to: Double.self), rowStride, shape)
  } else {
    col2imKernel(source, destination, rowStride, shape)
  }
}

@inline(__always)
func im2colKernel<T: BLASScalar>(_ source: UnsafePointer<T>, _ destination: UnsafeMutablePointer<T>, _ ld: Int, _ g: WindowShape) {
  let (h, w, oh, ow) = (g.height, g.width, g.outputHeight, g.outputWidth)
  let (sh, sw) = (g.strideHeight, g.strideWidth)
  var row = 0
  for c in 0..<g.channels {
    let plane = source + c * h * w
    for i in 0..<g.kernelHeight {
      let rowOffset = i * g.dilationHeight - g.paddingHeight
      let (yLo, yHi) = WindowShape.inside(offset: rowOffset, stride: sh, extent: h, count: oh)
      for j in 0..<g.kernelWidth {
        let columnOffset = j * g.dilationWidth - g.paddingWidth
        let (xLo, xHi) = WindowShape.inside(offset: columnOffset, stride: sw, extent: w, count: ow)
        let out = destination + row * ld
        row += 1
        if yLo > 0 { out.update(repeating: 0, count: yLo * ow) }
        if yHi < oh { (out + yHi * ow).update(repeating: 0, count: (oh - yHi) * ow) }
        guard xLo < xHi else {
          if yLo < yHi { (out + yLo * ow).update(repeating: 0, count: (yHi - yLo) * ow) }
          continue
        }
        for y in yLo..<yHi {
          let o = out + y * ow
          let input = plane + (y * sh + rowOffset) * w + columnOffset
          if xLo > 0 { o.update(repeating: 0, count: xLo) }
          if xHi < ow { (o + xHi).update(repeating: 0, count: ow - xHi) }
          if sw == 1 {
            (o + xLo).update(from: input + xLo, count: xHi - xLo)
          } else {
            for x in xLo..<xHi { o[x] = input[x * sw] }
          }
        }
      }
    }
  }
}

@inline(__always)
func col2imKernel<T: BLASScalar>(_ source: UnsafePointer<T>, _ destination: UnsafeMutablePointer<T>, _ ld: Int, _ g: WindowShape) {
  let (h, w, oh, ow) = (g.height, g.width, g.outputHeight, g.outputWidth)
  let (sh, sw) = (g.strideHeight, g.strideWidth)
  var row = 0
  for c in 0..<g.channels {
    let plane = destination + c * h * w
    for i in 0..<g.kernelHeight {
      let rowOffset = i * g.dilationHeight - g.paddingHeight
      let (yLo, yHi) = WindowShape.inside(offset: rowOffset, stride: sh, extent: h, count: oh)
      for j in 0..<g.kernelWidth {
        let columnOffset = j * g.dilationWidth - g.paddingWidth
        let (xLo, xHi) = WindowShape.inside(offset: columnOffset, stride: sw, extent: w, count: ow)
        let columns = source + row * ld
        row += 1
        guard xLo < xHi else { continue }
        for y in yLo..<yHi {
          let s = columns + y * ow
          let output = plane + (y * sh + rowOffset) * w + columnOffset
          if sw == 1 {
            for x in xLo..<xHi { output[x] += s[x] }
          } else {
            for x in xLo..<xHi { output[x * sw] += s[x] }
          }
        }
      }
    }
  }
}
