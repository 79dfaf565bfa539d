import CurvatureNumerics

/// A `DifferentiableModel` whose parameter values can be replaced, so that `train` can
/// update it in place. `Sequential`, `GraphModel` and `FunctionModel` conform.
///
/// ```swift
/// var model = try FunctionModel<Double>(parameterSpecs: specs, parameters: initial) { x, p in
///   matmul(x, p[0], transposeB: true).tanh() + x          // a residual block
/// }
/// var optimizer = SGD<Double>(learningRate: 0.1)
/// try train(&model, loss: Loss(.mse), data: data, optimizer: &optimizer, epochs: 5, batchSize: 16, seed: 0)
/// ```
public protocol TrainableModel<Scalar>: DifferentiableModel {
  /// Replaces the parameter values, one array per block of `parameterSpecs`.
  /// - Throws: `ModelError.parameterMismatch` for a wrong number of blocks or a block of
  ///   the wrong shape.
  mutating func setParameters(_ values: [NDArray<Scalar>]) throws
}

extension Sequential: TrainableModel {}

extension GraphModel: TrainableModel {}

extension FunctionModel: TrainableModel {
  /// Replaces the parameter values.
  /// - Throws: `ModelError.parameterMismatch` for a wrong number of blocks or a block of
  ///   the wrong shape, naming it.
  public mutating func setParameters(_ values: [NDArray<Scalar>]) throws {
    guard values.count == parameterSpecs.count else {
      throw ModelError.parameterMismatch("\(values.count) blocks given, the model has \(parameterSpecs.count)")
    }
    for (spec, value) in zip(parameterSpecs, values) where spec.shape != value.shape {
      throw ModelError.parameterMismatch("\(spec.name) has shape \(value.shape), its spec says \(spec.shape)")
    }
    parameters = values
  }
}
