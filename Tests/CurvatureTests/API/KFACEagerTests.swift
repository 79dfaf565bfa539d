import Curvature
import CurvatureTestSupport
import Testing

/// KFAC and EKFAC build their factors on first use unless asked to build them at once
/// (issue 19).
@Suite struct KFACEagerTests {
  func eagerBuild<T: APITestScalar>(_: T.Type) throws {
    let counter = ReadCounter()
    let data = ReadCountingDataset(base: try APICases.data(T.self), counter: counter)
    let problem = try CurvatureProblem(
      model: try APICases.sequential(T.self), loss: Loss(.mse), data: data, batchSize: 4, checkDeterminism: false)
    let v: NDArray<T> = RandomMatrices.gaussian(problem.dimension, 1, seed: 12).reshaped([problem.dimension])

    let setUp = counter.value
    let lazy = try KFACOperator(problem)
    #expect(counter.value == setUp, "the lazy initializer reads no data")
    let eager = try KFACOperator(problem, eager: true)
    let built = counter.value
    #expect(built > setUp, "the eager initializer builds the factors")
    let eagerProduct = try eager * v
    #expect(counter.value == built, "an eager operator's first product reads no data")
    let lazyProduct = try lazy * v
    #expect(counter.value > built, "a lazy operator builds its factors on first use")
    #expect(eagerProduct == lazyProduct)

    let beforeEKFAC = counter.value
    let lazyEKFAC = try EKFACOperator(problem)
    #expect(counter.value == beforeEKFAC)
    let eagerEKFAC = try EKFACOperator(problem, eager: true)
    let builtEKFAC = counter.value
    #expect(builtEKFAC > beforeEKFAC)
    let eagerEKFACProduct = try eagerEKFAC * v
    #expect(counter.value == builtEKFAC)
    #expect(eagerEKFACProduct == (try lazyEKFAC * v))
  }

  @Test func eagerFormBuildsFactorsInTheInitializer() throws {
    try eagerBuild(Float.self)
    try eagerBuild(Double.self)
  }

  @Test func eagerFormReportsDataErrorsAtOnce() throws {
    // Targets that only the factor pass reads: the MSE problem is checked on the first
    // point at set-up, but a data set that fails later throws from the eager initializer.
    struct FailingLater: Dataset {
      let base: ArrayDataset<Double>
      var count: Int { base.count }
      var inputShape: [Int] { base.inputShape }
      func batch(_ range: Range<Int>) throws -> Batch<Double> {
        if range.upperBound > 4 { throw CurvatureError.invalidData("point \(range.upperBound - 1) is unreadable") }
        return try base.batch(range)
      }
    }
    let data = FailingLater(base: try APICases.data(Double.self))
    // Set-up reads only the first point (no determinism check, MSE counts no targets).
    let problem = try CurvatureProblem(
      model: try APICases.sequential(Double.self), loss: Loss(.mse), data: data, batchSize: 4, checkDeterminism: false)
    _ = try KFACOperator(problem)
    #expect(throws: CurvatureError.self) { try KFACOperator(problem, eager: true) }
  }
}
