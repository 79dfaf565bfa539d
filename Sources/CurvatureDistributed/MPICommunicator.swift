import CurvatureNumerics
import Synchronization

/// The ranks of `MPI_COMM_WORLD`, started by `mpiexec -n K` (MPICH).
///
/// There is one per process, `MPICommunicator.world`, which initializes MPI on first use;
/// `DataParallel.communicator` returns it when the process was started by `mpiexec`.
/// Collectives may be called from any thread but are serialized by a lock (MPI runs at
/// `MPI_THREAD_SERIALIZED`); every rank must call them in the same order.
///
/// `allReduceSum` does not use `MPI_Allreduce`, whose order of additions MPI leaves open
/// (MPICH picks among algorithms by message size, and ranks may even receive different
/// roundings). It is a reduce-scatter with a fixed order followed by an all-gather: the
/// array is split into `size` equal blocks (and a tail of fewer than `size` elements),
/// rank `j` receives block `j` of every rank (`MPI_Alltoall`), adds them in rank order, and
/// every rank receives every summed block (`MPI_Allgather`); every rank adds the tail
/// itself, in the same order. Every element is added in rank order, by one rank (the tail
/// identically by every rank), so the result is bit-identical on every rank and run to run; the traffic per rank is
/// `2n(size−1)/size` elements, as for a bandwidth-optimal `MPI_Allreduce`. Before the sum
/// one 16-byte `MPI_Allreduce` checks that every rank passed the same count, so a
/// mismatch is an error on every rank rather than a hang or truncated message.
///
/// A process that leaves without `finish()` (an `exit` after an error, say) stops every
/// rank through `MPI_Abort` from an exit hook; a rank that crashes or is killed is noticed
/// by `mpiexec`, which ends the others.
public final class MPICommunicator: Communicator {
  /// The communicator of every rank started by `mpiexec`; initializes MPI on first use.
  public static let world = MPICommunicator()

  /// This process's rank in `MPI_COMM_WORLD`.
  public let rank: Int
  /// The number of ranks `mpiexec` started.
  public let size: Int

  private struct State {
    var finished = false
    /// Elements per reduce-scatter round: bounds the extra memory of `allReduceSum` and
    /// keeps counts within MPI's `Int32`.
    var chunkElements = 1 << 22
    /// The receive buffer of the reduce-scatter, kept from call to call: a fresh one each
    /// time costs page faults and MPI memory registrations, which tripled the time of a
    /// 10⁶-element sum. It grows to at most one chunk (32 MiB of `Double`s) and lives as
    /// long as the process.
    var scratch = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    mutating func scratch(byteCount: Int) -> UnsafeMutableRawBufferPointer {
      if scratch.count < byteCount {
        scratch.deallocate()
        scratch = .allocate(byteCount: byteCount, alignment: 64)
      }
      return scratch
    }
  }
  private let state = Mutex(State())

  private init() {
    (rank, size) = MPILibrary.initialize()
    MPILibrary.installExitHook()
  }

  /// Sums `values` over the ranks in rank order (see the type's documentation).
  /// - Throws: `CurvatureError.lengthMismatch` on every rank when the counts differ;
  ///   `CurvatureError.unsupported` after `finish()`.
  /// - Complexity: O(n) time; `2n(size−1)/size` elements sent per rank; extra memory of
  ///   at most one round of `2²²` elements, kept for the next call.
  public func allReduceSum<Scalar: BLASScalar>(_ values: inout [Scalar]) throws {
    try state.withLock { state in
      try checkActive(state, "allReduceSum")
      try checkSameCount(values.count)
      guard size > 1 else { return }
      let chunk = state.chunkElements
      let isFloat = MemoryLayout<Scalar>.size == 4
      // Raw bytes from here on: this generic function is called unspecialized from other
      // modules, where per-element generic code would dominate the time of the sum.
      values.withUnsafeMutableBytes { bytes in
        let stride = isFloat ? 4 : 8
        let count = bytes.count / stride
        var start = 0
        while start < count {
          let end = min(count, start + chunk)
          sumInRankOrder(
            UnsafeMutableRawBufferPointer(rebasing: bytes[(start * stride)..<(end * stride)]), isFloat: isFloat,
            scratch: &state)
          start = end
        }
      }
    }
  }

  /// `MPI_Allreduce` with `MPI_SUM`, in place: MPICH's own algorithm, whose order of
  /// additions is unspecified (results may differ in the last bits between runs, rank
  /// counts and even ranks). For comparisons and benchmarks; `allReduceSum` is the
  /// reproducible sum.
  /// - Precondition: every rank passes the same count, at most `Int32.max`.
  public func nativeAllReduceSum<Scalar: BLASScalar>(_ values: inout [Scalar]) {
    state.withLock { _ in
      let count = Int32(values.count)
      values.withUnsafeMutableBytes { buffer in
        guard let base = buffer.baseAddress else { return }
        MPILibrary.nativeAllReduceSum(base, count: count, datatype: MPILibrary.datatype(Scalar.self))
      }
    }
  }

