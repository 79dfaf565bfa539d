import ArgumentParser
import Curvature
import Foundation

/// `curv bench`: median timings of the basic curvature products on a model and data set.
struct BenchCommand: PrecisionGenericCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Time a gradient, one matvec of each operator and the KFAC factor builds.",
    discussion: """
      Example: curv bench --model model.json --weights weights.safetensors \
      --inputs X.npy --targets y.npy --repeat 5 --json

      Each quantity is timed --repeat times over the whole data set and the median is \
      reported in milliseconds: gradient_ms (loss and gradient), hessian_matvec_ms, \
      ggn_matvec_ms, ef_matvec_ms (one product with a random vector), kfac_type-2_build_ms \
      and kfac_mc_build_ms (computing the Kronecker factors), kfac_matvec_ms; plus P, N and \
      the peak resident memory (peak_rss_bytes; MiB in the table). KFAC keys are null \
      when the model has parameters KFAC does not factor. With --parameters the products \
      act on the chosen parameters only. With --columns K, also hessian_matmat_ms, \
      ggn_matmat_ms and ef_matmat_ms: one product with a random [P, K] matrix. With \
      --kfac-empirical, also kfac_empirical_build_ms. With --fisher-mc, also \
      fisher_mc_matvec_ms (and fisher_mc_matmat_ms with --columns): the Monte Carlo Fisher \
      with one sampled label per data point, as curvlinops' FisherMCLinearOperator. With --cpu, each timing also has a \
      <name>_cpu_ms key: the median process CPU time of the same runs (all threads; with \
      --threads 1 the steadier measure on a busy machine). Graph models (model.json of \
      format 2, --data reference.npz) are timed the same way.
      """)

  @OptionGroup(title: "Model and data") var dataOptions: DataOptions
  @OptionGroup(title: "Output") var outputOptions: OutputOptions

  @Option(help: ArgumentHelp("Timed runs of each quantity (the median is reported).", valueName: "R"))
  var `repeat`: Int = 5

  @Option(help: ArgumentHelp("Seed of the random vector, the Monte Carlo labels and the initialization without --weights.", valueName: "S"))
  var seed: UInt64 = 0

  @Option(help: ArgumentHelp("Also time products with a random [P, K] matrix (hessian_matmat_ms, ggn_matmat_ms, ef_matmat_ms).", valueName: "K"))
  var columns: Int?

  @Flag(help: "Also report the median process CPU time of each quantity (<name>_cpu_ms; a 'cpu ms' column).")
  var cpu = false

  @Flag(help: "Also time the empirical-Fisher KFAC build (kfac_empirical_build_ms).")
  var kfacEmpirical = false

  @Flag(help: "Also time Monte Carlo Fisher products, one label per data point (fisher_mc_matvec_ms; fisher_mc_matmat_ms with --columns).")
  var fisherMC = false

  func validate() throws {
    guard `repeat` >= 1 else { throw ValidationError("--repeat must be at least 1, got \(`repeat`)") }
    if let columns, columns < 1 { throw ValidationError("--columns must be at least 1, got \(columns)") }
  }

  func run() throws { try dispatch() }

  /// The JSON keys of `bench`: the timings in milliseconds (null for what the model does
  /// not support), then the set-up.
  struct Report: Encodable {
    var timings: [(key: String, milliseconds: Double?)]
    var P: Int
    var N: Int
    var batchSize: Int
    var dtype: String
    var threads: Int
    var `repeat`: Int
    var peakRSSBytes: Int

    func encode(to encoder: any Encoder) throws {
      var container = encoder.container(keyedBy: JSONKey.self)
      for (key, milliseconds) in timings { try container.encode(milliseconds, forKey: JSONKey(key)) }  // null, not absent
      try container.encode(P, forKey: JSONKey("P"))
      try container.encode(N, forKey: JSONKey("N"))
      try container.encode(batchSize, forKey: JSONKey("batch_size"))
      try container.encode(dtype, forKey: JSONKey("dtype"))
      try container.encode(threads, forKey: JSONKey("threads"))
      try container.encode(`repeat`, forKey: JSONKey("repeat"))
      try container.encode(peakRSSBytes, forKey: JSONKey("peak_rss_bytes"))
    }
  }

  func execute<T: BLASScalar>(_: T.Type) throws {
    let start = ContinuousClock.now
    let loaded = try dataOptions.load(T.self, seed: seed)
    let problem = loaded.problem
    var rng = RandomGenerator(seed: seed)
    let v: NDArray<T> = rng.normalArray(shape: [problem.dimension])
    let bar = outputOptions.progressBar()
    var done = 0
    var cpuMedians = [String: Double]()
    let total = ((columns == nil ? 7 : 10) + (kfacEmpirical ? 1 : 0) + (fisherMC ? (columns == nil ? 1 : 2) : 0)) * `repeat`

    /// The median of `repeat` timings of `body`, in milliseconds.
    /// (`task` names the quantity's key without `_ms`; its CPU median goes to `cpuMedians`.)
    func median(_ task: String, key: String, _ body: () throws -> Void) throws -> Double {
      var times = [Double](), cpuTimes = [Double]()
      for _ in 0..<`repeat` {
        let c0 = processCPUSeconds()
        let t0 = ContinuousClock.now
        try body()
        times.append(secondsSince(t0) * 1000)
        cpuTimes.append((processCPUSeconds() - c0) * 1000)
        done += 1
        bar.update(task: "bench \(task)", completed: done, total: total)
      }
      func middle(_ values: [Double]) -> Double {
        let v = values.sorted()
        let m = v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
        return (m * 1e4).rounded() / 1e4
      }
      cpuMedians[key] = middle(cpuTimes)
      return middle(times)
    }

    var results: [(String, Double?)] = []
    results.append(("gradient_ms", try median("gradient", key: "gradient_ms") { _ = try problem.lossAndGradient() }))
    results.append(("hessian_matvec_ms", try median("hessian", key: "hessian_matvec_ms") { _ = try HessianOperator(problem).apply(v) }))
    results.append(("ggn_matvec_ms", try median("ggn", key: "ggn_matvec_ms") { _ = try GGNOperator(problem).apply(v) }))
    results.append(("ef_matvec_ms", try median("ef", key: "ef_matvec_ms") { _ = try EmpiricalFisherOperator(problem).apply(v) }))
    if fisherMC {
      // One Monte Carlo label per data point, as curvlinops' FisherMCLinearOperator(mc_samples=1).
      results.append(("fisher_mc_matvec_ms", try median("fisher mc", key: "fisher_mc_matvec_ms") {
        _ = try MonteCarloFisherOperator(problem, mcSamples: 1, seed: seed).apply(v)
      }))
    }
    if let columns {
      let x: NDArray<T> = rng.normalArray(shape: [problem.dimension, columns])
      results.append(("hessian_matmat_ms", try median("hessian matmat", key: "hessian_matmat_ms") { _ = try HessianOperator(problem).apply(x) }))
      results.append(("ggn_matmat_ms", try median("ggn matmat", key: "ggn_matmat_ms") { _ = try GGNOperator(problem).apply(x) }))
      results.append(("ef_matmat_ms", try median("ef matmat", key: "ef_matmat_ms") { _ = try EmpiricalFisherOperator(problem).apply(x) }))
      if fisherMC {
        results.append(("fisher_mc_matmat_ms", try median("fisher mc matmat", key: "fisher_mc_matmat_ms") {
          _ = try MonteCarloFisherOperator(problem, mcSamples: 1, seed: seed).apply(x)
        }))
      }
    }
    do {
      results.append(("kfac_type-2_build_ms", try median("kfac type-2", key: "kfac_type-2_build_ms") {
        try KFACOperator(problem, options: KFACOptions(fisherType: .type2)).computeFactors()
      }))
      let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .mc, seed: seed))
      results.append(("kfac_mc_build_ms", try median("kfac mc", key: "kfac_mc_build_ms") {
        try KFACOperator(problem, options: KFACOptions(fisherType: .mc, seed: seed)).computeFactors()
      }))
      if kfacEmpirical {
        results.append(("kfac_empirical_build_ms", try median("kfac empirical", key: "kfac_empirical_build_ms") {
          try KFACOperator(problem, options: KFACOptions(fisherType: .empirical)).computeFactors()
        }))
      }
      try kfac.computeFactors()
      results.append(("kfac_matvec_ms", try median("kfac matvec", key: "kfac_matvec_ms") { _ = try kfac.apply(v) }))
    } catch CurvatureError.unsupported {
      for key in ["kfac_type-2_build_ms", "kfac_mc_build_ms"] + (kfacEmpirical ? ["kfac_empirical_build_ms"] : []) + ["kfac_matvec_ms"] where !results.contains(where: { $0.0 == key }) {
        results.append((key, nil))
      }
    }
    bar.finish()
    let seconds = secondsSince(start)
    let memory = peakResidentBytes()
    if outputOptions.json {
      try printJSONReport(
        operator: "all", seconds: seconds,
        Report(
          timings: results.map { (key: $0.0, milliseconds: $0.1) }
            + (cpu ? results.map { (key: $0.0.replacingOccurrences(of: "_ms", with: "_cpu_ms"), milliseconds: cpuMedians[$0.0]) } : []),
          P: problem.dimension, N: loaded.data.count,
          batchSize: problem.batchSize, dtype: loaded.dtype.rawValue, threads: NumericsBackend.threadCount, repeat: `repeat`,
          peakRSSBytes: memory))
    } else {
      print("Benchmark (\(loaded.summary), \(NumericsBackend.threadCount) threads), median of \(`repeat`)")
      var table = TextTable(["quantity", "milliseconds"] + (cpu ? ["cpu ms"] : []))
      for (key, value) in results {
        table.add(
          [key, value.map { String(format: "%.3f", $0) } ?? "unsupported"]
            + (cpu ? [cpuMedians[key].map { String(format: "%.3f", $0) } ?? ""] : []))
      }
      print(table.text)
      print("peak resident memory \(String(format: "%.1f", Double(memory) / 1_048_576)) MiB, total time \(formatSeconds(seconds))")
    }
  }
}
