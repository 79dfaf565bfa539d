// The `--json` output: Encodable types written by Foundation's JSONEncoder. The keys are a
// contract (Benchmarks/README.md, Benchmarks/results/*.json), so the types with optional
// members encode by hand: a member that does not apply is left out, a measurement that is
// unavailable is written as `null` (the key stays).

import Foundation

/// The whole `--json` object: `machine`, `settings`, `results`, `peak_rss_mib`.
struct BenchmarkReport: Encodable {
  var machine: MachineReport
  var settings: SettingsReport
  var results: [ResultReport]
  /// The largest peak resident memory of the run, in MiB.
  var peakRSSMiB: Double?

  enum CodingKeys: String, CodingKey {
    case machine, settings, results
    case peakRSSMiB = "peak_rss_mib"
  }

  func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(machine, forKey: .machine)
    try container.encode(settings, forKey: .settings)
    try container.encode(results, forKey: .results)
    try container.encodeNumber(peakRSSMiB.map { rounded($0, decimals: 1) }, forKey: .peakRSSMiB)
  }
}

/// The machine and libraries the numbers come from.
struct MachineReport: Encodable {
  var cores: Int
  var cpu: String
  var os: String
  var blasConfiguration: String
  var blasThreads: Int
  var lapackVersion: String
  var fftVersion: String
  /// `release` or `debug`.
  var build: String
  /// When the run started, ISO 8601 in UTC.
  var date: String

  enum CodingKeys: String, CodingKey {
    case cores, cpu, os
    case blasConfiguration = "blas_configuration"
    case blasThreads = "blas_threads"
    case lapackVersion = "lapack_version"
    case fftVersion = "fft_version"
    case build, date
  }
}

/// The sampling options of the run: `warmup` (a count, or `"default"` for the benchmarks'
/// own), then `repeat` or `time_budget_s`, `filters`, `long`.
struct SettingsReport: Encodable {
  var options: BenchmarkOptions

  enum CodingKeys: String, CodingKey {
    case warmup
    case `repeat`
    case timeBudget = "time_budget_s"
    case filters, long
  }

  func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    if let warmup = options.warmup {
      try container.encode(warmup, forKey: .warmup)
    } else {
      try container.encode("default", forKey: .warmup)
    }
    if let repeats = options.repeats {
      try container.encode(repeats, forKey: .repeat)
    } else {
      try container.encodeNumber(options.timeBudget, forKey: .timeBudget)
    }
    try container.encode(options.filters, forKey: .filters)
    try container.encode(options.long, forKey: .long)
  }
}

/// One benchmark's line of `results`. Times are in milliseconds (6 decimals), ratios have
/// 4 decimals, throughputs 3, memory 1.
struct ResultReport: Encodable {
  var result: BenchmarkResult

  enum CodingKeys: String, CodingKey {
    case name, suite
    case median = "median_ms", minimum = "min_ms", p90 = "p90_ms"
    case cpuMedian = "cpu_median_ms", cpuMinimum = "cpu_min_ms"
    case repeats
    case iterationsPerSample = "iterations_per_sample"
    case flops, gflops
    case gflopsBest = "gflops_best"
    case work, throughput
    case throughputUnit = "throughput_unit"
    case baseline
    case baselineMultiple = "baseline_multiple"
    case ratio = "ratio_to_baseline"
    case bestRatio = "ratio_to_baseline_best"
    case cpuRatio = "ratio_to_baseline_cpu"
    case metrics
    case peakRSSMiB = "peak_rss_mib"
  }

  func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    let benchmark = result.benchmark
    func milliseconds(_ seconds: Double?) -> Double? { seconds.map { rounded($0 * 1e3, decimals: 6) } }
    try container.encode(benchmark.name, forKey: .name)
    try container.encode(benchmark.suite, forKey: .suite)
    try container.encodeNumber(milliseconds(result.median), forKey: .median)
    try container.encodeNumber(milliseconds(result.minimum), forKey: .minimum)
    try container.encodeNumber(milliseconds(result.p90), forKey: .p90)
    try container.encodeNumber(milliseconds(result.cpuMedian), forKey: .cpuMedian)
    try container.encodeNumber(milliseconds(result.cpuMinimum), forKey: .cpuMinimum)
    try container.encode(result.sortedSamples.count, forKey: .repeats)
    try container.encode(result.iterationsPerSample, forKey: .iterationsPerSample)
    if let work = benchmark.work, let atMedian = result.throughput(at: result.median),
      let atMinimum = result.throughput(at: result.minimum)
    {
      if work.isFlops {
        try container.encodeNumber(work.count, forKey: .flops)
        try container.encodeNumber(rounded(atMedian / 1e9, decimals: 3), forKey: .gflops)
        try container.encodeNumber(rounded(atMinimum / 1e9, decimals: 3), forKey: .gflopsBest)
      } else {
        try container.encodeNumber(work.count, forKey: .work)
        try container.encodeNumber(rounded(atMedian, decimals: 3), forKey: .throughput)
        try container.encode("\(work.unit)/s", forKey: .throughputUnit)
      }
    }
    if let comparison = result.comparison {
      try container.encode(comparison.baseline, forKey: .baseline)
      try container.encodeNumber(comparison.multiple, forKey: .baselineMultiple)
      try container.encodeNumber(rounded(comparison.ratio, decimals: 4), forKey: .ratio)
      try container.encodeNumber(rounded(comparison.bestRatio, decimals: 4), forKey: .bestRatio)
      try container.encodeNumber(comparison.cpuRatio.map { rounded($0, decimals: 4) }, forKey: .cpuRatio)
    }
    if !result.metrics.isEmpty {
      try container.encode(MetricsReport(metrics: result.metrics), forKey: .metrics)
    }
    try container.encodeNumber(result.peakRSSMiB.map { rounded($0, decimals: 1) }, forKey: .peakRSSMiB)
  }
}

/// A body's recorded metrics as one object, numbers written as `encodeNumber` writes them
/// (encoding a `[String: Double]` would throw on NaN or ∞).
struct MetricsReport: Encodable {
  var metrics: [(String, Double)]

  struct Key: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
  }

  func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: Key.self)
    for (name, value) in metrics {
      try container.encodeNumber(value, forKey: Key(stringValue: name))
    }
  }
}

/// One entry of `--list --json`.
struct ListEntry: Encodable {
  var name: String
  var suite: String
}

extension KeyedEncodingContainer {
  /// Encodes `value`, or `null` when it is missing or not finite (JSON has no NaN or ∞).
  ///
  /// Integral values within ±10¹⁵ are written as integers (`268435456`, not
  /// `268435456.0`), as the report has always shown counts.
  mutating func encodeNumber(_ value: Double?, forKey key: Key) throws {
    guard let value, value.isFinite else {
      try encodeNil(forKey: key)
      return
    }
    if value == value.rounded(), abs(value) < 1e15 {
      try encode(Int64(value), forKey: key)
    } else {
      try encode(value, forKey: key)
    }
  }
}

/// Rounds to a fixed number of decimals for readable JSON.
func rounded(_ value: Double, decimals: Int) -> Double {
  let scale = pow(10, Double(decimals))
  return (value * scale).rounded() / scale
}

/// Pretty-printed JSON text of `value`: two-space indentation, keys sorted, slashes in
/// names such as `gemm/float32/n=512` left as they are.
///
/// Keys are sorted because Foundation's encoder on Linux does not keep the order in which
/// they were encoded; sorted, two runs' reports diff line by line.
func jsonText(_ value: some Encodable) throws -> String {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
  return String(decoding: try encoder.encode(value), as: UTF8.self)
}
