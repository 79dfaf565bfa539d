import ArgumentParser
import Curvature
import Foundation

/// `curv diag`: the diagonal, exactly or estimated, as a float64 `.npy` file.
struct DiagCommand: OperatorOutputCommand {
  static let configuration = CommandConfiguration(
    commandName: "diag",
    abstract: "Write the diagonal (exact, Hutchinson or XDiag) as a float64 .npy file.",
    discussion: """
      Example: curv diag --model model.json --weights weights.safetensors \
      --inputs X.npy --targets y.npy --operator ggn --method exact --output d.npy

      exact: BackPACK-style exact diagonals for ggn, ef and fisher-mc (Sequential and \
      graph models) and (DiagHessian) for hessian; for hessian on a graph model, the \
      parameters that second-order terms without a rule touch (attention, softmax, norms, \
      products of activations) take products with unit vectors, and one line on stderr \
      says which path each part took (matvecs reports P for hessian either way); the \
      closed form for kfac. hutchinson and xdiag spend --matvecs \
      products with random probes seeded by --seed. With --damping δ, δ is added.
      """)

  @OptionGroup(title: "Model and data") var dataOptions: DataOptions
  @OptionGroup(title: "Operator") var operatorOptions: OperatorOptions
  @OptionGroup(title: "Estimator") var estimatorOptions: EstimatorOptions<DiagonalMethod>
  @OptionGroup(title: "Output") var outputOptions: OutputOptions

  @Option(help: ArgumentHelp("The .npy file to write (float64, [P]).", valueName: "d.npy"))
  var output: String

  /// The JSON keys of `diag`.
  struct Report: Encodable {
    var output: String
    var method: String
    var matvecs: Int
    var P: Int
    var sum: Double
    var min: Double
    var max: Double
    var damping: Double
  }

  func execute<T: BLASScalar>(_: T.Type) throws {
    let start = ContinuousClock.now
    let loaded = try dataOptions.load(T.self, seed: operatorOptions.seed)
    let gate = loaded.gate
    let p = loaded.problem.dimension
    let budget = try estimatorOptions.budget(p: p)
    let a = operatorOptions.dampedOperator(try operatorOptions.undampedOperator(loaded.problem))
    let bar = outputOptions.progressBar()
    let method = estimatorOptions.method, seed = operatorOptions.seed
    let stage = method == .exact
      ? "the diagonal of the \(operatorOptions.kind.title)"
      : "the \(method.argument) diagonal estimate of the \(operatorOptions.kind.title)"
    var diagonal: NDArray<T>, used: Int
    switch method {
    case .exact:
      if operatorOptions.kind == .hessian { printError(HessianOperator(loaded.problem).diagonalPlan().description) }
      let exact = try gate.run(stage) { try exactDiagonal(a, progress: bar) }
      diagonal = exact.diagonal
      used = exact.products ?? (operatorOptions.kind == .hessian ? p : 0)
    case .hutchinson:
      let estimate = try gate.run(stage) { try hutchinsonDiagonal(a, matvecs: budget, seed: seed, onProgress: bar.handler) }
      (diagonal, used) = (estimate.value, estimate.matvecs)
    case .xdiag:
      let estimate = try gate.run(stage) { try xDiagonal(a, matvecs: budget, seed: seed, onProgress: bar.handler) }
      (diagonal, used) = (estimate.value, estimate.matvecs)
    }
    bar.finish()
    diagonal = try gate.check(diagonal, stage)
    let values = diagonal.scalars.map { Double($0) }
    let sum = try gate.check(values.reduce(0, +), "the sum of \(stage)")
    let low = values.min() ?? 0, high = values.max() ?? 0
    try writeNPY(diagonal, to: output)
    let seconds = secondsSince(start)
    if outputOptions.json {
      try printJSONReport(
        operator: operatorOptions.kind.argument, seconds: seconds,
        Report(
          output: output, method: method.argument, matvecs: used, P: p, sum: sum, min: low, max: high,
          damping: operatorOptions.damping))
    } else {
      print("Diagonal of the \(operatorOptions.kind.title) (\(loaded.summary))")
      var table = TextTable(["method", "sum", "min", "max", "matvecs", "time"])
      table.add([
        method.argument, formatNumber(sum, significant: 8), formatNumber(low, significant: 4), formatNumber(high, significant: 4),
        "\(used)", formatSeconds(seconds),
      ])
      print(table.text)
      print("Wrote \(output)")
    }
  }
}
