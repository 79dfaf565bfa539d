import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// Data-parallel curvature problems (issue 18) without MPI: K ranks simulated by K threads
/// of this process that share an in-memory communicator (sums in rank order, broadcasts),
/// each with its own `CurvatureProblem` over its shard. Every product, gradient, diagonal
/// and KFAC/EKFAC matrix must equal the single-process one up to rounding, with shards of
/// uneven sizes and several batches per shard; and the single-process problem must read
/// the whole set in the batches it always did. (`scripts/mpi-curv-tests.sh` runs `curv`
/// itself under `mpiexec`.)
@Suite struct ShardedProblemTests {
  @Test(arguments: [2, 3])
  func shardedProductsEqualOneProcessDouble(_ ranks: Int) throws {
    try checkShardedProducts(Double.self, ranks: ranks, rtol: 1e-11)
  }

  @Test(arguments: [2, 3])
  func shardedProductsEqualOneProcessFloat(_ ranks: Int) throws {
    try checkShardedProducts(Float.self, ranks: ranks, rtol: 2e-4)
  }

  @Test func singleProcessReadsTheWholeSetInItsBatches() throws {
    let (model, loss, data) = try Self.problemParts(Double.self, points: 13)
    let problem = try CurvatureProblem(model: model, loss: loss, data: data, batchSize: 4)
    #expect(problem.communicator.size == 1 && problem.shard == 0..<13)
    #expect(problem.localBatchRanges == data.batchRanges(size: 4))
  }

  @Test func shardsAreContiguousAndUneven() throws {
    let (model, loss, data) = try Self.problemParts(Double.self, points: 13)
    let shards = try SimulatedRanks.run(3) { communicator in
      try CurvatureProblem(model: model, loss: loss, data: data, batchSize: 2, communicator: communicator).shard
    }
    #expect(shards == [0..<5, 5..<9, 9..<13])
  }

  @Test func fewerDataPointsThanRanksIsAnError() throws {
    let (model, loss, data) = try Self.problemParts(Double.self, points: 2)
    let communicator = SimulatedRanks(size: 3).communicator(rank: 0)
    #expect(
      throws: CurvatureError.invalidArgument(
        "the data set has 2 data points, fewer than the 3 ranks sharing it; run on at most 2 ranks")
    ) {
      try CurvatureProblem(model: model, loss: loss, data: data, communicator: communicator)
    }
  }

  // MARK: Helpers

  /// A 4-6-3 tanh MLP with cross-entropy (mean) on `points` random points.
  static func problemParts<T: BLASScalar>(
    _: T.Type, points: Int
  ) throws -> (Sequential<T>, Loss<T>, ArrayDataset<T>) {
    var rng = RandomGenerator(seed: 18, stream: 3)
    let model = try Sequential<T>([Linear(inFeatures: 4, outFeatures: 6), Tanh(), Linear(inFeatures: 6, outFeatures: 3)], seed: 2)
    let x: NDArray<T> = rng.normalArray(shape: [points, 4])
    let targets = Targets<T>.classes((0..<points).map { _ in Int(rng.next() % 3) })
    return (model, Loss(.crossEntropy), try ArrayDataset(inputs: x, targets: targets))
  }

  /// Everything data-parallel `problem` computes, in one list (the same calls on every rank).
  static func results<T: BLASScalar>(_ problem: CurvatureProblem<T>, probes x: NDArray<T>) throws -> [(String, NDArray<T>)] {
    let ggn = GGNOperator(problem), hessian = HessianOperator(problem), ef = EmpiricalFisherOperator(problem)
    let mc = try MonteCarloFisherOperator(problem, mcSamples: 2, seed: 9)
    let jacobian = JacobianOperator(problem)
    let (loss, gradient) = try problem.lossAndGradient()
    let u = NDArray<T>(shape: [jacobian.rowCount, 2], scalars: (0..<(jacobian.rowCount * 2)).map { T(($0 % 7) - 3) / 4 })
    return [
      ("loss", NDArray(scalar: loss)), ("gradient", gradient),
      ("GGN X", try ggn.apply(x)), ("Hessian X", try hessian.apply(x)), ("EF X", try ef.apply(x)), ("MC X", try mc.apply(x)),
      ("GGN v", try ggn.apply(column0(x))), ("Hessian v", try hessian.apply(column0(x))),
      ("J X", try jacobian.apply(x)), ("Jᵀ U", try jacobian.applyTranspose(u)),
      ("GGN diagonal", try ggn.diagonal()), ("Hessian diagonal", try hessian.diagonal()),
      ("EF diagonal", try ef.diagonal()), ("MC diagonal", try mc.diagonal()),
      ("KFAC", try KFACOperator(problem, options: KFACOptions(fisherType: .type2)).dense()),
      ("KFAC mc", try KFACOperator(problem, options: KFACOptions(fisherType: .mc, mcSamples: 2, seed: 4)).dense()),
      ("EKFAC", try EKFACOperator(problem, options: KFACOptions(fisherType: .type2)).dense()),
    ]
  }

  static func column0<T: BLASScalar>(_ x: NDArray<T>) -> NDArray<T> {
    NDArray(shape: [x.shape[0]], scalars: (0..<x.shape[0]).map { x.scalars[$0 * x.shape[1]] })
  }

  private func checkShardedProducts<T: BLASScalar>(_: T.Type, ranks: Int, rtol: T) throws {
    let (model, loss, data) = try Self.problemParts(T.self, points: 13)
    var rng = RandomGenerator(seed: 5)
    let x: NDArray<T> = rng.normalArray(shape: [model.parameterSpecs.reduce(0) { $0 + $1.count }, 3])
    let single = try Self.results(CurvatureProblem(model: model, loss: loss, data: data, batchSize: 2), probes: x)
    let perRank = try SimulatedRanks.run(ranks) { communicator in
      try Self.results(
        CurvatureProblem(model: model, loss: loss, data: data, batchSize: 2, communicator: communicator), probes: x)
    }
    for (rank, results) in perRank.enumerated() {
      for ((name, expected), (_, actual)) in zip(single, results) {
        let scale = expected.scalars.map { Swift.abs($0) }.max() ?? 0
        assertClose(actual, expected, rtol: 0, atol: rtol * scale, "\(name), rank \(rank) of \(ranks)")
      }
    }
    // Every rank holds the same bits.
    for results in perRank.dropFirst() {
      for ((name, a), (_, b)) in zip(perRank[0], results) {
        #expect(a.scalars.map(\.bitPattern) == b.scalars.map(\.bitPattern), "\(name): ranks hold different bits")
      }
    }
  }
}

