import COpenBLAS
import Foundation

// OpenBLAS's worker threads wait for the next multi-threaded call spinning (sched_yield)
// for 2^THREAD_TIMEOUT cycles before they sleep: 2^28, about 0.1 s, unless the environment
// variable OPENBLAS_THREAD_TIMEOUT said otherwise when the library was loaded. On a
// two-core machine a spinning worker takes a core from whatever runs next: our row-chunk
// threads (regions stop the workers, `NumericsBackend+ParallelRegions.swift`), the next
// single-threaded step, or other processes. `sleepIdleBLASThreads` sets the variable at
// run time: OpenBLAS re-reads its environment on request (`openblas_read_env`) and takes
// the timeout from it whenever it starts its workers, so they are stopped once (through a
// region) and restarted with it by the next multi-threaded call.

extension NumericsBackend {
  /// The OPENBLAS_THREAD_TIMEOUT `sleepIdleBLASThreads` sets: 2^4 cycles, OpenBLAS's
  /// smallest, so idle workers sleep at once (measured on the compare.py MLP, 2 threads:
  /// gradient 12.5 → 6.1 ms, KFAC mc build 15.5 → 12.0 ms).
  static let idleBLASThreadTimeout = 4

  /// Makes OpenBLAS's worker threads sleep as soon as a multi-threaded call ends instead of
  /// spinning for about 0.1 s (2^28 cycles) waiting for the next one, as
  /// `OPENBLAS_THREAD_TIMEOUT=4` in the environment would; a value the user set there is
  /// kept. Takes effect when the workers are next started: this stops them (unless another
  /// thread has a BLAS call in flight; then the next parallel region does).
  ///
  /// Call it at start-up, before other threads run: the first call sets and then removes
  /// the environment variable (`setenv`, which must not run beside other threads'
  /// `getenv`); later calls change nothing. `curv` calls it.
  /// - Returns: Whether the timeout was set (false when OPENBLAS_THREAD_TIMEOUT was in the
  ///   environment at the first call, or off glibc).
  @discardableResult
  public static func sleepIdleBLASThreads() -> Bool { idleBLASThreadsSleep }

  /// `sleepIdleBLASThreads`'s work, done once per process (a second `setenv` could free
  /// the environment array a concurrent `getenv` reads).
  private static let idleBLASThreadsSleep: Bool = {
    #if canImport(Glibc)
    let name = "OPENBLAS_THREAD_TIMEOUT"
    guard getenv(name) == nil, setenv(name, "\(idleBLASThreadTimeout)", 0) == 0 else { return false }
    openblas_read_env()
    unsetenv(name)
    // Stops the workers started with the old timeout (a region does that, safely).
    withSingleThreadedBLAS { _ in }
    return true
    #else
    return false
    #endif
  }()

  /// Whether OpenBLAS's worker threads are running (they are stopped when a region starts
  /// with no BLAS call in flight, and restarted by the next multi-threaded call).
  package static var blasWorkersRunning: Bool { OpenBLAS.workersRunning }
}
