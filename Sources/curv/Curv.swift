import ArgumentParser
import Curvature
import Foundation

/// `curv`: curvature matrices of neural networks from the command line.
@main
struct Curv: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "curv",
    abstract: "Curvature matrices of neural networks as linear operators.",
    discussion: """
      Every error prints one line on stderr and exits with a non-zero status (1, or 64 for a \
      malformed command line); output files are written to a temporary file first and renamed, \
      so a failed run leaves none behind.
      """,
    subcommands: [
      Demo.self,
      DenseCommand.self,
      EigsCommand.self,
      TraceCommand.self,
      DiagCommand.self,
      SpectrumCommand.self,
      SolveCommand.self,
      BenchCommand.self,
      SelfCheck.self,
      ToeplitzCommand.self,
    ])

  /// Runs the command line, reporting every failure as one line on stderr: help and
  /// completion requests print as usual; command-line errors exit with ArgumentParser's
  /// status (64), failures of a subcommand with 1.
  static func main() {
    // Reuse freed activation buffers across passes instead of page-faulting new ones.
    NumericsBackend.retainFreedMemory()
    // Errors name the subcommand: "curv eigs: error: …".
    var name = "curv"
    if let first = CommandLine.arguments.dropFirst().first,
      configuration.subcommands.contains(where: { $0._commandName == first })
    {
      name = "curv \(first)"
    }
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch {
      let code = exitCode(for: error)
      if code == .success || error is ExitCode { exit(withError: error) }
      let parserError = isArgumentParserError(error)
      let message = parserError ? oneLineDescription(CLIError(conciseParserMessage(Self.message(for: error)))) : oneLineDescription(error)
      printError("\(name): error: \(message)")
      Foundation.exit(parserError ? code.rawValue : 1)
    }
  }

  /// ArgumentParser's message for a value outside a list of choices, which lists them one per
  /// line, as one line: `--operator: unknown value 'foo'; choose one of hessian, ggn, …`.
  static func conciseParserMessage(_ message: String) -> String {
    guard let match = try? Regex("^The value '(.*)' is invalid for '(-[^ ']+)[^']*'\\. Please provide one of ").firstMatch(in: message),
      let value = match.output[1].substring, let option = match.output[2].substring
    else { return message }
    // The choices follow, either one per line ("- a") or quoted in one sentence ('a', 'b' or 'c').
    let rest = message[match.range.upperBound...]
    var choices = [String]()
    if rest.hasPrefix("the following:") {
      choices = rest.dropFirst("the following:".count).split(whereSeparator: \.isNewline)
        .map { $0.trimmingCharacters(in: .whitespaces) }
        .map { $0.hasPrefix("- ") ? String($0.dropFirst(2)) : $0 }
        .filter { !$0.isEmpty }
    } else {
      choices = rest.split(separator: "'", omittingEmptySubsequences: false).enumerated()
        .filter { $0.offset % 2 == 1 }.map { String($0.element) }
    }
    guard !choices.isEmpty else { return message }
    return "\(option): unknown value '\(value)'; choose one of \(choices.joined(separator: ", "))"
  }

  /// Whether ArgumentParser raised `error` while parsing or validating the command line.
  static func isArgumentParserError(_ error: Error) -> Bool {
    if error is ValidationError { return true }
    let module = String(reflecting: type(of: error))
    return module.hasPrefix("ArgumentParser.")
  }
}

/// Checks the numerical back end and prints what it runs on.
struct SelfCheck: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "selfcheck",
    abstract: "Check that BLAS, LAPACK and FFTW are linked and compute correctly.")

  func run() throws {
    try runSelfCheck()
  }
}

func runSelfCheck() throws {
  print("Curvature numerical back end")
  print("  BLAS:    OpenBLAS \(NumericsBackend.blasConfiguration)")
  print("  LAPACK:  \(NumericsBackend.lapackVersion) (LAPACKE)")
  print("  FFT:     \(NumericsBackend.fftVersion)")
  print("  threads: \(NumericsBackend.threadCount)")
  let results = NumericsBackend.selfCheck()
  for result in results { print("  \(result)") }
  if results.contains(where: { !$0.passed }) {
    throw CLIError("self-check failed: the numerical libraries give wrong results")
  }
  print("All \(results.count) checks passed.")
}
