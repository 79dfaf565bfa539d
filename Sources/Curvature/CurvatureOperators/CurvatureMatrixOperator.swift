import CurvatureNumerics
import CurvatureLinearAlgebra

/// A symmetric `P × P` curvature matrix of a `CurvatureProblem` (Hessian, GGN, Fisher):
/// its dimension is the number of selected parameters and its transpose is itself.
public protocol CurvatureMatrixOperator: LinearOperator {
  /// The model, loss and data.
  var problem: CurvatureProblem<Scalar> { get }
}

extension CurvatureMatrixOperator {
  public var rowCount: Int { problem.dimension }
  public var columnCount: Int { problem.dimension }
  public var isSymmetric: Bool { true }

  /// `Aᵀ X = A X`: the matrix is symmetric.
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try apply(matrix: x) }
}
