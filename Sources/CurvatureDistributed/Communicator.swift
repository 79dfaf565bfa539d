import CurvatureNumerics
#if canImport(Glibc)
import Glibc
#endif

/// The processes (ranks) of a data-parallel run and the collective operations between them.
///
/// Curvature matrices, gradients and losses are sums over data points. A data-parallel run
/// gives each rank a shard of the data set (`shard(of:)`), computes the local sum on every
/// rank and adds the ranks' sums with one `allReduceSum` per product; everything else
/// (solvers, estimators) runs replicated, with the same seeds, on every rank.
///
/// Two implementations: `SingleProcessCommunicator` (one rank, no MPI calls: the library
/// and its tests run unchanged without `mpiexec`) and `MPICommunicator` (the ranks started
/// by `mpiexec`). `DataParallel.communicator` picks the one that fits the process.
///
/// Rules for collectives, as in MPI: every rank calls the same collectives in the same
/// order, with the same element counts and root; and a rank that cannot go on calls
/// `abort(message:)` (or runs its work in `abortingOnError(_:)`) so that no rank waits for
/// it forever. At its normal end every rank calls `finish()`.
///
/// Determinism: `allReduceSum` adds the ranks' arrays in rank order, `((x₀ + x₁) + x₂) + …`,
/// element by element, and every rank receives the same bits. With a fixed number of ranks
/// the result is bit-identical run to run; across rank counts it differs only by rounding.
public protocol Communicator: Sendable {
  /// This process's rank, in `0..<size`.
  var rank: Int { get }
  /// The number of ranks.
  var size: Int { get }

  /// Replaces `values` on every rank with the element-wise sum over all ranks, added in
  /// rank order (bit-identical on every rank and run to run for a fixed rank count).
  /// - Parameter values: The local sums; the same count on every rank.
  /// - Throws: `CurvatureError.lengthMismatch` on every rank when the ranks pass different
  ///   counts (then `values` is unchanged).
  /// - Complexity: O(n) time and memory per rank; about `2n(size−1)/size` elements sent and
  ///   received per rank (a reduce-scatter followed by an all-gather).
  func allReduceSum<Scalar: BLASScalar>(_ values: inout [Scalar]) throws

  /// Replaces `values` on every rank with the array of rank `root` (count included).
  /// - Parameters:
  ///   - values: On `root`, the array sent; elsewhere overwritten (its count may differ).
  ///   - root: The sending rank; the same on every rank.
  /// - Throws: `CurvatureError.invalidArgument` when `root` is outside `0..<size`.
  func broadcast<Element: BitwiseCopyable>(_ values: inout [Element], from root: Int) throws

  /// Returns once every rank has called `barrier()`.
  func barrier()

  /// Writes `message` (one line) to stderr and stops the whole run with a non-zero status:
  /// every rank (`MPI_Abort`), not only this one, so no rank waits for this one forever.
  func abort(message: String) -> Never

  /// Ends the run's collective life on this rank (`MPI_Finalize`); call it once on every
  /// rank at the normal end, after the last collective. Later calls do nothing.
  func finish()
}

extension Communicator {
  /// Whether this is rank 0, the rank that prints and writes files.
  public var isRoot: Bool { rank == 0 }

  /// This rank's data points when `count` points are sharded over the ranks (`ShardPlan`).
  /// - Throws: `CurvatureError.invalidArgument` for a negative count.
  public func shard(of count: Int) throws -> Range<Int> {
    try ShardPlan(count: count, parts: size).range(of: rank)
  }

  /// Sums an array over the ranks in place (see `allReduceSum(_:)` for `[Scalar]`).
  /// - Throws: `CurvatureError.lengthMismatch` when the ranks' element counts differ.
  public func allReduceSum<Scalar: BLASScalar>(_ array: inout NDArray<Scalar>) throws {
    try allReduceSum(&array.scalars)
  }

  /// The sum of one number over the ranks, in rank order.
  public func allReduceSum<Scalar: BLASScalar>(_ value: Scalar) throws -> Scalar {
    var values = [value]
    try allReduceSum(&values)
    return values[0]
  }

  /// Replaces `array` (shape and elements) on every rank with rank `root`'s.
  /// - Throws: `CurvatureError.invalidArgument` when `root` is outside `0..<size`.
  public func broadcast<Scalar: BLASScalar>(_ array: inout NDArray<Scalar>, from root: Int) throws {
    var shape = array.shape
    try broadcast(&shape, from: root)
    // `BLASScalar` is `Float` or `Double`, both bitwise copyable; the casts do not copy.
    // Decided by the type, not by `as? [Float]`, which succeeds for any empty array (so a
    // receiving rank holding no elements would take `Double`s for `Float`s).
    let scalars: [Scalar]
    if Scalar.self == Float.self {
      var floats = array.scalars as! [Float]
      try broadcast(&floats, from: root)
      scalars = floats as! [Scalar]
    } else {
      var doubles = array.scalars as! [Double]
      try broadcast(&doubles, from: root)
      scalars = doubles as! [Scalar]
    }
    guard scalars.count == shape.reduce(1, *) else {
      throw CurvatureError.lengthMismatch(
        "broadcast: rank \(root) sent \(scalars.count) elements for shape \(shape)")
    }
    array = NDArray(shape: shape, scalars: scalars)
  }

  /// Runs `body`; when it throws on a run of several ranks, stops every rank with the
  /// error's one-line description (`abort(message:)`), so a failure on one rank (bad data
  /// in its shard) ends the run instead of leaving the others waiting. With one rank the
  /// error is rethrown, so single-process callers handle it as before.
  /// - Parameters:
  ///   - prefix: Put before the error's description (e.g. `"curv eigs: error: "`).
  ///   - body: The work of this rank.
  public func abortingOnError<T>(prefix: String = "error: ", _ body: () throws -> T) rethrows -> T {
    do {
      return try body()
    } catch {
      if size > 1 { abort(message: prefix + "\(error)") }
      throw error
    }
  }
}

/// Writes one line to stderr (unbuffered) after flushing what was printed to stdout.
func writeErrorLine(_ message: String) {
  fflush(nil)
  let line = Array((message + "\n").utf8)
  line.withUnsafeBytes { bytes in
    var start = 0
    while start < bytes.count {
      let written = write(2, bytes.baseAddress! + start, bytes.count - start)
      if written <= 0 { break }
      start += written
    }
  }
}

/// Checks the root of a broadcast.
func validateRoot(_ root: Int, size: Int) throws {
  guard (0..<size).contains(root) else {
    throw CurvatureError.invalidArgument("broadcast: root rank \(root) is outside 0..<\(size)")
  }
}
