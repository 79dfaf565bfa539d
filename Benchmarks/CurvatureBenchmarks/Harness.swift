// A small benchmark harness for Curvature: a registry of named benchmarks, warm-up and
// timed repetitions, robust statistics (median, min, p90), peak resident memory, and a
// table or JSON report. No dependencies beyond Curvature and Foundation.

import Curvature
import Foundation

// MARK: - Keeping work alive

/// Consumes a value so that the optimizer cannot prove the computation producing it dead.
///
/// Call it at the end of every benchmark iteration with (a piece of) the result.
@inline(never) @_optimize(none)
func blackHole<T>(_ value: T) {
  withExtendedLifetime(value) {}
}

// MARK: - Benchmarks and the registry

/// The amount of work one iteration does, for a throughput column.
struct Work {
  /// Units of work per iteration.
  var count: Double
  /// The unit: `"flop"` is reported as GFLOP/s, anything else as `unit/s`.
  var unit: String

  /// Floating-point operations per iteration (reported as GFLOP/s).
  static func flops(_ count: Double) -> Work { Work(count: count, unit: "flop") }

  /// Items (samples, elements, …) per iteration.
  static func items(_ count: Double, unit: String) -> Work { Work(count: count, unit: unit) }

  var isFlops: Bool { unit == "flop" }
}

/// One registered benchmark.
///
/// `setUp` runs once, only if the benchmark is selected, and returns the body that is
/// timed: the body runs once per iteration, and everything it captures (buffers, plans)
/// is released when the benchmark finishes.
struct Benchmark {
  typealias Body = () -> Void

  /// A unique name, conventionally `suite/variant/parameters`, e.g. `gemm/float32/n=512`.
  var name: String
  /// The area the benchmark belongs to, e.g. `gemm`.
  var suite: String
  /// Work per iteration, for throughput; `nil` reports times only.
  var work: Work?
  /// Another benchmark this one is reported relative to (e.g. a matvec relative to one
  /// gradient); it runs whenever this one is selected.
  var baseline: Baseline?
  /// Per-benchmark sampling defaults for expensive bodies (the command line overrides them).
  var sampling: Sampling?
  /// Long benchmarks run only with `--long`.
  var isLong: Bool
  /// Prepares inputs and returns the timed body; the body may record metrics.
  var setUp: (BenchmarkRecorder) -> Body
}

/// A reference benchmark and how many of its iterations one iteration of this benchmark is
/// worth: the report gives `ratio_to_baseline = median / (multiple × baseline median)`.
struct Baseline {
  /// How many baseline iterations one iteration corresponds to.
  enum Multiple {
    /// A fixed count, e.g. the `k` columns of a matmat.
    case fixed(Double)
    /// The value of a metric the body records, e.g. `"matvecs"` for an eigensolver.
    case metric(String)
  }

  /// The reference benchmark's name.
  var name: String
  var multiple: Multiple = .fixed(1)
}

/// Sampling defaults for one benchmark, used unless `--warmup` / `--repeat` are given.
struct Sampling {
  /// Untimed iterations before sampling.
  var warmup: Int?
  /// The fewest samples under the time budget.
  var minimumRepeats: Int?
}

/// Named numbers a benchmark body records about its last iteration (matvec counts,
/// restarts, …); they are reported with the timings under `metrics`.
final class BenchmarkRecorder {
  private(set) var metrics: [(String, Double)] = []

  /// Sets `key` to `value` (the last recorded value wins).
  func record(_ key: String, _ value: Double) {
    if let index = metrics.firstIndex(where: { $0.0 == key }) {
      metrics[index].1 = value
    } else {
      metrics.append((key, value))
    }
  }

  func record(_ key: String, _ value: Int) { record(key, Double(value)) }

  func record(_ key: String, _ value: Bool) { record(key, value ? 1.0 : 0.0) }

  func value(_ key: String) -> Double? { metrics.first { $0.0 == key }?.1 }
}

