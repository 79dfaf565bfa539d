import CurvatureNumerics
#if canImport(Glibc)
import Glibc
#endif

/// The communicator of a process that runs alone: rank 0 of 1. Sums and broadcasts leave
/// their arrays as they are and no MPI function is called, so code written for a
/// data-parallel run behaves exactly as single-process code when it is not started by
/// `mpiexec`.
public struct SingleProcessCommunicator: Communicator {
  /// Creates the communicator of this process alone.
  public init() {}

  /// Always 0.
  public var rank: Int { 0 }
  /// Always 1.
  public var size: Int { 1 }

  /// The sum over one rank: `values` unchanged.
  public func allReduceSum<Scalar: BLASScalar>(_ values: inout [Scalar]) throws {}

  /// Broadcast among one rank: `values` unchanged.
  /// - Throws: `CurvatureError.invalidArgument` when `root` is not 0.
  public func broadcast<Element: BitwiseCopyable>(_ values: inout [Element], from root: Int) throws {
    try validateRoot(root, size: 1)
  }

  /// Returns at once: there is no other rank to wait for.
  public func barrier() {}

  /// Writes `message` to stderr and exits with status 1.
  public func abort(message: String) -> Never {
    writeErrorLine(message)
    exit(1)
  }

  /// Does nothing: no MPI to finalize.
  public func finish() {}
}
