// The error types that `CurvatureError` replaced, kept as names so that code written for
// them (`throw ModelError.shapeMismatch(…)`, `catch let e as LossError`,
// `#expect(throws: LinearOperatorError.self)`) still compiles. A `catch` of any of these
// names catches every `CurvatureError`: match the cases you mean.

/// The same type as `CurvatureError`; kept for source compatibility (formerly the errors
/// of building or applying a model).
public typealias ModelError = CurvatureError

/// The same type as `CurvatureError`; kept for source compatibility (formerly the errors
/// of targets that do not fit a loss).
public typealias LossError = CurvatureError

/// The same type as `CurvatureError`; kept for source compatibility (formerly the errors
/// of a training run).
public typealias TrainingError = CurvatureError

/// The same type as `CurvatureError`; kept for source compatibility (formerly a struct
/// with a message; `DataError("…")` now makes `.invalidData("…")`).
public typealias DataError = CurvatureError

/// The same type as `CurvatureError`; kept for source compatibility (formerly the errors
/// of linear operators).
public typealias LinearOperatorError = CurvatureError

/// The same type as `CurvatureError`; kept for source compatibility (formerly the errors
/// of Toeplitz-family operators, solvers and preconditioners).
public typealias ToeplitzError = CurvatureError

/// The same type as `CurvatureError`; kept for source compatibility (formerly the errors
/// of memory and thread resources).
public typealias ResourceError = CurvatureError

extension CurvatureError {
  /// `.invalidData(message)`: what `DataError(message)` made when `DataError` was a struct.
  /// - Parameter message: What is wrong, naming the file or array.
  public init(_ message: String) {
    self = .invalidData(message)
  }

  /// `.wrongShape(message)`, under the name `ModelError` and `LossError` gave the case.
  /// Only for building an error: to match one, use `.wrongShape` (a pattern
  /// `.shapeMismatch` means the linear-operator case).
  /// - Parameter message: What has the wrong shape, and both shapes.
  /// - Returns: `.wrongShape(message)`.
  public static func shapeMismatch(_ message: String) -> CurvatureError {
    .wrongShape(message)
  }

  /// `.nonFiniteTarget(position:)`, under the name `LossError` gave the case. Only for
  /// building an error: to match one, use `.nonFiniteTarget` (a pattern `.nonFinite`
  /// means the case with a message).
  /// - Parameter position: The target's position.
  /// - Returns: `.nonFiniteTarget(position: position)`.
  public static func nonFinite(position: Int) -> CurvatureError {
    .nonFiniteTarget(position: position)
  }
}
