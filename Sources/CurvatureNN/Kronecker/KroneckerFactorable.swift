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
    /// An embedding `y = W[x]`: the weight `[V, E]` read at token ids `x` (the row
    /// `paddingIndex` gets no gradient). Its inputs are one-hot rows, so the token factor
    /// of the expand setting is diagonal (the token counts). The weight is indexed (token,
    /// feature), the transpose of a linear weight's (output, input), so the factors' roles
    /// swap (see `KFACLayerFactors`).
    case embedding(paddingIndex: Int?)
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
  /// The taps whose outputs, concatenated along the last axis, are this node's output:
  /// `[tap]`, or for a packed projection (one weight read as row slices by several linear
  /// nodes on the same input, as `nn.MultiheadAttention`'s `in_proj_weight` `[3E, E]` by
  /// its q, k and v projections) those nodes in row order.
  public var outputTaps: [Int]
  /// The rows of the weight each output tap produces (`[out]`; `[E, E, E]` for q, k, v).
  public var outputParts: [Int]

  /// A node from its parts.
  /// - Parameters:
  ///   - outputTaps: The taps whose outputs make up the node's (default `[tap]`).
  ///   - outputParts: The weight rows of each (default: all rows from `tap`).
  public init(
    tap: Int, name: String, operation: Operation, weightBlock: Int, biasBlock: Int?, weightShape: [Int],
    outputTaps: [Int]? = nil, outputParts: [Int]? = nil
  ) {
    self.tap = tap
    self.name = name
    self.operation = operation
    self.weightBlock = weightBlock
    self.biasBlock = biasBlock
    self.weightShape = weightShape
    self.outputTaps = outputTaps ?? [tap]
    self.outputParts = outputParts ?? [weightShape[0]]
  }

  /// Whether the node is a packed projection (several output taps).
  public var isPacked: Bool { outputTaps.count > 1 }

  /// Whether the node is an embedding.
  public var isEmbedding: Bool {
    if case .embedding = operation { return true }
    return false
  }

  /// The width of the node's output gradient: `out`, or an embedding's `E`.
  public var outputWidth: Int { isEmbedding ? weightShape[1] : weightShape[0] }
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

extension KroneckerNode {
  /// The node of a Linear or Conv2d layer whose weight is parameter block `weightBlock`
  /// (its bias, when it has one, the next block); nil for other layers.
  public init?<Scalar: BLASScalar>(layer: any Layer<Scalar>, tap: Int, weightBlock: Int) {
    if let linear = layer as? Linear<Scalar> {
      self.init(
        tap: tap, name: "\(layer)", operation: .linear, weightBlock: weightBlock,
        biasBlock: linear.hasBias ? weightBlock + 1 : nil, weightShape: [linear.outFeatures, linear.inFeatures])
      return
    }
    guard let conv = layer as? Conv2d<Scalar> else { return nil }
    let geometry = ConvolutionGeometry(
      spatial: 2, inChannels: conv.inChannels, outChannels: conv.outChannels, groups: conv.groups,
      kernel: [conv.kernelSize.0, conv.kernelSize.1], stride: [conv.stride.0, conv.stride.1],
      paddingBefore: [conv.padding.0, conv.padding.1], paddingAfter: [conv.padding.0, conv.padding.1],
      dilation: [conv.dilation.0, conv.dilation.1])
    self.init(
      tap: tap, name: "\(layer)", operation: .convolution(geometry), weightBlock: weightBlock,
      biasBlock: conv.hasBias ? weightBlock + 1 : nil,
      weightShape: [conv.outChannels, conv.inChannels / conv.groups * conv.kernelSize.0 * conv.kernelSize.1])
  }
}

extension Sequential: KroneckerFactorable {
  public var kroneckerNodes: [KroneckerNode] {
    layers.enumerated().compactMap { index, layer in
      let range = parameterRanges[index]
      guard !range.isEmpty else { return nil }
      return KroneckerNode(layer: layer, tap: index, weightBlock: range.lowerBound)
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
