import CurvatureNumerics
import CurvatureAutodiff

/// A 2-D convolution over `[N, C, H, W]` inputs (PyTorch's `nn.Conv2d`), computed as patch
/// extraction (`unfold`) followed by one gemm per batch of patches.
///
/// ```swift
/// let conv = Conv2d<Float>(inChannels: 3, outChannels: 16, kernelSize: (3, 3), padding: (1, 1))
/// let y = conv(x, parameters: [w, b])     // x: [N, 3, 32, 32] → y: [N, 16, 32, 32]
/// ```
public struct Conv2d<Scalar: BLASScalar>: Layer {
  /// Input channels `C_in`.
  public let inChannels: Int
  /// Output channels `C_out`.
  public let outChannels: Int
  /// The kernel's height and width.
  public let kernelSize: (Int, Int)
  /// The stride along height and width.
  public let stride: (Int, Int)
  /// Zero padding along height and width.
  public let padding: (Int, Int)
  /// The dilation along height and width.
  public let dilation: (Int, Int)
  /// Channel groups (`C_in` and `C_out` are multiples of it).
  public let groups: Int
  /// Whether the layer has a bias.
  public let hasBias: Bool

  /// A convolution layer; defaults are PyTorch's.
  /// - Throws: `ModelError.invalidConfiguration` for non-positive sizes, negative padding,
  ///   or channel counts not divisible by `groups`.
  public init(
    inChannels: Int, outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
    padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true
  ) throws {
    let description = "Conv2d(\(inChannels), \(outChannels), kernel_size=\(kernelSize), stride=\(stride), padding=\(padding), dilation=\(dilation), groups=\(groups))"
    guard inChannels > 0, outChannels > 0, kernelSize.0 > 0, kernelSize.1 > 0, stride.0 > 0, stride.1 > 0,
          dilation.0 > 0, dilation.1 > 0, padding.0 >= 0, padding.1 >= 0, groups > 0 else {
      throw ModelError.invalidConfiguration("\(description): sizes must be positive and padding non-negative")
    }
    guard inChannels % groups == 0, outChannels % groups == 0 else {
      throw ModelError.invalidConfiguration("\(description): in_channels and out_channels must be divisible by groups")
    }
    self.inChannels = inChannels
    self.outChannels = outChannels
    self.kernelSize = kernelSize
    self.stride = stride
    self.padding = padding
    self.dilation = dilation
    self.groups = groups
    self.hasBias = bias
  }

  public var parameterSpecs: [ParameterSpec] {
    [ParameterSpec(name: "weight", shape: [outChannels, inChannels / groups, kernelSize.0, kernelSize.1])]
      + (hasBias ? [ParameterSpec(name: "bias", shape: [outChannels])] : [])
  }

  /// The spatial output size for an input size, as PyTorch computes it.
  public func outputSize(height: Int, width: Int) -> (Int, Int) {
    func size(_ n: Int, _ k: Int, _ s: Int, _ p: Int, _ d: Int) -> Int {
      let span = n + 2 * p - d * (k - 1) - 1
      return span < 0 ? 0 : span / s + 1
    }
    return (size(height, kernelSize.0, stride.0, padding.0, dilation.0),
            size(width, kernelSize.1, stride.1, padding.1, dilation.1))
  }

  public func outputShape(for inputShape: [Int]) throws -> [Int] {
    guard inputShape.count == 4, inputShape[1] == inChannels else {
      throw ModelError.wrongShape("\(description) expects inputs [N, \(inChannels), H, W], got \(inputShape)")
    }
    let (h, w) = outputSize(height: inputShape[2], width: inputShape[3])
    guard h > 0, w > 0 else {
      throw ModelError.wrongShape("\(description): input \(inputShape) is smaller than the dilated kernel")
    }
    return [inputShape[0], outChannels, h, w]
  }

  public func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> {
    conv2d(
      input, weight: parameters[0], bias: hasBias ? parameters[1] : nil, stride: stride,
      padding: padding, dilation: dilation, groups: groups)
  }

  public func initialParameters(using generator: inout RandomGenerator) -> [NDArray<Scalar>] {
    let fanIn = (inChannels / groups) * kernelSize.0 * kernelSize.1
    let bound = 1 / Double(fanIn).squareRoot()
    let weight: NDArray<Scalar> = uniformParameters(shape: parameterSpecs[0].shape, bound: bound, using: &generator)
    guard hasBias else { return [weight] }
    return [weight, uniformParameters(shape: [outChannels], bound: bound, using: &generator)]
  }

  public var jsonObject: [String: JSONValue] {
    func pair(_ p: (Int, Int)) -> JSONValue { .array([.number(Double(p.0)), .number(Double(p.1))]) }
    return [
      "type": .string("conv2d"), "in_channels": .number(Double(inChannels)),
      "out_channels": .number(Double(outChannels)), "kernel_size": pair(kernelSize),
      "stride": pair(stride), "padding": pair(padding), "dilation": pair(dilation),
      "groups": .number(Double(groups)), "bias": .bool(hasBias),
    ]
  }

  /// The layer as PyTorch prints it.
  public var description: String {
    "Conv2d(\(inChannels), \(outChannels), kernel_size=\(kernelSize), stride=\(stride), padding=\(padding), dilation=\(dilation), groups=\(groups), bias=\(hasBias))"
  }
}
