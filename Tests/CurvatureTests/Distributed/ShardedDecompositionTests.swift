import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// Data-parallel work beyond the products (issue 18), on simulated ranks (`SimulatedRanks`):
/// KFAC's inverse (exact, π-damped Tikhonov, the undamped check, decomposed in Double for a
/// Float operator) and the kron Laplace approximation decompose each Kronecker factor on
/// one rank (factor `i` on rank `i mod K`) and broadcast it, giving every rank the same bits
/// and the single-process results up to rounding; a graph model's exact diagonals read only
/// the rank's shard and add the ranks' sums with one all-reduce.
@Suite struct ShardedDecompositionTests {
  @Test(arguments: [2, 3])
  func kfacInversesAreSpreadOverRanksDouble(_ ranks: Int) throws {
    try checkKFACInverses(Double.self, ranks: ranks, rtol: 1e-11)
  }

  @Test(arguments: [2, 3])
  func kfacInversesAreSpreadOverRanksFloat(_ ranks: Int) throws {
    try checkKFACInverses(Float.self, ranks: ranks, rtol: 2e-3)
  }

  /// The undamped inverse refuses a singular factor on every rank with the single-process
  /// message (the last layer's `B` has the rank of the cross-entropy Hessian, C − 1).
  @Test(arguments: [2, 3])
  func undampedInverseRefusesTheSingularFactorOnEveryRank(_ ranks: Int) throws {
    let (model, loss, data) = try Self.threeLayerParts(Double.self)
    let single = try KFACOperator(CurvatureProblem(model: model, loss: loss, data: data, batchSize: 2))
    let expected = Self.message { _ = try single.inverse() }
    #expect(expected?.contains("is singular") == true, "\(expected ?? "no error")")
    let log = CollectiveLog()
    let messages = try SimulatedRanks.run(ranks) { base in
      let problem = try CurvatureProblem(
        model: model, loss: loss, data: data, batchSize: 2, communicator: CountingCommunicator(base: base, log: log))
      let kfac = try KFACOperator(problem)
      _ = try kfac.computeFactors()
      return Self.message { _ = try kfac.inverse() }
    }
    #expect(messages.allSatisfy { $0 != nil }, "every rank throws")
    #expect(log.broadcastRoots(rank: 0).count > 0, "the spectra are broadcast")
    // Across rank counts the printed eigenvalues differ in their last digits only.
    for message in messages {
      #expect(message?.prefix(40) == expected?.prefix(40), "\(message ?? "no error") vs \(expected ?? "")")
    }
  }

