// The only file that calls MPI (MPICH, through `CMPI`, which loads the library at run time
// on the first use: see Sources/CMPI/shim.h). Every call goes through
// `MPI_COMM_WORLD`, whose error handler stays MPI's default `MPI_ERRORS_ARE_FATAL`: a failed
// MPI call (a peer that vanished, a truncated message) ends every rank with MPICH's
// message instead of returning an error code that one rank could act on and the others not
// (which is how jobs hang). Counts are `Int32` in MPI; callers split larger arrays.
import CMPI
import CurvatureNumerics
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The MPI functions, resolved on first use (only processes started by `mpiexec` get here).
/// A library that cannot be loaded ends the process with a one-line error: no rank has
/// initialized MPI yet, so there is nothing to abort.
private let mpi: curvature_mpi_functions = {
  var functions = curvature_mpi_functions()
  if let error = curvature_mpi_load(&functions) {
    writeErrorLine(
      "error: cannot load MPI (\(String(cString: error))); install MPICH (Debian/Ubuntu: apt-get install mpich) or set CURVATURE_MPI_LIBRARY to the path of libmpich.so.12")
    exit(1)
  }
  return functions
}()

typealias MPI_Datatype = curvature_mpi_datatype

enum MPILibrary {
  /// Whether `MPI_Init_thread` has run in this process.
  static var isInitialized: Bool {
    var flag: Int32 = 0
    _ = mpi.initialized!(&flag)
    return flag != 0
  }

  /// Whether `MPI_Finalize` has run in this process.
  static var isFinalized: Bool {
    var flag: Int32 = 0
    _ = mpi.finalized!(&flag)
    return flag != 0
  }

  /// Initializes MPI for calls from any thread, one at a time (`MPI_THREAD_SERIALIZED`:
  /// `MPICommunicator` holds a lock around every call), and returns this process's rank
  /// and the number of ranks of `MPI_COMM_WORLD`.
  static func initialize() -> (rank: Int, size: Int) {
    if !isInitialized {
      var provided: Int32 = 0
      check(mpi.init_thread!(nil, nil, curvature_mpi_thread_serialized(), &provided), "MPI_Init_thread")
      if provided < curvature_mpi_thread_serialized() {
        abort(code: 1, message: "MPI provides thread level \(provided); Curvature needs MPI_THREAD_SERIALIZED (2)")
      }
    }
    var rank: Int32 = 0, size: Int32 = 0
    check(mpi.comm_rank!(curvature_mpi_comm_world(), &rank), "MPI_Comm_rank")
    check(mpi.comm_size!(curvature_mpi_comm_world(), &size), "MPI_Comm_size")
    return (Int(rank), Int(size))
  }

  /// `MPI_Finalize`: a collective end that lets the launcher see every rank leave cleanly.
  static func finalize() {
    if isInitialized && !isFinalized { check(mpi.finalize!(), "MPI_Finalize") }
  }

  /// Set once this process has begun to abort, so the exit hook does not abort again.
  private static let aborting = Atomic<Bool>(false)

  /// Makes a process that leaves without `MPI_Finalize` (an `exit` anywhere, an error
  /// printed and exited on) stop every rank with `MPI_Abort`. Without it MPICH's launcher
  /// kills the other ranks silently, even one still writing its output, and the job can
  /// end with status 0; and finalizing on the way out instead hangs, because the other
  /// ranks wait in a collective this one never joins.
  static func installExitHook() {
    atexit {
      guard MPILibrary.isInitialized, !MPILibrary.isFinalized, !MPILibrary.aborting.load(ordering: .relaxed)
      else { return }
      var rank: Int32 = 0, size: Int32 = 0
      _ = mpi.comm_rank!(curvature_mpi_comm_world(), &rank)
      _ = mpi.comm_size!(curvature_mpi_comm_world(), &size)
      MPILibrary.abort(
        code: 1,
        message: "rank \(rank) of \(size) exited before DataParallel.finish(); stopping every rank")
    }
  }

