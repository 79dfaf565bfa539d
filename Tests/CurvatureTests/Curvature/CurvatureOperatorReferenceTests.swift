import Curvature
import CurvatureTestSupport
import Testing

/// Checks an operator's matvec, matmat (k = 3), adjoint (vector and matrix) and `dense()`
/// against a dense matrix, in Double at rtol 1e-10 (with an absolute tolerance of 1e-12 ×
/// the largest expected entry for entries that cancel).
func expectMatches<Op: LinearOperator>(
  _ op: Op, _ expected: NDArray<Double>, _ label: String, seed: UInt64 = 11,
  rtol: Double = 1e-10, sourceLocation: SourceLocation = #_sourceLocation
) throws where Op.Scalar == Double {
  let (m, n) = (expected.shape[0], expected.shape[1])
  #expect(op.rowCount == m && op.columnCount == n, "\(label): shape \(op.rowCount)×\(op.columnCount), expected \(m)×\(n)", sourceLocation: sourceLocation)
  let v = CurvatureCases.randomMatrix(n, 1, seed: seed).reshaped([n])
  let x = CurvatureCases.randomMatrix(n, 3, seed: seed + 1)
  let u = CurvatureCases.randomMatrix(m, 1, seed: seed + 2).reshaped([m])
  let y = CurvatureCases.randomMatrix(m, 3, seed: seed + 3)
  expectClose(try op.apply(v), matmul(expected, v), rtol: rtol, "\(label) matvec", sourceLocation: sourceLocation)
  expectClose(try op.apply(x), matmul(expected, x), rtol: rtol, "\(label) matmat", sourceLocation: sourceLocation)
  expectClose(try op.applyTranspose(u), matmul(expected, u, transposeA: true), rtol: rtol, "\(label) adjoint matvec", sourceLocation: sourceLocation)
  expectClose(try op.applyTranspose(y), matmul(expected, y, transposeA: true), rtol: rtol, "\(label) adjoint matmat", sourceLocation: sourceLocation)
  expectClose(try op.dense(), expected, rtol: rtol, "\(label) dense", sourceLocation: sourceLocation)
}

/// Every exact curvature operator against the independent dense references of
/// `DenseCurvature`, for MLPs (tanh, sigmoid, ReLU) with each loss and reduction, Linear on
/// sequences (MSE, BCE; per-position targets), and a CNN; batches of 4 so that the data
/// are split unevenly.
@Suite struct CurvatureOperatorReferenceTests {
  @Test(arguments: CurvatureCases.allNames)
  func operatorsMatchDenseReferences(_ name: String) throws {
    let c = try CurvatureCases.named(name)
    let problem = try c.problem(batchSize: 4)
    let reference = c.reference()
    #expect(problem.dimension == reference.dimension)
    #expect(problem.reductionFactor == reference.reductionFactor, "\(name): R = \(problem.reductionFactor), reference \(reference.reductionFactor)")
    try expectMatches(GGNOperator(problem), reference.ggn, "\(name) GGN")
    try expectMatches(EmpiricalFisherOperator(problem), reference.empiricalFisher, "\(name) EF")
    try expectMatches(HessianOperator(problem), reference.hessian(), "\(name) Hessian")
    try expectMatches(JacobianOperator(problem), reference.jacobian, "\(name) Jacobian")
    #expect(GGNOperator(problem).isSymmetric && !JacobianOperator(problem).isSymmetric)
  }

  /// The reverse-over-reverse Hessian agrees with central differences of the gradient
  /// (a coarse check of the reference itself), and the reference GGN and EF are symmetric
  /// positive semidefinite.
  @Test(arguments: CurvatureCases.allNames)
  func referenceHessianAgreesWithFiniteDifferences(_ name: String) throws {
    let c = try CurvatureCases.named(name)
    let reference = c.reference()
    let hessian = reference.hessian()
    expectClose(reference.finiteDifferenceHessian(), hessian, rtol: 1e-6, atolFactor: 1e-7, "\(name) FD Hessian")
    expectClose(hessian.transposed(), hessian, rtol: 1e-12, "\(name) Hessian symmetry")
    for (label, matrix) in [("GGN", reference.ggn), ("EF", reference.empiricalFisher)] {
      expectClose(matrix.transposed(), matrix, rtol: 1e-12, "\(name) \(label) symmetry")
      let smallest = try matrix.symmetricEigenvalues().scalars.min()!
      #expect(smallest >= -1e-12 * CurvatureCases.maxMagnitude(matrix), "\(name) \(label): eigenvalue \(smallest)")
    }
    // The loss value and gradient of the problem agree with the reference's risk.
    let (_, gradient) = try c.problem(batchSize: 4).lossAndGradient()
    expectClose(gradient, NDArray(reference.riskGradient(at: reference.flatParameters)), rtol: 1e-10, "\(name) gradient")
  }

