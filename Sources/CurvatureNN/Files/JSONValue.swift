/// A JSON value, for writing and reading `model.json` without losing integer-ness.
public enum JSONValue: Sendable, Hashable {
  case number(Double)
  case string(String)
  case bool(Bool)
  case array([JSONValue])
  case object([String: JSONValue])
  case null
}
