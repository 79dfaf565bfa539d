import Synchronization

// Parallel regions (issue 17, "Both cores for everything"): the curvature passes split a
// batch into row chunks and run them on several threads, each calling BLAS on one thread
// (two callers of a multi-threaded OpenBLAS spin for its worker threads). OpenBLAS 0.3.21
// has one process-wide thread count, so a region sets it to 1 and restores it at the end.
// The count the user set stays the one `NumericsBackend.threadCount` reports (and a count
// set during a region takes effect when the last region ends), so regions running in
// other threads never show through.
//
// A region also stops OpenBLAS's worker threads (`OpenBLAS.stopWorkers`). After each
// multi-threaded call they wait for the next one spinning (sched_yield) for 2^28 cycles,
// about 0.1 s (OpenBLAS's THREAD_TIMEOUT, read from OPENBLAS_THREAD_TIMEOUT only when the
// library loads), before they sleep; setting the count to one does not wake them. On two
// cores, one spinning worker beside our two chunk threads made `--threads 2` as slow as
// one thread at twice the CPU time (MLP gradient 13.4 ms either way; 6.1 ms with
// OPENBLAS_THREAD_TIMEOUT=4). Joining them costs about 0.1 ms per region at most (none
// when they are not running), and the next multi-threaded call outside a region starts
// them again. Results are unchanged: inside a region every call runs on one thread anyway.

extension NumericsBackend {
  /// The user's BLAS thread count while regions run (`depth` of them).
  private static let regions = Mutex<(depth: Int, saved: Int)>((0, 1))

  /// Threads used by BLAS calls as the user set them (inside a region OpenBLAS runs one).
  static var requestedThreadCount: Int {
    get { regions.withLock { $0.depth > 0 ? $0.saved : OpenBLAS.threadCount } }
    set {
      regions.withLock { state in
        if state.depth > 0 { state.saved = Swift.max(1, newValue) } else { OpenBLAS.threadCount = newValue }
      }
    }
  }

  /// Runs `body` with BLAS calls on one thread, given the thread count in effect before
  /// (the threads `body` may run its own work on). Regions may overlap and nest; the
  /// count is restored when the last ends.
  package static func withSingleThreadedBLAS<R>(_ body: (_ threads: Int) throws -> R) rethrows -> R {
    let threads = regions.withLock { state in
      if state.depth == 0 {
        state.saved = OpenBLAS.threadCount
        if state.saved > 1 { OpenBLAS.threadCount = 1 }
      }
      // At every entry, not only the first: a stop skipped for a call in flight (say, a
      // multi-threaded one begun before the first region) is retried by the next region.
      // Inside regions the count is one, so no call started since can be using the workers.
      OpenBLAS.stopWorkers()
      state.depth += 1
      return state.saved
    }
    defer {
      regions.withLock { state in
        state.depth -= 1
        if state.depth == 0, state.saved != OpenBLAS.threadCount { OpenBLAS.threadCount = state.saved }
      }
    }
    return try body(threads)
  }
}
