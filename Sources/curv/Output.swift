import Curvature
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// Output shared by the subcommands: one-line errors, JSON objects, human-readable tables,
// number formatting, atomic file writes and timing.

/// A failure of a subcommand, reported as one line on stderr (exit status 1).
struct CLIError: Error, CustomStringConvertible {
  var message: String
  init(_ message: String) { self.message = message }
  var description: String { message }
}

/// Writes a line to stderr.
func printError(_ line: String) {
  FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// One line describing any error: the library's errors describe themselves; newlines are
/// folded so the message stays on one line.
func oneLineDescription(_ error: Error) -> String {
  let text: String
  switch error {
  case let error as CustomStringConvertible: text = error.description
  default: text = String(describing: error)
  }
  return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
    .filter { !$0.isEmpty }.joined(separator: "; ")
}

// MARK: - JSON

/// A JSON value whose objects keep their key order.
enum JSON {
  case null
  case bool(Bool)
  case int(Int)
  case number(Double)
  case string(String)
  case array([JSON])
  case object([(String, JSON)])

  static func numbers(_ values: [Double]) -> JSON { .array(values.map { .number($0) }) }

  /// Compact JSON text; NaN and infinities become `null` (JSON has no such numbers).
  var text: String {
    var out = ""
    write(to: &out)
    return out
  }

  func write(to out: inout String) {
    switch self {
    case .null: out += "null"
    case let .bool(value): out += value ? "true" : "false"
    case let .int(value): out += String(value)
    case let .number(value): out += value.isFinite ? formatJSONNumber(value) : "null"
    case let .string(value): JSON.writeString(value, to: &out)
    case let .array(values):
      out += "["
      for (index, value) in values.enumerated() {
        if index > 0 { out += "," }
        value.write(to: &out)
      }
      out += "]"
    case let .object(members):
      out += "{"
      for (index, (key, value)) in members.enumerated() {
        if index > 0 { out += "," }
        JSON.writeString(key, to: &out)
        out += ":"
        value.write(to: &out)
      }
      out += "}"
    }
  }

  static func writeString(_ value: String, to out: inout String) {
    out += "\""
    for scalar in value.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        if scalar.value < 0x20 {
          out += String(format: "\\u%04x", scalar.value)
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    out += "\""
  }
}

/// The shortest text that reads back as the same Double (Swift's description), which is
/// valid JSON for finite values.
func formatJSONNumber(_ value: Double) -> String {
  if value == value.rounded(), Swift.abs(value) < 1e15 { return String(Int64(value)) }
  return "\(value)"
}

/// Prints one JSON object on stdout, with `operator` and `seconds` first.
func printJSONObject(operator name: String, seconds: Double, _ members: [(String, JSON)]) {
  let object = JSON.object([("operator", .string(name)), ("seconds", .number((seconds * 1e6).rounded() / 1e6))] + members)
  print(object.text)
}

// MARK: - Human-readable output

/// `%.*g` formatting: `significant` significant digits.
func formatNumber(_ value: Double, significant: Int = 6) -> String {
  if value.isNaN { return "nan" }
  if value.isInfinite { return value > 0 ? "inf" : "-inf" }
  return String(format: "%.\(significant)g", value)
}

/// Scientific notation with `digits` digits after the point.
func formatScientific(_ value: Double, digits: Int = 6) -> String {
  if !value.isFinite { return formatNumber(value) }
  return String(format: "%.\(digits)e", value)
}

/// Seconds as `0.123 s`.
func formatSeconds(_ seconds: Double) -> String { String(format: "%.3f s", seconds) }

/// A plain-text table: a header row, a rule, and right-aligned numeric columns (the first
/// column left-aligned).
struct TextTable {
  var header: [String]
  var rows: [[String]] = []

  init(_ header: [String]) { self.header = header }

  mutating func add(_ row: [String]) { rows.append(row) }

  var text: String {
    let columns = ([header] + rows).map(\.count).max() ?? 0
    var widths = [Int](repeating: 0, count: columns)
    for row in [header] + rows {
      for (index, cell) in row.enumerated() { widths[index] = Swift.max(widths[index], cell.count) }
    }
    func render(_ row: [String]) -> String {
      row.enumerated().map { index, cell in
        let pad = String(repeating: " ", count: widths[index] - cell.count)
        return index == 0 ? cell + pad : pad + cell
      }.joined(separator: "   ")
    }
    let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "   ")
    return ([render(header), rule] + rows.map(render)).map { "  " + $0 }.joined(separator: "\n")
  }
}

// MARK: - Files

/// Checks, before any work, that `path` can be written: its directory exists and is
/// writable, and the path is not a directory.
/// - Throws: `CLIError` naming the path and the problem.
func checkOutputPath(_ path: String, option: String = "--output") throws {
  guard !path.isEmpty else { throw CLIError("\(option): the path is empty") }
  let url = URL(fileURLWithPath: path)
  let directory = url.deletingLastPathComponent().path
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
    throw CLIError("\(option) \(path): the directory \(directory) does not exist")
  }
  guard access(directory, W_OK) == 0 else {
    throw CLIError("\(option) \(path): the directory \(directory) is not writable")
  }
  if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
    throw CLIError("\(option) \(path) is a directory, expected a file path")
  }
}

/// Writes a file atomically: `write` fills a temporary file in the same directory, which
/// is then renamed over `path`; on any failure the temporary file is removed, so no
/// partial output is left behind.
/// - Throws: What `write` throws, or `CLIError` when the rename fails.
func writeAtomically(to path: String, _ write: (URL) throws -> Void) throws {
  let url = URL(fileURLWithPath: path)
  let temporary = url.deletingLastPathComponent()
    .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
  do {
    try write(temporary)
  } catch {
    try? FileManager.default.removeItem(at: temporary)
    throw error
  }
  guard rename(temporary.path, url.path) == 0 else {
    let reason = String(cString: strerror(errno))
    try? FileManager.default.removeItem(at: temporary)
    throw CLIError("cannot write \(path): \(reason)")
  }
}

/// Writes an array as a float64 `.npy` file, atomically.
func writeNPY<T: BLASScalar>(_ array: NDArray<T>, to path: String) throws {
  let values = array.converted(to: Double.self)
  try writeAtomically(to: path) { url in try Curvature.NPYArray(values).write(to: url) }
}

/// Writes text atomically.
func writeText(_ text: String, to path: String) throws {
  try writeAtomically(to: path) { url in try Data(text.utf8).write(to: url) }
}

// MARK: - Timing and memory

/// Wall-clock seconds since `start`.
func secondsSince(_ start: ContinuousClock.Instant) -> Double {
  let duration = ContinuousClock.now - start
  return Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

/// The process's peak resident memory in bytes (`getrusage`; 0 when unavailable).
func peakResidentBytes() -> Int {
  var usage = rusage()
  #if os(Linux)
    guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
    return Int(usage.ru_maxrss) * 1024  // kilobytes on Linux
  #else
    guard getrusage(RUSAGE_SELF, &usage) == 0 else { return 0 }
    return Int(usage.ru_maxrss)  // bytes on Darwin
  #endif
}
