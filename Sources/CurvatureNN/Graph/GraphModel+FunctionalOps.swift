import CurvatureNumerics
import CurvatureAutodiff

// The ops evaluated by `Functional` (Sources/CurvatureNN/Functional): convolutions, norms,
// pooling, masked fill, attention and the smooth activations. This file is the only place
// that calls them: `isAvailable` says which ops this build can evaluate (a graph using
// another is refused at load, naming the node), and `evaluateFunctional` calls them.
//
// Their shapes are inferred (and checked) by `ShapeRules`.

extension GraphOp {
  /// Whether `Functional` is in this build.
  static let functionalOpsAvailable = true

  /// Whether this build can evaluate `op`.
  static func isAvailable(_ op: GraphOp) -> Bool {
    switch op {
    case .conv, .layerNorm, .rmsNorm, .batchNorm, .maxPool, .avgPool, .adaptiveAvgPool, .silu, .gelu, .softplus, .elu,
      .leakyReLU, .maskedFill, .attention:
      return functionalOpsAvailable
    default:
      return true
    }
  }
}

extension GraphNodePlan {
  /// The value of a node whose op `Functional` implements, from its inputs `x` in the
  /// node's order (optional inputs present when `x.count` says so).
  /// - Precondition: `GraphOp.isAvailable(op)` (checked when the graph was loaded).
  func evaluateFunctional<Scalar: BLASScalar>(_ x: [Tensor<Scalar>], batchSize: Int) -> Tensor<Scalar> {
    func optional(_ index: Int) -> Tensor<Scalar>? { index < x.count ? x[index] : nil }
    switch op {
    case let .conv(spatial, stride, padding, dilation, groups):
      let kernel = Array(x[1].shape.suffix(spatial))
      let pads = ShapeRules.convolutionPadding(padding, kernel: kernel, dilation: dilation)
      if spatial == 1 {
        return Functional.conv1d(
          x[0], weight: x[1], bias: optional(2), stride: stride[0], padding: pads[0], dilation: dilation[0], groups: groups)
      }
      return Functional.conv2d(x[0], weight: x[1], bias: optional(2), stride: stride, padding: pads, dilation: dilation, groups: groups)
    case let .layerNorm(normalizedShape, eps):
      return Functional.layerNorm(x[0], normalizedShape: normalizedShape, weight: optional(1), bias: optional(2), eps: eps)
    case let .rmsNorm(normalizedShape, eps):
      return Functional.rmsNorm(x[0], normalizedShape: normalizedShape, weight: optional(1), eps: eps)
    case let .batchNorm(eps):
      return Functional.batchNorm(
        x[0], runningMean: x[1], runningVar: x[2], weight: optional(3), bias: optional(4), eps: eps)
    case let .maxPool(spatial, kernel, stride, padding, dilation, ceilMode):
      return spatial == 1
        ? Functional.maxPool1d(x[0], kernelSize: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
        : Functional.maxPool2d(x[0], kernelSize: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    case let .avgPool(spatial, kernel, stride, padding, ceilMode, countIncludePad, divisorOverride):
      return spatial == 1
        ? Functional.avgPool1d(
          x[0], kernelSize: kernel, stride: stride, padding: padding, ceilMode: ceilMode, countIncludePad: countIncludePad,
          divisorOverride: divisorOverride)
        : Functional.avgPool2d(
          x[0], kernelSize: kernel, stride: stride, padding: padding, ceilMode: ceilMode, countIncludePad: countIncludePad,
          divisorOverride: divisorOverride)
    case let .adaptiveAvgPool(spatial, _):
      let size = Array(shape.suffix(spatial))
      return spatial == 1 ? Functional.adaptiveAvgPool1d(x[0], outputSize: size) : Functional.adaptiveAvgPool2d(x[0], outputSize: size)
    case let .maskedFill(value):
      return Functional.maskedFill(x[0], mask: x[1], value: value)
    case let .attention(isCausal, scale, additiveMask):
      return Functional.scaledDotProductAttention(
        query: x[0], key: x[1], value: x[2], mask: optional(3), maskKind: additiveMask == true ? .additive : .boolean,
        isCausal: isCausal, scale: scale)
    case .silu: return Functional.silu(x[0])
    case let .gelu(tanh): return Functional.gelu(x[0], approximate: tanh ? .tanh : .none)
    case let .softplus(beta, threshold): return Functional.softplus(x[0], beta: beta, threshold: threshold)
    case let .elu(alpha): return Functional.elu(x[0], alpha: alpha)
    case let .leakyReLU(negativeSlope): return Functional.leakyReLU(x[0], negativeSlope: negativeSlope)
    default: preconditionFailure("GraphModel: node '\(name)' is not a Functional op")
    }
  }
}