  /// Writes `message` (one line) to stderr and ends every rank with `MPI_Abort`.
  static func abort(code: Int32, message: String) -> Never {
    aborting.store(true, ordering: .relaxed)
    writeErrorLine(message)
    if isInitialized && !isFinalized {
      // MPI_Abort makes the launcher kill its forwarding proxies, which can drop the line
      // still in the stderr pipe (measured: 5 of 30 `exit` faults lost it); give them
      // 100 ms to forward it first.
      usleep(100_000)
      _ = mpi.abort!(curvature_mpi_comm_world(), code)
    }
    exit(code)
  }

  /// The MPI datatype of `Float` or `Double`.
  static func datatype<Scalar: BLASScalar>(_: Scalar.Type) -> MPI_Datatype {
    MemoryLayout<Scalar>.size == 4 ? curvature_mpi_float() : curvature_mpi_double()
  }

  /// `MPI_Allreduce` with `MPI_MAX` of 64-bit integers, in place.
  static func allReduceMax(_ values: inout [Int64]) {
    let count = Int32(values.count)
    values.withUnsafeMutableBytes { buffer in
      check(mpi.allreduce!(curvature_mpi_in_place(), buffer.baseAddress, count, curvature_mpi_int64(),
                          curvature_mpi_max(), curvature_mpi_comm_world()), "MPI_Allreduce")
    }
  }

  /// `MPI_Allreduce` with `MPI_SUM` in place: MPICH's own algorithm, whose order of
  /// additions is not specified (see `MPICommunicator.nativeAllReduceSum`).
  static func nativeAllReduceSum(_ buffer: UnsafeMutableRawPointer, count: Int32, datatype: MPI_Datatype) {
    check(mpi.allreduce!(curvature_mpi_in_place(), buffer, count, datatype, curvature_mpi_sum(),
                        curvature_mpi_comm_world()), "MPI_Allreduce")
  }

  /// `MPI_Alltoall`: block `j` of `send` (`count` elements from `j·count`) goes to rank
  /// `j`; rank `i`'s block arrives at `i·count` of `receive`.
  static func allToAll(
    send: UnsafeRawPointer, receive: UnsafeMutableRawPointer, count: Int32, datatype: MPI_Datatype
  ) {
    check(mpi.alltoall!(send, count, datatype, receive, count, datatype, curvature_mpi_comm_world()),
          "MPI_Alltoall")
  }

  /// `MPI_Allgather`: rank `i`'s `count` elements of `send` arrive at `i·count` of
  /// `receive` on every rank; `send == nil` means in place (the block is already at its
  /// offset in `receive`). Equal blocks rather than `MPI_Allgatherv`, which MPICH runs
  /// 5–10 times slower on large arrays.
  static func allGather(
    send: UnsafeRawPointer?, receive: UnsafeMutableRawPointer, count: Int32, datatype: MPI_Datatype
  ) {
    check(mpi.allgather!(send ?? UnsafeRawPointer(curvature_mpi_in_place()), send == nil ? 0 : count, datatype,
                        receive, count, datatype, curvature_mpi_comm_world()), "MPI_Allgather")
  }

  /// `MPI_Bcast` of `byteCount` bytes from `root`.
  static func broadcast(_ buffer: UnsafeMutableRawPointer?, byteCount: Int32, root: Int) {
    // MPI needs a valid address even for zero bytes.
    var empty: UInt8 = 0
    withUnsafeMutablePointer(to: &empty) { fallback in
      check(mpi.bcast!(buffer ?? UnsafeMutableRawPointer(fallback), byteCount, curvature_mpi_byte(),
                      Int32(root), curvature_mpi_comm_world()), "MPI_Bcast")
    }
  }

  /// `MPI_Barrier`.
  static func barrier() {
    check(mpi.barrier!(curvature_mpi_comm_world()), "MPI_Barrier")
  }

  /// `MPI_Wtime`: seconds on MPI's wall clock.
  static func wallTime() -> Double { mpi.wtime!() }

  /// With `MPI_ERRORS_ARE_FATAL` no call returns an error; should a build of MPI return one
  /// anyway, this rank stops every rank rather than continue out of step with them.
  private static func check(_ code: Int32, _ function: String) {
    guard code != curvature_mpi_success() else { return }
    var length: Int32 = 0
    var text = [CChar](repeating: 0, count: Int(CURVATURE_MPI_MAX_ERROR_STRING) + 1)
    _ = mpi.error_string!(code, &text, &length)
    let reason = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    abort(code: 1, message: "\(function) failed: \(reason)")
  }
}
