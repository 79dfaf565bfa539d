import CurvatureNumerics
import CurvatureNN
import CurvatureDistributed

// Where the communicator enters the curvature operators: every pass over the data visits
// `localBatchRanges` (this rank's shard, in batches) and every local sum goes through one
// of the all-reduces below before it is scaled, checked or returned. With one rank the
// shard is the whole set, the batches are those of `Dataset.batchRanges`, and the
// all-reduces return at once without touching the arrays, so single-process results keep
// their bits.
//
// Determinism: the communicator adds the ranks' sums in rank order, so a fixed number of
// ranks gives the same bits run to run; across rank counts the results differ only in the
// order of additions (float64 rounding).

extension CurvatureProblem {
  /// Consecutive ranges of at most `size` data points covering `shard`.
  static func batchRanges(of shard: Range<Int>, size: Int) -> [Range<Int>] {
    stride(from: shard.lowerBound, to: shard.upperBound, by: size).map { $0..<Swift.min($0 + size, shard.upperBound) }
  }

  /// The batches of this rank's shard: the whole data set in a single process.
  public var localBatchRanges: [Range<Int>] { Self.batchRanges(of: shard, size: batchSize) }

  /// Whether the data are shared by several ranks.
  var isDataParallel: Bool { communicator.size > 1 }

  /// Sums an array over the ranks (a no-op in a single process).
  /// - Throws: `CurvatureError.lengthMismatch` when the ranks' shapes differ.
  func allReduce(_ array: inout NDArray<Scalar>) throws {
    guard isDataParallel else { return }
    try communicator.allReduceSum(&array)
  }

  /// Sums arrays over the ranks with one all-reduce of their concatenation (a no-op in a
  /// single process).
  /// - Throws: `CurvatureError.lengthMismatch` when the ranks' sizes differ.
  func allReduce(_ arrays: inout [NDArray<Scalar>]) throws {
    guard isDataParallel else { return }
    var packed = [Scalar]()
    packed.reserveCapacity(arrays.reduce(0) { $0 + $1.count })
    for array in arrays { packed.append(contentsOf: array.scalars) }
    try communicator.allReduceSum(&packed)
    var offset = 0
    for index in arrays.indices {
      let count = arrays[index].count
      arrays[index] = NDArray(shape: arrays[index].shape, scalars: Array(packed[offset..<(offset + count)]))
      offset += count
    }
  }

  /// Runs `decompose` for every item, spread over the ranks (item `i` on rank
  /// `i mod size`), and broadcasts each result from the rank that computed it, so every
  /// rank holds the same bits (eigenvectors whose signs or order could differ between
  /// machines are chosen once). In a single process, `decompose` runs for every item.
  /// - Parameters:
  ///   - items: The inputs, the same on every rank.
  ///   - decompose: Gives the arrays of one item (their count must not depend on the rank).
  /// - Returns: The arrays of every item.
  /// - Throws: What `decompose` throws (on the rank running it: with several ranks, the
  ///   caller must stop the others, `Communicator.abortingOnError`).
  ///
  /// The arrays may be of another precision than the problem's (`W`: a Float problem's
  /// KFAC inverse decomposed in Double); fewer than `arrays` arrays are padded with empty
  /// ones, which the caller tells apart by what it knows of the item, not by their shapes.
  func spreadOverRanks<Item, W: BLASScalar>(
    _ items: [Item], arrays: Int, _ decompose: (Item) throws -> [NDArray<W>]
  ) throws -> [[NDArray<W>]] {
    guard isDataParallel else { return try items.map(decompose) }
    var results = [[NDArray<W>]]()
    for (index, item) in items.enumerated() {
      let root = index % communicator.size
      var parts = communicator.rank == root ? try decompose(item) : []
      if parts.count != arrays { parts += Array(repeating: NDArray<W>(zeros: [0]), count: arrays - parts.count) }
      for part in parts.indices { try communicator.broadcast(&parts[part], from: root) }
      results.append(parts)
    }
    return results
  }
}
