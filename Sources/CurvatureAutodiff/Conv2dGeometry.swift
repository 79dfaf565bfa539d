// The geometry of a 2-D sliding window (convolution, unfold, fold), and unfold and fold of
// whole batches through the strided im2col/col2im kernels.
import CurvatureNumerics

/// The geometry of a 2-D sliding window over an input `[N, C, H, W]`: kernel size, stride,
/// zero padding and dilation per spatial axis, with PyTorch's output size
/// `out = ⌊(in + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1`.
///
/// ```swift
/// let g = Conv2dGeometry(inputShape: [8, 3, 32, 32], kernelSize: (3, 3), stride: (2, 2), padding: (1, 1))
/// g.outputHeight        // 16
/// g.unfoldedShape       // [8, 27, 256]
/// ```
public struct Conv2dGeometry: Hashable, Sendable, CustomStringConvertible {
  /// `N`, the number of samples.
  public let batch: Int
  /// `C`, the number of input channels.
  public let channels: Int
  /// `H`, the input height.
  public let height: Int
  /// `W`, the input width.
  public let width: Int
  /// The kernel extents `(kh, kw)`.
  public let kernelHeight: Int, kernelWidth: Int
  /// The window steps per axis.
  public let strideHeight: Int, strideWidth: Int
  /// The implicit zeros added on both sides of each axis.
  public let paddingHeight: Int, paddingWidth: Int
  /// The spacing between kernel taps per axis.
  public let dilationHeight: Int, dilationWidth: Int
  /// The output extents `(Hout, Wout)`.
  public let outputHeight: Int, outputWidth: Int

  /// Creates the geometry of a window over an input `[batch, channels, height, width]`.
  ///
  /// - Precondition: Kernel, stride and dilation are positive, padding is non-negative,
  ///   and the output is not empty (`Hout ≥ 1` and `Wout ≥ 1`).
  public init(
    batch: Int, channels: Int, height: Int, width: Int, kernelSize: (Int, Int),
    stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)
  ) {
    self.init(
      batch: batch, channels: channels, height: height, width: width, kernelSize: kernelSize,
      stride: stride, padding: padding, dilation: dilation, operation: "Conv2dGeometry")
  }

  /// Creates the geometry of a window over an input of shape `[N, C, H, W]`.
  /// - Precondition: `inputShape` has rank 4, and the conditions of the main initializer.
  public init(
    inputShape: [Int], kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
    padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)
  ) {
    precondition(inputShape.count == 4, "Conv2dGeometry: input shape \(inputShape) is not [N, C, H, W]")
    self.init(
      batch: inputShape[0], channels: inputShape[1], height: inputShape[2], width: inputShape[3],
      kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation)
  }

  init(
    batch: Int, channels: Int, height: Int, width: Int, kernelSize: (Int, Int),
    stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), operation: String
  ) {
    precondition(
      batch >= 0 && channels >= 0 && height >= 0 && width >= 0,
      "\(operation): negative extent in input shape [\(batch), \(channels), \(height), \(width)]")
    precondition(kernelSize.0 >= 1 && kernelSize.1 >= 1, "\(operation): kernel size \(kernelSize) must be positive")
    precondition(stride.0 >= 1 && stride.1 >= 1, "\(operation): stride \(stride) must be positive")
    precondition(padding.0 >= 0 && padding.1 >= 0, "\(operation): padding \(padding) must be non-negative")
    precondition(dilation.0 >= 1 && dilation.1 >= 1, "\(operation): dilation \(dilation) must be positive")
    self.batch = batch
    self.channels = channels
    self.height = height
    self.width = width
    (kernelHeight, kernelWidth) = kernelSize
    (strideHeight, strideWidth) = stride
    (paddingHeight, paddingWidth) = padding
    (dilationHeight, dilationWidth) = dilation
    outputHeight = Conv2dGeometry.outputExtent(
      input: height, kernel: kernelSize.0, stride: stride.0, padding: padding.0, dilation: dilation.0)
    outputWidth = Conv2dGeometry.outputExtent(
      input: width, kernel: kernelSize.1, stride: stride.1, padding: padding.1, dilation: dilation.1)
    precondition(
      outputHeight >= 1 && outputWidth >= 1,
      "\(operation): input [\(batch), \(channels), \(height), \(width)] with kernel size \(kernelSize), stride \(stride), padding \(padding) and dilation \(dilation) gives an empty output of size (\(outputHeight), \(outputWidth)); the input is too small")
  }

  /// PyTorch's output extent `⌊(input + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1`
  /// (floor division, so it can be zero or negative for inputs smaller than the window).
  public static func outputExtent(input: Int, kernel: Int, stride: Int, padding: Int, dilation: Int) -> Int {
    precondition(stride >= 1, "outputExtent: stride \(stride) must be positive")
    let span = input + 2 * padding - dilation * (kernel - 1) - 1
    let quotient = span >= 0 ? span / stride : -((-span + stride - 1) / stride)
    return quotient + 1
  }

  /// The kernel extents `(kh, kw)`.
  public var kernelSize: (Int, Int) { (kernelHeight, kernelWidth) }
  /// The strides per axis.
  public var stride: (Int, Int) { (strideHeight, strideWidth) }
  /// The paddings per axis.
  public var padding: (Int, Int) { (paddingHeight, paddingWidth) }
  /// The dilations per axis.
  public var dilation: (Int, Int) { (dilationHeight, dilationWidth) }
  /// The output extents `(Hout, Wout)`.
  public var outputSize: (Int, Int) { (outputHeight, outputWidth) }

  /// `C·kh·kw`, the length of one flattened patch (the rows of `unfold`'s result).
  public var patchSize: Int { channels * kernelHeight * kernelWidth }
  /// `L = Hout·Wout`, the number of window positions (the columns of `unfold`'s result).
  public var patchCount: Int { outputHeight * outputWidth }
  /// `[N, C, H, W]`.
  public var inputShape: [Int] { [batch, channels, height, width] }
  /// `[N, C·kh·kw, L]`, the shape of `unfold`'s result and of `fold`'s input.
  public var unfoldedShape: [Int] { [batch, patchSize, patchCount] }

  /// Whether `unfold` is a reshape (a 1×1 window that visits every pixel once).
  var isPointwise: Bool {
    kernelHeight == 1 && kernelWidth == 1 && strideHeight == 1 && strideWidth == 1
      && paddingHeight == 0 && paddingWidth == 0
  }

  /// The window over one image, for the im2col/col2im kernels.
  var window: WindowShape {
    WindowShape(
      channels: channels, height: height, width: width, kernel: kernelSize, stride: stride, padding: padding,
      dilation: dilation, output: outputSize)
  }

  /// The geometry in one line.
  public var description: String {
    "Conv2dGeometry(input: \(inputShape), kernel: \(kernelSize), stride: \(stride), padding: \(padding), dilation: \(dilation), output: \(outputSize))"
  }
}

