import ArgumentParser
import Curvature
import Foundation

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
  @OptionGroup(title: "Output") var outputOptions: OutputOptions

  @Option(help: ArgumentHelp("The number of eigenvalues (at most P).", valueName: "K"))
  var k: Int

  @Option(
    help: ArgumentHelp("Which eigenvalues: \(EigenvalueSelection.spellings.joined(separator: ", ")) (default: largest).", valueName: "which"),
    transform: EigenvalueSelection.parse)
  var which: EigenvalueSelection = .largest

  @Option(help: ArgumentHelp("Relative residual tolerance ‖Av − λv‖ ≤ tol·|λ| (default: 1e-8 for float64, 1e-5 for float32).", valueName: "tol"))
  var tol: Double?

  @Option(help: ArgumentHelp("Restarts before giving up.", valueName: "R"))
  var maxRestarts: Int = 200

  func validate() throws {
    guard k >= 1 else { throw ValidationError("--k must be at least 1, got \(k)") }
    if let tol, !(tol > 0 && tol < 1) { throw ValidationError("--tol must be in (0, 1), got \(tol)") }
    guard maxRestarts >= 0 else { throw ValidationError("--max-restarts must be ≥ 0, got \(maxRestarts)") }
    try operatorOptions.checkApplicable()
  }

  func run() throws { try dispatch() }

  /// The JSON keys of `eigs`.
  struct Report: Encodable {
    var eigenvalues: [Double]
    var matvecs: Int
    var which: String
    var k: Int
    var P: Int
    var damping: Double
    var residualNorms: [Double]
    var restarts: Int

    enum CodingKeys: String, CodingKey {
      case eigenvalues, matvecs, which, k, P, damping, restarts
      case residualNorms = "residual_norms"
    }
  }

  func execute<T: BLASScalar>(_: T.Type) throws {
    let start = ContinuousClock.now
    let loaded = try dataOptions.load(T.self, seed: operatorOptions.seed)
    let gate = loaded.gate
    let p = loaded.problem.dimension
    guard k <= p else {
      throw CLIError("--k \(k) is larger than P = \(p), the number of parameters")
    }
    let a = operatorOptions.dampedOperator(try operatorOptions.undampedOperator(loaded.problem))
    let tolerance = tol ?? (T.self == Float.self ? 1e-5 : 1e-8)
    let options = LanczosOptions(
      count: k, which: which, tolerance: tolerance, maxRestarts: maxRestarts, seed: operatorOptions.seed)
    let bar = outputOptions.progressBar()
    let stage = "the Lanczos eigenvalues of the \(operatorOptions.kind.title)"
    let result = try gate.run(stage) { try lanczosEigenpairs(a, options: options, onProgress: bar.handler) }
    bar.finish()
    let values = try gate.check(result.eigenvalues.scalars.map { Double($0) }, stage)
    let residuals = try gate.check(result.residualNorms, "the residual norms of \(stage)")
    guard result.converged else {
      let worst = zip(residuals, values).map { $0 / Swift.max(Swift.abs($1), .leastNormalMagnitude) }.max() ?? .nan
      throw CLIError(
        "Lanczos did not converge after \(result.iterations) restarts (\(result.matvecs) matvecs): largest relative residual \(formatNumber(worst, significant: 3)) > --tol \(tolerance); raise --max-restarts or --tol")
    }
    let seconds = secondsSince(start)
    if outputOptions.json {
      try printJSONReport(
        operator: operatorOptions.kind.argument, seconds: seconds,
        Report(
          eigenvalues: values, matvecs: result.matvecs, which: which.argument, k: k, P: p, damping: operatorOptions.damping,
          residualNorms: residuals, restarts: result.iterations))
    } else {
      print("\(k) \(which.argument) eigenvalue\(k == 1 ? "" : "s") of the \(operatorOptions.kind.title) (\(loaded.summary))")
      var table = TextTable(["#", "eigenvalue", "residual ‖Av − λv‖"])
      for (index, value) in values.enumerated() {
        table.add(["\(index + 1)", formatScientific(value, digits: 8), formatScientific(residuals[index], digits: 2)])
      }
      print(table.text)
      print("matvecs \(result.matvecs), restarts \(result.iterations), time \(formatSeconds(seconds))")
    }
  }
}
