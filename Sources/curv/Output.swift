import Curvature
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// Output shared by the subcommands: one-line errors, human-readable tables, number
// formatting and timing. (JSON: JSONReport.swift; files: OutputFile.swift.)

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

// MARK: - Timing and memory

/// Wall-clock seconds since `start`.
func secondsSince(_ start: ContinuousClock.Instant) -> Double {
  let duration = ContinuousClock.now - start
  return Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

/// The CPU time the process has used so far, all threads, in seconds
/// (`CLOCK_PROCESS_CPUTIME_ID`; 0 when unavailable).
func processCPUSeconds() -> Double {
  var time = timespec()
  guard clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time) == 0 else { return 0 }
  return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
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