  /// For MSE the loss Hessian is 2I, so the GGN is `(2/R) JᵀJ`; and with sum reduction the
  /// EF is `Σ_t g_t g_tᵀ` whose trace is `Σ_t ‖g_t‖²`: cross-checks of the reference.
  @Test func referenceSpecialCases() throws {
    let c = try CurvatureCases.sequence(.mse, .mean)
    let reference = c.reference()
    let j = reference.jacobian
    expectClose(reference.ggn, matmul(j, j, transposeA: true) * (2 / Double(reference.reductionFactor)), rtol: 1e-12, "MSE GGN = (2/R) JᵀJ")
    #expect(reference.reductionFactor == 4 * 5 * 2)
    let sum = try CurvatureCases.mlp(.tanh, .crossEntropy, .sum).reference()
    let trace = sum.termGradients.reduce(0) { $0 + $1.dot($1) }
    assertClose(sum.empiricalFisher.trace(), trace, rtol: 1e-12)
    // The per-term gradient is J_tᵀ ∂ℓ_t/∂f_t: for cross-entropy ∂ℓ/∂f = softmax(f) − e_y.
    for t in 0..<sum.termCount {
      let f = Array(sum.outputRows.scalars[(t * 3)..<(t * 3 + 3)])
      let e = f.map { Double.exp($0) }, z = e.reduce(0, +)
      guard case let .classes(classes) = sum.targets else { Issue.record("targets"); return }
      let g = NDArray((0..<3).map { e[$0] / z - ($0 == classes[t] ? 1 : 0) })
      expectClose(sum.termGradients[t], matvec(sum.termJacobians[t], g, transpose: true), rtol: 1e-12, "g_t = J_tᵀ ∇ℓ_t")
    }
  }
}

/// A `FunctionModel` whose output has one entry per data point (`[N]`, no class axis): each
/// data point is one loss term of width 1.
@Suite struct RankOneOutputTests {
  static func functionCase(_ kind: LossKind, _ reduction: LossReduction, n: Int = 7) throws -> (FunctionModel<Double>, Loss<Double>, ArrayDataset<Double>) {
    var rng = RandomGenerator(seed: 31, stream: 7)
    let w1: NDArray<Double> = rng.normalArray(shape: [4, 3]), b1: NDArray<Double> = rng.normalArray(shape: [4])
    let w2: NDArray<Double> = rng.normalArray(shape: [1, 4])
    let model = try FunctionModel<Double>(
      parameterSpecs: [ParameterSpec(name: "w1", shape: [4, 3]), ParameterSpec(name: "b1", shape: [4]), ParameterSpec(name: "w2", shape: [1, 4])],
      parameters: [w1, b1, w2]
    ) { x, p in
      matmul((matmul(x, p[0], transposeB: true) + p[1]).tanh(), p[2], transposeB: true).reshaped([-1])
    }
    let x: NDArray<Double> = rng.normalArray(shape: [n, 3])
    let y: NDArray<Double> = kind == .mse ? rng.normalArray(shape: [n]) : rng.uniformArray(shape: [n], in: 0..<1)
    return (model, Loss(kind, reduction: reduction), try ArrayDataset(inputs: x, targets: .values(y)))
  }

  @Test(arguments: [(LossKind.mse, LossReduction.mean), (.bceWithLogits, .sum)])
  func operatorsMatchDenseReferences(_ kind: LossKind, _ reduction: LossReduction) throws {
    let (model, loss, data) = try Self.functionCase(kind, reduction)
    let reference = DenseCurvature(model: model, loss: loss, data: data)
    #expect(reference.classCount == 1 && reference.termCount == data.count)
    for batchSize in [1, 3, data.count] {
      let problem = try CurvatureProblem(model: model, loss: loss, data: data, batchSize: batchSize)
      #expect(problem.reductionFactor == reference.reductionFactor)
      let label = "\(kind.rawValue) \(reduction.rawValue), batch size \(batchSize)"
      try expectMatches(GGNOperator(problem), reference.ggn, "\(label) GGN")
      try expectMatches(EmpiricalFisherOperator(problem), reference.empiricalFisher, "\(label) EF")
      try expectMatches(HessianOperator(problem), reference.hessian(), "\(label) Hessian")
      try expectMatches(JacobianOperator(problem), reference.jacobian, "\(label) Jacobian")
      let mc = try MonteCarloFisherOperator(problem, mcSamples: 2, seed: 1).dense()
      let mcWhole = try MonteCarloFisherOperator(CurvatureProblem(model: model, loss: loss, data: data), mcSamples: 2, seed: 1).dense()
      expectClose(mc, mcWhole, rtol: 1e-12, atolFactor: 1e-14, "\(label) MC Fisher")
    }
  }
}
