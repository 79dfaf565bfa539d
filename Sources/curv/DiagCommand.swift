import ArgumentParser
import Curvature
import Foundation

/// `--method` of `curv diag`.
enum DiagonalMethod: String, CaseIterable, ExpressibleByArgument {
  case exact, hutchinson, xdiag
}

/// `curv diag`: the diagonal, exactly or estimated, as a float64 `.npy` file.
struct DiagCommand: PrecisionGenericCommand {
  static let configuration = CommandConfiguration(
    commandName: "diag",
    abstract: "Write the diagonal (exact, Hutchinson or XDiag) as a float64 .npy file.",
    discussion: """
      Example: curv diag --model model.json --weights weights.safetensors \
      --inputs X.npy --targets y.npy --operator ggn --method exact --output d.npy

      exact: BackPACK-style exact diagonals for ggn, ef and fisher-mc, P Hessian-vector \
      products for hessian, the closed form for kfac. hutchinson and xdiag spend --matvecs \
      products with random probes seeded by --seed. With --damping δ, δ is added.
      """)

  @OptionGroup(title: "Model and data") var dataOptions: DataOptions
  @OptionGroup(title: "Operator") var operatorOptions: OperatorOptions

  @Option(help: "exact, hutchinson or xdiag.")
  var method: DiagonalMethod = .exact

  @Option(help: ArgumentHelp("Products with the operator for the estimators (default: 100).", valueName: "M"))
  var matvecs: Int?

  @Option(help: ArgumentHelp("The .npy file to write (float64, [P]).", valueName: "d.npy"))
  var output: String

  @Flag(help: "Print one JSON object on stdout instead of a table.")
  var json = false

  func validate() throws {
    if method == .exact, matvecs != nil { throw ValidationError("--matvecs does not apply to --method exact") }
    if let matvecs, matvecs < 1 { throw ValidationError("--matvecs must be at least 1, got \(matvecs)") }
    try operatorOptions.checkApplicable()
  }

  func run() throws {
    try checkOutputPath(output)
    try dispatch()
  }

  func execute<T: BLASScalar>(_: T.Type) throws {
    let start = ContinuousClock.now
    let loaded = try dataOptions.load(T.self, seed: operatorOptions.seed)
    let p = loaded.problem.dimension
    let a = try makeOperator(operatorOptions.choice, problem: loaded.problem)
    let bar = ProgressBar(enabled: !json)
    let budget = matvecs ?? 100
    var diagonal: NDArray<T>, used: Int
    switch method {
    case .exact:
      diagonal = try a.diagonal()
      used = operatorOptions.kind == .hessian ? p : 0
    case .hutchinson:
      let estimate = try hutchinsonDiagonal(a, matvecs: budget, seed: operatorOptions.seed, onProgress: bar.handler)
      (diagonal, used) = (estimate.value, estimate.matvecs)
    case .xdiag:
      let estimate = try xdiag(a, matvecs: budget, seed: operatorOptions.seed, onProgress: bar.handler)
      (diagonal, used) = (estimate.value, estimate.matvecs)
    }
    bar.finish()
    if operatorOptions.damping != 0 {
      diagonal = NDArray(diagonal.scalars.map { $0 + T(operatorOptions.damping) })
    }
    if let bad = diagonal.scalars.firstIndex(where: { !$0.isFinite }) {
      throw CLIError("diagonal element \(bad) is \(diagonal.scalars[bad]): the operator produced non-finite values")
    }
    try writeNPY(diagonal, to: output)
    let seconds = secondsSince(start)
    let values = diagonal.scalars.map { Double($0) }
    let sum = values.reduce(0, +), low = values.min() ?? 0, high = values.max() ?? 0
    if json {
      printJSONObject(operator: operatorOptions.kind.rawValue, seconds: seconds, [
        ("output", .string(output)), ("method", .string(method.rawValue)), ("matvecs", .int(used)),
        ("P", .int(p)), ("sum", .number(sum)), ("min", .number(low)), ("max", .number(high)),
        ("damping", .number(operatorOptions.damping)),
      ])
    } else {
      print("Diagonal of the \(operatorOptions.kind.title) (\(loaded.summary))")
      var table = TextTable(["method", "sum", "min", "max", "matvecs", "time"])
      table.add([
        method.rawValue, formatNumber(sum, significant: 8), formatNumber(low, significant: 4), formatNumber(high, significant: 4),
        "\(used)", formatSeconds(seconds),
      ])
      print(table.text)
      print("Wrote \(output)")
    }
  }
}
