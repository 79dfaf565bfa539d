import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

/// A network `f(x; θ)` whose curvature Curvature can compute: named parameter blocks and a
/// forward pass that is differentiable in them.
///
/// `Sequential` conforms; any other differentiable function of tensors can be wrapped in a
/// `FunctionModel`. Kronecker-factored methods need the layer structure of a `Sequential`.
public protocol DifferentiableModel<Scalar>: Sendable {
  /// The element type.
  associatedtype Scalar: BLASScalar
  /// The parameter blocks, in the order of the flat parameter vector.
  var parameterSpecs: [ParameterSpec] { get }
  /// The current parameter values, one per block.
  var parameters: [NDArray<Scalar>] { get }
  /// The network's output for a batch of inputs and the given parameter tensors.
  func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar>
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
  public let parameters: [NDArray<Scalar>]
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
