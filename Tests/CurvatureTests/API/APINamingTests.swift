import Curvature
import CurvatureTestSupport
import Testing

/// One vocabulary for losses (the CLI's and model.json's words) and one style for the
/// estimator names (issue 19).
@Suite struct APINamingTests {
  @Test func lossKindsUseTheCommandLineWords() throws {
    #expect(LossKind.allCases == [.crossEntropy, .mse, .bceWithLogits])
    #expect(LossKind.allCases.map(\.rawValue) == ["cross_entropy", "mse", "bce_with_logits"])
    #expect(LossKind(rawValue: "mse") == .mse && LossKind(rawValue: "bce_with_logits") == .bceWithLogits)
    // The short names compute the losses they name.
    let f = Tensor(NDArray<Double>(shape: [2, 2], scalars: [0.5, -1, 2, 0]))
    let y = NDArray<Double>(shape: [2, 2], scalars: [1, 0, 1, 1])
    let mse = Loss<Double>(.mse)(f, .values(y)).scalar
    #expect(Swift.abs(mse - (0.25 + 1 + 1 + 1) / 4) < 1e-15)
    let bce = Loss<Double>(.bceWithLogits, reduction: .sum)(f, .values(y)).scalar
    let expected = zip(f.value.scalars, y.scalars).reduce(0.0) { $0 + Double.log(1 + Double.exp($1.0)) - $1.1 * $1.0 }
    #expect(Swift.abs(bce - expected) < 1e-14)
  }

  func exactEstimates<T: APITestScalar>(_: T.Type) throws {
    // On an operator of rank 3 < m = 5, every leave-one-out sketch spans its range:
    // XTrace and XDiag are exact up to rounding.
    let g: NDArray<T> = RandomMatrices.gaussian(10, 3, seed: 4)
    let a = matmul(g, g, transposeB: true)
    let op = DenseOperator(a, isSymmetric: true)
    let trace = try xTrace(op, matvecs: 10, seed: 1)
    #expect(Swift.abs(trace.value - Double(try op.trace())) <= 1e3 * Double(T.ulpOfOne) * Double(try op.trace()))
    let diagonal = try xDiagonal(op, matvecs: 10, seed: 1)
    assertClose(diagonal.value, a.diagonal(), rtol: T.testRelativeTolerance * 100, atol: T.testAbsoluteTolerance * 100)
    // The five estimators in one style.
    _ = try hutchinsonTrace(op, matvecs: 4)
    _ = try hutchPlusPlusTrace(op, matvecs: 6)
    _ = try hutchinsonDiagonal(op, matvecs: 4)
  }

  @Test func estimatorNamesInOneStyle() throws {
    try exactEstimates(Float.self)
    try exactEstimates(Double.self)
  }

  @Test func exactDiagonalErrorRecommendsExistingEstimators() throws {
    let sequential = try APICases.sequential(Double.self)
    let problem = try CurvatureProblem(
      model: try APICases.function(sequential), loss: Loss(.mse), data: try APICases.data(Double.self))
    do {
      _ = try EmpiricalFisherOperator(problem).diagonal()
      Issue.record("the empirical Fisher diagonal of a FunctionModel should be unsupported")
    } catch let error as CurvatureError {
      // Both names it recommends exist (the test calls them above).
      #expect("\(error)".contains("hutchinsonDiagonal") && "\(error)".contains("xDiagonal"))
    }
  }
}
