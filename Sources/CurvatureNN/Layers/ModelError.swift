/// Why a model could not be built or applied.
public enum ModelError: Error, Equatable, CustomStringConvertible {
  /// An input or parameter has the wrong shape.
  case shapeMismatch(String)
  /// A layer's configuration is invalid.
  case invalidConfiguration(String)
  /// The parameters do not match the layers.
  case parameterMismatch(String)

  public var description: String {
    switch self {
    case let .shapeMismatch(message): return "shape mismatch: \(message)"
    case let .invalidConfiguration(message): return "invalid layer configuration: \(message)"
    case let .parameterMismatch(message): return "parameter mismatch: \(message)"
    }
  }
}
