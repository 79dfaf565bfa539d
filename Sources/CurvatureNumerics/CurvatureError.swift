/// Why Curvature could not do what was asked: a bad argument, shape, configuration or data
/// set, a numerical property an input lacks, or a resource the process cannot get.
///
/// One error type serves every layer (numerics, linear algebra, Toeplitz, networks,
/// curvature operators), so a caller catches one type and switches on the case. The
/// former per-area names (`ModelError`, `LossError`, `LinearOperatorError`, ...) are
/// typealiases of it. Three kinds of failure keep their own types: `FileFormatError` (a
/// file does not follow its format), `LAPACKError` (a LAPACK routine's `info` code) and
/// `SolverError` (the outcome of an iterative method).
///
/// Every `description` is one line that says what was wrong and where:
///
/// ```text
/// shape mismatch: layer 3: Linear(60 → 3) expects inputs [N, ..., 60], got [1, 64]
/// ```
public enum CurvatureError: Error, Equatable, CustomStringConvertible {
  // MARK: Arguments and configuration

  /// An argument is out of its domain (a size, a count, a damping, an unsupported
  /// combination); the message says which and why.
  case invalidArgument(String)
  /// A layer's configuration is invalid (sizes, strides, groups).
  case invalidConfiguration(String)
  /// The operation is not supported for these inputs.
  case unsupported(String)

  // MARK: Shapes and sizes

  /// An input, parameter or target has the wrong shape; the message names it and both
  /// shapes. (Constructed as `shapeMismatch(_:)` by code written for `ModelError` and
  /// `LossError`.)
  case wrongShape(String)
  /// An operand of a linear operator has the wrong shape.
  case shapeMismatch(operation: String, expected: String, actual: [Int])
  /// The operation needs a square operator.
  case notSquare(operation: String, rows: Int, columns: Int)
  /// A size is zero or sizes do not fit together (column vs row, generator vs grid, ...).
  case lengthMismatch(String)
  /// The parameters do not match the layers.
  case parameterMismatch(String)
  /// The operands of a composition do not fit together.
  case incompatible(String)

  // MARK: Data and targets

  /// The data do not fit the model or the loss; the message names the file or array, the
  /// element and what is wrong with it.
  case invalidData(String)
  /// The targets are of the wrong kind for the loss (class indices vs values).
  case wrongTargetKind(String)
  /// A class index is outside `0..<classCount`.
  case classOutOfRange(position: Int, value: Int, classCount: Int)
  /// A binary cross-entropy target is outside [0, 1].
  case targetOutOfRange(position: Int, value: Double)
  /// A target is NaN or infinite. (Constructed as `nonFinite(position:)` by code written
  /// for `LossError`.)
  case nonFiniteTarget(position: Int)
  /// A loss option out of its range (e.g. `labelSmoothing` outside [0, 1]).
  case invalidOption(String)
  /// The training targets do not fit the loss; positions in the wrapped error count over
  /// the whole data set (not one minibatch).
  indirect case invalidTargets(CurvatureError)

  // MARK: Numerical properties

  /// An input, output or intermediate value contains NaN or infinity; the message says
  /// which and where.
  case nonFinite(String)
  /// A minibatch's loss became NaN or infinite during training (the step was not applied).
  case nonFiniteLoss(epoch: Int, batch: Int, value: Double)
  /// Two passes over the same data gave different results.
  case nonDeterministic(String)
  /// The operator has no inverse (or a factorization failed).
  case singular(String)
  /// The matrix, operator or approximation must be symmetric positive definite and is not.
  case notPositiveDefinite(String)
  /// A generating function (symbol) that must be positive is not.
  case symbolNotPositive(String)
  /// The first column and the first row of a Toeplitz matrix disagree on the diagonal
  /// entry `t₀`.
  case cornerMismatch(column: Double, row: Double)

  // MARK: Resources

  /// A computation would need more memory than the budget (naming where).
  case memory(String)
  /// The requested threads are not supported or cannot be started.
  case threads(String)

  /// The one-line message: what was wrong and where.
  public var description: String {
    switch self {
    case let .invalidArgument(message): return "invalid argument: \(message)"
    case let .invalidConfiguration(message): return "invalid layer configuration: \(message)"
    case let .unsupported(message): return "unsupported: \(message)"
    case let .wrongShape(message): return "shape mismatch: \(message)"
    case let .shapeMismatch(operation, expected, actual):
      return "\(operation): expected \(expected), got shape \(actual)"
    case let .notSquare(operation, rows, columns):
      return "\(operation) needs a square operator, this one is \(rows)×\(columns)"
    case let .lengthMismatch(message): return "length mismatch: \(message)"
    case let .parameterMismatch(message): return "parameter mismatch: \(message)"
    case let .incompatible(message): return "incompatible operators: \(message)"
    case let .invalidData(message): return "invalid data: \(message)"
    case let .wrongTargetKind(message): return message
    case let .classOutOfRange(position, value, classes):
      return "class index \(value) at position \(position) is out of range for \(classes) classes (0..<\(classes))"
    case let .targetOutOfRange(position, value):
      return "BCE target \(value) at position \(position) is outside [0, 1]"
    case let .nonFiniteTarget(position):
      return "target at position \(position) is NaN or infinite"
    case let .invalidOption(message): return message
    case let .invalidTargets(error):
      return "the training targets do not fit the loss: \(error.description) (positions count over the whole data set)"
    case let .nonFinite(message): return "non-finite values: \(message)"
    case let .nonFiniteLoss(epoch, batch, value):
      return "the loss of minibatch \(batch) in epoch \(epoch) is \(value); training stopped before that step (lower the learning rate?)"
    case let .nonDeterministic(message): return "non-deterministic: \(message)"
    case let .singular(message): return "singular operator: \(message)"
    case let .notPositiveDefinite(message): return "not positive definite: \(message)"
    case let .symbolNotPositive(message): return "symbol not positive: \(message)"
    case let .cornerMismatch(column, row):
      return "column[0] = \(column) differs from row[0] = \(row): both hold the diagonal entry t₀"
    case let .memory(message): return "not enough memory: \(message)"
    case let .threads(message): return "threads: \(message)"
    }
  }
}
