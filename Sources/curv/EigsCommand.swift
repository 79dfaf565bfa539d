import ArgumentParser
import Curvature
import Foundation

/// `--which` of `curv eigs`.
enum WhichOption: String, CaseIterable, ExpressibleByArgument {
  case largest, smallest, magnitude

  var library: EigenvalueSelection {
    switch self {
    case .largest: return .largest
    case .smallest: return .smallest
    case .magnitude: return .largestMagnitude
    }
  }
}

/// `curv eigs`: extreme eigenvalues by the Lanczos method.
struct EigsCommand: PrecisionGenericCommand {
  static let configuration = CommandConfiguration(
    commandName: "eigs",
    abstract: "Compute the K largest, smallest or largest-magnitude eigenvalues (Lanczos).",
    discussion: """
      Example: curv eigs --model model.json --weights weights.safetensors \
      --inputs X.npy --targets y.npy --operator hessian --k 5 --which largest --json

      Thick-restart Lanczos with full reorthogonalization (and a check for repeated \
      eigenvalues); the start vector is seeded by --seed. Eigenvalues are sorted as \
      requested: descending for largest, ascending for smallest, by descending |λ| for \
      magnitude. A run that does not converge within --max-restarts is an error.
      """)

  @OptionGroup(title: "Model and data") var dataOptions: DataOptions
  @OptionGroup(title: "Operator") var operatorOptions: OperatorOptions

  @Option(help: ArgumentHelp("The number of eigenvalues (at most P).", valueName: "K"))
  var k: Int

  @Option(help: "Which eigenvalues: largest, smallest or magnitude.")
  var which: WhichOption = .largest

  @Option(help: ArgumentHelp("Relative residual tolerance ‖Av − λv‖ ≤ tol·|λ| (default: 1e-8 for float64, 1e-5 for float32).", valueName: "tol"))
  var tol: Double?

  @Option(help: ArgumentHelp("Restarts before giving up.", valueName: "R"))
  var maxRestarts: Int = 200

  @Flag(help: "Print one JSON object on stdout instead of a table.")
  var json = false

  func validate() throws {
    guard k >= 1 else { throw ValidationError("--k must be at least 1, got \(k)") }
    if let tol, !(tol > 0 && tol < 1) { throw ValidationError("--tol must be in (0, 1), got \(tol)") }
    guard maxRestarts >= 0 else { throw ValidationError("--max-restarts must be ≥ 0, got \(maxRestarts)") }
    try operatorOptions.checkApplicable()
  }

  func run() throws { try dispatch() }

  func execute<T: BLASScalar>(_: T.Type) throws {
    let start = ContinuousClock.now
    let loaded = try dataOptions.load(T.self, seed: operatorOptions.seed)
    let p = loaded.problem.dimension
    guard k <= p else {
      throw CLIError("--k \(k) is larger than P = \(p), the number of parameters")
    }
    let a = dampedOperator(try makeOperator(operatorOptions.choice, problem: loaded.problem), damping: operatorOptions.damping)
    let tolerance = tol ?? (T.self == Float.self ? 1e-5 : 1e-8)
    let options = LanczosOptions(
      count: k, which: which.library, tolerance: tolerance, maxRestarts: maxRestarts, seed: operatorOptions.seed)
    let bar = ProgressBar(enabled: !json)
    let result = try lanczosEigenpairs(a, options: options, onProgress: bar.handler)
    bar.finish()
    let values = result.eigenvalues.scalars.map { Double($0) }
    guard result.converged else {
      let worst = zip(result.residualNorms, values).map { $0 / Swift.max(Swift.abs($1), .leastNormalMagnitude) }.max() ?? .nan
      throw CLIError(
        "Lanczos did not converge after \(result.iterations) restarts (\(result.matvecs) matvecs): largest relative residual \(formatNumber(worst, significant: 3)) > --tol \(tolerance); raise --max-restarts or --tol")
    }
    let seconds = secondsSince(start)
    if json {
      printJSONObject(operator: operatorOptions.kind.rawValue, seconds: seconds, [
        ("eigenvalues", .numbers(values)), ("matvecs", .int(result.matvecs)),
        ("which", .string(which.rawValue)), ("k", .int(k)), ("P", .int(p)),
        ("damping", .number(operatorOptions.damping)),
        ("residual_norms", .numbers(result.residualNorms)), ("restarts", .int(result.iterations)),
      ])
    } else {
      print("\(k) \(which.rawValue) eigenvalue\(k == 1 ? "" : "s") of the \(operatorOptions.kind.title) (\(loaded.summary))")
      var table = TextTable(["#", "eigenvalue", "residual ‖Av − λv‖"])
      for (index, value) in values.enumerated() {
        table.add(["\(index + 1)", formatScientific(value, digits: 8), formatScientific(result.residualNorms[index], digits: 2)])
      }
      print(table.text)
      print("matvecs \(result.matvecs), restarts \(result.iterations), time \(formatSeconds(seconds))")
    }
  }
}
