/// A LAPACK routine reported failure through its `info` code.
///
/// The message names the routine (for example `dpotrf`) and interprets `info`: a negative
/// value is an illegal argument (LAPACKE also reports NaN input this way), a positive one
/// a numerical failure such as a non-positive-definite leading minor or non-convergence.
public struct LAPACKError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The LAPACK routine, with its precision prefix: `spotrf`, `dsyevd`, ...
  public var routine: String
  /// The routine's `info` code (never zero).
  public var info: Int
  /// What the code means for this routine.
  public var reason: String

  /// Creates an error for `routine` from its `info` code, interpreting the code.
  public init(routine: String, info: Int) {
    self.routine = routine
    self.info = info
    self.reason = LAPACKError.interpret(routine: routine, info: info)
  }

  /// The one-line message: the routine and what went wrong.
  public var description: String {
    "LAPACK \(routine) failed (info = \(info)): \(reason)"
  }

  static func interpret(routine: String, info: Int) -> String {
    if info < 0 {
      return "argument \(-info) had an illegal value (an invalid size or leading dimension, or NaN or Inf in the input, which LAPACKE reports this way)"
    }
    switch routine.dropFirst() {
    case "potrf", "pbtrf":
      return "the leading minor of order \(info) is not positive definite"
    case "getrf":
      return "U(\(info),\(info)) is exactly zero: the matrix is singular"
    case "syevd", "stevd":
      return "the eigenvalue algorithm failed to converge (\(info) off-diagonal elements did not reach zero)"
    case "gesvd":
      return "the bidiagonal QR iteration failed to converge (\(info) superdiagonals did not reach zero)"
    default:
      return "numerical failure"
    }
  }
}
