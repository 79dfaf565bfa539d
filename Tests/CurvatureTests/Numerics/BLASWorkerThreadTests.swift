import Curvature
import CurvatureTestSupport
import Foundation
import Synchronization
import Testing

/// OpenBLAS's worker threads and the row-chunk regions (issue 17, "Threads: OpenBLAS
/// spinning"): after a multi-threaded call the workers spin (sched_yield) for about 0.1 s,
/// which on two cores took the CPU from a region's own threads, so a region stops them;
/// stopping them never waits for a call that another thread has in flight.
@Suite struct BLASWorkerThreadTests {
  /// OpenBLAS's own flag `blas_server_avail` (driver/others/blas_server.c): nonzero while its
  /// worker threads exist. Read through the dynamic linker, so the check does not rely on
  /// Curvature's code; nil if this OpenBLAS does not export it.
  static func workersRunning() -> Bool? {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "blas_server_avail") else { return nil }
    return symbol.load(as: Int32.self) != 0
  }

  /// The MLP of the row-chunk tests on 200 points (three row chunks), on two threads.
  static func problem<T: BLASScalar>(_: T.Type) throws -> CurvatureProblem<T> {
    var rng = RandomGenerator(seed: 9)
    let model = try Sequential<T>(
      [Linear(inFeatures: 6, outFeatures: 12), Tanh(), Linear(inFeatures: 12, outFeatures: 3)], seed: 4)
    let data = try ArrayDataset<T>(inputs: rng.normalArray(shape: [200, 6]), targets: .classes((0..<200).map { _ in rng.integer(below: 3) }))
    var problem = try CurvatureProblem(model: model, loss: Loss(.crossEntropy), data: data, batchSize: 200)
    problem.threads = 2
    return problem
  }

  /// A product large enough for OpenBLAS to run it on its worker threads.
  static let square: NDArray<Double> = {
    var rng = RandomGenerator(seed: 1)
    return rng.normalArray(shape: [256, 256])
  }()

  /// After a multi-threaded product the workers run; a two-thread gradient (a region)
  /// stops them. Other tests running at the same time may start them again or hold a call
  /// in flight (then the region leaves them), so a few attempts are allowed; before the
  /// fix, the workers never stopped.
  @Test(.enabled(
    if: NumericsBackend.threadCount >= 2 && workersRunning() != nil
      && ProcessInfo.processInfo.environment["CURVATURE_ALONE_BLAS_WORKERS"] == "1",
    "needs a test process of its own: scripts/test.sh runs it so (CURVATURE_ALONE_BLAS_WORKERS=1)"))
  func aRegionStopsTheWorkers() throws {
    let problem = try Self.problem(Double.self)
    var stopped = false, observed = 0
    for _ in 0..<100 where !stopped {
      _ = matmul(Self.square, Self.square)
      guard Self.workersRunning() == true else { continue }
      observed += 1
      _ = try problem.lossAndGradient()
      stopped = Self.workersRunning() == false
    }
    #expect(observed > 0 && stopped, "OpenBLAS's worker threads still run after a two-thread gradient (\(observed) attempts)")
  }

  /// Multi-threaded products in one thread while regions start and end in another: every
  /// call finishes (stopping the workers while a call uses them would wait forever) with
  /// the same bits, and the gradients keep theirs.
  @Test(.timeLimit(.minutes(2)))
  func regionsBesideMultiThreadedCalls() async throws {
    let problem = try Self.problem(Double.self)
    let (_, reference) = try problem.lossAndGradient()
    let product = matmul(Self.square, Self.square)
    let done = Flag()
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        defer { done.value.store(true, ordering: .releasing) }
        for _ in 0..<300 {
          let (_, gradient) = try problem.lossAndGradient()
          #expect(gradient == reference)
        }
      }
      group.addTask {
        // Other tests may set OpenBLAS to one thread meanwhile, which may round differently.
        while !done.value.load(ordering: .acquiring) {
          expectClose(matmul(Self.square, Self.square), product, rtol: 1e-12, "product beside regions")
        }
      }
      try await group.waitForAll()
    }
  }

  /// `sleepIdleBLASThreads` hands OpenBLAS its shortest worker timeout (2^4 cycles: idle
  /// workers sleep at once instead of spinning 0.1 s), as OPENBLAS_THREAD_TIMEOUT=4 would,
  /// unless the environment set one; the environment is left as it was.
  @Test func idleWorkersSleepAtOnce() throws {
    // OpenBLAS's own accessor of the timeout its workers start with.
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "openblas_thread_timeout") else { return }
    let timeout = unsafeBitCast(symbol, to: (@convention(c) () -> Int32).self)
    let fromEnvironment = ProcessInfo.processInfo.environment["OPENBLAS_THREAD_TIMEOUT"]
    let applied = NumericsBackend.sleepIdleBLASThreads()
    #expect(applied == (fromEnvironment == nil))
    if applied { #expect(timeout() == 4) }
    #expect(ProcessInfo.processInfo.environment["OPENBLAS_THREAD_TIMEOUT"] == fromEnvironment)
    #expect(NumericsBackend.sleepIdleBLASThreads() == applied)
  }

  /// Set once the gradients are done.
  final class Flag: Sendable { let value = Atomic<Bool>(false) }
}
