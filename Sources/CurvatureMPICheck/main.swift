// Checks of `CurvatureDistributed` under `mpiexec -n K` (and alone), run by
// scripts/mpi-tests.sh, and the all-reduce benchmark of Benchmarks/README.md.
//
//   CurvatureMPICheck check            collectives, sharding, determinism (exit 0 when all hold)
//   CurvatureMPICheck fault KIND       the last rank fails (throw, exit, exit0, crash, kill)
//                                      while the others wait in an all-reduce
//   CurvatureMPICheck bench [REPEATS]  all-reduce time and bandwidth for 10^4 … 10^7 floats
//
// A failed check stops every rank through `abort(message:)`, so the exit status is non-zero.
import CurvatureDistributed
import CurvatureNumerics
import Foundation
#if canImport(Glibc)
import Glibc
#endif

let communicator = DataParallel.communicator
let arguments = Array(CommandLine.arguments.dropFirst())

/// Stops every rank with a message naming the failed check.
func fail(_ message: String) -> Never {
  communicator.abort(message: "check failed: \(message)")
}

func expect(_ condition: Bool, _ message: @autoclosure () -> String) {
  if !condition { fail(message()) }
}

func report(_ line: String) {
  if communicator.isRoot { print(line) }
}

/// Runs a throwing check; an unexpected error fails it.
func checking(_ name: String, _ body: () throws -> Void) {
  do { try body() } catch { fail("\(name): unexpected error: \(error)") }
  report("ok: \(name) (\(communicator.size) rank\(communicator.size == 1 ? "" : "s"))")
}

/// Whether two arrays hold the same bits (not merely equal values: -0 differs from +0).
func same<Scalar: BLASScalar>(_ a: [Scalar], _ b: [Scalar]) -> Bool {
  a.count == b.count && zip(a, b).allSatisfy {
    $0.sign == $1.sign && $0.exponentBitPattern == $1.exponentBitPattern
      && $0.significandBitPattern == $1.significandBitPattern
  }
}

// MARK: Data: point i contributes the vector term(i, 0..<P)

let pointCount = 101     // divisible neither by 2 nor by 3: uneven shards
let parameterCount = 37

/// Integer-valued terms: every order of addition gives the same sum exactly.
func integerTerm<Scalar: BLASScalar>(_ i: Int, _ j: Int) -> Scalar {
  Scalar((i * 7 + j * 3) % 11 - 5)
}

/// Real-valued terms of different magnitudes: the order of addition shows in the last bits.
func realTerm<Scalar: BLASScalar>(_ i: Int, _ j: Int) -> Scalar {
  Scalar(sin(Double(i) * 0.37 + Double(j) * 1.3) * pow(10, Double(i % 5 - 2)))
}

/// The sum of the terms of `points`, added in index order: what one rank computes on its shard.
func localSum<Scalar: BLASScalar>(_ points: Range<Int>, _ term: (Int, Int) -> Scalar) -> [Scalar] {
  var sum = [Scalar](repeating: 0, count: parameterCount)
  for i in points { for j in 0..<parameterCount { sum[j] += term(i, j) } }
  return sum
}

func checkShardSums<Scalar: BLASScalar>(_: Scalar.Type, chunk: Int?) throws {
  let name = "\(Scalar.dtypeName)\(chunk.map { ", chunks of \($0)" } ?? "")"
  if let chunk, let mpi = communicator as? MPICommunicator { mpi.setChunkElements(chunk) }
  defer { (communicator as? MPICommunicator)?.setChunkElements(1 << 24) }
  let plan = try ShardPlan(count: pointCount, parts: communicator.size)
  let mine = try communicator.shard(of: pointCount)
  expect(mine == plan.range(of: communicator.rank), "shard(of:) disagrees with ShardPlan")

  // Integer-valued: the all-reduced sum is the single-process sum, bit for bit.
  var exact: [Scalar] = localSum(mine, integerTerm)
  try communicator.allReduceSum(&exact)
  expect(same(exact, localSum(0..<pointCount, integerTerm)), "\(name): integer sums differ from one process")

  // Real-valued: the sum is the shards' sums added in rank order, on every rank.
  var real: [Scalar] = localSum(mine, realTerm)
  try communicator.allReduceSum(&real)
  var expected = [Scalar](repeating: 0, count: parameterCount)
  for (part, range) in plan.ranges.enumerated() {
    let shardSum: [Scalar] = localSum(range, realTerm)
    if part == 0 { expected = shardSum } else { for j in expected.indices { expected[j] += shardSum[j] } }
  }
  expect(same(real, expected), "\(name): the sum is not the shard sums added in rank order")
  let single: [Scalar] = localSum(0..<pointCount, realTerm)
  let scale = single.map { abs($0) }.max()!
  let tolerance: Scalar = Scalar.ulpOfOne * 64 * scale
  for j in single.indices {
    expect(abs(real[j] - single[j]) <= tolerance, "\(name): element \(j): \(real[j]) vs one process \(single[j])")
  }

  // The same through NDArray.
  var array = NDArray<Scalar>(shape: [1, parameterCount], scalars: localSum(mine, realTerm))
  try communicator.allReduceSum(&array)
  expect(array.shape == [1, parameterCount] && same(array.scalars, expected), "\(name): NDArray sum differs")
  let total: Scalar = try communicator.allReduceSum(Scalar(communicator.rank + 1))
  expect(total == Scalar(communicator.size * (communicator.size + 1) / 2), "\(name): scalar sum is \(total)")
}

