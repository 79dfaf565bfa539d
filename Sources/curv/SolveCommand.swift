import ArgumentParser
import Curvature
import Foundation

/// `curv solve`: the damped system `(A + δI) x = b` by (preconditioned) conjugate
/// gradients or MINRES.
struct SolveCommand: PrecisionGenericCommand {
  static let configuration = CommandConfiguration(
    commandName: "solve",
    abstract: "Solve (A + δI) x = b by CG or MINRES, optionally preconditioned with KFAC.",
    discussion: """
      Example: curv solve --model model.json --weights weights.safetensors \
      --inputs X.npy --targets y.npy --operator ggn --damping 1e-3 --rhs b.npy \
      --preconditioner kfac --output x.npy --json

      b is [P] or [P, k] (k right-hand sides at once). --solver auto uses MINRES for the \
      (possibly indefinite) Hessian and CG otherwise. --preconditioner kfac applies \
      (K + δI)⁻¹ of the KFAC approximation chosen by --fisher-type, --kfac-approx, \
      --mc-samples and --joint-bias. The reported relative residual max_j ‖b_j − (A + δI) x_j‖ / ‖b_j‖ \
      is recomputed from the solution. Not converging within --max-iterations is an error.
      """)

  @OptionGroup(title: "Model and data") var dataOptions: DataOptions
  @OptionGroup(title: "Operator") var operatorOptions: OperatorOptions
  @OptionGroup(title: "Output") var outputOptions: OutputOptions

  @Option(help: ArgumentHelp("The right-hand side as .npy, [P] or [P, k].", valueName: "b.npy"))
  var rhs: String

  @Option(help: ArgumentHelp("kfac or none (default: none).", valueName: "preconditioner"), transform: PreconditionerOption.parse)
  var preconditioner: PreconditionerOption = .none

  @Option(help: ArgumentHelp("auto, cg or minres (default: auto).", valueName: "solver"), transform: SolverOption.parse)
  var solver: SolverOption = .auto

  @Option(help: ArgumentHelp("Relative residual tolerance.", valueName: "tol"))
  var tol: Double = 1e-6

  @Option(help: ArgumentHelp("Iteration limit (default: max(10, 2P)).", valueName: "N"))
  var maxIterations: Int?

  @Option(help: ArgumentHelp("The .npy file to write (float64, shaped like b).", valueName: "x.npy"))
  var output: String

  func validate() throws {
    guard tol > 0, tol < 1 else { throw ValidationError("--tol must be in (0, 1), got \(tol)") }
    if let maxIterations, maxIterations < 1 { throw ValidationError("--max-iterations must be at least 1, got \(maxIterations)") }
    try operatorOptions.checkApplicable(kfacPreconditioner: preconditioner == .kfac)
  }

  func run() throws {
    try requireFile(rhs, option: "--rhs")
    try checkOutputPath(output, inputs: dataOptions.inputFiles + [("--rhs", rhs)])
    try dispatch()
  }

  /// The JSON keys of `solve`.
  struct Report: Encodable {
    var iterations: Int
    var relativeResidual: Double
    var solver: String
    var preconditioner: String
    var damping: Double
    var P: Int
    var rightHandSides: Int
    var output: String

    enum CodingKeys: String, CodingKey {
      case iterations, solver, preconditioner, damping, P, output
      case relativeResidual = "relative_residual"
      case rightHandSides = "right_hand_sides"
    }
  }

