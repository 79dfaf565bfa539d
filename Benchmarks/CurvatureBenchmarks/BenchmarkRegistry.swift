// The benchmarks of this executable: how one is declared (name, suite, work, baseline,
// sampling defaults, set-up), the registry the suites add them to, and which of them a
// command line selects.

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
/// restarts, …); they are reported with the timings under `metrics`, in recording order.
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
  ///
  /// Names are chosen by the suites, not by users, so a duplicate is a programming error.
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

extension BenchmarkOptions {
  /// Whether `benchmark` runs: not long (unless `--long`), and its name or suite contains
  /// one of the filters (any benchmark when there are none).
  func selects(_ benchmark: Benchmark) -> Bool {
    (long || !benchmark.isLong)
      && (filters.isEmpty || filters.contains { benchmark.name.contains($0) || benchmark.suite.contains($0) })
  }
}
