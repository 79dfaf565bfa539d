// The two ways a run is reported: a table on stdout as benchmarks finish, or progress on
// stderr and one JSON object on stdout at the end (`--json`).

import Curvature
import Foundation

/// Receives the run as it happens and prints it.
protocol BenchmarkReporter {
  /// Before the first benchmark.
  func begin(_ selected: [Benchmark], threads: Int)
  /// Before `benchmark` is set up.
  func willRun(_ benchmark: Benchmark)
  /// After `result` is measured and compared with its baseline.
  func didRun(_ result: BenchmarkResult)
  /// After the last benchmark.
  ///
  /// - Parameters:
  ///   - results: Every result, in the order run.
  ///   - peakRSSMiB: The largest peak resident memory of the run.
  ///   - threads: The BLAS/LAPACK threads the benchmarks ran with.
  /// - Throws: An `EncodingError` if the report cannot be written.
  func end(_ results: [BenchmarkResult], peakRSSMiB: Double?, threads: Int) throws
}

/// The human-readable report: a header describing the machine, one row per benchmark
/// (with a line of metrics under it where the body recorded some), and the run's peak.
struct TableReporter: BenchmarkReporter {
  var options: BenchmarkOptions
  /// The width of the name column.
  var nameWidth: Int

  private static let columns: [(title: String, width: Int)] = [
    ("median", 11), ("min", 11), ("p90", 11), ("cpu median", 11), ("reps", 6), ("throughput", 18), ("× base", 8),
    ("peak RSS", 11),
  ]

  init(options: BenchmarkOptions, selected: [Benchmark]) {
    self.options = options
    nameWidth = max(9, selected.map(\.name.count).max() ?? 0)
  }

  func begin(_ selected: [Benchmark], threads: Int) {
    print("Curvature benchmarks, \(MachineInfo.timestamp)")
    print("machine: \(MachineInfo.cores) cores, \(MachineInfo.cpuModel), \(MachineInfo.operatingSystem)")
    print("BLAS:    \(NumericsBackend.blasConfiguration), \(threads) thread\(threads == 1 ? "" : "s")")
    print("LAPACK \(NumericsBackend.lapackVersion), \(NumericsBackend.fftVersion)")
    let budget = options.repeats.map { "\($0) samples" } ?? "\(options.timeBudget) s per benchmark"
    let warmup =
      options.warmup.map(String.init) ?? "\(BenchmarkRunner.defaultWarmup) (fewer where a benchmark declares it)"
    print("warm-up \(warmup), \(budget)")
    print("× base: median ÷ (multiple × median of the benchmark's baseline), see README\n")
    let header =
      TableFormat.pad("benchmark", nameWidth, left: true)
      + Self.columns.map { "  " + TableFormat.pad($0.title, $0.width) }.joined()
    print(header)
    print(String(repeating: "-", count: header.count))
  }

  func willRun(_ benchmark: Benchmark) {}

  func didRun(_ result: BenchmarkResult) {
    let work = result.benchmark.work
    let cells = [
      TableFormat.time(result.median), TableFormat.time(result.minimum), TableFormat.time(result.p90),
      result.cpuMedian.map(TableFormat.time) ?? "?",
      "\(result.sortedSamples.count)",
      TableFormat.throughput(result.throughput(at: result.median), work: work),
      result.comparison.map { String(format: "%.2f", $0.ratio) } ?? "",
      result.peakRSSMiB.map { String(format: "%.1f MiB", $0) } ?? "?",
    ]
    print(
      TableFormat.pad(result.benchmark.name, nameWidth, left: true)
        + zip(cells, Self.columns).map { "  " + TableFormat.pad($0.0, $0.1.width) }.joined())
    if !result.metrics.isEmpty {
      print("    " + result.metrics.map { "\($0.0)=\(TableFormat.number($0.1))" }.joined(separator: ", "))
    }
    fflush(nil)  // show each row as it completes, even through a pipe
  }

  func end(_ results: [BenchmarkResult], peakRSSMiB: Double?, threads: Int) {
    print("\npeak RSS: \(peakRSSMiB.map { String(format: "%.1f MiB", $0) } ?? "unknown")")
  }
}

/// The `--json` report: one progress line per benchmark on stderr, then the
/// `BenchmarkReport` on stdout.
struct JSONReporter: BenchmarkReporter {
  var options: BenchmarkOptions

  func begin(_ selected: [Benchmark], threads: Int) {}

  func willRun(_ benchmark: Benchmark) {
    printError("running \(benchmark.name) …")
  }

  func didRun(_ result: BenchmarkResult) {
    let ratio = result.comparison.map { String(format: " (%.2f× baseline)", $0.ratio) } ?? ""
    let throughput = TableFormat.throughput(result.throughput(at: result.median), work: result.benchmark.work)
    printError("  median \(TableFormat.time(result.median)) \(throughput)\(ratio)")
  }

  func end(_ results: [BenchmarkResult], peakRSSMiB: Double?, threads: Int) throws {
    let report = BenchmarkReport(
      machine: MachineInfo.report(threads: threads), settings: SettingsReport(options: options),
      results: results.map { ResultReport(result: $0) }, peakRSSMiB: peakRSSMiB)
    print(try jsonText(report))
  }
}

/// Formatting of the table's cells.
enum TableFormat {
  /// A time with a unit chosen for 3–4 significant digits.
  static func time(_ seconds: Double) -> String {
    switch seconds {
    case ..<1e-6: return String(format: "%.1f ns", seconds * 1e9)
    case ..<1e-3: return String(format: "%.2f µs", seconds * 1e6)
    case ..<1: return String(format: "%.3f ms", seconds * 1e3)
    default: return String(format: "%.3f s", seconds)
    }
  }

  /// GFLOP/s for flops, otherwise `unit/s` with a k, M or G prefix; empty without work.
  static func throughput(_ perSecond: Double?, work: Work?) -> String {
    guard let perSecond, let work else { return "" }
    if work.isFlops { return String(format: "%.2f GFLOP/s", perSecond / 1e9) }
    let (scaled, prefix): (Double, String) =
      perSecond >= 1e9 ? (perSecond / 1e9, "G") : perSecond >= 1e6 ? (perSecond / 1e6, "M")
      : perSecond >= 1e3 ? (perSecond / 1e3, "k") : (perSecond, "")
    return String(format: "%.2f ", scaled) + "\(prefix)\(work.unit)/s"
  }

  /// A metric: integers as integers, others with 4 significant digits.
  static func number(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return String(format: "%.4g", value)
  }

  /// Pads on the right (`left == true`) or the left, counting characters, not bytes.
  static func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
    let padding = String(repeating: " ", count: max(0, width - text.count))
    return left ? text + padding : padding + text
  }
}
