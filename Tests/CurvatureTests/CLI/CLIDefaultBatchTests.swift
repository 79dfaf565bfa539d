import Curvature
import Foundation
import Testing

/// The default batch (issue 17): the whole set, capped by the memory budget the problem
/// itself allows a batch's passes (`--memory-budget`, default half of the memory
/// available), not by a fixed 1 GiB that split the compare.py CNN in float64 into two
/// batches too small for row chunks.
@Suite struct CLIDefaultBatchTests {
  /// The fixture's MLP `4 – 6 – tanh – 6 – 3` counts 4 + 6 + 6 + 3 = 19 values per data
  /// point, 32 times over, in float64: 4,864 bytes.
  static let bytesPerPoint = 19 * 8 * 32

  @Test func theBudgetCapsTheDefaultBatch() throws {
    let fixture = try CLIFixture.make(count: 12)
    defer { fixture.remove() }
    func batchSize(_ extra: [String]) throws -> Int? {
      let run = try CLI.run(["bench"] + fixture.fileArguments + ["--dtype", "float64", "--repeat", "1", "--json"] + extra)
      #expect(run.status == 0, "\(run.stderr)")
      return try run.json()["batch_size"] as? Int
    }
    #expect(try batchSize([]) == 12)
    #expect(try batchSize(["--memory-budget", "\(5 * Self.bytesPerPoint)"]) == 5)
    #expect(try batchSize(["--memory-budget", "\(5 * Self.bytesPerPoint - 1)"]) == 4)
    #expect(try batchSize(["--memory-budget", "\(100 * Self.bytesPerPoint)"]) == 12)
    // An explicit --batch-size wins.
    #expect(try batchSize(["--memory-budget", "\(5 * Self.bytesPerPoint)", "--batch-size", "3"]) == 3)
  }

  /// A budget too small for one data point still runs one point per batch when the passes
  /// fit (the crude estimate is 32 times the values), rather than refusing.
  @Test func aTinyBudgetStillRunsOnePointPerBatch() throws {
    let fixture = try CLIFixture.make(count: 4)
    defer { fixture.remove() }
    let run = try CLI.run(["bench"] + fixture.fileArguments + ["--dtype", "float64", "--repeat", "1", "--json", "--memory-budget", "\(Self.bytesPerPoint / 4)"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(try run.json()["batch_size"] as? Int == 1)
  }
}
