/// The numerical libraries Curvature runs on, and their thread count.
public enum NumericsBackend {
  /// OpenBLAS's build configuration and the CPU kernel it selected.
  public static var blasConfiguration: String { OpenBLAS.configuration }

  /// The LAPACK version behind LAPACKE.
  public static var lapackVersion: String { LAPACKE.version }

  /// The FFTW version string.
  public static var fftVersion: String { FFTW.version }

  /// Threads used by BLAS and LAPACK calls. Setting it takes effect for later calls.
  public static var threadCount: Int {
    get { OpenBLAS.threadCount }
    set { OpenBLAS.threadCount = newValue }
  }
}

#if canImport(Glibc)
import Glibc
#endif

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
