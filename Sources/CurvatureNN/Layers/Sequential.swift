import CurvatureNumerics
import CurvatureAutodiff

/// A chain of layers with its parameter values: PyTorch's `nn.Sequential`.
///
/// Parameters are a list of named blocks in PyTorch's order — per layer, weight then bias,
/// named `"<layer index>.weight"` and `"<layer index>.bias"` as in `state_dict()`. The flat
/// parameter vector used by every curvature operator concatenates the blocks in that order,
/// each flattened row-major.
///
/// ```swift
/// var model = Sequential<Float>([Linear(inFeatures: 784, outFeatures: 256), Tanh(),
///                                Linear(inFeatures: 256, outFeatures: 10)], seed: 0)
/// let logits = model.predict(x)                               // constants, no graph
/// let y = model(Tensor(x), parameters: params)                // differentiable in params
/// ```
public struct Sequential<Scalar: BLASScalar>: Sendable, CustomStringConvertible {
  /// The layers, applied in order.
  public let layers: [any Layer<Scalar>]
  /// The parameter values, one block per entry of `parameterSpecs`.
  public private(set) var parameters: [NDArray<Scalar>]
  /// Each block's name (`"0.weight"`) and shape, in PyTorch's order.
  public let parameterSpecs: [ParameterSpec]
  /// The positions in `parameters` of each layer's blocks.
  public let parameterRanges: [Range<Int>]

  /// A network with parameters initialized as PyTorch would (seeded).
  /// - Throws: `ModelError.wrongShape` when consecutive layers cannot chain.
  public init(_ layers: [any Layer<Scalar>], seed: UInt64 = 0) throws {
    var generator = RandomGenerator(seed: seed)
    let values = layers.flatMap { $0.initialParameters(using: &generator) }
    try self.init(layers, parameters: values)
  }

  /// A network with the given parameter values.
  /// - Throws: `ModelError.parameterMismatch` when the number or shapes of the blocks do
  ///   not match the layers, `ModelError.wrongShape` when layers cannot chain.
  public init(_ layers: [any Layer<Scalar>], parameters: [NDArray<Scalar>]) throws {
    var specs = [ParameterSpec](), ranges = [Range<Int>]()
    for (index, layer) in layers.enumerated() {
      let start = specs.count
      specs += layer.parameterSpecs.map { ParameterSpec(name: "\(index).\($0.name)", shape: $0.shape) }
      ranges.append(start..<specs.count)
    }
    guard parameters.count == specs.count else {
      throw ModelError.parameterMismatch("the layers have \(specs.count) parameter blocks, \(parameters.count) were given")
    }
    for (spec, value) in zip(specs, parameters) where spec.shape != value.shape {
      throw ModelError.parameterMismatch("\(spec.name) has shape \(value.shape), the layer needs \(spec.shape)")
    }
    try Sequential.checkChaining(layers)
    self.layers = layers
    self.parameters = parameters
    self.parameterSpecs = specs
    self.parameterRanges = ranges
  }

  /// Checks what can be checked without an input shape: feature counts of consecutive
  /// Linear layers and channel counts of consecutive Conv2d layers (activations between
  /// them keep shapes).
  static func checkChaining(_ layers: [any Layer<Scalar>]) throws {
    var last: (index: Int, features: Int, kind: String)? = nil
    for (index, layer) in layers.enumerated() {
      if let linear = layer as? Linear<Scalar> {
        if let last, last.kind == "linear", last.features != linear.inFeatures {
          throw ModelError.wrongShape("layer \(index) (\(linear)) expects \(linear.inFeatures) input features, but layer \(last.index) produces \(last.features)")
        }
        last = (index, linear.outFeatures, "linear")
      } else if let conv = layer as? Conv2d<Scalar> {
        if let last, last.kind == "conv2d", last.features != conv.inChannels {
          throw ModelError.wrongShape("layer \(index) (\(conv)) expects \(conv.inChannels) input channels, but layer \(last.index) produces \(last.features)")
        }
        last = (index, conv.outChannels, "conv2d")
      } else if layer is Flatten<Scalar> {
        last = nil
      }
    }
  }

  /// The names of the parameter blocks (`"0.weight"`, `"0.bias"`, ...).
  public var parameterNames: [String] { parameterSpecs.map(\.name) }

  /// The total number of scalar parameters `P`.
  public var parameterCount: Int { parameterSpecs.reduce(0) { $0 + $1.count } }

  /// The output shape for an input shape, checking every layer.
  /// - Throws: `ModelError.wrongShape` naming the first layer the input does not fit.
  public func outputShape(for inputShape: [Int]) throws -> [Int] {
    var shape = inputShape
    for (index, layer) in layers.enumerated() {
      do {
        shape = try layer.outputShape(for: shape)
      } catch let error as ModelError {
        // The layer's own message, without repeating the "shape mismatch:" prefix.
        switch error {
        case let .wrongShape(text), let .invalidConfiguration(text), let .parameterMismatch(text):
          throw ModelError.wrongShape("layer \(index): \(text)")
        default:
          throw error
        }
      }
    }
    return shape
  }

