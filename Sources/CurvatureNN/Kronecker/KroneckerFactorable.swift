import CurvatureNumerics
import CurvatureAutodiff

/// A model whose Linear and convolution layers (or graph nodes) Kronecker-factored
/// curvature (KFAC, EKFAC) can tap: it names them and runs a forward pass that hands each
/// one's input and output to an observer.
///
/// A Kronecker node applies its weight `W` (`[out, in]`, a convolution's `[Cout, Cin/groups·k…]`)
/// to rows of its input — the features of every token, the patches of every location — so
/// its curvature block is approximated by `B ⊗ A` from the input rows (`A`) and the
/// gradient at its output (`B`), whatever comes before and after (Martens & Grosse 2015;
/// Eschenhagen et al. 2023 for weight sharing). `Sequential` (its Linear and Conv2d
/// layers) and `GraphModel` (every `linear` and `conv` node, 1-d or 2-d, whose weight and
/// bias are parameters read by that node only) conform.
public protocol KroneckerFactorable<Scalar>: DifferentiableModel {
  /// The Kronecker-factorable nodes, in evaluation order.
  var kroneckerNodes: [KroneckerNode] { get }
  /// Why a parameter block is not covered by a Kronecker node (naming the layer or node);
  /// nil for a block a node owns.
  func unfactorableReason(block: Int) -> String?
  /// The output for all input tensors, calling `tap(node, input, output)` after each
  /// Kronecker node (by its `tap` id) and continuing with the tensor it returns (the output,
  /// possibly marked to require a gradient).
  /// - Precondition: As for `callAsFunction(_:parameters:)`.
  func callAsFunction(
    _ inputs: [Tensor<Scalar>], parameters: [Tensor<Scalar>],
    tap: (_ node: Int, _ input: Tensor<Scalar>, _ output: Tensor<Scalar>) -> Tensor<Scalar>
  ) -> Tensor<Scalar>
}

/// One Linear or convolution layer (or graph node) whose weight acts as a matrix on the
/// rows of its input.
public struct KroneckerNode: Sendable, Equatable {
  /// How the weight meets the input.
  public enum Operation: Sendable, Equatable {
    /// `y = x Wᵀ + b` over the last axis; all leading axes after the batch axis are shared.
    case linear
    /// A 1-d or 2-d convolution; the locations are shared.
    case convolution(ConvolutionGeometry)
  }

  /// The id the tapped forward pass reports the node by (a `Sequential`'s layer index, a
  /// graph's node index).
  public var tap: Int
  /// The layer's description or the node's name, for messages.
  public var name: String
  /// How the weight meets the input.
  public var operation: Operation
  /// The weight's parameter block.
  public var weightBlock: Int
  /// The bias's parameter block, when the node has one.
  public var biasBlock: Int?
  /// The weight as a matrix: `[out, in]` (convolutions: `[Cout, Cin/groups·kh·kw]`).
  public var weightShape: [Int]

  /// A node from its parts.
  public init(tap: Int, name: String, operation: Operation, weightBlock: Int, biasBlock: Int?, weightShape: [Int]) {
    self.tap = tap
    self.name = name
    self.operation = operation
    self.weightBlock = weightBlock
    self.biasBlock = biasBlock
    self.weightShape = weightShape
  }
}

/// A convolution's geometry, 1-d convolutions as 2-d ones of height 1 (`[N, C, L]` read as
/// `[N, C, 1, L]`, kernel `(1, k)`), so that both unfold into the same patches.
public struct ConvolutionGeometry: Sendable, Equatable {
  /// 1 or 2.
  public var spatial: Int
  /// The input channels `Cin`.
  public var inChannels: Int
  /// The output channels `Cout`.
  public var outChannels: Int
  /// The channel groups.
  public var groups: Int
  /// `(kh, kw)`.
  public var kernel: [Int]
  /// `(sh, sw)`.
  public var stride: [Int]
  /// The zeros before each axis.
  public var paddingBefore: [Int]
  /// The zeros after each axis (≥ `paddingBefore`; more for PyTorch's "same" with an even
  /// total).
  public var paddingAfter: [Int]
  /// `(dh, dw)`.
  public var dilation: [Int]

  /// A geometry from its parts (2-entry arrays; a 1-d convolution has height entries 1,
  /// 1, 0, 0, 1).
  public init(
    spatial: Int, inChannels: Int, outChannels: Int, groups: Int, kernel: [Int], stride: [Int], paddingBefore: [Int],
    paddingAfter: [Int], dilation: [Int]
  ) {
    self.spatial = spatial
    self.inChannels = inChannels
    self.outChannels = outChannels
    self.groups = groups
    self.kernel = kernel
    self.stride = stride
    self.paddingBefore = paddingBefore
    self.paddingAfter = paddingAfter
    self.dilation = dilation
  }
}

extension Sequential: KroneckerFactorable {
  public var kroneckerNodes: [KroneckerNode] {
    layers.enumerated().compactMap { index, layer in
      let range = parameterRanges[index]
      guard !range.isEmpty else { return nil }
      if let linear = layer as? Linear<Scalar> {
        return KroneckerNode(
          tap: index, name: "\(layer)", operation: .linear, weightBlock: range.lowerBound,
          biasBlock: linear.hasBias ? range.lowerBound + 1 : nil, weightShape: [linear.outFeatures, linear.inFeatures])
      }
      if let conv = layer as? Conv2d<Scalar> {
        let geometry = ConvolutionGeometry(
          spatial: 2, inChannels: conv.inChannels, outChannels: conv.outChannels, groups: conv.groups,
          kernel: [conv.kernelSize.0, conv.kernelSize.1], stride: [conv.stride.0, conv.stride.1],
          paddingBefore: [conv.padding.0, conv.padding.1], paddingAfter: [conv.padding.0, conv.padding.1],
          dilation: [conv.dilation.0, conv.dilation.1])
        return KroneckerNode(
          tap: index, name: "\(layer)", operation: .convolution(geometry), weightBlock: range.lowerBound,
          biasBlock: conv.hasBias ? range.lowerBound + 1 : nil,
          weightShape: [conv.outChannels, conv.inChannels / conv.groups * conv.kernelSize.0 * conv.kernelSize.1])
      }
      return nil
    }
  }

  public func unfactorableReason(block: Int) -> String? {
    guard let index = parameterRanges.firstIndex(where: { $0.contains(block) }) else { return nil }
    let layer = layers[index]
    if layer is Linear<Scalar> || layer is Conv2d<Scalar> { return nil }
    return "parameters of layer \(index) (\(layer)) sit in an unsupported layer; KFAC supports Linear and Conv2d"
  }

  public func callAsFunction(
    _ inputs: [Tensor<Scalar>], parameters: [Tensor<Scalar>],
    tap: (_ node: Int, _ input: Tensor<Scalar>, _ output: Tensor<Scalar>) -> Tensor<Scalar>
  ) -> Tensor<Scalar> {
    precondition(inputs.count == 1, "a Sequential takes one input tensor, \(inputs.count) were given")
    return withoutActuallyEscaping(tap) { tap in self(inputs[0], parameters: parameters, observer: tap) }
  }
}
