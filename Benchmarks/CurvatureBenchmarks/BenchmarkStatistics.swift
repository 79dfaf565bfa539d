// What the samples of one benchmark summarize to: median, minimum and p90 of wall and CPU
// time, throughput, and the ratios to the benchmark's baseline.

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
  var cpuMedian: Double? { sortedCPUSamples.isEmpty ? nil : Self.interpolate(sortedCPUSamples, 0.5) }
  var cpuMinimum: Double? { sortedCPUSamples.first }
  var minimum: Double { sortedSamples[0] }
  var p90: Double { quantile(0.9) }

  /// The `q`-quantile of the wall times, by linear interpolation between the closest ranks.
  func quantile(_ q: Double) -> Double { Self.interpolate(sortedSamples, q) }

  private static func interpolate(_ sorted: [Double], _ q: Double) -> Double {
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

/// A result divided by its baseline's: `ratio = median / (multiple × baseline median)`, and
/// the same with minimum times (`bestRatio`) and median CPU times (`cpuRatio`).
struct BaselineComparison {
  var baseline: String
  var multiple: Double
  var ratio: Double
  var bestRatio: Double
  var cpuRatio: Double?

  /// Compares `result` with `baseline`, or returns `nil` when the multiple is unknown (a
  /// metric the body did not record) or a time is zero.
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
