// What the harness reads from the operating system: the process's CPU time, its peak
// resident memory, and a description of the machine for the report.

import Curvature
import Foundation

/// CPU time of the whole process (all threads, user and system), in seconds.
func processCPUSeconds() -> Double {
  var time = timespec()
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
  return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

/// The process's peak resident set size (`VmHWM` in /proc/self/status).
///
/// The kernel's high-water mark is exact, unlike sampling the current RSS from a thread,
/// and it can be reset between benchmarks, so each reading covers one benchmark.
enum PeakMemory {
  /// The high-water mark in MiB, or `nil` where /proc is unavailable.
  static func current() -> Double? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
      // "VmHWM:     12345 kB"
      let fields = line.split(separator: " ", omittingEmptySubsequences: true)
      guard fields.count >= 2, let kibibytes = Double(fields[1]) else { return nil }
      return kibibytes / 1024
    }
    return nil
  }

  /// Resets the high-water mark to the current RSS (Linux: write 5 to clear_refs), so the
  /// next reading covers only what follows. Returns whether the reset worked.
  @discardableResult
  static func reset() -> Bool {
    let fd = open("/proc/self/clear_refs", O_WRONLY)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return write(fd, "5", 1) == 1
  }
}

/// The machine and build the numbers come from, for the table header and the JSON report.
enum MachineInfo {
  static var cores: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

  static var cpuModel: String {
    guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
    for line in cpuinfo.split(separator: "\n") where line.hasPrefix("model name") {
      if let colon = line.firstIndex(of: ":") {
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
      }
    }
    return "unknown"
  }

  static var operatingSystem: String {
    var name = utsname()
    guard uname(&name) == 0 else { return "unknown" }
    func field<T>(_ value: T) -> String {
      withUnsafeBytes(of: value) { bytes in
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
      }
    }
    return "\(field(name.sysname)) \(field(name.release)) \(field(name.machine))"
  }

  static var buildConfiguration: String {
    #if DEBUG
      return "debug"
    #else
      return "release"
    #endif
  }

  /// Now, as an ISO 8601 UTC timestamp (`2026-11-22T11:16:08Z`).
  static var timestamp: String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.string(from: Date())
  }

  /// The report's `machine` object.
  ///
  /// - Parameter threads: The BLAS/LAPACK threads the benchmarks ran with.
  static func report(threads: Int) -> MachineReport {
    MachineReport(
      cores: cores, cpu: cpuModel, os: operatingSystem,
      blasConfiguration: NumericsBackend.blasConfiguration, blasThreads: threads,
      lapackVersion: NumericsBackend.lapackVersion, fftVersion: NumericsBackend.fftVersion,
      build: buildConfiguration, date: timestamp)
  }
}
