import CurvatureNumerics
import CurvatureAutodiff

/// A network `f(x; θ)` whose curvature Curvature can compute: named parameter blocks and a
/// forward pass that is differentiable in them.
///
/// `Sequential` and `GraphModel` conform; any other differentiable function of tensors can
/// be wrapped in a `FunctionModel`. Every exact operator (Hessian, GGN, Fisher), solver,
/// estimator and diagonal estimator takes any conforming model; Kronecker-factored methods
/// need the layer structure of a `Sequential` or `GraphModel` (`KroneckerFactorable`), and
/// `train` a `TrainableModel` (all three built-in models are).
///
/// A model may take several input tensors (a graph model with token ids and a mask):
/// `callAsFunction(_:parameters:)` with an array receives all of them, in the order of the
/// batch's `allInputs`. Single-input models implement only the one-tensor form; the array
/// form forwards to it.
public protocol DifferentiableModel<Scalar>: Sendable {
  /// The element type.
  associatedtype Scalar: BLASScalar
  /// The parameter blocks, in the order of the flat parameter vector.
  var parameterSpecs: [ParameterSpec] { get }
  /// The current parameter values, one per block.
  var parameters: [NDArray<Scalar>] { get }
  /// The number of input tensors the forward pass takes (1 unless the model says otherwise).
  var inputCount: Int { get }
  /// The network's output for a batch of inputs and the given parameter tensors.
  func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar>
  /// The network's output for a batch given as all its input tensors (batch axis first in
  /// each, the same number of data points in all) and the given parameter tensors.
  /// - Precondition: `inputs.count == inputCount` (check data with `checkInputs` first).
  func callAsFunction(_ inputs: [Tensor<Scalar>], parameters: [Tensor<Scalar>]) -> Tensor<Scalar>
  /// Checks that a batch's input arrays fit the model before a forward pass: their number,
  /// shapes and (for models that read integers, e.g. token ids) values.
  /// - Throws: `ModelError.shapeMismatch` for a wrong number or shape of inputs,
  ///   `DataError` for values the model cannot use, each naming the input.
  func checkInputs(_ inputs: [NDArray<Scalar>]) throws
}

extension DifferentiableModel {
  public var inputCount: Int { 1 }

  public func callAsFunction(_ inputs: [Tensor<Scalar>], parameters: [Tensor<Scalar>]) -> Tensor<Scalar> {
    precondition(inputs.count == 1, "a single-input model was given \(inputs.count) input tensors")
    return self(inputs[0], parameters: parameters)
  }

  /// Accepts exactly one input of any shape (a single-input model checks its shapes itself).
  public func checkInputs(_ inputs: [NDArray<Scalar>]) throws {
    guard inputs.count == inputCount else {
      throw ModelError.shapeMismatch("the model takes \(inputCount) input\(inputCount == 1 ? "" : "s"), the data have \(inputs.count)")
    }
  }
}

extension Sequential: DifferentiableModel {
  public func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> {
    self(input, parameters: parameters, observer: nil)
  }
}

/// A model given as a closure: any differentiable function of the input and parameter
/// tensors, written with Curvature's tensor operations.
///
/// ```swift
/// let model = FunctionModel<Double>(
///   parameterSpecs: [ParameterSpec(name: "w", shape: [3, 4])],
///   parameters: [w0]) { x, p in matmul(x, p[0], transposeB: true).tanh() }
/// ```
public struct FunctionModel<Scalar: BLASScalar>: DifferentiableModel {
  public let parameterSpecs: [ParameterSpec]
  public internal(set) var parameters: [NDArray<Scalar>]
  let function: @Sendable (Tensor<Scalar>, [Tensor<Scalar>]) -> Tensor<Scalar>

  /// A model from its parameter blocks and forward function.
  /// - Throws: `ModelError.parameterMismatch` when values and specs disagree.
  public init(
    parameterSpecs: [ParameterSpec], parameters: [NDArray<Scalar>],
    _ function: @escaping @Sendable (Tensor<Scalar>, [Tensor<Scalar>]) -> Tensor<Scalar>
  ) throws {
    guard parameterSpecs.count == parameters.count else {
      throw ModelError.parameterMismatch("\(parameterSpecs.count) parameter specs but \(parameters.count) values")
    }
    for (spec, value) in zip(parameterSpecs, parameters) where spec.shape != value.shape {
      throw ModelError.parameterMismatch("\(spec.name) has shape \(value.shape), its spec says \(spec.shape)")
    }
    self.parameterSpecs = parameterSpecs
    self.parameters = parameters
    self.function = function
  }

  public func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> {
    function(input, parameters)
  }
}