  @Test(arguments: [2, 3])
  func kronLaplaceIsSpreadOverRanks(_ ranks: Int) throws {
    let (model, loss, data) = try Self.threeLayerParts(Double.self)
    @Sendable func fit(_ problem: CurvatureProblem<Double>) throws -> [Double] {
      let la = try LaplaceApproximation(problem, structure: .kron, priorPrecision: [0.5])
      let evidence = try la.logMarginalLikelihood()
      return [evidence.logMarginalLikelihood, evidence.logDetRatio] + (try la.posteriorVariance()).scalars
    }
    let single = try fit(CurvatureProblem(model: model, loss: loss, data: data, batchSize: 2))
    let log = CollectiveLog()
    let perRank = try SimulatedRanks.run(ranks) { base in
      try fit(CurvatureProblem(
        model: model, loss: loss, data: data, batchSize: 2, communicator: CountingCommunicator(base: base, log: log)))
    }
    Self.expectSameBits(perRank, "kron Laplace")
    let scale = single.map { Swift.abs($0) }.max()!
    for (a, b) in zip(perRank[0], single) { #expect(Swift.abs(a - b) <= 1e-11 * scale, "\(a) vs \(b)") }
    // Three Kronecker layers: layer i decomposed on rank i mod K.
    #expect(log.broadcastRoots(rank: 0) == Set(0..<Swift.min(3, ranks)))
  }

  /// The exact GGN, Monte Carlo Fisher and empirical Fisher diagonals of a graph model
  /// (a residual block, 7 points) on 2 and 3 ranks: the single-process values, each with
  /// one all-reduce.
  @Test(arguments: [2, 3])
  func graphDiagonalsReadTheShardAndAllReduceOnce(_ ranks: Int) throws {
    let c = try GraphCurvatureTests.cases().first { $0.name == "residual" }!
    @Sendable func diagonals(_ problem: CurvatureProblem<Double>, log: CollectiveLog?) throws -> [NDArray<Double>] {
      var results = [NDArray<Double>]()
      for op in [
        { try GGNOperator(problem).diagonal() },
        { try MonteCarloFisherOperator(problem, mcSamples: 2, seed: 3).diagonal() },
        { try EmpiricalFisherOperator(problem).diagonal() },
      ] as [() throws -> NDArray<Double>] {
        let before = log?.allReduces(rank: problem.communicator.rank) ?? 0
        results.append(try op())
        if let log { #expect(log.allReduces(rank: problem.communicator.rank) == before + 1, "one all-reduce per diagonal") }
      }
      return results
    }
    let single = try diagonals(CurvatureProblem(model: c.model, loss: c.loss, data: c.data, batchSize: 2), log: nil)
    let log = CollectiveLog()
    let perRank = try SimulatedRanks.run(ranks) { base in
      try diagonals(
        CurvatureProblem(
          model: c.model, loss: c.loss, data: c.data, batchSize: 2, communicator: CountingCommunicator(base: base, log: log)),
        log: log)
    }
    Self.expectSameBits(perRank.map { $0.flatMap(\.scalars) }, "graph diagonals")
    for (expected, actual) in zip(single, perRank[0]) {
      let scale = expected.scalars.map { Swift.abs($0) }.max() ?? 0
      assertClose(actual, expected, rtol: 0, atol: 1e-11 * scale, "graph diagonal on \(ranks) ranks")
    }
  }

  /// The mixed operator's exact other blocks (a free position embedding `[4, 5]` and a
  /// scale `[5]`) are inverted like the Kronecker factors: block `i` decomposed on rank
  /// `i mod K` and broadcast (two arrays per block and inverse; none with `.diagonal`, whose
  /// blocks need no decomposition), giving every rank the same bits and the single-process
  /// products.
  @Test(arguments: [2, 3])
  func otherParameterBlocksAreSpreadOverRanks(_ ranks: Int) throws {
    let base = try KFACMixedOperatorDenseTests.problem(Double.self)
    let (model, loss, data) = (base.model, base.loss, base.data)
    var rng = RandomGenerator(seed: 9)
    let x: NDArray<Double> = rng.normalArray(shape: [base.dimension, 2])
    @Sendable func products(_ problem: CurvatureProblem<Double>, _ others: OtherParameters) throws -> [Double] {
      let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .type2, otherParameters: others))
      _ = try kfac.computeFactors()
      return try kfac.inverse(damping: 0.05).apply(x).scalars
        + kfac.inverse(damping: 0.05, method: .tikhonov(piDamping: true)).apply(x).scalars
    }
    let single = try products(base, .exactBlock)
    var broadcasts = [OtherParameters: Int]()
    for others in [OtherParameters.diagonal, .exactBlock] {
      let log = CollectiveLog()
      let perRank = try SimulatedRanks.run(ranks) { communicator in
        try products(
          CurvatureProblem(
            model: model, loss: loss, data: data, batchSize: 5, checkDeterminism: false,
            communicator: CountingCommunicator(base: communicator, log: log)),
          others)
      }
      broadcasts[others] = log.broadcasts(rank: 0)
      Self.expectSameBits(perRank, "mixed KFAC inverses (\(others))")
      guard others == .exactBlock else { continue }
      let scale = single.map { Swift.abs($0) }.max()!
      for (a, b) in zip(perRank[0], single) { #expect(Swift.abs(a - b) <= 1e-11 * scale, "\(a) vs \(b)") }
    }
    // 2 inverses × 2 blocks × 2 arrays (eigenvalues, basis) × 2 collectives per array (its
    // shape, then its scalars).
    let extra: Int = broadcasts[.exactBlock, default: 0] - broadcasts[.diagonal, default: 0]
    #expect(extra == 16, "\(broadcasts)")
  }

  // MARK: Helpers

  /// A 4-6-5-3 tanh MLP (three Kronecker layers) with cross-entropy on 13 points.
  static func threeLayerParts<T: BLASScalar>(_: T.Type) throws -> (Sequential<T>, Loss<T>, ArrayDataset<T>) {
    var rng = RandomGenerator(seed: 18, stream: 7)
    let model = try Sequential<T>(
      [Linear(inFeatures: 4, outFeatures: 6), Tanh(), Linear(inFeatures: 6, outFeatures: 5), Tanh(), Linear(inFeatures: 5, outFeatures: 3)],
      seed: 4)
    let x: NDArray<T> = rng.normalArray(shape: [13, 4])
    let targets = Targets<T>.classes((0..<13).map { _ in Int(rng.next() % 3) })
    return (model, Loss(.crossEntropy), try ArrayDataset(inputs: x, targets: targets))
  }

  /// The inverses' products: exact and π-damped, joint and separate bias, and (for Float)
  /// decomposed in Double.
  private func checkKFACInverses<T: BLASScalar>(_: T.Type, ranks: Int, rtol: T) throws {
    let (model, loss, data) = try Self.threeLayerParts(T.self)
    var rng = RandomGenerator(seed: 6)
    let x: NDArray<T> = rng.normalArray(shape: [model.parameterSpecs.reduce(0) { $0 + $1.count }, 2])
    @Sendable func products(_ problem: CurvatureProblem<T>) throws -> [NDArray<T>] {
      var results = [NDArray<T>]()
      for joint in [false, true] {
        let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .type2, jointBias: joint))
        results.append(try kfac.inverse(damping: 0.05).apply(x))
        results.append(try kfac.inverse(damping: 0.05, method: .tikhonov(piDamping: true)).apply(x))
        results.append(try kfac.inverse(damping: 0.05, method: .tikhonov(piDamping: false)).apply(x))
        results.append(try kfac.inverse(damping: 0.05, inDoublePrecision: true).apply(x))
      }
      return results
    }
    let single = try products(CurvatureProblem(model: model, loss: loss, data: data, batchSize: 2))
    let log = CollectiveLog()
    let perRank = try SimulatedRanks.run(ranks) { base in
      try products(CurvatureProblem(
        model: model, loss: loss, data: data, batchSize: 2, communicator: CountingCommunicator(base: base, log: log)))
    }
    Self.expectSameBits(perRank.map { $0.flatMap(\.scalars) }, "KFAC inverses")
    for (index, (expected, actual)) in zip(single, perRank[0]).enumerated() {
      let scale = expected.scalars.map { Swift.abs($0) }.max() ?? 0
      assertClose(actual, expected, rtol: 0, atol: rtol * scale, "KFAC inverse \(index) on \(ranks) ranks")
    }
    // Every rank decomposes its share: three layers, broadcast from rank i mod K.
    #expect(log.broadcastRoots(rank: 0) == Set(0..<Swift.min(3, ranks)))
  }

  /// Expects every rank's numbers to have the same bits as rank 0's.
  static func expectSameBits<T: BLASScalar>(_ perRank: [[T]], _ name: String) {
    for (rank, values) in perRank.enumerated().dropFirst() {
      let same = values.count == perRank[0].count && zip(values, perRank[0]).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
      #expect(same, "\(name): rank \(rank) holds other bits than rank 0")
    }
  }

  /// The description of the error `body` throws, or nil.
  static func message(_ body: () throws -> Void) -> String? {
    do { try body() } catch { return "\(error)" }
    return nil
  }
}

