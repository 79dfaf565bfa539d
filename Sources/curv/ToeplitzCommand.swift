import ArgumentParser
import Curvature
import Foundation

/// `curv toeplitz`: solves a symmetric positive definite Toeplitz (or BTTB) system by
/// preconditioned conjugate gradients, reading and writing `.npy` files.
struct ToeplitzCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "toeplitz",
    abstract: "Solve a symmetric positive definite Toeplitz or BTTB system by preconditioned CG.",
    discussion: """
      1-level: --column c.npy holds (t₀, …, t_{n−1}); --row r.npy, when given, must equal it (conjugate gradients needs a symmetric matrix).

      2-level: --bttb G.npy holds the generator [2n₁−1, 2n₂−1] with G[n₁−1+p, n₂−1+q] = t_{p,q}; the entry at block row j₁, block column k₁, inner row j₂, inner column k₂ is t_{j₁−k₁, j₂−k₂}.

      --symbol f.npy holds samples of the generating function f(θ) = Σ t_k e^{ikθ} on θ_j = 2πj/m, j = 0..m−1, m ≥ 2n (a 2-D [m₁, m₂] array for --bttb); samples for j > m/2 are at θ_j − 2π. It is used by igf (T[1/f]) and band (to choose the order of the zero).

      Preconditioners: none; strang, chan (T. Chan), rchan (R. Chan) — circulant, or level-2 BCCB for --bttb; superoptimal (1-level); igf, the inverse generating function T[1/f], from --symbol or estimated from the entries; band, T[(2−2cos θ)^ν] for 1-level symbols with a zero at θ = 0; kronecker (--bttb), the nearest Kronecker product of rank 2 (rank 1 when the rank-2 inverse is not positive definite).

      Input arrays are float64 or float32 .npy files (1-D or 2-D, C order); the solution is written as float64. Bad input, or PCG not converging, exits with status 1 (64 for a malformed command line) and one line on stderr, and writes nothing.
      """)

  @Option(help: "First column (t₀, …, t_{n−1}) as a 1-D .npy file.")
  var column: String?

  @Option(help: "First row (t₀, t₋₁, …) as a 1-D .npy file; must equal the column.")
  var row: String?

  @Option(help: "BTTB generator [2n₁−1, 2n₂−1] as a 2-D .npy file (instead of --column).")
  var bttb: String?

  @Option(help: "Right-hand side .npy: [n] or [n, k]; for --bttb [n₁·n₂] or [n₁, n₂].")
  var rhs: String?

  @Option(help: ArgumentHelp("\(ToeplitzPreconditioner.choices) (default: none).", valueName: "preconditioner"), transform: ToeplitzPreconditioner.parse)
  var preconditioner: ToeplitzPreconditioner = .none

  @Option(help: "Samples of the symbol on θ_j = 2πj/m (1-D, m ≥ 2n; 2-D [m₁, m₂] for --bttb).")
  var symbol: String?

  @Option(help: "Stop when the relative residual ‖b − Ax‖/‖b‖ falls below this.")
  var tol: Double = 1e-7

  @OptionGroup(title: "Output") var outputOptions: OutputOptions

  @Option(help: "Write the solution (float64, shaped like the right-hand side) to this .npy file.")
  var output: String?

  func validate() throws {
    guard tol > 0, tol.isFinite else { throw ValidationError("--tol must be positive, got \(tol)") }
    guard rhs != nil else { throw ValidationError("missing --rhs b.npy") }
    switch (column, bttb) {
    case (nil, nil): throw ValidationError("give --column c.npy (Toeplitz) or --bttb G.npy (BTTB)")
    case (_?, _?): throw ValidationError("give either --column or --bttb, not both")
    default: break
    }
    if symbol != nil && ![.igf, .band].contains(preconditioner) {
      throw ValidationError("--symbol is used only by --preconditioner igf or band")
    }
  }

  /// The files read, with the options naming them (for `--output` to refuse).
  var inputFiles: [(option: String, path: String)] {
    [("--column", column), ("--row", row), ("--bttb", bttb), ("--rhs", rhs), ("--symbol", symbol)]
      .compactMap { option, path in path.map { (option, $0) } }
  }

  /// The JSON keys of `toeplitz`.
  struct Report: Encodable {
    var iterations: Int
    var relativeResidual: Double
    var seconds: Double

    enum CodingKeys: String, CodingKey {
      case iterations, seconds
      case relativeResidual = "relative_residual"
    }
  }

  func run() throws {
    if let output { try checkOutputPath(output, inputs: inputFiles) }
    let b = try load(rhs!)
    let problem = try column.map { try oneLevel($0, b) } ?? twoLevel(bttb!, b)

    let gate = FiniteGate()
    let clock = ContinuousClock()
    let start = clock.now
    let preconditionerOperator: (any LinearOperator<Double>)?
    let note: String
    do {
      (preconditionerOperator, note) = try problem.makePreconditioner()
    } catch let failure as CLIError {
      throw failure
    } catch {
      throw CLIError("cannot build the \(preconditioner.argument) preconditioner: \(oneLineDescription(error))")
    }
    let result: ConjugateGradientResult<Double>
    do {
      result = try gate.run("the PCG solution") {
        try conjugateGradient(problem.matrix, problem.rhs, preconditioner: preconditionerOperator, options: .init(relativeTolerance: tol))
      }
    } catch let failure as CLIError {
      throw failure
    } catch {
      throw CLIError("conjugate gradients failed: \(oneLineDescription(error))")
    }
    let elapsed = (clock.now - start).components
    let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
    // The true residual, ‖b − Ax‖/‖b‖ per right-hand side, the worst one reported.
    let residual: Double
    do {
      residual = try trueResidual(problem.matrix, result.solution, problem.rhs)
    } catch {
      throw CLIError("cannot evaluate the residual: \(oneLineDescription(error))")
    }
    switch result.outcome {
    case .converged: break
    case .maxIterationsReached:
      throw CLIError("PCG did not converge in \(result.iterations) iterations (relative residual \(residual))")
    case let .breakdown(iteration, _, curvature):
      throw CLIError("PCG broke down at iteration \(iteration) (curvature \(curvature) ≤ 0): the matrix or preconditioner is not positive definite")
    case let .nonFinite(iteration):
      throw gate.failure("the PCG iterates", "PCG produced NaN or infinity at iteration \(iteration)")
    case let .inconsistent(iteration, _):
      throw CLIError("PCG stopped at iteration \(iteration): the system is inconsistent")
    }
    let solution = try gate.check(result.solution, "the PCG solution")
    _ = try gate.check(residual, "the relative residual of the PCG solution")
    if let output { try writeNPY(solution.reshaped(b.shape), to: output) }

    if outputOptions.json {
      try printJSON(Report(iterations: result.iterations, relativeResidual: residual, seconds: seconds))
    } else {
      print("matrix:            \(problem.description)")
      print("preconditioner:    \(preconditioner.argument)\(note.isEmpty ? "" : " (\(note))")")
      print("iterations:        \(result.iterations)")
      print("relative residual: \(residual)")
      print("seconds:           \(seconds)")
    }
  }

  // MARK: Problems

  /// The matrix, the right-hand side as `[N]` or `[N, k]`, and how to build the preconditioner.
  struct Problem {
    var matrix: any LinearOperator<Double>
    var rhs: NDArray<Double>
    var description: String
    var makePreconditioner: () throws -> ((any LinearOperator<Double>)?, String)
  }

  func load(_ path: String) throws(CLIError) -> NDArray<Double> {
    do {
      return try NPYArray(contentsOf: URL(fileURLWithPath: path)).floats(as: Double.self, requireFinite: true)
    } catch let error as FileFormatError {
      throw CLIError(error.description)
    } catch {
      throw CLIError("\(path): \(error)")
    }
  }

  func vector(_ path: String) throws(CLIError) -> [Double] {
    let array = try load(path)
    guard array.shape.count == 1 else { throw CLIError("\(path): expected a 1-D array, got shape \(array.shape)") }
    return array.scalars
  }

  func oneLevel(_ columnPath: String, _ b: NDArray<Double>) throws(CLIError) -> Problem {
    let c = try vector(columnPath)
    let n = c.count
    if let rowPath = row {
      let r = try vector(rowPath)
      guard r.count == n else { throw CLIError("the column has \(n) entries but the row has \(r.count)") }
      guard r[0] == c[0] else { throw CLIError("column[0] = \(c[0]) differs from row[0] = \(r[0]): both hold the diagonal entry t₀") }
      guard r == c else {
        throw CLIError("the matrix is not symmetric (--row differs from --column); conjugate gradients needs a symmetric positive definite matrix")
      }
    }
    let t: ToeplitzOperator<Double>
    do { t = try ToeplitzOperator(symmetric: c) } catch { throw CLIError("\(columnPath): \(error)") }
    guard b.shape[0] == n else {
      throw CLIError("the right-hand side has shape \(b.shape) but the matrix has order \(n)")
    }
    let rhs = NDArray(shape: b.shape, scalars: b.scalars)
    let samples = try symbol.map { path throws(CLIError) in try vector(path) }
    let choice = preconditioner
    return Problem(matrix: t, rhs: rhs, description: "Toeplitz, n = \(n)") {
      switch choice {
      case .none: return (nil, "")
      case .strang, .chan, .rchan, .superoptimal:
        return (try CirculantOperator.preconditioner(for: t, choice.circulant!), "")
      case .igf:
        let m = try samples.map { try InverseSymbolPreconditioner<Double>(size: n, samples: $0) } ?? InverseSymbolPreconditioner(estimatingFrom: t)
        return (m, samples != nil ? "from --symbol" : (m.usedFejerWeights ? "symbol estimated with Fejér weights" : "symbol estimated from the entries"))
      case .band:
        let m = try samples.map { try BandToeplitzPreconditioner<Double>(size: n, fitting: $0) } ?? BandToeplitzPreconditioner(fitting: t)
        return (m, "ν = \(m.order)")
      case .kronecker:
        throw CLIError("the kronecker preconditioner is for 2-level matrices (--bttb)")
      }
    }
  }

  func twoLevel(_ generatorPath: String, _ b: NDArray<Double>) throws(CLIError) -> Problem {
    guard row == nil else { throw CLIError("--row is for 1-level matrices; --bttb takes the whole generator") }
    let g = try load(generatorPath)
    guard g.shape.count == 2 else { throw CLIError("\(generatorPath): a BTTB generator must be 2-D [2n₁−1, 2n₂−1], got shape \(g.shape)") }
    let a: BTTBOperator<Double>
    do { a = try BTTBOperator(generator: NDArray(shape: g.shape, scalars: g.scalars)) } catch {
      throw CLIError("\(generatorPath): \(error)")
    }
    guard a.isSymmetric else {
      throw CLIError("\(generatorPath): the BTTB matrix is not symmetric (t₋ₚ,₋q ≠ tₚ,q); conjugate gradients needs a symmetric positive definite matrix")
    }
    let (n1, n2) = (a.blockCount, a.blockSize)
    guard b.shape == [n1 * n2] || b.shape == [n1, n2] else {
      throw CLIError("the right-hand side has shape \(b.shape); a \(n1)×\(n2) BTTB system needs [\(n1 * n2)] or [\(n1), \(n2)]")
    }
    let rhs = NDArray(shape: [n1 * n2], scalars: b.scalars)
    let samples = try symbol.map { path throws(CLIError) -> NDArray<Double> in
      let s = try load(path)
      guard s.shape.count == 2 else { throw CLIError("\(path): 2-level symbol samples must be 2-D [m₁, m₂], got shape \(s.shape)") }
      return NDArray(shape: s.shape, scalars: s.scalars)
    }
    let choice = preconditioner
    return Problem(matrix: a, rhs: rhs, description: "BTTB, \(n1)×\(n2) blocks") {
      switch choice {
      case .none: return (nil, "")
      case .strang, .chan, .rchan:
        return (try BCCBOperator.preconditioner(for: a, choice.circulant!), "level-2 BCCB")
      case .igf:
        let m = try samples.map { try BTTBInverseSymbolPreconditioner<Double>(blockCount: n1, blockSize: n2, samples: $0) }
          ?? BTTBInverseSymbolPreconditioner(estimatingFrom: a)
        return (m, samples != nil ? "from --symbol" : (m.usedFejerWeights ? "symbol estimated with Fejér weights" : "symbol estimated from the generator"))
      case .kronecker:
        let approximation = try KroneckerApproximation(approximating: a, rank: 2)
        if let inverse = try? approximation.inverted() {
          return (inverse, "rank 2, relative error \(approximation.relativeError)")
        }
        let rank1 = try KroneckerApproximation(approximating: a, rank: 1)
        return (try rank1.inverted(), "rank 1 (the rank-2 inverse is not positive definite), relative error \(rank1.relativeError)")
      case .superoptimal:
        throw CLIError("the superoptimal preconditioner is for 1-level matrices; for --bttb use strang, chan, rchan, igf or kronecker")
      case .band:
        throw CLIError("the band preconditioner is for 1-level matrices (--column)")
      }
    }
  }

  func trueResidual(_ a: any LinearOperator<Double>, _ x: NDArray<Double>, _ b: NDArray<Double>) throws -> Double {
    let r = b - (try a.apply(x))
    let k = b.rank == 1 ? 1 : b.shape[1]
    let n = b.shape[0]
    var worst = 0.0
    for c in 0..<k {
      var rr = 0.0, bb = 0.0
      for i in 0..<n {
        rr += r.scalars[i * k + c] * r.scalars[i * k + c]
        bb += b.scalars[i * k + c] * b.scalars[i * k + c]
      }
      worst = Swift.max(worst, bb > 0 ? (rr / bb).squareRoot() : rr.squareRoot())
    }
    return worst
  }
}
