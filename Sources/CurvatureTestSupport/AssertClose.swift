import Curvature
import Testing

/// Tolerances per scalar type, so one generic test body runs for Float and Double.
public protocol TestTolerance {
  /// Relative tolerance for results of well-conditioned computations.
  static var testRelativeTolerance: Self { get }
  /// Absolute tolerance for entries that should be (near) zero.
  static var testAbsoluteTolerance: Self { get }
}

extension Float: TestTolerance {
  public static var testRelativeTolerance: Float { 1e-4 }
  public static var testAbsoluteTolerance: Float { 1e-5 }
}

extension Double: TestTolerance {
  public static var testRelativeTolerance: Double { 1e-10 }
  public static var testAbsoluteTolerance: Double { 1e-12 }
}

/// The outcome of comparing two arrays entry by entry.
public struct Closeness<Scalar: BLASScalar>: CustomStringConvertible {
  /// Whether the shapes agree and every entry satisfies `|a - e| ≤ atol + rtol·|e|`.
  public var isClose: Bool
  /// A human-readable account: the shape mismatch, or the worst entry.
  public var description: String
}

/// Compares `actual` with `expected` like NumPy's `allclose`: shapes first, then every
/// entry against `|a - e| ≤ atol + rtol·|e|`; NaN never matches.
///
/// - Returns: Whether they are close, and a report naming the worst entry by multi-index.
public func closeness<T: BLASScalar>(
  _ actual: NDArray<T>, _ expected: NDArray<T>, rtol: T, atol: T
) -> Closeness<T> {
  guard actual.shape == expected.shape else {
    return Closeness(isClose: false, description: "shape \(actual.shape) differs from expected \(expected.shape)")
  }
  var worstIndex = -1
  var worstExcess: T = -.infinity
  var failures = 0
  for i in 0..<actual.count {
    let a = actual.scalars[i], e = expected.scalars[i]
    let excess: T
    if a.isNaN || e.isNaN {
      excess = .infinity
    } else if a == e {
      excess = -(atol + rtol * abs(e))
    } else {
      excess = abs(a - e) - (atol + rtol * abs(e))
    }
    if excess > 0 { failures += 1 }
    if excess > worstExcess || worstIndex < 0 {
      worstExcess = excess
      worstIndex = i
    }
  }
  guard actual.count > 0 else { return Closeness(isClose: true, description: "empty arrays") }
  var index = [Int]()
  var rest = worstIndex
  for extent in actual.shape.reversed() {
    index.insert(rest % extent, at: 0)
    rest /= extent
  }
  let a = actual.scalars[worstIndex], e = expected.scalars[worstIndex]
  let report = "\(failures) of \(actual.count) entries differ; worst at \(index): actual \(a), expected \(e), |diff| \(abs(a - e)) (rtol \(rtol), atol \(atol))"
  return Closeness(isClose: failures == 0, description: failures == 0 ? "all close; " + report : report)
}

/// Records a test issue unless `actual` and `expected` have the same shape and every entry
/// is within `atol + rtol·|expected|`; the issue names the worst entry.
public func assertClose<T: BLASScalar>(
  _ actual: NDArray<T>, _ expected: NDArray<T>, rtol: T, atol: T = 0,
  _ comment: @autoclosure () -> String = "",
  sourceLocation: SourceLocation = #_sourceLocation
) {
  let result = closeness(actual, expected, rtol: rtol, atol: atol)
  if !result.isClose {
    let prefix = comment()
    Issue.record("\(prefix.isEmpty ? "" : prefix + ": ")\(result.description)", sourceLocation: sourceLocation)
  }
}

/// Scalar version of `assertClose`.
public func assertClose<T: BLASScalar>(
  _ actual: T, _ expected: T, rtol: T, atol: T = 0,
  _ comment: @autoclosure () -> String = "",
  sourceLocation: SourceLocation = #_sourceLocation
) {
  assertClose(
    NDArray(scalar: actual), NDArray(scalar: expected), rtol: rtol, atol: atol, comment(),
    sourceLocation: sourceLocation)
}
