import Curvature
import CurvatureTestSupport
import Testing

/// Per-sample gradients (BackPACK's BatchGrad, BatchL2Grad, SumGradSquared, Variance)
/// against one reverse pass per data point, on Sequential models and every exported graph
/// fixture, in Double and Float.
@Suite struct PerSampleGradientTests {
  func check<T: BLASScalar>(_ problem: CurvatureProblem<T>, _ name: String, rtol: T, atol: T) throws {
    let reference = try PerSampleSupport.referencePerSampleGradients(problem)
    let stats = try problem.perSampleGradientStatistics(individualGradients: true)
    let (n, p) = (problem.data.count, problem.dimension)
    assertClose(stats.individual!, reference, rtol: rtol, atol: atol, "\(name) individual gradients")
    assertClose(try problem.perSampleGradients(), reference, rtol: rtol, atol: atol, "\(name) perSampleGradients")
    // The statistics from the reference rows.
    var sum = [T](repeating: 0, count: p), squares = [T](repeating: 0, count: p)
    for i in 0..<n {
      for j in 0..<p {
        let v = reference.scalars[i * p + j]
        sum[j] += v
        squares[j] += v * v
      }
    }
    assertClose(stats.gradient, NDArray(sum), rtol: rtol, atol: atol, "\(name) gradient")
    assertClose(stats.gradient, try problem.lossAndGradient().gradient, rtol: rtol, atol: atol, "\(name) gradient vs lossAndGradient")
    assertClose(stats.sumOfSquares, NDArray(squares), rtol: rtol, atol: atol * atol, "\(name) sum of squares")
    assertClose(try problem.sumOfSquaredGradients(), NDArray(squares), rtol: rtol, atol: atol * atol, "\(name) sumOfSquaredGradients")
    let variance = NDArray((0..<p).map { squares[$0] / T(n) - (sum[$0] / T(n)) * (sum[$0] / T(n)) })
    assertClose(try problem.gradientVariance(), variance, rtol: rtol, atol: atol * atol, "\(name) variance")
    var norms = [T]()
    for i in 0..<n {
      var offset = 0
      for spec in problem.selectedSpecs {
        norms.append((offset..<(offset + spec.count)).reduce(T(0)) { $0 + reference.scalars[i * p + $1] * reference.scalars[i * p + $1] })
        offset += spec.count
      }
    }
    assertClose(
      try problem.perSampleSquaredGradientNorms(), NDArray(shape: [n, problem.blocks.count], scalars: norms),
      rtol: rtol, atol: atol * atol, "\(name) squared norms")
    // A part of the data set: the rows of those points.
    let part = try problem.perSampleGradients(points: 1..<n)
    assertClose(part, NDArray(shape: [n - 1, p], scalars: Array(reference.scalars[p...])), rtol: rtol, atol: atol, "\(name) points 1..<\(n)")
  }

  @Test func sequentialModelsMatchOnePassPerDataPoint() throws {
    for (name, problem) in try PerSampleSupport.sequentialProblems(as: Double.self) {
      try check(problem, name, rtol: 1e-10, atol: 1e-12)
    }
    for (name, problem) in try PerSampleSupport.sequentialProblems(as: Float.self) {
      try check(problem, name + " (Float)", rtol: 1e-4, atol: 1e-5)
    }
  }

  @Test(arguments: PerSampleSupport.graphNames)
  func graphFixturesMatchOnePassPerDataPoint(_ name: String) throws {
    try check(try PerSampleSupport.graphProblem(name, as: Double.self, batchSize: 2), name, rtol: 1e-10, atol: 1e-12)
    try check(try PerSampleSupport.graphProblem(name, as: Float.self), name + " (Float)", rtol: 2e-3, atol: 2e-4)
  }

  @Test func selectedBlocksAndBadRanges() throws {
    let full = try PerSampleSupport.graphProblem("nanogpt", as: Double.self)
    let problem = try CurvatureProblem(model: full.model, loss: full.loss, data: full.data, blocks: [0, 3, full.model.parameterSpecs.count - 1])
    try check(problem, "nanogpt blocks", rtol: 1e-10, atol: 1e-12)
    #expect(throws: CurvatureError.self) { try problem.perSampleGradients(points: 0..<(problem.data.count + 1)) }
    #expect(throws: CurvatureError.self) { try problem.perSampleGradients(points: 2..<2) }
  }
}
