import ArgumentParser
import Curvature

/// `curv`: curvature matrices of neural networks from the command line.
@main
struct Curv: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "curv",
    abstract: "Curvature matrices of neural networks as linear operators.",
    subcommands: [Demo.self, SelfCheck.self, ToeplitzCommand.self])
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

/// The demo. Until the curvature operators land it runs the back end's self-check.
struct Demo: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the demonstration on built-in data (currently: the numerical self-check).")

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
    throw ValidationError("self-check failed: the numerical libraries give wrong results")
  }
  print("All \(results.count) checks passed.")
}
