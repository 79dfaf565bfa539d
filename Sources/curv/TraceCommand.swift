import ArgumentParser
import Curvature
import Foundation

/// `curv trace`: the trace, exactly or by a randomized estimator.
struct TraceCommand: PrecisionGenericCommand {
  static let configuration = CommandConfiguration(
    commandName: "trace",
    abstract: "Compute the trace exactly or estimate it (Hutchinson, Hutch++, XTrace).",
    discussion: """
      Example: curv trace --model model.json --weights weights.safetensors \
      --inputs X.npy --targets y.npy --operator ggn --method hutchpp --matvecs 90 --json

      exact: the sum of the exact diagonal (P Hessian-vector products for hessian; one \
      backward pass per output for ggn, ef and fisher-mc, per output and position for \
      graph models; \
      closed form for kfac). The \
      estimators spend --matvecs products with random probes seeded by --seed and report a \
      standard error. With --damping δ the trace of A + δI is reported (δ·P added exactly).
      """)

  @OptionGroup(title: "Model and data") var dataOptions: DataOptions
  @OptionGroup(title: "Operator") var operatorOptions: OperatorOptions
  @OptionGroup(title: "Estimator") var estimatorOptions: EstimatorOptions<TraceMethod>
  @OptionGroup(title: "Output") var outputOptions: OutputOptions

  func validate() throws { try operatorOptions.checkApplicable() }

  func run() throws { try dispatch() }

  /// The JSON keys of `trace`; `standard_error` is null for the exact trace.
  struct Report: Encodable {
    var trace: Double
    var matvecs: Int
    var method: String
    var standardError: Double?
    var P: Int
    var damping: Double

    enum CodingKeys: String, CodingKey {
      case trace, matvecs, method, P, damping
      case standardError = "standard_error"
    }

    func encode(to encoder: any Encoder) throws {
      var container = encoder.container(keyedBy: CodingKeys.self)
      try container.encode(trace, forKey: .trace)
      try container.encode(matvecs, forKey: .matvecs)
      try container.encode(method, forKey: .method)
      try container.encode(standardError, forKey: .standardError)  // null, not absent
      try container.encode(P, forKey: .P)
      try container.encode(damping, forKey: .damping)
    }
  }

  func execute<T: BLASScalar>(_: T.Type) throws {
    let start = ContinuousClock.now
    let loaded = try dataOptions.load(T.self, seed: operatorOptions.seed)
    let gate = loaded.gate
    let p = loaded.problem.dimension
    let budget = try estimatorOptions.budget(p: p)
    let a = operatorOptions.dampedOperator(try operatorOptions.undampedOperator(loaded.problem))
    let bar = outputOptions.progressBar()
    let seed = operatorOptions.seed
    let method = estimatorOptions.method
    let stage = method == .exact
      ? "the trace of the \(operatorOptions.kind.title)" : "the \(method.argument) trace estimate of the \(operatorOptions.kind.title)"
    var value: Double, standardError: Double?, used: Int
    switch method {
    case .exact:
      do {
        value = Double(try gate.run(stage) { try a.trace() })
        used = operatorOptions.kind == .hessian ? p : 0
      } catch CurvatureError.unsupported {
        // No exact diagonal for this model in the library: the sum of P unit products.
        let exact = try gate.run(stage) { try exactDiagonal(a, progress: bar, task: "trace") }
        value = exact.diagonal.scalars.reduce(0.0) { $0 + Double($1) }
        used = exact.products ?? p
      }
      standardError = nil
    case .hutchinson:
      let estimate = try gate.run(stage) { try hutchinsonTrace(a, matvecs: budget, seed: seed, onProgress: bar.handler) }
      (value, standardError, used) = (estimate.value, estimate.standardError, estimate.matvecs)
    case .hutchpp:
      let estimate = try gate.run(stage) { try hutchPlusPlusTrace(a, matvecs: budget, seed: seed, onProgress: bar.handler) }
      (value, standardError, used) = (estimate.value, estimate.standardError, estimate.matvecs)
    case .xtrace:
      let estimate = try gate.run(stage) { try xTrace(a, matvecs: budget, seed: seed, onProgress: bar.handler) }
      (value, standardError, used) = (estimate.value, estimate.standardError, estimate.matvecs)
    }
    bar.finish()
    value = try gate.check(value, stage)
    if let error = standardError { standardError = try gate.check(error, "the standard error of \(stage)") }
    let seconds = secondsSince(start)
    if outputOptions.json {
      try printJSONReport(
        operator: operatorOptions.kind.argument, seconds: seconds,
        Report(
          trace: value, matvecs: used, method: method.argument, standardError: standardError, P: p,
          damping: operatorOptions.damping))
    } else {
      print("Trace of the \(operatorOptions.kind.title) (\(loaded.summary))")
      var table = TextTable(["method", "trace", "std. error", "matvecs", "time"])
      table.add([
        method.argument, formatNumber(value, significant: 10), standardError.map { formatNumber($0, significant: 3) } ?? "-",
        "\(used)", formatSeconds(seconds),
      ])
      print(table.text)
    }
  }
}