extension BLASScalar {
  /// The bits, widened, for comparisons of identity.
  fileprivate var bitPattern: UInt64 {
    UInt64(exponentBitPattern) << 52 ^ UInt64(significandBitPattern) ^ (sign == .minus ? 1 << 63 : 0)
  }
}

/// K ranks of one process: the communicator of each adds the ranks' arrays in rank order
/// and broadcasts, as `MPICommunicator` does, through a shared rendezvous.
final class SimulatedRanks: @unchecked Sendable {
  let size: Int
  private let condition = NSCondition()
  private var generation = 0
  private var arrived = 0
  private var contributions: [Any?]
  private var result: Any?

  init(size: Int) {
    self.size = size
    contributions = Array(repeating: nil, count: size)
  }

  /// Runs `body` on `ranks` threads, one per rank, and returns their results in rank order.
  static func run<R>(_ ranks: Int, _ body: @escaping @Sendable (any Communicator) throws -> R) throws -> [R] {
    let shared = SimulatedRanks(size: ranks)
    let results = ShardResults<R>(count: ranks)
    let done = DispatchSemaphore(value: 0)
    for rank in 0..<ranks {
      let thread = Thread {
        results.set(rank, Result { try body(shared.communicator(rank: rank)) })
        done.signal()
      }
      thread.stackSize = 8 << 20
      thread.start()
    }
    for _ in 0..<ranks { done.wait() }
    return try results.values.map { try $0!.get() }
  }

  func communicator(rank: Int) -> SimulatedCommunicator { SimulatedCommunicator(rank: rank, ranks: self) }

  /// Every rank hands in a value; once all have, `combine` makes the result all receive.
  func exchange(rank: Int, _ value: Any, _ combine: ([Any]) -> Any) -> Any {
    condition.lock()
    defer { condition.unlock() }
    let round = generation
    contributions[rank] = value
    arrived += 1
    if arrived == size {
      result = combine(contributions.map { $0! })
      arrived = 0
      contributions = Array(repeating: nil, count: size)
      generation += 1
      condition.broadcast()
    } else {
      while generation == round { condition.wait() }
    }
    return result!
  }
}

final class ShardResults<R>: @unchecked Sendable {
  private let lock = NSLock()
  private(set) var values: [Result<R, any Error>?]
  init(count: Int) { values = Array(repeating: nil, count: count) }
  func set(_ index: Int, _ value: Result<R, any Error>) { lock.withLock { values[index] = value } }
}

struct SimulatedCommunicator: Communicator {
  let rank: Int
  let ranks: SimulatedRanks
  var size: Int { ranks.size }

  func allReduceSum<Scalar: BLASScalar>(_ values: inout [Scalar]) throws {
    values = ranks.exchange(rank: rank, values) { all in
      let arrays = all.map { $0 as! [Scalar] }
      precondition(Set(arrays.map(\.count)).count == 1, "the ranks pass different counts")
      var sum = arrays[0]
      for array in arrays.dropFirst() { for i in sum.indices { sum[i] += array[i] } }
      return sum
    } as! [Scalar]
  }

  func broadcast<Element: BitwiseCopyable>(_ values: inout [Element], from root: Int) throws {
    values = ranks.exchange(rank: rank, values) { $0[root] } as! [Element]
  }

  func barrier() { _ = ranks.exchange(rank: rank, 0) { _ in 0 } }
  func abort(message: String) -> Never { fatalError("rank \(rank) of \(size): \(message)") }
  func finish() {}
}