/// The benchmarks known to this executable, in registration order.
///
/// Each area registers its benchmarks from its own file through a
/// `register…Benchmarks(in:)` function called from `main.swift`.
final class BenchmarkRegistry {
  private(set) var benchmarks: [Benchmark] = []

  /// Registers a benchmark whose inputs are prepared by `setUp` (untimed), which returns
  /// the body to time. The body can record metrics through the recorder.
  func register(
    _ name: String, suite: String, work: Work? = nil, baseline: Baseline? = nil,
    sampling: Sampling? = nil, long: Bool = false,
    recordingSetUp setUp: @escaping (BenchmarkRecorder) -> Benchmark.Body
  ) {
    precondition(
      !benchmarks.contains { $0.name == name }, "BenchmarkRegistry: duplicate benchmark name \(name)")
    benchmarks.append(
      Benchmark(
        name: name, suite: suite, work: work, baseline: baseline, sampling: sampling, isLong: long,
        setUp: setUp))
  }

  /// Registers a benchmark whose inputs are prepared by `setUp` (untimed), which returns
  /// the body to time.
  func register(
    _ name: String, suite: String, work: Work? = nil, baseline: Baseline? = nil,
    sampling: Sampling? = nil, long: Bool = false, setUp: @escaping () -> Benchmark.Body
  ) {
    register(
      name, suite: suite, work: work, baseline: baseline, sampling: sampling, long: long,
      recordingSetUp: { _ in setUp() })
  }

  /// Registers a benchmark without set-up: `body` is timed as it is.
  func register(_ name: String, suite: String, work: Work? = nil, body: @escaping Benchmark.Body) {
    register(name, suite: suite, work: work, setUp: { body })
  }

  /// The benchmarks `options` select, in registration order, with the baselines they
  /// refer to added (a baseline runs before the benchmarks that refer to it, as it is
  /// registered first).
  func selection(_ options: BenchmarkOptions) -> [Benchmark] {
    var chosen = Set(benchmarks.filter(options.selects).map(\.name))
    var frontier = Array(chosen)
    while let name = frontier.popLast() {
      guard let base = benchmarks.first(where: { $0.name == name })?.baseline?.name,
        benchmarks.contains(where: { $0.name == base }), !chosen.contains(base)
      else { continue }
      chosen.insert(base)
      frontier.append(base)
    }
    return benchmarks.filter { chosen.contains($0.name) }
  }
}

// MARK: - Buffers

/// A 64-byte aligned, manually managed buffer for benchmark inputs and outputs, freed when
/// the last reference (usually the benchmark body) goes away.
final class BenchmarkBuffer<Element> {
  let storage: UnsafeMutableBufferPointer<Element>

  /// `count` elements, all equal to `value`.
  init(repeating value: Element, count: Int) {
    let raw = UnsafeMutableRawPointer.allocate(
      byteCount: max(1, count) * MemoryLayout<Element>.stride,
      alignment: max(64, MemoryLayout<Element>.alignment))
    let start = raw.bindMemory(to: Element.self, capacity: count)
    start.initialize(repeating: value, count: count)
    storage = UnsafeMutableBufferPointer(start: start, count: count)
  }

  /// A copy of `elements`.
  convenience init(_ elements: [Element]) {
    precondition(!elements.isEmpty, "BenchmarkBuffer: empty input")
    self.init(repeating: elements[0], count: elements.count)
    _ = storage.update(fromContentsOf: elements)
  }

  deinit {
    storage.baseAddress?.deinitialize(count: storage.count)
    UnsafeMutableRawPointer(storage.baseAddress)?.deallocate()
  }

  /// Read-only view, for input operands.
  var readOnly: UnsafeBufferPointer<Element> { UnsafeBufferPointer(storage) }

  var count: Int { storage.count }
}

// MARK: - Options