  /// Replaces `values` with rank `root`'s array: its count first, then its bytes.
  /// - Throws: `CurvatureError.invalidArgument` when `root` is outside `0..<size`;
  ///   `CurvatureError.unsupported` after `finish()`.
  public func broadcast<Element: BitwiseCopyable>(_ values: inout [Element], from root: Int) throws {
    try validateRoot(root, size: size)
    try state.withLock { state in
      try checkActive(state, "broadcast")
      var count = [Int64(values.count)]
      count.withUnsafeMutableBytes { MPILibrary.broadcast($0.baseAddress, byteCount: 8, root: root) }
      if rank != root {
        values = [Element](unsafeUninitializedCapacity: Int(count[0])) { buffer, initialized in
          // Bitwise-copyable elements: every byte is written by the broadcast below.
          UnsafeMutableRawBufferPointer(buffer).initializeMemory(as: UInt8.self, repeating: 0)
          initialized = Int(count[0])
        }
      }
      let chunkBytes = 1 << 30
      values.withUnsafeMutableBytes { bytes in
        var start = 0
        while start < bytes.count {
          let end = min(bytes.count, start + chunkBytes)
          MPILibrary.broadcast(bytes.baseAddress! + start, byteCount: Int32(end - start), root: root)
          start = end
        }
      }
    }
  }

  /// `MPI_Barrier`: returns once every rank has called it.
  public func barrier() {
    state.withLock { _ in MPILibrary.barrier() }
  }

  /// Writes `"rank r of K: " + message` to stderr and calls `MPI_Abort`, which ends every
  /// rank; the run's exit status is non-zero.
  public func abort(message: String) -> Never {
    MPILibrary.abort(code: 1, message: "rank \(rank) of \(size): \(message)")
  }

  /// `MPI_Finalize` (collective): every rank waits for the others here, so no rank's
  /// output is cut short by the launcher. Later calls do nothing.
  public func finish() {
    state.withLock { state in
      guard !state.finished else { return }
      state.finished = true
      MPILibrary.finalize()
    }
  }

  /// Sets the elements per round of `allReduceSum` (tests use small values to cover the
  /// chunking of large arrays); the same on every rank.
  package func setChunkElements(_ count: Int) {
    precondition(count >= 1, "MPICommunicator: chunk of \(count) elements")
    state.withLock { $0.chunkElements = count }
  }

  // MARK: The fixed-order sum

  private func checkActive(_ state: State, _ operation: String) throws {
    if state.finished {
      throw CurvatureError.unsupported("\(operation) after finish(): the communicator has ended")
    }
  }

  /// One small `MPI_Allreduce` (max of `n` and `−n`) tells every rank the largest and
  /// smallest count, so all ranks agree on whether to throw.
  private func checkSameCount(_ count: Int) throws {
    var extremes: [Int64] = [Int64(count), -Int64(count)]
    MPILibrary.allReduceMax(&extremes)
    let (largest, smallest) = (extremes[0], -extremes[1])
    guard largest == smallest else {
      throw CurvatureError.lengthMismatch(
        "allReduceSum: the ranks pass between \(smallest) and \(largest) elements (rank \(rank): \(count)); every rank must pass the same count")
    }
  }

  /// Reduce-scatter in rank order, then all-gather, of one chunk (at most `Int32.max`
  /// elements) of `Float`s or `Double`s. The first `size·b` elements (`b = n / size`) go
  /// in equal blocks of `b` (`MPI_Alltoall`, `MPI_Allgather`: MPICH's equal-block
  /// collectives are much faster than the `v` variants); the last `n mod size < size`
  /// elements are gathered whole to every rank, which sums them itself in the same order.
  private func sumInRankOrder(_ buffer: UnsafeMutableRawBufferPointer, isFloat: Bool, scratch state: inout State) {
    let stride = isFloat ? 4 : 8
    let count = buffer.count / stride
    let block = count / size, main = block * size, tail = count - main
    let datatype = isFloat ? MPILibrary.datatype(Float.self) : MPILibrary.datatype(Double.self)
    // Uninitialized: the collectives write every byte that is read.
    let scratch = state.scratch(byteCount: max(main, size * tail) * stride)
    let base = buffer.baseAddress!, received = scratch.baseAddress!
    if block > 0 {
      MPILibrary.allToAll(send: base, receive: received, count: Int32(block), datatype: datatype)
      add(into: base + rank * block * stride, received, count: block, isFloat: isFloat)
      MPILibrary.allGather(send: nil, receive: base, count: Int32(block), datatype: datatype)
    }
    if tail > 0 {
      MPILibrary.allGather(send: base + main * stride, receive: received, count: Int32(tail), datatype: datatype)
      add(into: base + main * stride, received, count: tail, isFloat: isFloat)
    }
  }

  /// Writes `Σ_r received[r·count + i]`, added in rank order, to `target[i]` for `i < count`.
  private func add(into target: UnsafeMutableRawPointer, _ received: UnsafeMutableRawPointer, count: Int, isFloat: Bool) {
    if isFloat {
      Self.addInRankOrder(
        UnsafeMutableBufferPointer(start: target.assumingMemoryBound(to: Float.self), count: count),
        UnsafeBufferPointer(start: received.bindMemory(to: Float.self, capacity: count * size), count: count * size),
        ranks: size)
    } else {
      Self.addInRankOrder(
        UnsafeMutableBufferPointer(start: target.assumingMemoryBound(to: Double.self), count: count),
        UnsafeBufferPointer(start: received.bindMemory(to: Double.self, capacity: count * size), count: count * size),
        ranks: size)
    }
  }

  /// `block[i] = ((received[0][i] + received[1][i]) + received[2][i]) + …`; called only
  /// with `Float` and `Double`, so the compiler specializes the loop for each.
  private static func addInRankOrder<T: BinaryFloatingPoint>(
    _ block: UnsafeMutableBufferPointer<T>, _ received: UnsafeBufferPointer<T>, ranks: Int
  ) {
    let n = block.count
    guard n > 0 else { return }
    for i in 0..<n { block[i] = received[i] }
    for r in 1..<ranks {
      let offset = r * n
      for i in 0..<n { block[i] += received[offset + i] }
    }
  }
}
