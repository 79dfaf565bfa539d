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
  windowKernel(source, destination, rowStride, shape, fold: false)
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
  windowKernel(source, destination, rowStride, shape, fold: true)
}

/// im2col (`fold` false) or col2im through the concrete Float and Double functions below,
/// so the loops are specialized whatever the caller's genericity. (A generic helper over
/// the scalar and the pointer type, inlined "always", was specialized for Float only: in
/// float64 the loops ran through value witnesses, 25–30% of a CNN training step's time.)
@inline(__always)
func windowKernel<T: BLASScalar>(
  _ source: UnsafePointer<T>, _ destination: UnsafeMutablePointer<T>, _ ld: Int, _ g: WindowShape, fold: Bool
) {
  let (raw, rawDestination) = (UnsafeRawPointer(source), UnsafeMutableRawPointer(destination))
  if T.self == Float.self {
    windowKernelFloat(raw.assumingMemoryBound(to: Float.self), rawDestination.assumingMemoryBound(to: Float.self), ld, g, fold: fold)
  } else if T.self == Double.self {
    windowKernelDouble(raw.assumingMemoryBound(to: Double.self), rawDestination.assumingMemoryBound(to: Double.self), ld, g, fold: fold)
  } else if fold {
    col2imKernel(source, destination, ld, g)
  } else {
    im2colKernel(source, destination, ld, g)
  }
}

@inline(never)
private func windowKernelFloat(
  _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, _ ld: Int, _ g: WindowShape, fold: Bool
) {
  if fold { col2imKernel(source, destination, ld, g) } else { im2colKernel(source, destination, ld, g) }
}

@inline(never)
private func windowKernelDouble(
  _ source: UnsafePointer<Double>, _ destination: UnsafeMutablePointer<Double>, _ ld: Int, _ g: WindowShape, fold: Bool
) {
  if fold { col2imKernel(source, destination, ld, g) } else { im2colKernel(source, destination, ld, g) }
}

/// One kernel tap of one channel: its row of the unfolded image, where the window row `y`
/// reads the image (`rowOffset(y) + columnOffset` from the image's start, plus `x·sw` for
/// window column `x`), and the window positions `ys × xs` whose tap lies inside the image.
struct WindowTap {
  /// The row of the unfolded image, `(c·kh + i)·kw + j`.
  var row: Int
  /// The image offset of window position `(y, 0)`'s tap is `y·rowStep + start`.
  var rowStep: Int, start: Int
  /// The window rows and columns whose tap lies inside the image.
  var ys: Range<Int>, xs: Range<Int>
}

/// Calls `body` for every tap of every channel in row order, with its valid window
/// interval found once — the loop nest im2col and col2im share.
@inline(__always)
func forEachWindowTap(_ g: WindowShape, _ body: (WindowTap) -> Void) {
  let (h, w, oh, ow) = (g.height, g.width, g.outputHeight, g.outputWidth)
  var row = 0
  for c in 0..<g.channels {
    for i in 0..<g.kernelHeight {
      let rowOffset = i * g.dilationHeight - g.paddingHeight
      let (yLo, yHi) = WindowShape.inside(offset: rowOffset, stride: g.strideHeight, extent: h, count: oh)
      for j in 0..<g.kernelWidth {
        let columnOffset = j * g.dilationWidth - g.paddingWidth
        let (xLo, xHi) = WindowShape.inside(offset: columnOffset, stride: g.strideWidth, extent: w, count: ow)
        body(WindowTap(
          row: row, rowStep: g.strideHeight * w, start: c * h * w + rowOffset * w + columnOffset,
          ys: yLo..<yHi, xs: xLo..<xHi))
        row += 1
      }
    }
  }
}

@inline(__always)
func im2colKernel<T: BLASScalar>(_ source: UnsafePointer<T>, _ destination: UnsafeMutablePointer<T>, _ ld: Int, _ g: WindowShape) {
  let (oh, ow, sw) = (g.outputHeight, g.outputWidth, g.strideWidth)
  forEachWindowTap(g) { tap in
    // Every element of the row is written: taps in the padding get zeros.
    let out = destination + tap.row * ld
    let (ys, xs) = (tap.xs.isEmpty ? 0..<0 : tap.ys, tap.xs)
    out.update(repeating: 0, count: ys.lowerBound * ow)
    (out + ys.upperBound * ow).update(repeating: 0, count: (oh - ys.upperBound) * ow)
    for y in ys {
      let (o, input) = (out + y * ow, source + y * tap.rowStep + tap.start)
      o.update(repeating: 0, count: xs.lowerBound)
      (o + xs.upperBound).update(repeating: 0, count: ow - xs.upperBound)
      if sw == 1 {
        (o + xs.lowerBound).update(from: input + xs.lowerBound, count: xs.count)
      } else {
        for x in xs { o[x] = input[x * sw] }
      }
    }
  }
}

@inline(__always)
func col2imKernel<T: BLASScalar>(_ source: UnsafePointer<T>, _ destination: UnsafeMutablePointer<T>, _ ld: Int, _ g: WindowShape) {
  let (ow, sw) = (g.outputWidth, g.strideWidth)
  forEachWindowTap(g) { tap in
    guard !tap.xs.isEmpty else { return }
    let columns = source + tap.row * ld
    for y in tap.ys {
      let (s, output) = (columns + y * ow, destination + y * tap.rowStep + tap.start)
      if sw == 1 {
        for x in tap.xs { output[x] += s[x] }
      } else {
        for x in tap.xs { output[x * sw] += s[x] }
      }
    }
  }
}
