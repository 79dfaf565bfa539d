import Curvature
import CurvatureAutodiff
import CurvatureTestSupport
import Foundation
import Testing

private typealias Support = GraphSupport

/// Products with k columns on graph models, which record one forward pass per batch (row
/// chunk) and push each column's tangent through it (`replayedTangent`), with the (chunk,
/// column) pairs on several threads: against the same operator applied column by column
/// (the same bits on one thread; to rounding otherwise), against the dense references of
/// the exported fixtures in Double and Float, and over row chunks; the replayed tangent
/// against the tangent carried through a forward pass.
@Suite struct GraphColumnBatchTests {
  /// The problem of an exported fixture, in `T`.
  static func fixtureProblem<T: BLASScalar>(_ name: String, as _: T.Type, batchSize: Int) throws -> CurvatureProblem<T> {
    try PerSampleSupport.graphProblem(name, as: T.self, batchSize: batchSize, directory: GraphExportedFixtureTests.directory)
  }

  /// A dense reference of a fixture (`ggn.npy`, `ef.npy`, `hessian.npy`), nil for the EF of
  /// `per_token_ce_ignore`: an ignored target adds nothing to ours, while curvlinops counts
  /// it in `R` and rescales the others (`EmpiricalFisherOperator`).
  static func dense(_ name: String, _ file: String) throws -> NDArray<Double>? {
    if name == "per_token_ce_ignore" && file == "ef.npy" { return nil }
    let folder = GraphExportedFixtureTests.directory.appendingPathComponent(name)
    return try NPYArray(contentsOf: folder.appendingPathComponent(file)).floats(as: Double.self)
  }

  static func operators<T: BLASScalar>(_ problem: CurvatureProblem<T>) throws -> [(String, any LinearOperator<T>)] {
    [("GGN", GGNOperator(problem)), ("EF", EmpiricalFisherOperator(problem)), ("Hessian", HessianOperator(problem)),
     ("MC", try MonteCarloFisherOperator(problem, mcSamples: 2, seed: 5))]
  }

  @Test(arguments: GraphExportedFixtureTests.names)
  func matmatEqualsColumnLoopAndDense(_ name: String) throws {
    var problem = try Self.fixtureProblem(name, as: Double.self, batchSize: 2)
    let x = CurvatureCases.randomMatrix(problem.dimension, 5, seed: 3)
    let dense = ["GGN": try Self.dense(name, "ggn.npy"), "EF": try Self.dense(name, "ef.npy"), "Hessian": try Self.dense(name, "hessian.npy")]
    // Column by column without held passes: each column's own forward pass carries its tangent.
    var fused = problem
    fused.cachesLinearizations = false
    fused.threads = 1
    let fusedColumns = try Self.operators(fused).map { try ColumnBatchTests.columnLoop($0.1, x) }
    for threads in [1, 2] {
      problem.threads = threads
      for (index, (label, op)) in try Self.operators(problem).enumerated() {
        let product = try op.apply(x)
        let columns = try ColumnBatchTests.columnLoop(op, x)
        if threads == 1 && label != "Hessian" {
          #expect(product == fusedColumns[index], "\(name) \(label): the recorded forward pass changes the bits")
          #expect(columns == fusedColumns[index], "\(name) \(label): the held forward pass changes the bits")
        }
        expectClose(product, columns, rtol: 1e-12, atolFactor: 1e-13, "\(name) \(label) threads \(threads) vs columns")
        if let matrix = dense[label] ?? nil {
          expectClose(product, matmul(matrix, x), rtol: 1e-9, atolFactor: 1e-10, "\(name) \(label) threads \(threads) vs dense")
        }
      }
    }
  }

  @Test(arguments: GraphExportedFixtureTests.names)
  func matmatInFloatMatchesColumnLoopAndDense(_ name: String) throws {
    let problem = try Self.fixtureProblem(name, as: Float.self, batchSize: 3)
    let x64 = CurvatureCases.randomMatrix(problem.dimension, 4, seed: 8)
    let x = x64.converted(to: Float.self)
    let dense = ["GGN": try Self.dense(name, "ggn.npy"), "EF": try Self.dense(name, "ef.npy")]
    for (label, op) in try Self.operators(problem) {
      let product = try op.apply(x).converted(to: Double.self)
      let columns = try ColumnBatchTests.columnLoop(op, x).converted(to: Double.self)
      expectClose(product, columns, rtol: 2e-4, atolFactor: 1e-5, "\(name) \(label) Float vs columns")
      if let matrix = dense[label] ?? nil {
        expectClose(product, matmul(matrix, x.converted(to: Double.self)), rtol: 2e-3, atolFactor: 1e-4, "\(name) \(label) Float vs dense")
      }
    }
  }