  /// Applies the network with the given parameter tensors (differentiable in them).
  /// - Parameters:
  ///   - input: The input batch.
  ///   - parameters: One tensor per block, in `parameterSpecs` order.
  ///   - observer: Called after each layer with its index, input and output; its return
  ///     value replaces the output (curvature methods use it to tap layer inputs and
  ///     outputs). Nil by default.
  /// - Returns: The network's output.
  public func callAsFunction(
    _ input: Tensor<Scalar>, parameters: [Tensor<Scalar>],
    observer: ((_ layer: Int, _ input: Tensor<Scalar>, _ output: Tensor<Scalar>) -> Tensor<Scalar>)? = nil
  ) -> Tensor<Scalar> {
    precondition(parameters.count == parameterSpecs.count, "Sequential: \(parameters.count) parameter tensors for \(parameterSpecs.count) blocks")
    var x = input
    for (index, layer) in layers.enumerated() {
      let output = layer(x, parameters: Array(parameters[parameterRanges[index]]))
      x = observer?(index, x, output) ?? output
    }
    return x
  }

  /// The network's output for an input batch with its own parameters, without recording.
  public func predict(_ input: NDArray<Scalar>) -> NDArray<Scalar> {
    AutodiffMode.withoutRecording {
      self(Tensor(input), parameters: parameters.map { Tensor($0) }).value
    }
  }

  /// The parameters as constant tensors.
  public var parameterTensors: [Tensor<Scalar>] { parameters.map { Tensor($0) } }

  /// All parameters as one vector: the blocks in order, each flattened row-major.
  public func flatParameters() -> NDArray<Scalar> {
    NDArray(parameters.flatMap(\.scalars))
  }

  /// Splits a flat vector of length `parameterCount` into blocks shaped like the parameters.
  /// - Throws: `ModelError.parameterMismatch` for a wrong length.
  public func unflatten(_ flat: NDArray<Scalar>) throws -> [NDArray<Scalar>] {
    guard flat.rank == 1, flat.count == parameterCount else {
      throw ModelError.parameterMismatch("a flat parameter vector needs shape [\(parameterCount)], got \(flat.shape)")
    }
    var offset = 0
    return parameterSpecs.map { spec in
      defer { offset += spec.count }
      return NDArray(shape: spec.shape, scalars: Array(flat.scalars[offset..<(offset + spec.count)]))
    }
  }

  /// Replaces the parameter values.
  /// - Throws: `ModelError.parameterMismatch` when the blocks do not match.
  public mutating func setParameters(_ values: [NDArray<Scalar>]) throws {
    guard values.count == parameterSpecs.count else {
      throw ModelError.parameterMismatch("\(values.count) blocks given, the model has \(parameterSpecs.count)")
    }
    for (spec, value) in zip(parameterSpecs, values) where spec.shape != value.shape {
      throw ModelError.parameterMismatch("\(spec.name) has shape \(value.shape), the layer needs \(spec.shape)")
    }
    parameters = values
  }

  /// The same layers in another precision, parameters converted.
  public func converted<Other: BLASScalar>(to _: Other.Type) throws -> Sequential<Other> {
    let layers = try self.layers.map { try convertLayer($0, to: Other.self) }
    return try Sequential<Other>(layers, parameters: parameters.map { $0.converted(to: Other.self) })
  }

  /// The layers, one per line, as PyTorch prints an `nn.Sequential`.
  public var description: String {
    "Sequential(\n" + layers.enumerated().map { "  (\($0.offset)): \($0.element)" }.joined(separator: "\n") + "\n)"
  }
}

/// The same layer configuration in another precision.
func convertLayer<T: BLASScalar, U: BLASScalar>(_ layer: any Layer<T>, to _: U.Type) throws -> any Layer<U> {
  switch layer {
  case let l as Linear<T>: return Linear<U>(inFeatures: l.inFeatures, outFeatures: l.outFeatures, bias: l.hasBias)
  case let c as Conv2d<T>:
    return try Conv2d<U>(
      inChannels: c.inChannels, outChannels: c.outChannels, kernelSize: c.kernelSize, stride: c.stride,
      padding: c.padding, dilation: c.dilation, groups: c.groups, bias: c.hasBias)
  case is ReLU<T>: return ReLU<U>()
  case is Tanh<T>: return Tanh<U>()
  case is Sigmoid<T>: return Sigmoid<U>()
  case is GELU<T>: return GELU<U>()
  case is Softplus<T>: return Softplus<U>()
  case is Flatten<T>: return Flatten<U>()
  default: throw ModelError.invalidConfiguration("cannot convert layer \(layer) to \(U.dtypeName)")
  }
}