/// Command-line options, parsed by hand.
struct BenchmarkOptions {
  /// Substrings; a benchmark runs if its name or suite contains any of them (all if empty).
  var filters: [String] = []
  /// A fixed number of timed samples; `nil` uses the time budget.
  var repeats: Int?
  /// Untimed iterations before sampling; `nil` uses the benchmark's default (3 unless it
  /// declares fewer).
  var warmup: Int?
  /// Seconds of timed samples per benchmark when `repeats` is not given.
  var timeBudget = 1.0
  /// Minimum and maximum number of samples under the time budget (a benchmark may declare
  /// a smaller minimum).
  var minimumRepeats = 5
  var maximumRepeats = 100_000
  /// Also run benchmarks registered as long.
  var long = false
  /// BLAS/LAPACK threads (`NumericsBackend.threadCount`); `nil` keeps the default.
  var threads: Int?
  var json = false
  var list = false
  var help = false

  static let usage = """
    USAGE: CurvatureBenchmarks [--filter SUBSTRING]... [--repeat N] [--warmup N]
                               [--time SECONDS] [--threads N] [--long] [--json] [--list]

    OPTIONS:
      --filter SUBSTRING  Run benchmarks whose name or suite contains SUBSTRING.
                          Repeatable, or comma-separated: --filter gemm,svd
      --repeat N          Take exactly N timed samples per benchmark (default: as many
                          as fit in the time budget, at least 5).
      --warmup N          Untimed iterations before sampling (default 3; some
                          expensive benchmarks declare fewer).
      --time SECONDS      Time budget of timed samples per benchmark (default 1).
      --threads N         BLAS/LAPACK threads (NumericsBackend.threadCount).
      --long              Also run the benchmarks marked long (minutes each).
      --json              Print one JSON object on stdout (progress goes to stderr).
      --list              List the selected benchmarks and exit.
      -h, --help          Show this help.
    """

  struct ParseError: Error, CustomStringConvertible {
    var description: String
  }

  static func parse(_ arguments: some Sequence<String>) throws(ParseError) -> BenchmarkOptions {
    var options = BenchmarkOptions()
    var iterator = arguments.makeIterator()

    while let argument = iterator.next() {
      // Accept both `--option value` and `--option=value`.
      var option = argument
      var inlineValue: String?
      if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
        option = String(argument[..<equals])
        inlineValue = String(argument[argument.index(after: equals)...])
      }

      func value() throws(ParseError) -> String {
        if let inlineValue { return inlineValue }
        guard let next = iterator.next() else { throw ParseError(description: "\(option) needs a value") }
        return next
      }
      func integer(atLeast minimum: Int) throws(ParseError) -> Int {
        let text = try value()
        guard let number = Int(text), number >= minimum else {
          throw ParseError(description: "\(option) needs an integer ≥ \(minimum), got '\(text)'")
        }
        return number
      }
      func noValue() throws(ParseError) {
        if inlineValue != nil { throw ParseError(description: "\(option) takes no value") }
      }

      switch option {
      case "--filter":
        let parts = try value().split(separator: ",").map(String.init).filter { !$0.isEmpty }
        options.filters += parts
      case "--repeat", "--repeats":
        options.repeats = try integer(atLeast: 1)
      case "--warmup":
        options.warmup = try integer(atLeast: 0)
      case "--time":
        let text = try value()
        guard let seconds = Double(text), seconds > 0, seconds.isFinite else {
          throw ParseError(description: "--time needs a positive number of seconds, got '\(text)'")
        }
        options.timeBudget = seconds
      case "--threads":
        options.threads = try integer(atLeast: 1)
      case "--long":
        try noValue()
        options.long = true
      case "--json":
        try noValue()
        options.json = true
      case "--list":
        try noValue()
        options.list = true
      case "-h", "--help":
        options.help = true
      default:
        throw ParseError(description: "unknown argument '\(argument)'")
      }
    }
    return options
  }

  func selects(_ benchmark: Benchmark) -> Bool {
    (long || !benchmark.isLong)
      && (filters.isEmpty || filters.contains { benchmark.name.contains($0) || benchmark.suite.contains($0) })
  }
}

// MARK: - Measuring

