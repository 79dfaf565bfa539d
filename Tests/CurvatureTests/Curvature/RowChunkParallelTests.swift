import Curvature
import CurvatureTestSupport
import Foundation
import Synchronization
import Testing

/// Batches split into row chunks that run on several threads (issue 17, "Both cores for
/// everything"), and the linearization cache ("Cache the linearization"): the chunked
/// passes equal the unsplit ones up to rounding, have the same bits for 1, 2 and 4 threads
/// and from run to run, and products with the held forward passes have the same bits as
/// without them; held passes are not used for other data or other weights.
@Suite struct RowChunkParallelTests {
  /// Every quantity the chunked passes compute, by name: loss, gradient, and GGN, Hessian,
  /// empirical and Monte Carlo Fisher products with one and with three columns.
  static func quantities<T: BLASScalar>(_ problem: CurvatureProblem<T>, seed: UInt64 = 3) throws -> [(String, NDArray<T>)] {
    var rng = RandomGenerator(seed: seed)
    let p = problem.dimension
    let v: NDArray<T> = rng.normalArray(shape: [p])
    let x: NDArray<T> = rng.normalArray(shape: [p, 3])
    let (loss, gradient) = try problem.lossAndGradient()
    var result: [(String, NDArray<T>)] = [("loss", NDArray([loss])), ("gradient", gradient)]
    let operators: [(String, any LinearOperator<T>)] = [
      ("GGN", GGNOperator(problem)), ("Hessian", HessianOperator(problem)), ("EF", EmpiricalFisherOperator(problem)),
      ("MC Fisher", try MonteCarloFisherOperator(problem, mcSamples: 2, seed: 5)),
    ]
    for (name, op) in operators {
      result.append(("\(name) v", try op.apply(v)))
      result.append(("\(name) X", try op.apply(x)))
    }
    return result
  }

  /// A tanh MLP with cross-entropy on `n` points (Sequential), or the residual graph with
  /// cross-entropy (GraphModel), in `T`.
  static func problem<T: BLASScalar>(
    _ kind: String, _: T.Type, n: Int = 200, batchSize: Int? = nil, modelSeed: UInt64 = 4, dataSeed: UInt64 = 9
  ) throws -> CurvatureProblem<T> {
    var rng = RandomGenerator(seed: dataSeed)
    switch kind {
    case "mlp":
      let model = try Sequential<T>(
        [Linear(inFeatures: 6, outFeatures: 12), Tanh(), Linear(inFeatures: 12, outFeatures: 10), Tanh(), Linear(inFeatures: 10, outFeatures: 3)],
        seed: modelSeed)
      let data = try ArrayDataset<T>(inputs: rng.normalArray(shape: [n, 6]), targets: .classes((0..<n).map { _ in rng.integer(below: 3) }))
      return try CurvatureProblem(model: model, loss: Loss(.crossEntropy), data: data, batchSize: batchSize ?? n)
    case "sequence":
      // A loss term per position: 8 per data point, 512 terms per chunk at least, so 200
      // sequences make 3 chunks (2 on a 2-core machine) and batches of 50 are not split.
      let file = try GraphSupport.file(Self.sequence, as: T.self, seed: modelSeed)
      let data = try ArrayDataset<T>(
        inputs: rng.normalArray(shape: [n, 8, 4]), targets: .classes((0..<(n * 8)).map { _ in rng.integer(below: 3) }))
      return try CurvatureProblem(model: file.graph!, loss: file.loss, data: data, batchSize: batchSize ?? n)
    default:
      let file = try GraphSupport.file(GraphSupport.residual, as: T.self, seed: modelSeed)
      let data = try ArrayDataset<T>(inputs: rng.normalArray(shape: [n, 4]), targets: .classes((0..<n).map { _ in rng.integer(below: 3) }))
      return try CurvatureProblem(model: file.graph!, loss: file.loss, data: data, batchSize: batchSize ?? n)
    }
  }

