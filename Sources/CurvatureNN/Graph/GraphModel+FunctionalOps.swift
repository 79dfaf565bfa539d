import CurvatureNumerics
import CurvatureAutodiff

// The ops evaluated by `Functional` (Sources/CurvatureNN/Functional): convolutions, norms,
// pooling, masked fill, attention and the smooth activations. This file is the only place
// that calls them: `isAvailable` says which ops this build can evaluate (a graph using
// another is refused at load, naming the node), and `evaluateFunctional` calls them.
//
// Until `Functional` is part of the build, `functionalOpsAvailable` is false and loading
// a graph with one of these ops throws "unsupported op". Wiring them is this file alone:
// set it to true and replace the body of `evaluateFunctional` with the calls listed in its
// documentation. Their shapes are inferred (and checked) by `ShapeRules` already.

extension GraphOp {
  /// Whether `Functional` is in this build.
  static let functionalOpsAvailable = false

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
  /// The value of a node whose op `Functional` implements, from its inputs `x` (in the
  /// node's order; optional inputs are present when `x.count` says so):
  ///
  /// ```
  /// conv (spatial 1):  Functional.conv1d(x[0], weight: x[1], bias: x[2]?, stride: stride[0],
  ///                      padding: (before:, after:) of ShapeRules.convolutionPadding, dilation: dilation[0], groups:)
  /// conv (spatial 2):  Functional.conv2d(x[0], weight: x[1], bias: x[2]?, stride:, padding: [(before:, after:)],
  ///                      dilation:, groups:)
  /// layerNorm:         Functional.layerNorm(x[0], normalizedShape:, weight: x[1]?, bias: x[2]?, eps:)
  /// rmsNorm:           Functional.rmsNorm(x[0], normalizedShape:, weight: x[1]?, eps:)
  /// batchNorm:         Functional.batchNorm(x[0], runningMean: x[1], runningVar: x[2], weight: x[3]?, bias: x[4]?, eps:)
  /// maxPool:           Functional.maxPool1d/2d(x[0], kernelSize:, stride:, padding:, dilation:, ceilMode:)
  /// avgPool:           Functional.avgPool1d/2d(x[0], kernelSize:, stride:, padding:, ceilMode:, countIncludePad:,
  ///                      divisorOverride:)
  /// adaptiveAvgPool:   Functional.adaptiveAvgPool1d/2d(x[0], outputSize: resolvedShape(batchSize:).suffix(spatial))
  /// maskedFill:        Functional.maskedFill(x[0], mask: x[1].value, value:)
  /// attention:         Functional.scaledDotProductAttention(query: x[0], key: x[1], value: x[2], mask: x[3]?,
  ///                      maskKind: additiveMask ?? (mask dtype is not bool) ? .additive : .boolean, isCausal:, scale:)
  /// silu, elu, leakyReLU, softplus: Functional.silu(x[0]), .elu(x[0], alpha:), .leakyReLU(x[0], negativeSlope:),
  ///                      .softplus(x[0], beta:, threshold:)
  /// gelu:              Functional.gelu(x[0], approximate: tanh ? .tanh : .none)
  /// ```
  /// - Precondition: `GraphOp.isAvailable(op)` (checked when the graph was loaded).
  func evaluateFunctional<Scalar: BLASScalar>(_ x: [Tensor<Scalar>], batchSize: Int) -> Tensor<Scalar> {
    preconditionFailure("GraphModel: op of node '\(name)' is not available in this build (the loader refuses such graphs)")
  }
}