/// The timed samples of one benchmark and what they summarize to.
struct BenchmarkResult {
  var benchmark: Benchmark
  /// Seconds per iteration, one entry per sample, sorted ascending.
  var sortedSamples: [Double]
  /// Process CPU seconds (all threads, user and system) per iteration, sorted ascending.
  /// On a busy machine, single-threaded CPU time is a steadier measure than wall time.
  var sortedCPUSamples: [Double] = []
  /// Iterations timed together in each sample (more than 1 for very fast bodies).
  var iterationsPerSample: Int
  /// Peak resident memory while the benchmark set up and ran, in MiB (whole process).
  var peakRSSMiB: Double?
  /// What the body recorded in its last iteration.
  var metrics: [(String, Double)] = []
  /// This benchmark relative to its baseline, when both ran.
  var comparison: BaselineComparison?

  var median: Double { quantile(0.5) }
  var cpuMedian: Double? { sortedCPUSamples.isEmpty ? nil : interpolate(sortedCPUSamples, 0.5) }
  var cpuMinimum: Double? { sortedCPUSamples.first }
  var minimum: Double { sortedSamples[0] }
  var p90: Double { quantile(0.9) }

  /// Linear interpolation between the closest ranks.
  func quantile(_ q: Double) -> Double { interpolate(sortedSamples, q) }

  private func interpolate(_ sorted: [Double], _ q: Double) -> Double {
    let position = q * Double(sorted.count - 1)
    let lower = Int(position.rounded(.down))
    let upper = min(lower + 1, sorted.count - 1)
    let fraction = position - Double(lower)
    return sorted[lower] + fraction * (sorted[upper] - sorted[lower])
  }

  /// Units of work per second at the given time per iteration.
  func throughput(at seconds: Double) -> Double? {
    guard let work = benchmark.work, seconds > 0 else { return nil }
    return work.count / seconds
  }
}

extension Duration {
  var seconds: Double {
    let (whole, attoseconds) = components
    return Double(whole) + Double(attoseconds) * 1e-18
  }
}

/// A result divided by its baseline's: `ratio = median / (multiple × baseline median)`, and
/// the same with minimum times (`bestRatio`) and median CPU times (`cpuRatio`).
struct BaselineComparison {
  var baseline: String
  var multiple: Double
  var ratio: Double
  var bestRatio: Double
  var cpuRatio: Double?

  /// Compares `result` with `baseline`, or returns `nil` when the multiple is unknown.
  init?(_ result: BenchmarkResult, to baseline: BenchmarkResult) {
    guard let reference = result.benchmark.baseline else { return nil }
    switch reference.multiple {
    case .fixed(let count): multiple = count
    case .metric(let key):
      guard let count = result.metrics.first(where: { $0.0 == key })?.1 else { return nil }
      multiple = count
    }
    guard multiple > 0, baseline.median > 0, baseline.minimum > 0 else { return nil }
    self.baseline = baseline.benchmark.name
    ratio = result.median / (multiple * baseline.median)
    bestRatio = result.minimum / (multiple * baseline.minimum)
    if let cpu = result.cpuMedian, let reference = baseline.cpuMedian, reference > 0 {
      cpuRatio = cpu / (multiple * reference)
    }
  }
}

/// Runs benchmarks under the given options.
struct BenchmarkRunner {
  var options: BenchmarkOptions
  private let clock = ContinuousClock()

  /// Bodies faster than this are timed in batches so that clock overhead stays negligible.
  private let minimumSampleSeconds = 1e-4

  init(options: BenchmarkOptions) { self.options = options }

