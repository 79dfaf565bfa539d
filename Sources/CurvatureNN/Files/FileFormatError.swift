/// A file could not be read or written because it does not follow its format, or because
/// the file itself could not be opened, read or written.
///
/// Every reader in `Curvature/Files` (safetensors, `.npy`, `.npz`, raw DEFLATE) throws this
/// one error type. Its `description` names the file, where in the file the problem was
/// found (a byte offset, a header field, a tensor or a member), and what was expected
/// versus what was found:
///
/// ```text
/// /data/train.npz [archive]: no array named 'y' (expected a member 'y.npy', found members: X)
/// ```
public struct FileFormatError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The path of the file (for an `.npz` member, the archive).
  public var path: String
  /// Where the problem is: `"byte 8"`, `"header field 'descr'"`, `"tensor 'w'"`, ...
  public var location: String
  /// What is wrong, in a few words: `"bad magic"`, `"unsupported dtype"`, ...
  public var problem: String
  /// What the format (or the caller) requires at `location`.
  public var expected: String
  /// What the file actually holds at `location`.
  public var found: String

  /// Creates an error from its parts.
  /// - Parameters:
  ///   - path: The file's path.
  ///   - location: Where in the file the problem is.
  ///   - problem: What is wrong, in a few words.
  ///   - expected: What was required.
  ///   - found: What the file holds instead.
  public init(path: String, location: String, problem: String, expected: String, found: String) {
    self.path = path
    self.location = location
    self.problem = problem
    self.expected = expected
    self.found = found
  }

  /// The full message: `path [location]: problem (expected …, found …)`.
  public var description: String {
    "\(path) [\(location)]: \(problem) (expected \(expected), found \(found))"
  }
}

/// Where errors found while decoding some bytes should point: a file path and a prefix
/// for locations (for a member of an archive, the member's name).
struct ErrorContext: Sendable {
  var path: String
  var prefix: String = ""

  /// A `FileFormatError` at `location` (prefixed with the member, if any).
  func error(_ location: String, _ problem: String, expected: String, found: String) -> FileFormatError {
    FileFormatError(
      path: path, location: prefix.isEmpty ? location : "\(prefix), \(location)",
      problem: problem, expected: expected, found: found)
  }
}
