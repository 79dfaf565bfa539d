import Curvature
import CurvatureTestSupport
import Testing

/// `train` takes any `TrainableModel`: a `FunctionModel` trains as the `Sequential` it
/// spells out (issue 19).
@Suite struct TrainAnyModelTests {
  func sameTraining<T: APITestScalar>(_: T.Type) throws {
    var sequential = try APICases.sequential(T.self)
    var function = try APICases.function(sequential)
    let data = try APICases.data(T.self, n: 12)
    var sgd1 = SGD<T>(learningRate: 0.1, momentum: 0.9)
    var sgd2 = SGD<T>(learningRate: 0.1, momentum: 0.9)
    let losses1 = try train(&sequential, loss: Loss(.mse), data: data, optimizer: &sgd1, epochs: 4, batchSize: 5, seed: 3)
    let losses2 = try train(&function, loss: Loss(.mse), data: data, optimizer: &sgd2, epochs: 4, batchSize: 5, seed: 3)
    #expect(losses2.last! < losses2.first!)
    assertClose(NDArray(losses2), NDArray(losses1), rtol: T.testRelativeTolerance)
    for (a, b) in zip(function.parameters, sequential.parameters) {
      assertClose(a, b, rtol: T.testRelativeTolerance, atol: T.testAbsoluteTolerance)
    }
  }

  @Test func functionModelsTrainAsTheirSequential() throws {
    try sameTraining(Float.self)
    try sameTraining(Double.self)
  }

  @Test func badTargetsFailBeforeAnyStep() throws {
    let sequential = try APICases.sequential(Double.self)
    var function = try APICases.function(sequential)
    let before = function.parameters
    var rng = RandomGenerator(seed: 4)
    let x: NDArray<Double> = rng.normalArray(shape: [6, 3])
    let wrongWidth = try ArrayDataset(inputs: x, targets: .values(rng.normalArray(shape: [6, 3])))
    var sgd = SGD<Double>(learningRate: 0.1)
    #expect(throws: TrainingError.self) {
      try train(&function, loss: Loss(.mse), data: wrongWidth, optimizer: &sgd, epochs: 1, batchSize: 2, seed: 0)
    }
    // Class targets for MSE: the wrong kind.
    let classes = try ArrayDataset(inputs: x, targets: .classes([0, 1, 0, 1, 0, 1]))
    #expect(throws: TrainingError.self) {
      try train(&function, loss: Loss(.mse), data: classes, optimizer: &sgd, epochs: 1, batchSize: 2, seed: 0)
    }
    #expect(function.parameters == before)
    // A replacement of the wrong shape is refused, naming the block.
    #expect(throws: ModelError.self) { try function.setParameters([NDArray(zeros: [2])]) }
  }
}
