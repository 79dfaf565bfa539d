import Curvature
import CurvatureTestSupport
import Synchronization
import Testing

/// A data set whose every `batch` call returns different inputs (a call counter shifts
/// them): not deterministic.
private final class ShiftingDataset: Dataset, Sendable {
  typealias Scalar = Double
  let base: ArrayDataset<Double>
  let calls = Atomic<Int>(0)

  init(_ base: ArrayDataset<Double>) { self.base = base }

  var count: Int { base.count }
  var inputShape: [Int] { base.inputShape }

  func batch(_ range: Range<Int>) throws -> Batch<Double> {
    let call = calls.add(1, ordering: .relaxed).newValue
    var batch = try base.batch(range)
    batch.inputs = batch.inputs + NDArray(repeating: 1e-3 * Double(call), shape: batch.inputs.shape)
    return batch
  }
}

/// Expects `body` to throw a `CurvatureError` of the case `matches` accepts.
private func expectCurvatureError(
  _ label: String, _ matches: (CurvatureError) -> Bool, sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () throws -> Void
) {
  let error = #expect(throws: CurvatureError.self, "\(label)", sourceLocation: sourceLocation) { try body() }
  if let error, !matches(error) {
    Issue.record("\(label): wrong error \(error)", sourceLocation: sourceLocation)
  }
}

private func isInvalidArgument(_ e: CurvatureError) -> Bool { if case .invalidArgument = e { return true }; return false }
private func isInvalidData(_ e: CurvatureError) -> Bool { if case .invalidData = e { return true }; return false }
private func isNonFinite(_ e: CurvatureError) -> Bool { if case .nonFinite = e { return true }; return false }
private func isNonDeterministic(_ e: CurvatureError) -> Bool { if case .nonDeterministic = e { return true }; return false }

/// Errors of curvature problems and operators: non-determinism, non-finite values, bad
/// arguments and bad data.
@Suite struct CurvatureErrorTests {
  @Test func nonDeterministicDataIsRejected() throws {
    let c = try CurvatureCases.mlp(.tanh, .crossEntropy, .mean)
    let shifting = ShiftingDataset(c.data)
    expectCurvatureError("shifting data", isNonDeterministic) {
      _ = try CurvatureProblem(model: c.model, loss: c.loss, data: shifting, batchSize: 4)
    }
    // Without the check the problem is set up (and the data are read anew in each pass).
    let unchecked = try CurvatureProblem(model: c.model, loss: c.loss, data: shifting, batchSize: 4, checkDeterminism: false)
    _ = try GGNOperator(unchecked).apply(NDArray(zeros: [unchecked.dimension]))
    // Deterministic data pass the check.
    _ = try CurvatureProblem(model: c.model, loss: c.loss, data: c.data, batchSize: 4, checkDeterminism: true)
    // The check can be run on demand.
    expectCurvatureError("checkDeterminism()", isNonDeterministic) { try unchecked.checkDeterminism() }
  }

  @Test func nanParametersAreNonFinite() throws {
    let c = try CurvatureCases.mlp(.sigmoid, .mse, .mean)
    var parameters = c.model.parameters
    parameters[0] = NDArray(shape: parameters[0].shape, scalars: [.nan] + parameters[0].scalars.dropFirst())
    let model = try Sequential<Double>(c.model.layers, parameters: parameters)
    expectCurvatureError("NaN parameters, checked problem", isNonFinite) {
      _ = try CurvatureProblem(model: model, loss: c.loss, data: c.data)
    }
    let problem = try CurvatureProblem(model: model, loss: c.loss, data: c.data, batchSize: 4, checkDeterminism: false)
    let v = CurvatureCases.randomMatrix(problem.dimension, 1, seed: 1).reshaped([problem.dimension])
    expectCurvatureError("GGN", isNonFinite) { _ = try GGNOperator(problem).apply(v) }
    expectCurvatureError("EF", isNonFinite) { _ = try EmpiricalFisherOperator(problem).apply(v) }
    expectCurvatureError("Hessian", isNonFinite) { _ = try HessianOperator(problem).apply(v) }
    expectCurvatureError("MC Fisher", isNonFinite) { _ = try MonteCarloFisherOperator(problem).apply(v) }
    expectCurvatureError("Jacobian", isNonFinite) { _ = try JacobianOperator(problem).apply(v) }
    expectCurvatureError("Jacobian adjoint", isNonFinite) {
      _ = try JacobianOperator(problem).applyTranspose(NDArray(zeros: [JacobianOperator(problem).rowCount]))
    }
    expectCurvatureError("GGN adjoint", isNonFinite) { _ = try GGNOperator(problem).applyTranspose(v) }
    expectCurvatureError("lossAndGradient", isNonFinite) { _ = try problem.lossAndGradient() }
    // A NaN only in an unselected block still makes the outputs NaN.
    let second = try CurvatureProblem(model: model, loss: c.loss, data: c.data, blocks: [2, 3], checkDeterminism: false)
    expectCurvatureError("NaN in an unselected block", isNonFinite) { _ = try GGNOperator(second).dense() }
  }

