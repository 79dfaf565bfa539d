import CurvatureNumerics
import CurvatureAutodiff

/// A fully connected layer `y = x Wᵀ + b` applied to the last axis (PyTorch's `nn.Linear`).
///
/// Inputs of any rank are accepted: leading axes are shared (a sequence `[N, T, in]` gives
/// `[N, T, out]`), and the product is one gemm over all of them.
///
/// ```swift
/// let layer = Linear<Float>(inFeatures: 784, outFeatures: 256)
/// let y = layer(x, parameters: [w, b])      // w: [256, 784], b: [256]
/// ```
public struct Linear<Scalar: BLASScalar>: Layer {
  /// Size of the input's last axis.
  public let inFeatures: Int
  /// Size of the output's last axis.
  public let outFeatures: Int
  /// Whether the layer adds a bias.
  public let hasBias: Bool

  /// A linear layer.
  /// - Precondition: Positive feature counts.
  public init(inFeatures: Int, outFeatures: Int, bias: Bool = true) {
    precondition(inFeatures > 0 && outFeatures > 0, "Linear: feature counts must be positive, got \(inFeatures) → \(outFeatures)")
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    self.hasBias = bias
  }

  public var parameterSpecs: [ParameterSpec] {
    [ParameterSpec(name: "weight", shape: [outFeatures, inFeatures])]
      + (hasBias ? [ParameterSpec(name: "bias", shape: [outFeatures])] : [])
  }

  public func outputShape(for inputShape: [Int]) throws -> [Int] {
    guard inputShape.count >= 2, inputShape.last == inFeatures else {
      throw ModelError.wrongShape("Linear(\(inFeatures) → \(outFeatures)) expects inputs [N, ..., \(inFeatures)], got \(inputShape)")
    }
    return inputShape.dropLast() + [outFeatures]
  }

  public func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> {
    precondition(input.shape.last == inFeatures, "Linear(\(inFeatures) → \(outFeatures)): input shape \(input.shape)")
    let output = matmul(input, parameters[0], transposeB: true)
    return hasBias ? output + parameters[1] : output
  }

  public func initialParameters(using generator: inout RandomGenerator) -> [NDArray<Scalar>] {
    let bound = 1 / Double(inFeatures).squareRoot()
    let weight: NDArray<Scalar> = uniformParameters(shape: [outFeatures, inFeatures], bound: bound, using: &generator)
    guard hasBias else { return [weight] }
    return [weight, uniformParameters(shape: [outFeatures], bound: bound, using: &generator)]
  }

  public var jsonObject: [String: JSONValue] {
    ["type": .string("linear"), "in_features": .number(Double(inFeatures)),
     "out_features": .number(Double(outFeatures)), "bias": .bool(hasBias)]
  }

  /// The layer as PyTorch prints it.
  public var description: String { "Linear(in_features=\(inFeatures), out_features=\(outFeatures), bias=\(hasBias))" }
}