  func execute<T: BLASScalar>(_: T.Type) throws {
    let start = ContinuousClock.now
    let loaded = try dataOptions.load(T.self, seed: operatorOptions.seed)
    let gate = loaded.gate
    let p = loaded.problem.dimension
    let b = try Curvature.NPYArray(contentsOf: URL(fileURLWithPath: rhs)).floats(as: T.self, requireFinite: true)
    guard (b.rank == 1 || b.rank == 2) && b.shape[0] == p else {
      throw CLIError("--rhs \(rhs) has shape \(b.shape), expected [\(p)] or [\(p), k] for P = \(p) parameters")
    }
    let damping = operatorOptions.damping
    let base = try operatorOptions.undampedOperator(loaded.problem)
    let a = operatorOptions.dampedOperator(base)
    var inverse: (any LinearOperator<T>)? = nil
    if preconditioner == .kfac {
      let kfac = try (base as? KFACOperator<T>) ?? KFACOperator(loaded.problem, options: operatorOptions.kfacOptions)
      inverse = try gate.run("the KFAC preconditioner") { try kfac.inverse(damping: T(damping)) }
    }
    let method: SolverOption = solver == .auto ? (operatorOptions.kind == .hessian ? .minres : .cg) : solver
    let bar = outputOptions.progressBar()
    var x: NDArray<T>, iterations: Int
    let name = method == .cg ? (inverse == nil ? "CG" : "PCG") : "MINRES"
    let stage = "the \(name) solution"
    if method == .cg {
      let result = try gate.run(stage) {
        try conjugateGradient(
          a, b, preconditioner: inverse,
          options: ConjugateGradientOptions(relativeTolerance: tol, maxIterations: maxIterations), onProgress: bar.handler)
      }
      bar.finish()
      try requireSolved(name, result.outcome, iterations: result.iterations, residual: result.relativeResidual, gate: gate)
      (x, iterations) = (result.solution, result.iterations)
    } else {
      let result = try gate.run(stage) {
        try minres(
          a, b, preconditioner: inverse,
          options: MINRESOptions(relativeTolerance: tol, maxIterations: maxIterations), onProgress: bar.handler)
      }
      bar.finish()
      try requireSolved(name, result.outcome, iterations: result.iterations, residual: result.relativeResidual, gate: gate)
      (x, iterations) = (result.solution, result.iterations)
    }
    x = try gate.check(x, stage)
    let residual = try gate.check(try relativeResidual(a, x, b), "the relative residual of \(stage)")
    if residual > 10 * tol {
      // The solver's recurrence met --tol but rounding kept the true residual above it.
      printError(
        "curv solve: warning: the recomputed relative residual \(formatScientific(residual, digits: 2)) exceeds --tol \(tol) (rounding in \(dataOptions.dtype.rawValue); --dtype float64 is more accurate)")
    }
    try writeNPY(x, to: output)
    let seconds = secondsSince(start)
    if outputOptions.json {
      try printJSONReport(
        operator: operatorOptions.kind.argument, seconds: seconds,
        Report(
          iterations: iterations, relativeResidual: residual, solver: method.argument, preconditioner: preconditioner.argument,
          damping: damping, P: p, rightHandSides: b.rank == 1 ? 1 : b.shape[1], output: output))
    } else {
      print("(\(operatorOptions.kind.title) + δI) x = b, δ = \(formatNumber(damping)) (\(loaded.summary))")
      var table = TextTable(["solver", "preconditioner", "iterations", "relative residual", "time"])
      table.add([name, preconditioner.argument, "\(iterations)", formatScientific(residual, digits: 2), formatSeconds(seconds)])
      print(table.text)
      print("Wrote \(output)")
    }
  }

  /// Turns a solver's outcome into an error unless it converged.
  func requireSolved<T: BLASScalar>(
    _ name: String, _ outcome: SolverOutcome<T>, iterations: Int, residual: Double, gate: FiniteGate
  ) throws {
    switch outcome {
    case .converged: return
    case .maxIterationsReached:
      throw CLIError(
        "\(name) did not converge in \(iterations) iterations (relative residual \(formatScientific(residual, digits: 2)) > --tol \(tol)); raise --max-iterations or --damping, or use --preconditioner kfac")
    case let .breakdown(iteration, _, curvature):
      throw CLIError(
        "\(name) broke down at iteration \(iteration): curvature \(formatScientific(Double(curvature), digits: 2)) ≤ 0, the operator (or preconditioner) is not positive definite; raise --damping or use --solver minres")
    case let .nonFinite(iteration):
      throw gate.failure("the \(name) iterates", "\(name) produced NaN or infinity at iteration \(iteration)")
    case let .inconsistent(iteration, column):
      throw CLIError(
        "\(name): the system is singular and inconsistent (right-hand side \(column) has a component in the null space), found at iteration \(iteration); raise --damping")
    }
  }
}

/// `max_j ‖b_j − A x_j‖ / ‖b_j‖`, from one more product.
func relativeResidual<T: BLASScalar>(_ a: any LinearOperator<T>, _ x: NDArray<T>, _ b: NDArray<T>) throws -> Double {
  let r = b - (try a.apply(x))
  let n = b.shape[0], k = b.rank == 1 ? 1 : b.shape[1]
  var worst = 0.0
  for j in 0..<k {
    var rr = 0.0, bb = 0.0
    for i in 0..<n {
      rr += Double(r.scalars[i * k + j]) * Double(r.scalars[i * k + j])
      bb += Double(b.scalars[i * k + j]) * Double(b.scalars[i * k + j])
    }
    worst = Swift.max(worst, bb > 0 ? (rr / bb).squareRoot() : rr.squareRoot())
  }
  return worst
}
