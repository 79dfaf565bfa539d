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
