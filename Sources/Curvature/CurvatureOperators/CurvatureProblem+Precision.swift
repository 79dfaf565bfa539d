import CurvatureNumerics
import CurvatureNN

extension CurvatureProblem {
  /// The same problem in another precision: the model's parameters, the loss and the data
  /// converted (rounded to nearest), with the same batch size and selected blocks, checked
  /// as `init` checks a new problem.
  ///
  /// ```swift
  /// let float = try problem.converted(to: Float.self)
  /// let h32 = try HessianOperator(float).apply(v.converted(to: Float.self))
  /// ```
  /// - Parameters:
  ///   - scalarType: The scalar type to convert to, `Float.self` or `Double.self`.
  ///   - checkDeterminism: Run the determinism check of `init` on the converted problem
  ///     (default true).
  /// - Returns: The problem for `T`; its data set converts batch by batch as it is read.
  /// - Throws: `CurvatureError.unsupported` for a model other than `Sequential` and
  ///   `GraphModel` (a `FunctionModel`'s closure is written for one precision: build it
  ///   again for `T`); what `init` throws for the converted problem (e.g. values that
  ///   overflow `Float`, reported as non-finite).
  /// - Complexity: One conversion of the parameters; the checks of `init`.
  public func converted<T: BLASScalar>(
    to scalarType: T.Type = T.self, checkDeterminism: Bool = true
  ) throws -> CurvatureProblem<T> {
    let converted: any DifferentiableModel<T>
    if let sequential = model as? Sequential<Scalar> {
      converted = try sequential.converted(to: T.self)
    } else if let graph = model as? GraphModel<Scalar> {
      converted = graph.converted(to: T.self)
    } else {
      throw CurvatureError.unsupported(
        "converting a \(type(of: model)) between precisions is not supported (only Sequential and GraphModel convert); build the model again for \(T.self)")
    }
    return try CurvatureProblem<T>(
      model: converted, loss: loss.converted(to: T.self), data: data.converted(to: T.self),
      batchSize: batchSize, blocks: blocks, checkDeterminism: checkDeterminism)
  }
}