  func run(_ benchmark: Benchmark) -> BenchmarkResult {
    // Per-benchmark peak memory; without a reset the reading is the run's peak so far.
    PeakMemory.reset()
    var batch = 1
    var samples: [Double] = [], cpuSamples: [Double] = []
    let recorder = BenchmarkRecorder()
    let warmup = options.warmup ?? benchmark.sampling?.warmup ?? 3
    let minimumRepeats = benchmark.sampling?.minimumRepeats ?? options.minimumRepeats
    do {
      let body = benchmark.setUp(recorder)

      // Warm up, remembering the fastest warm-up iteration to size batches.
      var fastestWarmup = Double.infinity
      for _ in 0..<warmup {
        let start = clock.now
        body()
        fastestWarmup = min(fastestWarmup, start.duration(to: clock.now).seconds)
      }
      if fastestWarmup < minimumSampleSeconds {
        batch = Int(min(1_000_000, (minimumSampleSeconds / max(fastestWarmup, 1e-9)).rounded(.up)))
      }

      var total = 0.0
      while true {
        let cpuStart = processCPUSeconds()
        let start = clock.now
        for _ in 0..<batch { body() }
        let elapsed = start.duration(to: clock.now).seconds
        cpuSamples.append((processCPUSeconds() - cpuStart) / Double(batch))
        samples.append(elapsed / Double(batch))
        total += elapsed
        if let repeats = options.repeats {
          if samples.count >= repeats { break }
        } else if (samples.count >= minimumRepeats && total >= options.timeBudget)
          || samples.count >= options.maximumRepeats
        {
          break
        }
      }
    }  // `body` and its buffers are released here.
    return BenchmarkResult(
      benchmark: benchmark, sortedSamples: samples.sorted(), sortedCPUSamples: cpuSamples.sorted(),
      iterationsPerSample: batch, peakRSSMiB: PeakMemory.current(), metrics: recorder.metrics)
  }
}

/// CPU time of the whole process (all threads, user and system), in seconds.
func processCPUSeconds() -> Double {
  var time = timespec()
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
  return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

// MARK: - Memory

/// The process's peak resident set size (`VmHWM` in /proc/self/status).
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

// MARK: - Machine description

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

  static var timestamp: String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.string(from: Date())
  }

  static func json(threads: Int) -> JSONValue {
    .object([
      ("cores", .number(Double(cores))),
      ("cpu", .string(cpuModel)),
      ("os", .string(operatingSystem)),
      ("blas_configuration", .string(NumericsBackend.blasConfiguration)),
      ("blas_threads", .number(Double(threads))),
      ("lapack_version", .string(NumericsBackend.lapackVersion)),
      ("fft_version", .string(NumericsBackend.fftVersion)),
      ("build", .string(buildConfiguration)),
      ("date", .string(timestamp)),
    ])
  }
}

// MARK: - JSON

/// A minimal JSON value with ordered object keys, written by hand.
indirect enum JSONValue {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([(String, JSONValue)])

  /// Pretty-printed JSON text (two-space indent).
  func rendered(indent: String = "") -> String {
    let inner = indent + "  "
    switch self {
    case .null: return "null"
    case .bool(let value): return value ? "true" : "false"
    case .number(let value):
      guard value.isFinite else { return "null" }
      if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
      return "\(value)"
    case .string(let value): return JSONValue.quoted(value)
    case .array(let values):
      if values.isEmpty { return "[]" }
      return "[\n" + values.map { inner + $0.rendered(indent: inner) }.joined(separator: ",\n")
        + "\n" + indent + "]"
    case .object(let members):
      if members.isEmpty { return "{}" }
      return "{\n"
        + members.map { inner + JSONValue.quoted($0.0) + ": " + $0.1.rendered(indent: inner) }
        .joined(separator: ",\n") + "\n" + indent + "}"
    }
  }

  static func quoted(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": result += "\\\""
      case "\\": result += "\\\\"
      case "\n": result += "\\n"
      case "\r": result += "\\r"
      case "\t": result += "\\t"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: result.unicodeScalars.append(scalar)
      }
    }
    return result + "\""
  }
}

/// Rounds to a fixed number of decimals for readable JSON.
private func rounded(_ value: Double, decimals: Int) -> Double {
  let scale = pow(10, Double(decimals))
  return (value * scale).rounded() / scale
}

