import ArgumentParser
import Curvature
import Foundation

/// `--method` of `curv trace`.
enum TraceMethod: String, CaseIterable, ExpressibleByArgument {
  case exact, hutchinson, hutchpp, xtrace
}

/// `curv trace`: the trace, exactly or by a randomized estimator.
struct TraceCommand: PrecisionGenericCommand {
  static let configuration = CommandConfiguration(
    commandName: "trace",
    abstract: "Compute the trace exactly or estimate it (Hutchinson, Hutch++, XTrace).",
    discussion: """
      Example: curv trace --model model.json --weights weights.safetensors \
      --inputs X.npy --targets y.npy --operator ggn --method hutchpp --matvecs 90 --json

      exact: the sum of the exact diagonal (P Hessian-vector products for hessian; one \
      backward pass per output for ggn, ef and fisher-mc; closed form for kfac). The \
      estimators spend --matvecs products with random probes seeded by --seed and report a \
      standard error. With --damping δ the trace of A + δI is reported (δ·P added exactly).
      """)

  @OptionGroup(title: "Model and data") var dataOptions: DataOptions
  @OptionGroup(title: "Operator") var operatorOptions: OperatorOptions

  @Option(help: "exact, hutchinson, hutchpp or xtrace.")
  var method: TraceMethod = .exact

  @Option(help: ArgumentHelp("Products with the operator for the estimators (default: 100).", valueName: "M"))
  var matvecs: Int?

  @Flag(help: "Print one JSON object on stdout instead of a table.")
  var json = false

  func validate() throws {
    if method == .exact, matvecs != nil { throw ValidationError("--matvecs does not apply to --method exact") }
    if let matvecs, matvecs < 1 { throw ValidationError("--matvecs must be at least 1, got \(matvecs)") }
    try operatorOptions.checkApplicable()
  }

  func run() throws { try dispatch() }

  func execute<T: BLASScalar>(_: T.Type) throws {
    let start = ContinuousClock.now
    let loaded = try dataOptions.load(T.self, seed: operatorOptions.seed)
    let p = loaded.problem.dimension
    let a = try makeOperator(operatorOptions.choice, problem: loaded.problem)
    let bar = ProgressBar(enabled: !json)
    let budget = matvecs ?? 100
    let seed = operatorOptions.seed
    var value: Double, standardError: Double?, used: Int
    switch method {
    case .exact:
      value = Double(try a.trace())
      standardError = nil
      used = operatorOptions.kind == .hessian ? p : 0
    case .hutchinson:
      let estimate = try hutchinsonTrace(a, matvecs: budget, seed: seed, onProgress: bar.handler)
      (value, standardError, used) = (estimate.value, estimate.standardError, estimate.matvecs)
    case .hutchpp:
      let estimate = try hutchPlusPlusTrace(a, matvecs: budget, seed: seed, onProgress: bar.handler)
      (value, standardError, used) = (estimate.value, estimate.standardError, estimate.matvecs)
    case .xtrace:
      let estimate = try xtrace(a, matvecs: budget, seed: seed, onProgress: bar.handler)
      (value, standardError, used) = (estimate.value, estimate.standardError, estimate.matvecs)
    }
    bar.finish()
    value += operatorOptions.damping * Double(p)
    guard value.isFinite else { throw CLIError("the trace is \(value): the operator produced non-finite values") }
    let seconds = secondsSince(start)
    if json {
      printJSONObject(operator: operatorOptions.kind.rawValue, seconds: seconds, [
        ("trace", .number(value)), ("matvecs", .int(used)), ("method", .string(method.rawValue)),
        ("standard_error", standardError.map { .number($0) } ?? .null), ("P", .int(p)),
        ("damping", .number(operatorOptions.damping)),
      ])
    } else {
      print("Trace of the \(operatorOptions.kind.title) (\(loaded.summary))")
      var table = TextTable(["method", "trace", "std. error", "matvecs", "time"])
      table.add([
        method.rawValue, formatNumber(value, significant: 10), standardError.map { formatNumber($0, significant: 3) } ?? "-",
        "\(used)", formatSeconds(seconds),
      ])
      print(table.text)
    }
  }
}
