import CurvatureNumerics

/// How `count` data points (or array elements) are split into `parts` contiguous ranges,
/// one per rank: the first `count % parts` ranges hold one point more than the others.
///
/// A data-parallel run shards its data set with the plan of its communicator, so each rank
/// reads and processes only its own range and the ranks' local sums add up to the sum over
/// the whole set:
///
/// ```swift
/// let communicator = DataParallel.communicator
/// let mine = try communicator.shard(of: dataSet.count)   // e.g. 0..<4, 4..<7, 7..<10
/// var gradient = localGradientSum(over: mine)
/// try communicator.allReduceSum(&gradient)
/// ```
///
/// The ranges are in rank order and cover `0..<count` without gaps, so concatenating the
/// shards in rank order gives the data set in its original order. When `count < parts`
/// the last ranks get empty ranges.
public struct ShardPlan: Sendable, Hashable, Codable {
  /// The number of data points split.
  public let count: Int
  /// The number of ranges (ranks).
  public let parts: Int

  /// A plan splitting `count` data points into `parts` ranges.
  /// - Parameters:
  ///   - count: The number of data points, at least 0.
  ///   - parts: The number of ranges, at least 1.
  /// - Throws: `CurvatureError.invalidArgument` for a negative count or fewer than one part.
  public init(count: Int, parts: Int) throws {
    guard count >= 0 else {
      throw CurvatureError.invalidArgument("shard plan: the data set has a negative size \(count)")
    }
    guard parts >= 1 else {
      throw CurvatureError.invalidArgument("shard plan: \(parts) parts; there must be at least one")
    }
    self.count = count
    self.parts = parts
  }

  /// The size of the smaller ranges; the first `remainder` ranges hold one more.
  private var base: Int { count / parts }
  private var remainder: Int { count % parts }

  /// The data points of one part.
  /// - Parameter part: A part (rank) in `0..<parts`; another value is a programming error.
  /// - Returns: A range of `0..<count`, empty when there are fewer points than parts.
  /// - Complexity: O(1).
  public func range(of part: Int) -> Range<Int> {
    precondition((0..<parts).contains(part), "ShardPlan: part \(part) is outside 0..<\(parts)")
    let start = part * base + min(part, remainder)
    return start..<(start + base + (part < remainder ? 1 : 0))
  }

  /// The ranges of every part, in order.
  public var ranges: [Range<Int>] { (0..<parts).map(range(of:)) }

  /// The part whose range holds a data point.
  /// - Parameter index: A data point in `0..<count`; another value is a programming error.
  /// - Complexity: O(1).
  public func part(containing index: Int) -> Int {
    precondition((0..<count).contains(index), "ShardPlan: data point \(index) is outside 0..<\(count)")
    let large = remainder * (base + 1)
    return index < large ? index / (base + 1) : remainder + (index - large) / base
  }
}
