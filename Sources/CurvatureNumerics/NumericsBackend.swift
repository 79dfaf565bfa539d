import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The numerical libraries Curvature runs on, and their thread count.
public enum NumericsBackend {
  /// OpenBLAS's build configuration and the CPU kernel it selected.
  public static var blasConfiguration: String { OpenBLAS.configuration }

  /// The LAPACK version behind LAPACKE.
  public static var lapackVersion: String { LAPACKE.version }

  /// The FFTW version string.
  public static var fftVersion: String { FFTW.version }

  /// Threads used by BLAS and LAPACK calls. Setting it takes effect for later calls.
  /// Prefer `setThreadCount(_:)`, which validates the count and checks that the threads
  /// can be started (OpenBLAS waits forever for threads it failed to create).
  public static var threadCount: Int {
    get { requestedThreadCount }
    set { requestedThreadCount = newValue }
  }

  /// The most threads the BLAS build supports: OpenBLAS's compiled `MAX_THREADS` (from
  /// its configuration string), or the processor count when the build does not say.
  public static var maximumThreadCount: Int {
    for word in blasConfiguration.split(separator: " ") where word.hasPrefix("MAX_THREADS=") {
      if let value = Int(word.dropFirst("MAX_THREADS=".count)), value > 0 { return value }
    }
    return Swift.max(1, ProcessInfo.processInfo.activeProcessorCount, OpenBLAS.threadCount)
  }

  /// Sets the threads of BLAS and LAPACK calls after checking that the build supports that
  /// many and that the process can start them.
  ///
  /// OpenBLAS silently caps larger counts at its `MAX_THREADS`, and when it cannot create a
  /// thread or its work buffer (under a memory or process limit) it waits for it forever;
  /// so the threads OpenBLAS would add are first started (and stopped) here, with the same
  /// default attributes, while the address space of their work buffers is reserved (and
  /// released), and a failure is reported instead.
  /// - Parameter count: The thread count, `1...maximumThreadCount`.
  /// - Throws: `ResourceError.threads` for a count out of range, or when a thread could not
  ///   be started (naming how many could, and why).
  public static func setThreadCount(_ count: Int) throws {
    try validateThreadCount(count)
    requestedThreadCount = count
  }

  /// Checks what `setThreadCount(_:)` checks, without changing the thread count: that the
  /// build supports `count` threads and that the process can start them with their work
  /// buffers now.
  /// - Throws: `ResourceError.threads` as `setThreadCount(_:)`.
  public static func validateThreadCount(_ count: Int) throws {
    let maximum = maximumThreadCount
    guard count >= 1, count <= maximum else {
      throw ResourceError.threads(
        "\(count) threads requested, but the BLAS build supports 1 to \(maximum) (OpenBLAS MAX_THREADS; \(ProcessInfo.processInfo.activeProcessorCount) processors)")
    }
    let extra = count - OpenBLAS.threadCount
    if extra > 0, let (started, code) = probeThreads(extra, reservingPerThread: threadBufferBytes) {
      let reason = String(cString: strerror(code))
      let what = started < extra
        ? "only \(OpenBLAS.threadCount + started) could be started (\(reason))"
        : "their work buffers (\(threadBufferBytes >> 20) MiB each) do not fit in the address space (\(reason))"
      throw ResourceError.threads(
        "cannot start \(count) BLAS threads: \(what); the memory or process limit is too low for this thread count")
    }
  }

  /// The address space an OpenBLAS thread takes besides its stack: its work buffer (128 MiB
  /// in builds for recent x86 cores) and allocator overhead. Measured with OpenBLAS 0.3.21
  /// under `ulimit -v`: 128 MiB per thread still let `openblas_set_num_threads` hang near
  /// the limit, 160 MiB did not.
  static let threadBufferBytes = 160 << 20

  /// Starts `count` threads with default attributes and, while they are all alive, reserves
  /// (without touching) `reservingPerThread` bytes of address space for each; then releases
  /// both. - Returns: nil on success, else how many threads started (`count` when the
  /// reservation failed) and the error code.
  static func probeThreads(_ count: Int, reservingPerThread bytes: Int) -> (started: Int, error: Int32)? {
    #if canImport(Glibc)
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { return nil }
    // Every thread blocks reading the pipe until its write end is closed.
    let argument = UnsafeMutableRawPointer(bitPattern: Int(fds[0]) + 1)
    var threads = [pthread_t]()
    var failure: Int32 = 0
    for _ in 0..<count {
      var thread = pthread_t()
      let code = pthread_create(&thread, nil, { argument in
        var byte: UInt8 = 0
        _ = read(Int32(Int(bitPattern: argument) - 1), &byte, 1)
        return nil
      }, argument)
      guard code == 0 else { failure = code; break }
      threads.append(thread)
    }
    if failure == 0, bytes > 0 {
      // Address space only: PROT_NONE pages count against `ulimit -v` but are never touched.
      let (total, overflow) = count.multipliedReportingOverflow(by: bytes)
      let mapFailed = UnsafeMutableRawPointer(bitPattern: -1)  // MAP_FAILED
      if overflow {
        failure = ENOMEM
      } else if let region = mmap(nil, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
                region != mapFailed {
        munmap(region, total)
      } else {
        failure = errno
      }
    }
    close(fds[1])
    for thread in threads { pthread_join(thread, nil) }
    close(fds[0])
    return failure == 0 ? nil : (threads.count, failure)
    #else
    return nil
    #endif
  }
}


extension NumericsBackend {
  /// Keeps freed large buffers in the process heap instead of returning them to the
  /// operating system (glibc's `M_MMAP_THRESHOLD`/`M_TRIM_THRESHOLD`, raised to 32 MiB
  /// and 256 MiB), so repeated products reuse memory rather than page-faulting fresh
  /// pages in every pass — the role PyTorch's caching allocator plays. Process-wide;
  /// `curv` and the benchmarks call it at start-up.
  /// - Returns: Whether the allocator accepted the settings (false off glibc).
  @discardableResult
  public static func retainFreedMemory() -> Bool {
    #if canImport(Glibc)
    // `mallopt` lives in <malloc.h>, which the Glibc module does not export.
    typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
    let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
    let mmapThreshold: Int32 = -3, trimThreshold: Int32 = -1   // M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
    return mallopt(mmapThreshold, 32 << 20) == 1 && mallopt(trimThreshold, 256 << 20) == 1
    #else
    return false
    #endif
  }
}