  @Test func invalidArguments() throws {
    let c = try CurvatureCases.mlp(.tanh, .crossEntropy, .mean)
    for blocks in [[4], [-1], [0, 7], [], [1, 1]] {
      expectCurvatureError("blocks \(blocks)", isInvalidArgument) {
        _ = try CurvatureProblem(model: c.model, loss: c.loss, data: c.data, blocks: blocks)
      }
    }
    for batchSize in [0, -3] {
      expectCurvatureError("batch size \(batchSize)", isInvalidArgument) {
        _ = try CurvatureProblem(model: c.model, loss: c.loss, data: c.data, batchSize: batchSize)
      }
    }
    let empty = try ArrayDataset<Double>(inputs: NDArray(zeros: [0, 3]), targets: .classes([]))
    expectCurvatureError("empty data set", isInvalidArgument) {
      _ = try CurvatureProblem(model: c.model, loss: c.loss, data: empty)
    }
    expectCurvatureError("empty data set, unchecked", isInvalidArgument) {
      _ = try CurvatureProblem(model: c.model, loss: c.loss, data: empty, batchSize: 2, checkDeterminism: false)
    }
  }

  @Test func classTargetOutOfRangeIsInvalidData() throws {
    let c = try CurvatureCases.mlp(.tanh, .crossEntropy, .mean)
    guard case var .classes(classes) = c.data.targets else { Issue.record("class targets expected"); return }
    for bad in [3, -1] {
      classes[4] = bad
      let data = try ArrayDataset(inputs: c.data.inputs, targets: .classes(classes))
      expectCurvatureError("class \(bad)", isInvalidData) {
        _ = try CurvatureProblem(model: c.model, loss: c.loss, data: data, batchSize: 4)
      }
      let problem = try CurvatureProblem(model: c.model, loss: c.loss, data: data, batchSize: 4, checkDeterminism: false)
      let v = NDArray<Double>(zeros: [problem.dimension])
      expectCurvatureError("GGN, class \(bad)", isInvalidData) { _ = try GGNOperator(problem).apply(v) }
      expectCurvatureError("EF, class \(bad)", isInvalidData) { _ = try EmpiricalFisherOperator(problem).apply(v) }
      expectCurvatureError("Hessian, class \(bad)", isInvalidData) { _ = try HessianOperator(problem).apply(v) }
      expectCurvatureError("MC Fisher, class \(bad)", isInvalidData) { _ = try MonteCarloFisherOperator(problem).apply(v) }
    }
    // Value targets for cross-entropy, and BCE targets outside [0, 1], are invalid data too.
    let values = try ArrayDataset(inputs: c.data.inputs, targets: .values(NDArray(zeros: [6, 3])))
    expectCurvatureError("value targets for cross-entropy", isInvalidData) {
      _ = try CurvatureProblem(model: c.model, loss: c.loss, data: values)
    }
    let b = try CurvatureCases.mlp(.tanh, .bceWithLogits, .mean)
    let outside = try ArrayDataset(inputs: b.data.inputs, targets: .values(NDArray(repeating: 1.5, shape: [6, 3])))
    expectCurvatureError("BCE target 1.5", isInvalidData) {
      _ = try CurvatureProblem(model: b.model, loss: b.loss, data: outside)
    }
  }

  @Test func wrongOperandShapesAreRejected() throws {
    let problem = try CurvatureCases.mlp(.tanh, .crossEntropy, .mean).problem()
    #expect(throws: LinearOperatorError.self) { try GGNOperator(problem).apply(NDArray(zeros: [problem.dimension + 1])) }
    #expect(throws: LinearOperatorError.self) { try JacobianOperator(problem).applyTranspose(NDArray(zeros: [problem.dimension, 2])) }
  }
}

/// Products with no columns (`[P, 0]`) give `[rows, 0]`, as for every other operator.
@Suite struct CurvatureEmptyProductTests {
  @Test func zeroColumnProductsKeepTheRowCount() throws {
    let problem = try CurvatureCases.mlp(.tanh, .crossEntropy, .mean).problem(batchSize: 4)
    let p = problem.dimension
    let empty = NDArray<Double>(zeros: [p, 0])
    let operators: [(String, any LinearOperator<Double>)] = [
      ("GGN", GGNOperator(problem)), ("EF", EmpiricalFisherOperator(problem)), ("Hessian", HessianOperator(problem)),
      ("MC Fisher", try MonteCarloFisherOperator(problem)),
    ]
    for (label, op) in operators {
      #expect(try op.apply(empty).shape == [p, 0], "\(label) apply")
      #expect(try op.applyTranspose(empty).shape == [p, 0], "\(label) applyTranspose")
    }
    let jacobian = JacobianOperator(problem)
    #expect(try jacobian.apply(empty).shape == [jacobian.rowCount, 0])
    #expect(try jacobian.applyTranspose(NDArray(zeros: [jacobian.rowCount, 0])).shape == [p, 0])
    #expect(try DenseOperator(NDArray<Double>.identity(p)).apply(empty).shape == [p, 0])
  }
}
