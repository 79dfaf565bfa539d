// The entry point: parse the command line, select, list or run the benchmarks, report.

import Curvature
import Foundation

enum BenchmarkMain {
  /// Parses `arguments`, runs the selected benchmarks of `registry` and reports them.
  ///
  /// - Parameters:
  ///   - registry: Every benchmark of the executable.
  ///   - arguments: The command-line arguments after the program name.
  /// - Returns: The process exit status: 0 on success, 1 when nothing matched (or the
  ///   report could not be written), 2 on bad usage.
  static func run(_ registry: BenchmarkRegistry, arguments: [String]) -> Int32 {
    let options: BenchmarkOptions
    do {
      options = try BenchmarkOptions.parseCommandLine(arguments)
    } catch {
      return error.status
    }

    let selected = registry.selection(options)
    if selected.isEmpty {
      printError("error: no benchmark matches --filter \(options.filters.joined(separator: ","))")
      return 1
    }

    do {
      if options.list {
        try list(selected, json: options.json)
        return 0
      }
      try run(selected, options: options)
      return 0
    } catch {
      printError("error: cannot write the report: \(error)")
      return 1
    }
  }

  /// Prints the names and suites of `selected`, as a table or a JSON array.
  private static func list(_ selected: [Benchmark], json: Bool) throws {
    if json {
      print(try jsonText(selected.map { ListEntry(name: $0.name, suite: $0.suite) }))
    } else {
      let width = selected.map(\.name.count).max() ?? 0
      for benchmark in selected { print(TableFormat.pad(benchmark.name, width, left: true) + "  " + benchmark.suite) }
    }
  }

  /// Runs `selected` in order, comparing each result with its baseline's, and reports.
  private static func run(_ selected: [Benchmark], options: BenchmarkOptions) throws {
    if let threads = options.threads { NumericsBackend.threadCount = threads }
    let threads = NumericsBackend.threadCount
    #if DEBUG
      printError("warning: debug build; run with `swift run -c release CurvatureBenchmarks` for real numbers")
    #endif

    let reporter: any BenchmarkReporter =
      options.json ? JSONReporter(options: options) : TableReporter(options: options, selected: selected)
    let startMemory = PeakMemory.current()
    let runner = BenchmarkRunner(options: options)
    var results: [BenchmarkResult] = []

    reporter.begin(selected, threads: threads)
    for benchmark in selected {
      reporter.willRun(benchmark)
      var result = runner.run(benchmark)
      if let base = benchmark.baseline?.name, let reference = results.first(where: { $0.benchmark.name == base }) {
        result.comparison = BaselineComparison(result, to: reference)
      }
      results.append(result)
      reporter.didRun(result)
    }

    // The high-water mark is reset per benchmark, so the run's peak is the largest reading.
    let peak = ([startMemory, PeakMemory.current()] + results.map(\.peakRSSMiB)).compactMap { $0 }.max()
    try reporter.end(results, peakRSSMiB: peak, threads: threads)
  }
}

/// Writes `message` and a newline to stderr.
func printError(_ message: String) {
  FileHandle.standardError.write(Data((message + "\n").utf8))
}