/// The collectives every rank called, in order.
final class CollectiveLog: @unchecked Sendable {
  private let lock = NSLock()
  private var entries: [(rank: Int, root: Int?)] = []

  func record(rank: Int, root: Int?) { lock.withLock { entries.append((rank, root)) } }
  /// The roots of the broadcasts `rank` took part in.
  func broadcastRoots(rank: Int) -> Set<Int> { lock.withLock { Set(entries.filter { $0.rank == rank }.compactMap(\.root)) } }
  /// The broadcasts `rank` has taken part in so far.
  func broadcasts(rank: Int) -> Int { lock.withLock { entries.filter { $0.rank == rank && $0.root != nil }.count } }
  /// The all-reduces `rank` has called so far.
  func allReduces(rank: Int) -> Int { lock.withLock { entries.filter { $0.rank == rank && $0.root == nil }.count } }
}

/// A communicator that records its collectives in a `CollectiveLog`, then hands them on.
struct CountingCommunicator: Communicator {
  let base: any Communicator
  let log: CollectiveLog
  var rank: Int { base.rank }
  var size: Int { base.size }

  func allReduceSum<Scalar: BLASScalar>(_ values: inout [Scalar]) throws {
    log.record(rank: rank, root: nil)
    try base.allReduceSum(&values)
  }

  func broadcast<Element: BitwiseCopyable>(_ values: inout [Element], from root: Int) throws {
    log.record(rank: rank, root: root)
    try base.broadcast(&values, from: root)
  }

  func barrier() { base.barrier() }
  func abort(message: String) -> Never { base.abort(message: message) }
  func finish() { base.finish() }
}
