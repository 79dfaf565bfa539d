// Timing: warm-up, batching of fast bodies and the sampling loop that turns one benchmark
// into wall and CPU times per iteration.

/// Runs benchmarks under the given options.
struct BenchmarkRunner {
  var options: BenchmarkOptions
  private let clock = ContinuousClock()

  /// Bodies faster than this are timed in batches so that clock overhead stays negligible.
  private let minimumSampleSeconds = 1e-4

  /// Warm-up iterations when neither the command line nor the benchmark says.
  static let defaultWarmup = 3

  init(options: BenchmarkOptions) { self.options = options }

  /// Sets `benchmark` up, warms it up and times it.
  ///
  /// Each sample times `batch` consecutive iterations, where `batch` is 1 unless the fastest
  /// warm-up iteration took less than `minimumSampleSeconds`. Sampling stops after
  /// `--repeat` samples, or once the time budget is spent and the minimum number of samples
  /// is reached.
  ///
  /// - Parameter benchmark: The benchmark; its set-up runs here, untimed.
  /// - Returns: The sorted per-iteration samples, the peak memory while it ran, and the
  ///   metrics its body recorded last.
  func run(_ benchmark: Benchmark) -> BenchmarkResult {
    // Per-benchmark peak memory; without a reset the reading is the run's peak so far.
    PeakMemory.reset()
    var batch = 1
    var samples: [Double] = [], cpuSamples: [Double] = []
    let recorder = BenchmarkRecorder()
    let warmup = options.warmup ?? benchmark.sampling?.warmup ?? Self.defaultWarmup
    let minimumRepeats = benchmark.sampling?.minimumRepeats ?? BenchmarkOptions.minimumRepeats
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
          || samples.count >= BenchmarkOptions.maximumRepeats
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

extension Duration {
  /// The duration in seconds, as a floating-point number.
  var seconds: Double {
    let (whole, attoseconds) = components
    return Double(whole) + Double(attoseconds) * 1e-18
  }
}
