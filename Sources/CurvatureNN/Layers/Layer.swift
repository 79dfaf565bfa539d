import CurvatureNumerics
import CurvatureAutodiff

/// The name and shape of one parameter block of a layer, e.g. `("weight", [7, 5])`.
public struct ParameterSpec: Sendable, Hashable {
  /// The name within the layer: `weight` or `bias`.
  public var name: String
  /// The block's shape, as in PyTorch.
  public var shape: [Int]

  /// A parameter block description.
  public init(name: String, shape: [Int]) {
    self.name = name
    self.shape = shape
  }

  /// The number of scalars in the block.
  public var count: Int { shape.reduce(1, *) }
}

/// A layer of a network with PyTorch's semantics: a differentiable function of its input
/// and its parameter blocks.
///
/// Layers hold their configuration, not their parameter values: the values are passed in
/// as tensors, so curvature operators can differentiate with respect to them. A `Sequential`
/// network owns the values.
public protocol Layer<Scalar>: Sendable, CustomStringConvertible {
  /// The element type.
  associatedtype Scalar: BLASScalar

  /// The parameter blocks in PyTorch's order (weight, then bias); empty for activations.
  var parameterSpecs: [ParameterSpec] { get }

  /// The output shape for an input shape (batch axis included).
  /// - Throws: `ModelError.wrongShape` when the input does not fit the layer.
  func outputShape(for inputShape: [Int]) throws -> [Int]

  /// Applies the layer.
  /// - Parameters:
  ///   - input: The input, batch axis first.
  ///   - parameters: One tensor per entry of `parameterSpecs`, shaped like it.
  /// - Returns: The output.
  func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar>

  /// Parameter values drawn as PyTorch initializes the layer (Kaiming-uniform weights,
  /// uniform biases with bound 1/√fan_in), from a seeded generator.
  func initialParameters(using generator: inout RandomGenerator) -> [NDArray<Scalar>]

  /// The layer's entry in `model.json`.
  var jsonObject: [String: JSONValue] { get }
}

extension Layer {
  public var parameterSpecs: [ParameterSpec] { [] }
  public func initialParameters(using generator: inout RandomGenerator) -> [NDArray<Scalar>] { [] }
}

/// Draws `count` values uniformly from `[-bound, bound)`.
func uniformParameters<T: BLASScalar>(
  shape: [Int], bound: Double, using generator: inout RandomGenerator
) -> NDArray<T> {
  generator.uniformArray(shape: shape, in: -bound..<bound)
}