extension Conv2dGeometry {
  /// `[N, C, H, W]` → `[N, C·kh·kw, L]`: patches as columns, zeros for padding (each
  /// sample's block by the strided im2col kernel).
  func unfold<T: BLASScalar>(_ x: NDArray<T>) -> NDArray<T> {
    let (image, block, l) = (channels * height * width, patchSize * patchCount, patchCount)
    // No pixels (an empty batch, or an empty image seen only through padding): all zeros.
    guard x.count > 0 else { return NDArray(zeros: unfoldedShape) }
    let window = self.window
    return NDArray(uninitializedShape: unfoldedShape) { destination in
      x.withUnsafeBufferPointer { source in
        for n in 0..<batch {
          im2col(source.baseAddress! + n * image, destination.baseAddress! + n * block, rowStride: l, window)
        }
      }
    }
  }

  /// `[N, C·kh·kw, L]` → `[N, C, H, W]`: each column added back where its patch came from
  /// (overlaps sum, padding is dropped). The adjoint of `unfold`.
  func fold<T: BLASScalar>(_ columns: NDArray<T>) -> NDArray<T> {
    let (image, block, l) = (channels * height * width, patchSize * patchCount, patchCount)
    let window = self.window
    var result = NDArray<T>(zeros: inputShape)
    guard result.count > 0 else { return result }
    columns.withUnsafeBufferPointer { source in
      result.withUnsafeMutableBufferPointer { destination in
        for n in 0..<batch {
          col2im(source.baseAddress! + n * block, destination.baseAddress! + n * image, rowStride: l, window)
        }
      }
    }
    return result
  }
}
