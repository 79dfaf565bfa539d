import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// `ShardPlan` and the single-process communicator. The MPI communicator runs under
/// `mpiexec` in `scripts/mpi-tests.sh` (`CurvatureMPICheck`), not in this suite.
@Suite struct DataParallelTests {
  @Test func shardPlanSplitsUnevenCountsFirstRangesLarger() throws {
    #expect(try ShardPlan(count: 10, parts: 3).ranges == [0..<4, 4..<7, 7..<10])
    #expect(try ShardPlan(count: 101, parts: 2).ranges == [0..<51, 51..<101])
    #expect(try ShardPlan(count: 2, parts: 4).ranges == [0..<1, 1..<2, 2..<2, 2..<2])
    #expect(try ShardPlan(count: 0, parts: 3).ranges == [0..<0, 0..<0, 0..<0])
    #expect(try ShardPlan(count: 7, parts: 1).ranges == [0..<7])
  }

  @Test func shardPlanCoversEveryPointOnce() throws {
    for count in 0...40 {
      for parts in 1...7 {
        let plan = try ShardPlan(count: count, parts: parts)
        let ranges = plan.ranges
        #expect(ranges.flatMap { Array($0) } == Array(0..<count), "plan \(count)/\(parts)")
        let sizes = ranges.map(\.count)
        #expect(sizes.max()! - sizes.min()! <= 1, "plan \(count)/\(parts): sizes \(sizes)")
        for index in 0..<count {
          #expect(ranges[plan.part(containing: index)].contains(index), "plan \(count)/\(parts): point \(index)")
        }
      }
    }
  }

  @Test func shardPlanRefusesNegativeCountsAndNoParts() {
    #expect(throws: CurvatureError.invalidArgument("shard plan: the data set has a negative size -1")) {
      try ShardPlan(count: -1, parts: 2)
    }
    #expect(throws: CurvatureError.invalidArgument("shard plan: 0 parts; there must be at least one")) {
      try ShardPlan(count: 5, parts: 0)
    }
  }

  @Test func singleProcessSumsLeaveArraysUnchangedFloat() throws { try checkSingleProcessSums(Float.self) }
  @Test func singleProcessSumsLeaveArraysUnchangedDouble() throws { try checkSingleProcessSums(Double.self) }

  private func checkSingleProcessSums<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let communicator = SingleProcessCommunicator()
    #expect(communicator.rank == 0 && communicator.size == 1 && communicator.isRoot)
    let original: [Scalar] = [1.5, -0.0, 3e-7, -2.25]
    var values = original
    try communicator.allReduceSum(&values)
    let bits = { (x: Scalar) in [UInt64(x.exponentBitPattern), UInt64(x.significandBitPattern), x.sign == .minus ? 1 : 0] }
    #expect(values.map(bits) == original.map(bits))
    var array = NDArray<Scalar>(shape: [2, 2], scalars: original)
    try communicator.allReduceSum(&array)
    #expect(array == NDArray(shape: [2, 2], scalars: original))
    #expect(try communicator.allReduceSum(Scalar(0.75)) == 0.75)
    try communicator.broadcast(&array, from: 0)
    #expect(array == NDArray(shape: [2, 2], scalars: original))
    #expect(try communicator.shard(of: 9) == 0..<9)
  }

  @Test func singleProcessBroadcastRefusesOtherRoots() {
    var values: [Double] = [1, 2]
    #expect(throws: CurvatureError.invalidArgument("broadcast: root rank 1 is outside 0..<1")) {
      try SingleProcessCommunicator().broadcast(&values, from: 1)
    }
    #expect(values == [1, 2])
  }

  @Test func abortingOnErrorRethrowsWithOneRank() {
    #expect(throws: CurvatureError.invalidData("shard 0")) {
      try SingleProcessCommunicator().abortingOnError { throw CurvatureError.invalidData("shard 0") }
    }
    #expect(SingleProcessCommunicator().abortingOnError { 7 } == 7)
  }

  @Test func abortEndsTheProcessWithFailure() async {
    await #expect(processExitsWith: .failure) {
      SingleProcessCommunicator().abort(message: "deliberate abort")
    }
  }

  /// Without a launcher's variables the process runs alone and calls no MPI function.
  @Test func withoutMPIExecTheCommunicatorIsSingleProcess() {
    let environment = ProcessInfo.processInfo.environment
    guard environment["PMI_RANK"] == nil, environment["PMIX_RANK"] == nil, environment["CURVATURE_MPI"] == nil
    else { return }
    #expect(!DataParallel.isLaunchedByMPI)
    #expect(DataParallel.communicator is SingleProcessCommunicator)
    #expect(DataParallel.communicator.size == 1)
  }
}
