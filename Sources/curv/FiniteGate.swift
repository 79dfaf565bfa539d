import Curvature

// The one place where curv checks what it is about to report. Every matrix, eigenvalue,
// trace, diagonal, solution and density passes `FiniteGate` with the name of its stage
// before anything is printed or written; a NaN or infinity ends the run with one line
// naming that stage (exit status 1), and nothing is written.

/// Checks reported values for NaN and infinity, naming the stage that produced them.
///
/// ```swift
/// let gate = loaded.gate
/// let matrix = try gate.check(try a.dense(onProgress: nil), "the dense GGN matrix")
/// let estimate = try gate.run("the Hutch++ trace estimate") { try hutchPlusPlusTrace(a, matvecs: 90) }
/// ```
struct FiniteGate {
  /// Explains, when values are not finite, where they stopped being finite (the forward
  /// pass, the backward pass or the products); nil for nothing to add.
  var diagnose: () -> String? = { nil }

  /// `array`, after checking that every entry is finite.
  /// - Throws: `CLIError` naming `stage`, how many entries are not finite and the first.
  func check<T: BLASScalar>(_ array: NDArray<T>, _ stage: String) throws -> NDArray<T> {
    guard let first = array.scalars.firstIndex(where: { !$0.isFinite }) else { return array }
    let bad = array.scalars.lazy.filter { !$0.isFinite }.count
    throw failure(stage, "\(bad) of \(array.count) entries are NaN or infinite, the first \(position(first, shape: array.shape)) is \(array.scalars[first])")
  }

  /// `values`, after checking that every one is finite.
  /// - Throws: `CLIError` naming `stage`.
  @discardableResult
  func check(_ values: [Double], _ stage: String) throws -> [Double] {
    _ = try check(NDArray(shape: [values.count], scalars: values), stage)
    return values
  }

  /// `value`, after checking that it is finite.
  /// - Throws: `CLIError` naming `stage`.
  func check(_ value: Double, _ stage: String) throws -> Double {
    guard value.isFinite else { throw failure(stage, "the value is \(value)") }
    return value
  }

  /// Runs a computation whose solver or estimator may stop at a NaN or infinity itself,
  /// reporting that as a failure of `stage`.
  /// - Throws: `CLIError` naming `stage` for the library's non-finite errors; other errors
  ///   as they are.
  func run<R>(_ stage: String, _ body: () throws -> R) throws -> R {
    do {
      return try body()
    } catch let error as SolverError {
      guard case .nonFinite = error else { throw error }
      throw failure(stage, error.description)
    } catch let error as CurvatureError {
      guard case let .nonFinite(message) = error else { throw error }
      throw failure(stage, message)
    }
  }

  /// The error for non-finite values in `stage`.
  func failure(_ stage: String, _ detail: String) -> CLIError {
    let cause = diagnose().map { " (\($0))" } ?? ""
    return CLIError("non-finite values in \(stage): \(detail)\(cause); nothing was written")
  }

  /// `[i, j]` for an entry of a matrix, `[i]` otherwise.
  func position(_ index: Int, shape: [Int]) -> String {
    shape.count == 2 ? "[\(index / shape[1]), \(index % shape[1])]" : "[\(index)]"
  }
}
