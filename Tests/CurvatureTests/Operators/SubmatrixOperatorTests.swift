import Curvature
import CurvatureTestSupport
import Testing

/// Submatrices of operators against entries selected by index.
@Suite struct SubmatrixOperatorTests {
  func arbitrarySelection<T: OperatorTestScalar>(_: T.Type) throws {
    let a: NDArray<T> = RandomMatrices.gaussian(5, 4, seed: 1)
    let rows = [4, 0, 2], columns = [1, 3, 3, 0]
    let op = try SubmatrixOperator(DenseOperator(a), rows: rows, columns: columns)
    let reference = naiveSubmatrix(a, rows: rows, columns: columns)
    try expectMatchesReference(op, reference, "A[[4, 0, 2], [1, 3, 3, 0]]")
    expectClose(try op.diagonal(), NDArray(shape: [3]) { reference[$0[0], $0[0]] }, "[\(T.dtypeName)] non-principal diagonal")
    #expect(!op.isPrincipal && !op.isSymmetric)

    // The same selection of a parent that is not dense goes through its products.
    let b: NDArray<T> = RandomMatrices.gaussian(2, 2, seed: 2)
    let c: NDArray<T> = RandomMatrices.gaussian(3, 2, seed: 3)
    let kron = kronecker(DenseOperator(b), DenseOperator(c))
    let kronRows = [5, 0, 3, 3, 1], kronColumns = [2, 0, 3]
    let sub = try kron.submatrix(rows: kronRows, columns: kronColumns)
    let subReference = naiveSubmatrix(kronecker(b, c), rows: kronRows, columns: kronColumns)
    try expectMatchesReference(sub, subReference, "(B ⊗ C)[[5, 0, 3, 3, 1], [2, 0, 3]]")
    expectClose(try sub.diagonal(), NDArray(shape: [3]) { subReference[$0[0], $0[0]] }, "[\(T.dtypeName)] diagonal of a Kronecker submatrix")

    let transposed: SubmatrixOperator<T> = sub.transposed()
    try expectMatchesReference(transposed, naiveTranspose(subReference), "(B ⊗ C)[rows, columns]ᵀ")
  }

  @Test func arbitraryRowsAndColumnsMatchSelectedEntries() throws {
    try arbitrarySelection(Float.self)
    try arbitrarySelection(Double.self)
  }

  func principal<T: OperatorTestScalar>(_: T.Type) throws {
    let s: NDArray<T> = conditioned(3, negative: true, seed: 4)
    let t: NDArray<T> = conditioned(2, seed: 5)
    let kron = kronecker(DenseOperator(s), DenseOperator(t))
    let subset = [4, 1, 5, 0]
    let op = try kron.principalSubmatrix(subset)
    let reference = naiveSubmatrix(kronecker(s, t), rows: subset, columns: subset)
    #expect(op.isPrincipal)
    #expect(op.isSymmetric == kron.isSymmetric)
    try expectMatchesReference(op, reference, "(S ⊗ T)[subset, subset]")
    try expectStructureMatchesReference(op, reference, "(S ⊗ T)[subset, subset]", slack: 100)

    // A symmetric parent gives a symmetric principal submatrix.
    let spd: NDArray<T> = RandomMatrices.spd(6, seed: 6)
    let symmetric = try SubmatrixOperator(DenseOperator(spd), principal: [5, 2, 3])
    #expect(symmetric.isSymmetric)
    let symmetricReference = naiveSubmatrix(spd, rows: [5, 2, 3], columns: [5, 2, 3])
    try expectMatchesReference(symmetric, symmetricReference, "SPD[[5, 2, 3]]")
    try expectStructureMatchesReference(symmetric, symmetricReference, "SPD[[5, 2, 3]]", slack: 100)

    // A submatrix of a submatrix selects from the original parent.
    let nested = try symmetric.submatrix(rows: [2, 0], columns: [1, 1, 2])
    #expect(nested.rowIndices == [3, 5] && nested.columnIndices == [2, 2, 3])
    try expectMatchesReference(nested, naiveSubmatrix(spd, rows: [3, 5], columns: [2, 2, 3]), "SPD[[5, 2, 3]][[2, 0], [1, 1, 2]]")
  }

  @Test func principalSubmatricesKeepSymmetryAndDiagonal() throws {
    try principal(Float.self)
    try principal(Double.self)
  }

  func outOfRange<T: OperatorTestScalar>(_: T.Type) throws {
    let a = DenseOperator(NDArray<T>(zeros: [4, 3]))
    for (rows, columns, bad) in [([0, 4], [0], "row index 4"), ([0], [3], "column index 3"), ([-1], [0], "row index -1"), ([1], [2, -2], "column index -2")] {
      let error = caughtOperatorError("submatrix rows \(rows) columns \(columns) of a 4×3 operator") {
        _ = try SubmatrixOperator(a, rows: rows, columns: columns)
      }
      guard case .incompatible(let message)? = error else {
        Issue.record("rows \(rows) columns \(columns): expected .incompatible, got \(String(describing: error))")
        continue
      }
      #expect(message.contains(bad) && message.contains("4×3"), "message: \(message)")
    }
    // A principal selection must fit both dimensions.
    let error = caughtOperatorError("principal submatrix [3] of a 4×3 operator") { _ = try a.principalSubmatrix([0, 3]) }
    guard case .incompatible? = error else {
      Issue.record("expected .incompatible, got \(String(describing: error))")
      return
    }
  }

  @Test func outOfRangeIndicesThrow() throws {
    try outOfRange(Float.self)
    try outOfRange(Double.self)
  }
}
