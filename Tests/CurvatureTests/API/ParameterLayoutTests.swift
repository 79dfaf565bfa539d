import Curvature
import CurvatureTestSupport
import Testing

/// Parameters by name: the flat layout, restriction by names and globs, and per-layer
/// grouping by module path for models other than `Sequential` (issue 19).
@Suite struct ParameterLayoutTests {
  @Test func layoutMapsNamesToFlatRanges() throws {
    let problem = try APICases.problem(Double.self)
    let layout = problem.parameterLayout
    #expect(layout.map(\.name) == ["0.weight", "0.bias", "2.weight", "2.bias"])
    #expect(layout.map(\.range) == [0..<12, 12..<16, 16..<24, 24..<26])
    #expect(try problem.parameterRange(named: "2.weight") == 16..<24)
    #expect(try problem.model.parameterRange(named: "2.bias") == 24..<26)
    // The ranges index the operators' vectors: the gradient's slice is the block's gradient.
    let gradient = try problem.lossAndGradient().gradient
    let restricted = try problem.restricted(toParametersMatching: ["2.*"])
    let restrictedGradient = try restricted.lossAndGradient().gradient
    let slice = NDArray(Array(gradient.scalars[try problem.parameterRange(named: "2.weight")]))
    assertClose(slice, NDArray(Array(restrictedGradient.scalars[0..<8])), rtol: 1e-12, atol: 1e-14)
    // Restricted, the layout renumbers; the model's ranges stay those of the full vector.
    #expect(restricted.parameterLayout.map(\.range) == [0..<8, 8..<10])
    #expect(try restricted.parameterRange(named: "2.bias") == 8..<10)
    #expect(try restricted.model.parameterRange(named: "2.bias") == 24..<26)
    do {
      _ = try restricted.parameterRange(named: "0.weight")
      Issue.record("an unselected block has no range in the restricted problem")
    } catch let error as CurvatureError {
      #expect("\(error)".contains("'0.weight' is not selected") && "\(error)".contains("2.weight, 2.bias"))
    }
    do {
      _ = try problem.model.parameterRange(named: "fc.weight")
      Issue.record("an unknown name has no range")
    } catch let error as CurvatureError {
      #expect("\(error)".contains("no parameter named 'fc.weight'") && "\(error)".contains("0.weight, 0.bias, 2.weight, 2.bias"))
    }
  }

  func namedSubmatrix<T: APITestScalar>(_: T.Type) throws {
    let problem = try APICases.problem(T.self)
    #expect(try problem.parameterIndices(matching: ["*.bias"]) == Array(12..<16) + Array(24..<26))
    #expect(throws: CurvatureError.self) { try problem.parameterIndices(matching: ["3.*"]) }
    #expect(throws: CurvatureError.self) { try problem.parameterIndices(matching: []) }
    // The operator restricted by names equals the operator of the restricted problem.
    let byName = try GGNOperator(problem).principalSubmatrix(parametersMatching: ["2.*"])
    let restricted = GGNOperator(try problem.restricted(toParametersMatching: ["2.*"]))
    assertClose(try byName.dense(), try restricted.dense(), rtol: T.testRelativeTolerance, atol: T.testAbsoluteTolerance)
    // Any operator of the problem (KFAC here) takes the indices.
    let kfac = try KFACOperator(problem)
    let indices = try problem.parameterIndices(matching: ["0.*"])
    let block = try kfac.principalSubmatrix(indices).dense()
    let full = try kfac.dense()
    assertClose(block, NDArray(shape: [16, 16]) { full[indices[$0[0]], indices[$0[1]]] }, rtol: 0)
  }

  @Test func operatorsRestrictByNames() throws {
    try namedSubmatrix(Float.self)
    try namedSubmatrix(Double.self)
  }

  func groupsByName<T: APITestScalar>(_: T.Type) throws {
    let sequential = try APICases.sequential(T.self)
    let function = try APICases.function(sequential)
    let data = try APICases.data(T.self)
    let problem = try CurvatureProblem(model: function, loss: Loss(.mse), data: data)
    // fc1.weight + fc1.bias, fc2.weight + fc2.bias: per layer, as for the Sequential.
    #expect(problem.blockGroups(.perLayer) == [[0, 1], [2, 3]])
    #expect(problem.blockGroups(.perParameter) == [[0], [1], [2], [3]])
    let reference = try CurvatureProblem(model: sequential, loss: Loss(.mse), data: data)
    #expect(reference.blockGroups(.perLayer) == [[0, 1], [2, 3]])
    let layerwise = try problem.blockDiagonal(.perLayer) { GGNOperator($0) }
    let expected = try reference.blockDiagonal(.perLayer) { GGNOperator($0) }
    assertClose(try layerwise.dense(), try expected.dense(), rtol: T.testRelativeTolerance, atol: T.testAbsoluteTolerance)
    // Names without a module path, and runs broken by another module, stay apart.
    let specs = ["scale", "a.weight", "b.weight", "a.bias"].map { ParameterSpec(name: $0, shape: [1]) }
    let odd = try FunctionModel<T>(parameterSpecs: specs, parameters: specs.map { _ in NDArray([1]) }) { x, p in
      x * p[0] + x * p[1] + x * p[2] + x * p[3]
    }
    let oddData = try ArrayDataset<T>(inputs: NDArray(shape: [2, 1], scalars: [1, 2]), targets: .values(NDArray(shape: [2, 1], scalars: [0, 1])))
    let oddProblem = try CurvatureProblem(model: odd, loss: Loss(.mse), data: oddData)
    #expect(oddProblem.blockGroups(.perLayer) == [[0], [1], [2], [3]])
  }

  @Test func perLayerGroupsNonSequentialModelsByName() throws {
    try groupsByName(Float.self)
    try groupsByName(Double.self)
  }
}
