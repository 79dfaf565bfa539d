import ArgumentParser
import Curvature
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// `--threads`: how many BLAS threads a run may ask for. OpenBLAS starts its threads (each
// with its own buffers) at the first call; asking for more than it can run, e.g. 64 on a
// two-core machine under a memory limit, hangs instead of failing, so curv refuses first.

/// The thread counts the linked OpenBLAS supports.
enum BLASThreads {
  /// The most threads a run may use: the processors OpenBLAS sees
  /// (`openblas_get_num_procs`), capped by its compiled-in maximum (`MAX_THREADS` in its
  /// configuration), at least 1.
  static var maximum: Int {
    var limit = processors
    if let compiled = compiledMaximum { limit = Swift.min(limit, compiled) }
    return Swift.max(1, limit)
  }

  /// The processors OpenBLAS sees, or those the process may use when the symbol is absent.
  static var processors: Int {
    // Found at run time, as the library does for `mallopt`: curv links OpenBLAS through
    // Curvature, whose public API does not expose this count.
    typealias GetNumProcs = @convention(c) () -> Int32
    if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "openblas_get_num_procs") {
      let count = Int(unsafeBitCast(symbol, to: GetNumProcs.self)())
      if count > 0 { return count }
    }
    return ProcessInfo.processInfo.activeProcessorCount
  }

  /// `MAX_THREADS=N` from OpenBLAS's configuration string, when it says.
  static var compiledMaximum: Int? {
    let configuration = NumericsBackend.blasConfiguration
    guard let range = configuration.range(of: "MAX_THREADS=") else { return nil }
    return Int(configuration[range.upperBound...].prefix { $0.isNumber })
  }

  /// Checks `--threads`.
  /// - Throws: `ValidationError` naming `--threads` and the allowed range.
  static func validate(_ threads: Int?) throws {
    guard let threads else { return }
    let maximum = maximum
    guard threads >= 1, threads <= maximum else {
      throw ValidationError(
        "--threads must be between 1 and \(maximum) (the processors this OpenBLAS can run threads on), got \(threads)")
    }
  }
}