func checkShardPlans() throws {
  for count in [0, 1, 2, 5, 10, 11, 101] {
    for parts in 1...5 {
      let plan = try ShardPlan(count: count, parts: parts)
      let ranges = plan.ranges
      expect(ranges.first!.lowerBound == 0 && ranges.last!.upperBound == count, "plan \(count)/\(parts) does not cover")
      for p in 1..<parts { expect(ranges[p - 1].upperBound == ranges[p].lowerBound, "plan \(count)/\(parts) has a gap") }
      let sizes = ranges.map(\.count)
      expect(sizes.max()! - sizes.min()! <= 1 && sizes == sizes.sorted(by: >), "plan \(count)/\(parts): sizes \(sizes)")
      for i in 0..<count { expect(ranges[plan.part(containing: i)].contains(i), "plan \(count)/\(parts): point \(i)") }
    }
  }
  for (count, parts) in [(-1, 2), (3, 0)] {
    do {
      _ = try ShardPlan(count: count, parts: parts)
      fail("ShardPlan(count: \(count), parts: \(parts)) did not throw")
    } catch let error as CurvatureError {
      guard case .invalidArgument = error else { fail("ShardPlan threw \(error)") }
    }
  }
}

func checkSmallCounts() throws {
  for count in [0, 1, max(1, communicator.size - 1), communicator.size + 1] {
    var values = (0..<count).map { Double(communicator.rank * 10 + $0) }
    try communicator.allReduceSum(&values)
    let ranks = communicator.size
    let expected = (0..<count).map { Double(10 * ranks * (ranks - 1) / 2 + ranks * $0) }
    expect(values == expected, "count \(count): \(values) instead of \(expected)")
  }
}

/// A pseudo-random vector (SplitMix64), different on every rank.
func noise(_ count: Int, seed: UInt64) -> [Double] {
  var state = seed
  return (0..<count).map { _ in
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    return (Double(z >> 11) / Double(1 << 53) - 0.5) * pow(10, Double(Int(z % 7)) - 3)
  }
}

func checkDeterminism() throws {
  let local = noise(100_003, seed: UInt64(communicator.rank + 1))
  var first = local
  try communicator.allReduceSum(&first)
  for _ in 0..<10 {
    var again = local
    try communicator.allReduceSum(&again)
    expect(same(again, first), "repeated all-reduce gave different bits")
  }
  var fromRoot = first
  try communicator.broadcast(&fromRoot, from: 0)
  expect(same(fromRoot, first), "ranks hold different bits after the all-reduce")
  if let mpi = communicator as? MPICommunicator {
    var native = local
    mpi.nativeAllReduceSum(&native)
    let differing = zip(native, first).filter { $0.bitPattern != $1.bitPattern }.count
    report("   MPI_Allreduce differs from the fixed-order sum in \(differing) of \(local.count) elements")
  }
}

func checkCountMismatch() throws {
  guard communicator.size > 1 else { return }
  var values = [Float](repeating: 1, count: communicator.rank + 1)
  do {
    try communicator.allReduceSum(&values)
    fail("ranks passing different counts did not throw")
  } catch let error as CurvatureError {
    guard case .lengthMismatch = error else { fail("count mismatch threw \(error)") }
  }
  expect(values == [Float](repeating: 1, count: communicator.rank + 1), "a refused all-reduce changed the array")
  var after: [Float] = [1, 2]
  try communicator.allReduceSum(&after)
  expect(after == [Float(communicator.size), Float(2 * communicator.size)], "all-reduce after a refused one: \(after)")
}

func checkBroadcast() throws {
  for root in 0..<communicator.size {
    var doubles = communicator.rank == root ? (0..<(5 + root)).map { Double($0) + 0.25 } : [42]
    try communicator.broadcast(&doubles, from: root)
    expect(doubles == (0..<(5 + root)).map { Double($0) + 0.25 }, "broadcast from \(root): \(doubles)")
    var floats: [Float] = communicator.rank == root ? [] : [1, 2, 3]
    try communicator.broadcast(&floats, from: root)
    expect(floats.isEmpty, "empty broadcast from \(root) left \(floats)")
    var bytes: [UInt8] = communicator.rank == root ? Array("rank \(root)".utf8) : []
    try communicator.broadcast(&bytes, from: root)
    expect(String(decoding: bytes, as: UTF8.self) == "rank \(root)", "byte broadcast from \(root)")
    var array = communicator.rank == root
      ? NDArray<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]) : NDArray<Float>(zeros: [4])
    try communicator.broadcast(&array, from: root)
    expect(array == NDArray<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]), "NDArray broadcast from \(root)")
    // float64 to ranks holding an empty array (an empty [Double] also casts to [Float]).
    var doubleArray = communicator.rank == root
      ? NDArray<Double>(shape: [3, 2], scalars: [0.5, 1, 2, 3, 4, 5]) : NDArray<Double>(zeros: [0])
    try communicator.broadcast(&doubleArray, from: root)
    expect(doubleArray == NDArray<Double>(shape: [3, 2], scalars: [0.5, 1, 2, 3, 4, 5]), "float64 NDArray broadcast from \(root) to an empty array")
  }
  var values: [Double] = [1]
  do {
    try communicator.broadcast(&values, from: communicator.size)
    fail("a broadcast from rank \(communicator.size) did not throw")
  } catch let error as CurvatureError {
    guard case .invalidArgument = error else { fail("bad root threw \(error)") }
  }
  communicator.barrier()
}