extension BenchmarkResult {
  var json: JSONValue {
    var members: [(String, JSONValue)] = [
      ("name", .string(benchmark.name)),
      ("suite", .string(benchmark.suite)),
      ("median_ms", .number(rounded(median * 1e3, decimals: 6))),
      ("min_ms", .number(rounded(minimum * 1e3, decimals: 6))),
      ("p90_ms", .number(rounded(p90 * 1e3, decimals: 6))),
      ("cpu_median_ms", cpuMedian.map { .number(rounded($0 * 1e3, decimals: 6)) } ?? .null),
      ("cpu_min_ms", cpuMinimum.map { .number(rounded($0 * 1e3, decimals: 6)) } ?? .null),
      ("repeats", .number(Double(sortedSamples.count))),
      ("iterations_per_sample", .number(Double(iterationsPerSample))),
    ]
    if let work = benchmark.work, let atMedian = throughput(at: median),
      let atMinimum = throughput(at: minimum)
    {
      if work.isFlops {
        members.append(("flops", .number(work.count)))
        members.append(("gflops", .number(rounded(atMedian / 1e9, decimals: 3))))
        members.append(("gflops_best", .number(rounded(atMinimum / 1e9, decimals: 3))))
      } else {
        members.append(("work", .number(work.count)))
        members.append(("throughput", .number(rounded(atMedian, decimals: 3))))
        members.append(("throughput_unit", .string("\(work.unit)/s")))
      }
    }
    if let comparison {
      members.append(("baseline", .string(comparison.baseline)))
      members.append(("baseline_multiple", .number(comparison.multiple)))
      members.append(("ratio_to_baseline", .number(rounded(comparison.ratio, decimals: 4))))
      members.append(("ratio_to_baseline_best", .number(rounded(comparison.bestRatio, decimals: 4))))
      members.append(("ratio_to_baseline_cpu", comparison.cpuRatio.map { .number(rounded($0, decimals: 4)) } ?? .null))
    }
    if !metrics.isEmpty {
      members.append(("metrics", .object(metrics.map { ($0.0, .number($0.1)) })))
    }
    members.append(("peak_rss_mib", peakRSSMiB.map { .number(rounded($0, decimals: 1)) } ?? .null))
    return .object(members)
  }
}

// MARK: - Table

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

// MARK: - Entry point

