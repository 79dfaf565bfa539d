import CurvatureNumerics
import CurvatureAutodiff

// Parameter-free layers: elementwise activations and Flatten, with PyTorch's semantics.

/// `max(x, 0)` elementwise (PyTorch's `nn.ReLU`).
public struct ReLU<Scalar: BLASScalar>: Layer {
  /// The layer (it has no parameters).
  public init() {}
  public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }
  public func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> { input.relu() }
  public var jsonObject: [String: JSONValue] { ["type": .string("relu")] }
  /// The layer as PyTorch prints it.
  public var description: String { "ReLU()" }
}

/// `tanh x` elementwise (PyTorch's `nn.Tanh`).
public struct Tanh<Scalar: BLASScalar>: Layer {
  /// The layer (it has no parameters).
  public init() {}
  public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }
  public func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> { input.tanh() }
  public var jsonObject: [String: JSONValue] { ["type": .string("tanh")] }
  /// The layer as PyTorch prints it.
  public var description: String { "Tanh()" }
}

/// The logistic sigmoid elementwise (PyTorch's `nn.Sigmoid`).
public struct Sigmoid<Scalar: BLASScalar>: Layer {
  /// The layer (it has no parameters).
  public init() {}
  public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }
  public func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> { input.sigmoid() }
  public var jsonObject: [String: JSONValue] { ["type": .string("sigmoid")] }
  /// The layer as PyTorch prints it.
  public var description: String { "Sigmoid()" }
}

/// The exact GELU `x Φ(x)` elementwise (PyTorch's `nn.GELU()`, `approximate='none'`).
public struct GELU<Scalar: BLASScalar>: Layer {
  /// The layer (it has no parameters).
  public init() {}
  public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }
  public func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> { input.gelu() }
  public var jsonObject: [String: JSONValue] { ["type": .string("gelu")] }
  /// The layer as PyTorch prints it.
  public var description: String { "GELU()" }
}

/// `ln(1 + eˣ)` elementwise (PyTorch's `nn.Softplus()` with β = 1 and threshold 20): like
/// PyTorch, entries above the threshold pass through unchanged (value `x`, derivative 1,
/// second derivative 0), so values, gradients and curvature equal PyTorch's there too
/// (the smooth formula differs from them by up to e⁻²⁰ ≈ 2·10⁻⁹ relative).
public struct Softplus<Scalar: BLASScalar>: Layer {
  /// PyTorch's default `threshold`.
  static var threshold: Scalar { 20 }

  /// The layer (it has no parameters).
  public init() {}
  public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }
  public func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> {
    let smooth = input.softplus()
    let scalars = input.value.scalars
    guard scalars.contains(where: { $0 > Self.threshold }) else { return smooth }
    // x·[x > 20] + softplus(x)·[x ≤ 20]: each entry is exactly one of the two branches
    // (the other adds ±0), and so are its derivatives.
    let above = NDArray<Scalar>(shape: input.shape, scalars: scalars.map { $0 > Self.threshold ? 1 : 0 })
    let below = NDArray<Scalar>(shape: input.shape, scalars: scalars.map { $0 > Self.threshold ? 0 : 1 })
    return input * Tensor(above) + smooth * Tensor(below)
  }
  public var jsonObject: [String: JSONValue] { ["type": .string("softplus")] }
  /// The layer as PyTorch prints it.
  public var description: String { "Softplus()" }
}

/// Flattens every axis after the batch axis (PyTorch's `nn.Flatten()`, `start_dim=1`).
public struct Flatten<Scalar: BLASScalar>: Layer {
  /// The layer (it has no parameters).
  public init() {}
  public func outputShape(for inputShape: [Int]) throws -> [Int] {
    guard let batch = inputShape.first else {
      throw ModelError.wrongShape("Flatten expects a batch axis, got a scalar input")
    }
    return [batch, inputShape.dropFirst().reduce(1, *)]
  }
  public func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> { input.flattened(from: 1) }
  public var jsonObject: [String: JSONValue] { ["type": .string("flatten")] }
  /// The layer as PyTorch prints it.
  public var description: String { "Flatten(start_dim=1)" }
}
