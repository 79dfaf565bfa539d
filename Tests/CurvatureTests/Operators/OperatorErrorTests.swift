import Curvature
import CurvatureTestSupport
import Testing

/// Wrong shapes, singular operators and non-square operators give `LinearOperatorError`s.
@Suite struct OperatorErrorTests {
  /// One operator of every kind, with its shape.
  func zoo<T: OperatorTestScalar>(_: T.Type) throws -> [(String, any LinearOperator<T>)] {
    let a: NDArray<T> = RandomMatrices.gaussian(4, 3, seed: 1)
    let s: NDArray<T> = RandomMatrices.spd(3, seed: 2)
    return [
      ("dense 4×3", DenseOperator(a)),
      ("identity 3", IdentityOperator<T>(size: 3)),
      ("diagonal 3", DiagonalOperator(NDArray<T>([1, 2, 3]))),
      ("sum 3×3", DenseOperator(s).damped(by: 1)),
      ("scaled 4×3", 2 * DenseOperator(a)),
      ("zero-scaled 4×3", 0 * DenseOperator(a)),
      ("product 4×4", DenseOperator(a) * DenseOperator(a).transposed()),
      ("transposed 3×4", DenseOperator(a).transposed()),
      ("kronecker 12×9", kronecker(DenseOperator(a), DenseOperator(s))),
      ("kronecker 4×3·1·3", KroneckerOperator([DenseOperator(a), DenseOperator(NDArray<T>(rows: [[2]])), DenseOperator(s)])),
      ("block diagonal 7×6", blockDiagonal(DenseOperator(a), DenseOperator(s))),
      ("submatrix 2×3", try DenseOperator(a).submatrix(rows: [3, 1], columns: [0, 2, 2])),
    ]
  }

  func wrongShapes<T: OperatorTestScalar>(_: T.Type) throws {
    for (name, op) in try zoo(T.self) {
      let (m, n) = (op.rowCount, op.columnCount)
      let cases: [(String, [Int], Int, (NDArray<T>) throws -> NDArray<T>)] = [
        ("apply", [n + 1], n, { try op.apply($0) }),
        ("apply", [n + 2, 3], n, { try op.apply($0) }),
        ("apply", [n, 2, 1], n, { try op.apply($0) }),
        ("applyTranspose", [m + 1], m, { try op.applyTranspose($0) }),
        ("applyTranspose", [m + 3, 2], m, { try op.applyTranspose($0) }),
      ]
      for (operation, shape, expectedLength, call) in cases {
        let context = "[\(T.dtypeName)] \(operation) of \(name) on shape \(shape)"
        let error = caughtOperatorError(context) { _ = try call(NDArray(zeros: shape)) }
        guard case let .shapeMismatch(reported, expected, actual)? = error else {
          Issue.record("\(context): expected .shapeMismatch, got \(String(describing: error))")
          continue
        }
        #expect(actual == shape, "\(context): reported shape \(actual)")
        #expect(reported.contains(operation) && reported.contains("\(m)×\(n)"), "\(context): operation \(reported)")
        #expect(expected.contains("[\(expectedLength)]"), "\(context): expected \(expected)")
        let message = error!.description
        #expect(message.contains("\(shape)") && message.contains("[\(expectedLength)]"), "\(context): message \(message)")
      }
    }
  }

  @Test func applyingToAWrongShapeThrowsShapeMismatchNamingBothShapes() throws {
    try wrongShapes(Float.self)
    try wrongShapes(Double.self)
  }

  func singular<T: OperatorTestScalar>(_: T.Type) throws {
    let diagonal = DiagonalOperator(NDArray<T>([1, 0, 3]))
    let s: NDArray<T> = RandomMatrices.spd(3, seed: 3)
    let singulars: [(String, any LinearOperator<T>)] = [
      ("diagonal with a zero", diagonal),
      ("scaled singular diagonal", 2 * diagonal),
      ("scaled by zero", 0 * DenseOperator(s)),
      ("product with a singular diagonal", DenseOperator(s) * diagonal),
      ("transposed singular diagonal", diagonal.transposed()),
      ("dense singular", DenseOperator(NDArray<T>(rows: [[1, 2], [2, 4]]))),
    ]
    for (name, op) in singulars {
      let error = caughtOperatorError("[\(T.dtypeName)] inverse of \(name)") { _ = try op.inverse() }
      guard case .singular? = error else {
        Issue.record("[\(T.dtypeName)] inverse of \(name): expected .singular, got \(String(describing: error))")
        continue
      }
    }
  }

  @Test func inverseOfASingularOperatorThrowsSingular() throws {
    try singular(Float.self)
    try singular(Double.self)
  }

  func notSquare<T: OperatorTestScalar>(_: T.Type) throws {
    for (name, op) in try zoo(T.self) where !op.isSquare {
      for (query, call) in [
        ("trace", { _ = try op.trace() }),
        ("logDeterminant", { _ = try op.logDeterminant() }),
        ("inverse", { _ = try op.inverse() }),
      ] as [(String, () throws -> Void)] {
        let context = "[\(T.dtypeName)] \(query) of \(name)"
        let error = caughtOperatorError(context, call)
        guard case let .notSquare(operation, rows, columns)? = error else {
          Issue.record("\(context): expected .notSquare, got \(String(describing: error))")
          continue
        }
        #expect(operation == query && rows == op.rowCount && columns == op.columnCount, "\(context): \(error!)")
      }
    }
    #expect(try zoo(T.self).filter { !$0.1.isSquare }.count == 8, "the rectangular operators of the zoo")
  }

  @Test func structuralQueriesOfNonSquareOperatorsThrowNotSquare() throws {
    try notSquare(Float.self)
    try notSquare(Double.self)
  }
}