  /// The residual graph (weights from seed 6) and `points` random inputs `[points, 4]` with
  /// class targets, drawn in that order from `seed`.
  static func residualData(points: Int, seed: UInt64) throws -> (ModelFile<Double>, ArrayDataset<Double>) {
    let file = try Support.file(Support.residual, as: Double.self, seed: 6)
    var rng = RandomGenerator(seed: seed)
    let x: NDArray<Double> = rng.normalArray(shape: [points, 4])
    return (file, try ArrayDataset(inputs: x, targets: .classes((0..<points).map { _ in rng.integer(below: 3) })))
  }

  /// A batch of 130 data points runs as two row chunks: every (chunk, column) pair is an
  /// item, the chunks added in order.
  @Test func rowChunksAndColumnsTogether() throws {
    let (file, data) = try Self.residualData(points: 130, seed: 21)
    var problem = try CurvatureProblem(model: file.graph!, loss: file.loss, data: data, batchSize: 130)
    let reference = DenseCurvature(model: file.graph!, loss: file.loss, data: data)
    let v = CurvatureCases.randomMatrix(problem.dimension, 7, seed: 2)
    for threads in [1, 2] {
      problem.threads = threads
      for (label, op) in try Self.operators(problem) {
        let product = try op.apply(v)
        expectClose(product, try ColumnBatchTests.columnLoop(op, v), rtol: 1e-12, atolFactor: 1e-13, "\(label) threads \(threads) vs columns")
        let matrix = ["GGN": reference.ggn, "EF": reference.empiricalFisher, "Hessian": reference.hessian()][label]
        if let matrix { expectClose(product, matmul(matrix, v), rtol: 1e-10, "\(label) threads \(threads) vs dense") }
      }
    }
  }

  /// A column whose tangent overflows: the same error as that column alone.
  @Test func nonFiniteColumnNamesTheProduct() throws {
    let (file, data) = try Self.residualData(points: 6, seed: 5)
    let problem = try CurvatureProblem(model: file.graph!, loss: file.loss, data: data, batchSize: 3)
    var x = CurvatureCases.randomMatrix(problem.dimension, 3, seed: 1)
    for i in 0..<problem.dimension { x.scalars[i * 3 + 1] = .infinity }
    let column = NDArray(shape: [problem.dimension], scalars: (0..<problem.dimension).map { x.scalars[$0 * 3 + 1] })
    for op in [GGNOperator(problem) as any LinearOperator<Double>, EmpiricalFisherOperator(problem)] {
      let matmatError = #expect(throws: CurvatureError.self) { _ = try op.apply(x) }
      let columnError = #expect(throws: CurvatureError.self) { _ = try op.apply(column) }
      #expect(matmatError?.description == columnError?.description)
      #expect(matmatError?.description.contains("Jacobian-vector product") == true, "\(String(describing: matmatError))")
    }
  }

  /// `replayedTangent` on a graph recorded once equals, bit for bit, the tangent carried
  /// through the function (the transformer pieces: embeddings, attention as ops, softmax,
  /// a normalization, a tied head), for several directions.
  @Test func replayedTangentEqualsForwardTangent() throws {
    try replayedTangentEqualsForwardTangent(Double.self)
    try replayedTangentEqualsForwardTangent(Float.self)
  }

  func replayedTangentEqualsForwardTangent<T: BLASScalar>(_: T.Type) throws {
    let file = try Support.transformerModel(as: T.self)
    let model = file.graph!
    let data = try Support.transformerData(n: 4, as: T.self)
    let inputs = try data.batch(0..<4).inputTensors
    let leaves = AutodiffMode.recording(true) { model.parameters.map { Tensor($0).requiringGradient() } }
    let recorded = AutodiffMode.recordingLinearization { model(inputs, parameters: leaves) }
    var rng = RandomGenerator(seed: 17)
    for _ in 0..<3 {
      let directions = model.parameters.map { Tensor<T>(rng.normalArray(shape: $0.shape, T.self)) }
      let carried = jvp(at: model.parameters.map { Tensor($0) }, tangents: directions) { model(inputs, parameters: $0) }.tangent
      let replayed = replayedTangent(of: recorded, leaves: leaves, tangents: directions)
      #expect(replayed?.value == carried.value)
    }
    #expect(recorded.value == AutodiffMode.withoutRecording { model(inputs, parameters: model.parameters.map { Tensor($0) }) }.value)
  }
}
