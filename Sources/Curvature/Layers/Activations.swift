// Parameter-free layers: elementwise activations and Flatten, with PyTorch's semantics.

/// `max(x, 0)` elementwise (PyTorch's `nn.ReLU`).
public struct ReLU<Scalar: BLASScalar>: Layer {
  public init() {}
  public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }
  public func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> { input.relu() }
  public var jsonObject: [String: JSONValue] { ["type": .string("relu")] }
  public var description: String { "ReLU()" }
}

/// `tanh x` elementwise (PyTorch's `nn.Tanh`).
public struct Tanh<Scalar: BLASScalar>: Layer {
  public init() {}
  public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }
  public func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> { input.tanh() }
  public var jsonObject: [String: JSONValue] { ["type": .string("tanh")] }
  public var description: String { "Tanh()" }
}

/// The logistic sigmoid elementwise (PyTorch's `nn.Sigmoid`).
public struct Sigmoid<Scalar: BLASScalar>: Layer {
  public init() {}
  public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }
  public func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> { input.sigmoid() }
  public var jsonObject: [String: JSONValue] { ["type": .string("sigmoid")] }
  public var description: String { "Sigmoid()" }
}

/// The exact GELU `x Φ(x)` elementwise (PyTorch's `nn.GELU()`, `approximate='none'`).
public struct GELU<Scalar: BLASScalar>: Layer {
  public init() {}
  public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }
  public func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> { input.gelu() }
  public var jsonObject: [String: JSONValue] { ["type": .string("gelu")] }
  public var description: String { "GELU()" }
}

/// `ln(1 + eˣ)` elementwise (PyTorch's `nn.Softplus()` with β = 1; computed stably
/// everywhere, where PyTorch switches to the identity above its threshold 20 — the two
/// agree to within e⁻²⁰ relative there).
public struct Softplus<Scalar: BLASScalar>: Layer {
  public init() {}
  public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }
  public func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> { input.softplus() }
  public var jsonObject: [String: JSONValue] { ["type": .string("softplus")] }
  public var description: String { "Softplus()" }
}

/// Flattens every axis after the batch axis (PyTorch's `nn.Flatten()`, `start_dim=1`).
public struct Flatten<Scalar: BLASScalar>: Layer {
  public init() {}
  public func outputShape(for inputShape: [Int]) throws -> [Int] {
    guard let batch = inputShape.first else {
      throw ModelError.shapeMismatch("Flatten expects a batch axis, got a scalar input")
    }
    return [batch, inputShape.dropFirst().reduce(1, *)]
  }
  public func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> { input.flattened(from: 1) }
  public var jsonObject: [String: JSONValue] { ["type": .string("flatten")] }
  public var description: String { "Flatten(start_dim=1)" }
}