enum BenchmarkMain {
  /// Parses `arguments`, runs the selected benchmarks of `registry` and reports them.
  /// Returns the process exit status: 0 on success, 1 when nothing matched, 2 on bad usage.
  static func run(_ registry: BenchmarkRegistry, arguments: some Sequence<String>) -> Int32 {
    let options: BenchmarkOptions
    do {
      options = try BenchmarkOptions.parse(arguments)
    } catch {
      printError("error: \(error)\n\n\(BenchmarkOptions.usage)")
      return 2
    }
    if options.help {
      print(BenchmarkOptions.usage)
      return 0
    }

    let selected = registry.selection(options)
    if selected.isEmpty {
      printError("error: no benchmark matches --filter \(options.filters.joined(separator: ","))")
      return 1
    }

    if options.list {
      if options.json {
        let entries = selected.map { JSONValue.object([("name", .string($0.name)), ("suite", .string($0.suite))]) }
        print(JSONValue.array(entries).rendered())
      } else {
        let width = selected.map(\.name.count).max() ?? 0
        for benchmark in selected { print(TableFormat.pad(benchmark.name, width, left: true) + "  " + benchmark.suite) }
      }
      return 0
    }

    if let threads = options.threads { NumericsBackend.threadCount = threads }
    let threads = NumericsBackend.threadCount
    #if DEBUG
      printError("warning: debug build; run with `swift run -c release CurvatureBenchmarks` for real numbers")
    #endif

    let startMemory = PeakMemory.current()
    let runner = BenchmarkRunner(options: options)
    var results: [BenchmarkResult] = []

    let nameWidth = max(9, selected.map(\.name.count).max() ?? 0)
    let columns: [(String, Int)] = [
      ("median", 11), ("min", 11), ("p90", 11), ("cpu median", 11), ("reps", 6), ("throughput", 18), ("× base", 8),
      ("peak RSS", 11),
    ]
    if !options.json {
      print("Curvature benchmarks, \(MachineInfo.timestamp)")
      print("machine: \(MachineInfo.cores) cores, \(MachineInfo.cpuModel), \(MachineInfo.operatingSystem)")
      print("BLAS:    \(NumericsBackend.blasConfiguration), \(threads) thread\(threads == 1 ? "" : "s")")
      print("LAPACK \(NumericsBackend.lapackVersion), \(NumericsBackend.fftVersion)")
      let budget = options.repeats.map { "\($0) samples" } ?? "\(options.timeBudget) s per benchmark"
      let warmup = options.warmup.map(String.init) ?? "3 (fewer where a benchmark declares it)"
      print("warm-up \(warmup), \(budget)")
      print("× base: median ÷ (multiple × median of the benchmark's baseline), see README\n")
      let header = TableFormat.pad("benchmark", nameWidth, left: true)
        + columns.map { "  " + TableFormat.pad($0.0, $0.1) }.joined()
      print(header)
      print(String(repeating: "-", count: header.count))
    }

    for benchmark in selected {
      if options.json { printError("running \(benchmark.name) …") }
      var result = runner.run(benchmark)
      if let base = benchmark.baseline?.name, let reference = results.first(where: { $0.benchmark.name == base }) {
        result.comparison = BaselineComparison(result, to: reference)
      }
      results.append(result)
      if options.json {
        let ratio = result.comparison.map { String(format: " (%.2f× baseline)", $0.ratio) } ?? ""
        printError("  median \(TableFormat.time(result.median)) \(TableFormat.throughput(result.throughput(at: result.median), work: benchmark.work))\(ratio)")
      } else {
        let cells = [
          TableFormat.time(result.median), TableFormat.time(result.minimum), TableFormat.time(result.p90),
          result.cpuMedian.map(TableFormat.time) ?? "?",
          "\(result.sortedSamples.count)",
          TableFormat.throughput(result.throughput(at: result.median), work: benchmark.work),
          result.comparison.map { String(format: "%.2f", $0.ratio) } ?? "",
          result.peakRSSMiB.map { String(format: "%.1f MiB", $0) } ?? "?",
        ]
        print(
          TableFormat.pad(benchmark.name, nameWidth, left: true)
            + zip(cells, columns).map { "  " + TableFormat.pad($0.0, $0.1.1) }.joined())
        if !result.metrics.isEmpty {
          print("    " + result.metrics.map { "\($0.0)=\(TableFormat.number($0.1))" }.joined(separator: ", "))
        }
      }
      fflush(nil)  // show each row as it completes, even through a pipe
    }

    // The high-water mark is reset per benchmark, so the run's peak is the largest reading.
    let peak = ([startMemory, PeakMemory.current()] + results.map(\.peakRSSMiB)).compactMap { $0 }.max()
    if options.json {
      var settings: [(String, JSONValue)] = [("warmup", options.warmup.map { .number(Double($0)) } ?? .string("default"))]
      if let repeats = options.repeats {
        settings.append(("repeat", .number(Double(repeats))))
      } else {
        settings.append(("time_budget_s", .number(options.timeBudget)))
      }
      settings.append(("filters", .array(options.filters.map { .string($0) })))
      settings.append(("long", .bool(options.long)))
      let report = JSONValue.object([
        ("machine", MachineInfo.json(threads: threads)),
        ("settings", .object(settings)),
        ("results", .array(results.map(\.json))),
        ("peak_rss_mib", peak.map { .number(rounded($0, decimals: 1)) } ?? .null),
      ])
      print(report.rendered())
    } else {
      print("\npeak RSS: \(peak.map { String(format: "%.1f MiB", $0) } ?? "unknown")")
    }
    return 0
  }

  static func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
  }
}