  /// `Linear(4, 5) – tanh – Linear(5, 3)` on sequences `[N, 8, 4]`, the logits permuted to
  /// `[N, 3, 8]` for a cross-entropy term per position.
  static let sequence = GraphSupport.document(
    inputs: [GraphSupport.value("x", [-1, 8, 4])],
    parameters: [GraphSupport.value("fc1.weight", [5, 4]), GraphSupport.value("fc1.bias", [5]),
                 GraphSupport.value("fc2.weight", [3, 5]), GraphSupport.value("fc2.bias", [3])],
    nodes: [
      GraphSupport.node("h", "linear", ["x", "fc1.weight", "fc1.bias"], [-1, 8, 5]),
      GraphSupport.node("t", "tanh", ["h"], [-1, 8, 5]),
      GraphSupport.node("y", "linear", ["t", "fc2.weight", "fc2.bias"], [-1, 8, 3]),
      GraphSupport.node("out", "permute", ["y"], [-1, 3, 8], #"{"dims": [0, 2, 1]}"#),
    ], output: "out", loss: #"{"type": "cross_entropy", "reduction": "mean"}"#)

  /// The split depends on the row count, the loss terms per data point and the chunk cap
  /// only: 64 data points of one term, or 512 terms of a per-position loss, per chunk at
  /// least; `maximumChunks` at most (the machine's processors, 1 to 4); sizes differing by
  /// at most one.
  @Test func chunksCountLossTerms() throws {
    typealias P = CurvatureProblem<Double>
    #expect(P.rowChunks(127, maximumChunks: 4) == [0..<127])
    #expect(P.rowChunks(200, maximumChunks: 4) == [0..<67, 67..<134, 134..<200])
    #expect(P.rowChunks(1000, maximumChunks: 4).count == 4)
    #expect(P.rowChunks(1000, maximumChunks: 2) == [0..<500, 500..<1000])
    #expect(P.rowChunks(1000, maximumChunks: 1) == [0..<1000])
    // 32 sequences of 32 tokens (the compare.py GPT): 16 sequences make 512 terms.
    #expect(P.rowChunks(32, termsPerRow: 32, maximumChunks: 4) == [0..<16, 16..<32])
    #expect(P.rowChunks(31, termsPerRow: 32, maximumChunks: 4) == [0..<31])
    #expect(P.rowChunks(48, termsPerRow: 32, maximumChunks: 4) == [0..<16, 16..<32, 32..<48])
    #expect(P.rowChunks(48, termsPerRow: 32, maximumChunks: 2) == [0..<24, 24..<48])
    #expect(P.rowChunks(1, termsPerRow: 1000, maximumChunks: 4) == [0..<1])
    #expect(P.rowChunks(2, termsPerRow: 1000, maximumChunks: 4) == [0..<1, 1..<2])
    #expect(P.rowChunks(127, termsPerRow: 8, maximumChunks: 4) == [0..<127])
    #expect(P.rowChunks(128, termsPerRow: 8, maximumChunks: 4) == [0..<64, 64..<128])
    #expect(P.rowChunks(0, termsPerRow: 8, maximumChunks: 4) == [0..<0])
    // The default cap is this machine's configured processors, 1 to 4, whatever `threads`.
    let processors = ProcessInfo.processInfo.processorCount
    #expect(P.maximumChunks == min(4, max(1, processors)))
    #expect(P.rowChunks(1000) == P.rowChunks(1000, maximumChunks: min(4, max(1, processors))))
    #expect(try Self.problem("sequence", Double.self).termsPerDataPoint == 8)
    #expect(try Self.problem("mlp", Double.self).termsPerDataPoint == 1)
  }

  static func expectSameBits<T: BLASScalar>(
    _ a: [(String, NDArray<T>)], _ b: [(String, NDArray<T>)], _ label: String, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(a.map(\.0) == b.map(\.0), sourceLocation: sourceLocation)
    for ((name, x), (_, y)) in zip(a, b) {
      #expect(x == y, "\(label): \(name) differs", sourceLocation: sourceLocation)
    }
  }

  /// Split batches (200 points or sequences: three chunks, two on 2 cores) against batches too small to
  /// split (50): equal up to rounding, in Double and Float,
  /// for a Sequential and graph models with one and with 8 loss terms per data point.
  @Test(arguments: ["mlp", "residual", "sequence"])
  func chunkedPassesEqualUnsplitOnes(_ kind: String) throws {
    let split = try Self.quantities(Self.problem(kind, Double.self))
    let whole = try Self.quantities(Self.problem(kind, Double.self, batchSize: 50))
    for ((name, x), (_, y)) in zip(split, whole) { expectClose(x, y, rtol: 1e-10, "\(kind) \(name) Double") }
    let splitFloat = try Self.quantities(Self.problem(kind, Float.self))
    let wholeFloat = try Self.quantities(Self.problem(kind, Float.self, batchSize: 50))
    for ((name, x), (_, y)) in zip(splitFloat, wholeFloat) {
      expectClose(x.converted(to: Double.self), y.converted(to: Double.self), rtol: 2e-4, atolFactor: 1e-5, "\(kind) \(name) Float")
    }
  }

  /// 1, 2 and 4 threads, and a second run: the same bits, with and without the cache.
  func sameBitsForEveryThreadCount<T: BLASScalar>(_ kind: String, _: T.Type) throws {
    var reference: [(String, NDArray<T>)]? = nil
    for (threads, caches) in [(1, false), (2, false), (4, false), (2, false), (1, true), (2, true), (4, true)] {
      var problem = try Self.problem(kind, T.self)
      problem.threads = threads
      problem.cachesLinearizations = caches
      let first = try Self.quantities(problem)
      let again = try Self.quantities(problem)
      Self.expectSameBits(first, again, "\(kind) \(T.self), \(threads) threads, cache \(caches), second run")
      if let reference {
        Self.expectSameBits(first, reference, "\(kind) \(T.self), \(threads) threads, cache \(caches) vs 1 thread")
      } else {
        reference = first
      }
    }
  }

  @Test(arguments: ["mlp", "residual", "sequence"])
  func sameBitsForEveryThreadCountDouble(_ kind: String) throws { try sameBitsForEveryThreadCount(kind, Double.self) }
  @Test(arguments: ["mlp", "residual", "sequence"])
  func sameBitsForEveryThreadCountFloat(_ kind: String) throws { try sameBitsForEveryThreadCount(kind, Float.self) }

  /// The held forward passes give the same bits as none, on split and unsplit batches,
  /// for products with other vectors; they take memory only when enabled.
  func cacheGivesTheSameBits<T: BLASScalar>(_: T.Type) throws {
    for batchSize in [200, 50] {
      let cached = try Self.problem("mlp", T.self, batchSize: batchSize)
      var uncached = cached
      uncached.cachesLinearizations = false
      let fresh = try Self.problem("mlp", T.self, batchSize: batchSize)
      #expect(cached.cachedLinearizationBytes == 0)
      for seed: UInt64 in [3, 7] {
        let withCache = try Self.quantities(cached, seed: seed)
        #expect(cached.cachedLinearizationBytes > 0)
        Self.expectSameBits(withCache, try Self.quantities(uncached, seed: seed), "batch \(batchSize), seed \(seed): cache vs none")
        var off = fresh
        off.cachesLinearizations = false
        Self.expectSameBits(withCache, try Self.quantities(off, seed: seed), "batch \(batchSize), seed \(seed): cache vs new problem")
      }
      #expect(fresh.cachedLinearizationBytes == 0)
    }
  }

  @Test func cacheGivesTheSameBitsDouble() throws { try cacheGivesTheSameBits(Double.self) }
  @Test func cacheGivesTheSameBitsFloat() throws { try cacheGivesTheSameBits(Float.self) }

  /// Problems with other weights on the same data, used in turn, each give their own
  /// products.
  @Test func otherWeightsGetTheirOwnPasses() throws {
    let a = try Self.problem("mlp", Double.self, modelSeed: 4)
    let b = try Self.problem("mlp", Double.self, modelSeed: 5)
    let reference = [a, b].map { problem in
      var p = problem
      p.cachesLinearizations = false
      return p
    }
    for round in 0..<2 {
      for (index, problem) in [a, b].enumerated() {
        Self.expectSameBits(try Self.quantities(problem), try Self.quantities(reference[index]), "weights \(index), round \(round)")
      }
    }
  }

  /// A data set whose inputs change between products: the held passes of the old inputs
  /// are not used for the new ones.
  @Test func otherDataGetTheirOwnPasses() throws {
    let version = Version()
    var rng = RandomGenerator(seed: 2)
    let inputs: [NDArray<Double>] = [rng.normalArray(shape: [200, 6]), rng.normalArray(shape: [200, 6])]
    let classes = (0..<200).map { _ in rng.integer(below: 3) }
    let model = try Sequential<Double>(
      [Linear(inFeatures: 6, outFeatures: 12), Tanh(), Linear(inFeatures: 12, outFeatures: 3)], seed: 4)
    let changing = try CurvatureProblem(
      model: model, loss: Loss(.crossEntropy), data: SwitchingDataset(inputs: inputs, classes: classes, version: version),
      checkDeterminism: false)
    let v = NDArray<Double>(shape: [changing.dimension], scalars: (0..<changing.dimension).map { Double($0 % 7) - 3 })
    for current in [0, 1, 0] {
      version.set(current)
      var fixed = try CurvatureProblem(model: model, loss: Loss(.crossEntropy), data: ArrayDataset(inputs: inputs[current], targets: .classes(classes)))
      fixed.cachesLinearizations = false
      #expect(try GGNOperator(changing).apply(v) == GGNOperator(fixed).apply(v), "inputs \(current)")
      #expect(try HessianOperator(changing).apply(v) == HessianOperator(fixed).apply(v), "inputs \(current)")
    }
  }
}

/// Which of two input arrays `SwitchingDataset` returns.
private final class Version: Sendable {
  private let value = Mutex(0)
  func set(_ v: Int) { value.withLock { $0 = v } }
  var current: Int { value.withLock { $0 } }
}

/// A data set whose inputs the test switches between two arrays.
private struct SwitchingDataset: Dataset {
  let inputs: [NDArray<Double>]
  let classes: [Int]
  let version: Version
  var count: Int { classes.count }
  var inputShape: [Int] { [inputs[0].shape[1]] }
  func batch(_ range: Range<Int>) throws -> Batch<Double> {
    let all = inputs[version.current]
    let width = all.shape[1]
    let rows = NDArray(shape: [range.count, width], scalars: Array(all.scalars[(range.lowerBound * width)..<(range.upperBound * width)]))
    return Batch(inputs: rows, targets: .classes(Array(classes[range])), range: range)
  }
}
