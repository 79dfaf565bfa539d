// The command line, parsed by swift-argument-parser. Its contract (option names,
// `--option=value`, usage text and status 2 on a bad argument) is documented in
// Benchmarks/README.md.

import ArgumentParser

/// The options of `CurvatureBenchmarks`.
///
/// Every option takes the next argument as its value whatever it looks like
/// (`.unconditional`), as the hand-written parser this replaces did, so `--warmup -1` is
/// reported as a value out of range rather than as an unknown option.
struct BenchmarkOptions: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "CurvatureBenchmarks",
    abstract: "Release-mode performance benchmarks for Curvature.",
    discussion: """
      Runs the registered benchmarks (or those --filter selects, plus the baselines they refer \
      to) and prints a table, or one JSON object with --json. A bad argument prints this text \
      and exits with status 2; a filter that matches nothing exits with status 1. See \
      Benchmarks/README.md.
      """)

  /// The fewest samples under the time budget (a benchmark may declare a smaller minimum).
  static let minimumRepeats = 5
  /// The most samples under the time budget, whatever the budget.
  static let maximumRepeats = 100_000

  @Option(
    name: .customLong("filter"), parsing: .unconditionalSingleValue,
    help: ArgumentHelp(
      "Run benchmarks whose name or suite contains SUBSTRING. Repeatable, or comma-separated: --filter gemm,svd",
      valueName: "substring"))
  var filterArguments: [String] = []

  @Option(
    name: [.customLong("repeat"), .customLong("repeats")], parsing: .unconditional,
    help: ArgumentHelp(
      "Take exactly N timed samples per benchmark (default: as many as fit in the time budget, at least 5).",
      valueName: "n"))
  var repeats: Int?

  @Option(
    name: .customLong("warmup"), parsing: .unconditional,
    help: ArgumentHelp(
      "Untimed iterations before sampling (default 3; some expensive benchmarks declare fewer).",
      valueName: "n"))
  var warmup: Int?

  @Option(
    name: .customLong("time"), parsing: .unconditional,
    help: ArgumentHelp("Time budget of timed samples per benchmark.", valueName: "seconds"))
  var timeBudget: Double = 1

  @Option(
    name: .customLong("threads"), parsing: .unconditional,
    help: ArgumentHelp("BLAS/LAPACK threads (NumericsBackend.threadCount).", valueName: "n"))
  var threads: Int?

  @Flag(name: .customLong("long"), help: "Also run the benchmarks marked long (minutes each).")
  var long = false

  @Flag(name: .customLong("json"), help: "Print one JSON object on stdout (progress goes to stderr).")
  var json = false

  @Flag(name: .customLong("list"), help: "List the selected benchmarks and exit.")
  var list = false

  /// Substrings; a benchmark runs if its name or suite contains any of them (all if empty).
  var filters: [String] {
    filterArguments.flatMap { $0.split(separator: ",").map(String.init) }
  }

  func validate() throws {
    if let repeats, repeats < 1 { throw ValidationError("--repeat needs an integer ≥ 1, got '\(repeats)'") }
    if let warmup, warmup < 0 { throw ValidationError("--warmup needs an integer ≥ 0, got '\(warmup)'") }
    if let threads, threads < 1 { throw ValidationError("--threads needs an integer ≥ 1, got '\(threads)'") }
    guard timeBudget > 0, timeBudget.isFinite else {
      throw ValidationError("--time needs a positive number of seconds, got '\(timeBudget)'")
    }
  }
}

/// How the program ends without running benchmarks: after the help text (status 0) or a
/// bad argument (status 2).
struct CommandLineExit: Error {
  var status: Int32
}

extension BenchmarkOptions {
  /// Parses `arguments` (without the program name).
  ///
  /// ArgumentParser's own `parseOrExit` would exit with status 64 (`EX_USAGE`) on a bad
  /// argument; the documented status is 2, so the error is caught and reported here.
  ///
  /// - Parameter arguments: The command-line arguments after the program name.
  /// - Returns: The options.
  /// - Throws: `CommandLineExit` with status 0 after printing the help text on stdout
  ///   (`-h`, `--help`), or with status 2 after printing the error and the usage text on
  ///   stderr.
  static func parseCommandLine(_ arguments: [String]) throws(CommandLineExit) -> BenchmarkOptions {
    do {
      return try parse(arguments)
    } catch {
      if exitCode(for: error) == .success {
        print(fullMessage(for: error))
        throw CommandLineExit(status: 0)
      }
      printError("error: \(message(for: error))\n\n\(helpMessage())")
      throw CommandLineExit(status: 2)
    }
  }
}
