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
      ApplyCommand.self,
      CheckModelCommand.self,
      BenchCommand.self,
      SelfCheck.self,
      ToeplitzCommand.self,
      LaplaceCommand.self,
      TrainCommand.self,
    ])

  /// Runs the command line, reporting every failure as one line on stderr: help and
  /// completion requests print as usual; command-line errors exit with ArgumentParser's
  /// status (64), failures of a subcommand with 1.
  static func main() {
    // Reuse freed activation buffers across passes instead of page-faulting new ones.
    NumericsBackend.retainFreedMemory()
    // OpenBLAS's idle workers sleep at once instead of spinning 0.1 s beside our threads.
    NumericsBackend.sleepIdleBLASThreads()
    // Errors name the subcommand: "curv eigs: error: …".
    var name = "curv"
    if let first = CommandLine.arguments.dropFirst().first,
      configuration.subcommands.contains(where: { $0._commandName == first })
    {
      name = "curv \(first)"
    }
    startDataParallelRun()
    do {
      var command = try parseAsRoot()
      try command.run()
      runCommunicator.finish()
    } catch {
      let code = exitCode(for: error)
      if code == .success || error is ExitCode {
        runCommunicator.finish()
        exit(withError: error)
      }
      // ArgumentParser classifies its own errors (a malformed command line, a failed
      // validation: status 64); everything else is a failure of the run (status 1).
      let commandLine = code == .validationFailure
      let message = commandLine ? oneLineDescription(CLIError(Self.message(for: error))) : oneLineDescription(error)
      // Under mpiexec the rank that saw the error stops every rank (MPI_Abort), so none
      // waits in a collective for this one.
      if runCommunicator.size > 1 { runCommunicator.abort(message: "\(name): error: \(message)") }
      printError("\(name): error: \(message)")
      Foundation.exit(commandLine ? code.rawValue : 1)
    }
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
