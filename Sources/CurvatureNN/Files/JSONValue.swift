/// A JSON value, for writing and reading `model.json` without losing integer-ness.
public enum JSONValue: Sendable, Hashable {
  /// A number (integers are exact up to 2⁵³).
  case number(Double)
  /// A string.
  case string(String)
  /// `true` or `false`.
  case bool(Bool)
  /// An array.
  case array([JSONValue])
  /// An object.
  case object([String: JSONValue])
  /// `null`.
  case null
}