func checkSingleProcessRethrows() {
  guard communicator.size == 1 else { return }
  do {
    try communicator.abortingOnError { throw CurvatureError.invalidData("deliberate") }
    fail("abortingOnError swallowed the error")
  } catch {
    expect("\(error)" == "invalid data: deliberate", "abortingOnError rethrew \(error)")
  }
}

func runChecks() {
  if let size = getenv("PMI_SIZE").map({ Int(String(cString: $0)) }), DataParallel.isLaunchedByMPI {
    expect(communicator.size == size, "size \(communicator.size), PMI_SIZE \(size.map(String.init) ?? "?")")
  }
  report("ranks: \(communicator.size), communicator: \(type(of: communicator))")
  checking("shard plans", checkShardPlans)
  checking("sums over uneven shards, float32") { try checkShardSums(Float.self, chunk: nil) }
  checking("sums over uneven shards, float64") { try checkShardSums(Double.self, chunk: nil) }
  checking("sums over uneven shards, float64, chunked") { try checkShardSums(Double.self, chunk: 7) }
  checking("sums of 0, 1, K−1 and K+1 elements", checkSmallCounts)
  checking("determinism: bit-identical run to run and on every rank", checkDeterminism)
  checking("different counts: every rank throws", checkCountMismatch)
  checking("broadcast from every rank", checkBroadcast)
  checking("abortingOnError rethrows with one process", checkSingleProcessRethrows)
}

// MARK: Faults

func runFault(_ kind: String) {
  let faulty = communicator.size - 1
  if communicator.rank == faulty {
    usleep(200_000)  // let the others enter the all-reduce first
    switch kind {
    case "throw":
      do {
        try communicator.abortingOnError(prefix: "error: ") {
          throw CurvatureError.invalidData("data point 7 of shard \(faulty) is NaN")
        }
      } catch {
        fail("abortingOnError returned with \(communicator.size) ranks: \(error)")
      }
    case "exit": exit(3)
    case "exit0": exit(0)
    case "crash": fatalError("deliberate crash on rank \(faulty)")
    case "kill": raise(SIGKILL)
    default: communicator.abort(message: "unknown fault \(kind): throw, exit, exit0, crash or kill")
    }
  }
  var values = [Double](repeating: 1, count: 1000)
  do { try communicator.allReduceSum(&values) } catch { fail("\(error)") }
  if communicator.size == 1 { return }
  fail("rank \(communicator.rank) finished an all-reduce that rank \(faulty) never joined")
}

// MARK: Benchmark

func seconds(_ body: () -> Void) -> Double {
  var start = timespec(), end = timespec()
  clock_gettime(CLOCK_MONOTONIC, &start)
  body()
  clock_gettime(CLOCK_MONOTONIC, &end)
  return Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) * 1e-9
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

func runBenchmark(repeats: Int) {
  let mpi = communicator as? MPICommunicator
  report("| P (floats) | MB | fixed-order all-reduce | GB/s | MPI_Allreduce | GB/s | ratio |")
  report("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
  for exponent in 4...7 {
    let count = Int(pow(10, Double(exponent)))
    var values = [Float](repeating: 1, count: count)
    let rounds = max(3, min(repeats, repeats * 100_000 / count))
    var fixed: [Double] = [], native: [Double] = []
    for round in -1..<rounds {  // round −1 warms up
      communicator.barrier()
      let t = seconds { try! communicator.allReduceSum(&values) }
      communicator.barrier()
      let u = seconds { if let mpi { mpi.nativeAllReduceSum(&values) } }
      if round >= 0 { fixed.append(t); native.append(u) }
      for i in values.indices { values[i] = 1 }
    }
    let megabytes = Double(count * 4) / 1e6
    let (f, n) = (median(fixed), median(native))
    report(String(format: "| 10^%d | %.2f | %.3f ms | %.2f | %.3f ms | %.2f | %.2f |",
                  exponent, megabytes, f * 1e3, megabytes / 1e3 / f, n * 1e3, megabytes / 1e3 / n, f / n))
  }
}

switch arguments.first ?? "check" {
case "check": runChecks()
case "fault": runFault(arguments.dropFirst().first ?? "")
case "bench": runBenchmark(repeats: arguments.dropFirst().first.flatMap { Int($0) } ?? 20)
default: communicator.abort(message: "usage: CurvatureMPICheck [check | fault KIND | bench [REPEATS]]")
}
communicator.finish()
