import Curvature
import Foundation
import Testing

/// One test per class of bad input to `curv`: each prints exactly one line on stderr that
/// names what was wrong, exits non-zero, prints nothing on stdout and leaves no output file
/// (nor temporary file) behind.
@Suite(.serialized) struct CLIBadInputTests {
  /// Runs `arguments`, which must fail with one stderr line `curv <subcommand>: error: …`
  /// containing every string of `expected`, and leave the fixture's directory unchanged.
  func expectFailure(
    _ arguments: [String], in fixture: CLIFixture, _ expected: [String], status: Int32? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let before = try CLI.contents(of: fixture.directory)
    let run = try CLI.run(arguments)
    #expect(run.status != 0, "exit status 0 for \(arguments)", sourceLocation: sourceLocation)
    if let status { #expect(run.status == status, "\(run.stderr)", sourceLocation: sourceLocation) }
    #expect(run.errorLines.count == 1, "stderr is not one line: \(run.stderr)", sourceLocation: sourceLocation)
    let line = String(run.errorLines.first ?? "")
    #expect(line.hasPrefix("curv \(arguments[0]): error: "), "\(line)", sourceLocation: sourceLocation)
    for text in expected { #expect(line.contains(text), "'\(text)' not in: \(line)", sourceLocation: sourceLocation) }
    #expect(!line.contains("Fatal error") && !line.contains("Stack dump"), sourceLocation: sourceLocation)
    #expect(run.stdout.isEmpty, "stdout: \(run.stdout)", sourceLocation: sourceLocation)
    #expect(try CLI.contents(of: fixture.directory) == before, "files were left behind", sourceLocation: sourceLocation)
  }

  @Test func missingFile() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    let missing = fixture.path("missing.safetensors")
    try expectFailure(
      ["dense", "--model", fixture.modelPath, "--weights", missing, "--inputs", fixture.inputsPath, "--targets", fixture.targetsPath,
       "--operator", "ggn", "--output", fixture.path("M.npy")],
      in: fixture, ["--weights", missing, "no such file"], status: 1)
    try expectFailure(
      ["trace", "--model", fixture.modelPath, "--data", fixture.path("nothere.npz"), "--operator", "ggn"],
      in: fixture, ["--data", "nothere.npz", "no such file"], status: 1)
    try expectFailure(
      ["solve"] + fixture.fileArguments + ["--operator", "ggn", "--rhs", fixture.path("b.npy"), "--output", fixture.path("x.npy")],
      in: fixture, ["--rhs", "b.npy", "no such file"], status: 1)
  }

  @Test func malformedFile() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    try Data("{\"layers\": [".utf8).write(to: URL(fileURLWithPath: fixture.path("bad.json")))
    try expectFailure(
      ["eigs", "--model", fixture.path("bad.json"), "--inputs", fixture.inputsPath, "--targets", fixture.targetsPath,
       "--operator", "ggn", "--k", "2"],
      in: fixture, ["bad.json", "not valid JSON"], status: 1)
    try Data("not an npy file at all".utf8).write(to: URL(fileURLWithPath: fixture.path("bad.npy")))
    try expectFailure(
      ["dense", "--model", fixture.modelPath, "--weights", fixture.weightsPath, "--inputs", fixture.path("bad.npy"),
       "--targets", fixture.targetsPath, "--operator", "ggn", "--output", fixture.path("M.npy")],
      in: fixture, ["bad.npy"], status: 1)
    // Weights of another model: a shape that does not match the layer.
    let other = try Sequential<Double>([Linear(inFeatures: 4, outFeatures: 5), Tanh(), Linear(inFeatures: 5, outFeatures: 3)], seed: 1)
    try ModelFile(model: other, loss: Loss(.crossEntropy)).write(
      description: URL(fileURLWithPath: fixture.path("other.json")), weights: URL(fileURLWithPath: fixture.path("other.safetensors")))
    try expectFailure(
      ["diag", "--model", fixture.modelPath, "--weights", fixture.path("other.safetensors"), "--inputs", fixture.inputsPath,
       "--targets", fixture.targetsPath, "--operator", "ggn", "--output", fixture.path("d.npy")],
      in: fixture, ["other.safetensors", "weight shape does not match the layer"], status: 1)
  }

  @Test func shapeMismatch() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    var rng = RandomGenerator(seed: 1)
    // Five input features for a model that takes four.
    try NPYArray(rng.normalArray(shape: [12, 5], Double.self)).write(to: URL(fileURLWithPath: fixture.path("X5.npy")))
    try expectFailure(
      ["dense", "--model", fixture.modelPath, "--weights", fixture.weightsPath, "--inputs", fixture.path("X5.npy"),
       "--targets", fixture.targetsPath, "--operator", "ggn", "--output", fixture.path("M.npy")],
      in: fixture, ["shape mismatch"], status: 1)
    // Ten targets for twelve inputs.
    try NPYArray(integers: Array(repeating: 0, count: 10)).write(to: URL(fileURLWithPath: fixture.path("y10.npy")))
    try expectFailure(
      ["trace", "--model", fixture.modelPath, "--weights", fixture.weightsPath, "--inputs", fixture.inputsPath,
       "--targets", fixture.path("y10.npy"), "--operator", "ggn"],
      in: fixture, ["12 data points", "10"], status: 1)
    // A right-hand side of the wrong length.
    try NPYArray(rng.normalArray(shape: [7], Double.self)).write(to: URL(fileURLWithPath: fixture.path("b7.npy")))
    try expectFailure(
      ["solve"] + fixture.fileArguments + ["--operator", "ggn", "--damping", "0.1", "--rhs", fixture.path("b7.npy"), "--output", fixture.path("x.npy")],
      in: fixture, ["--rhs", "shape [7]", "[51]"], status: 1)
  }

  @Test func unknownOperator() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    try expectFailure(
      ["eigs"] + fixture.fileArguments + ["--operator", "fisher", "--k", "2"],
      in: fixture, ["--operator", "unknown value 'fisher'", "hessian, ggn, ef, fisher-mc, kfac, ekfac"], status: 64)
    try expectFailure(
      ["trace"] + fixture.fileArguments + ["--operator", "ggn", "--method", "exactly"],
      in: fixture, ["--method", "unknown value 'exactly'"], status: 64)
  }

  @Test func optionThatDoesNotApplyToTheOperator() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    let cases: [([String], [String])] = [
      (["--operator", "ggn", "--kfac-approx", "reduce"], ["--kfac-approx", "--operator ggn"]),
      (["--operator", "hessian", "--mc-samples", "4"], ["--mc-samples", "--operator hessian"]),
      (["--operator", "ef", "--fisher-type", "type-2"], ["--fisher-type", "--operator ef"]),
      (["--operator", "fisher-mc", "--joint-bias"], ["--joint-bias", "--operator fisher-mc"]),
      (["--operator", "kfac", "--fisher-type", "type-2", "--mc-samples", "2"], ["--mc-samples", "--fisher-type type-2"]),
    ]
    for (arguments, expected) in cases {
      try expectFailure(["eigs"] + fixture.fileArguments + arguments + ["--k", "2"], in: fixture, expected, status: 64)
    }
    try expectFailure(
      ["trace"] + fixture.fileArguments + ["--operator", "ggn", "--method", "exact", "--matvecs", "10"],
      in: fixture, ["--matvecs", "--method exact"], status: 64)
  }

  @Test func kLargerThanP() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    try expectFailure(
      ["eigs"] + fixture.fileArguments + ["--operator", "ggn", "--k", "52"],
      in: fixture, ["--k 52", "larger than P = 51"], status: 1)
    try expectFailure(["eigs"] + fixture.fileArguments + ["--operator", "ggn", "--k", "0"], in: fixture, ["--k"], status: 64)
  }

  @Test func nonConvergence() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    var rng = RandomGenerator(seed: 2)
    try NPYArray(rng.normalArray(shape: [51], Double.self)).write(to: URL(fileURLWithPath: fixture.path("b.npy")))
    let before = try CLI.contents(of: fixture.directory)
    try expectFailure(
      ["solve"] + fixture.fileArguments
        + ["--operator", "ggn", "--damping", "1e-4", "--rhs", fixture.path("b.npy"), "--tol", "1e-12", "--max-iterations", "3",
           "--output", fixture.path("x.npy")],
      in: fixture, ["CG did not converge in 3 iterations"], status: 1)
    #expect(try CLI.contents(of: fixture.directory) == before)
    try expectFailure(
      ["eigs"] + fixture.fileArguments + ["--operator", "hessian", "--k", "20", "--which", "smallest", "--tol", "1e-14", "--max-restarts", "0"],
      in: fixture, ["Lanczos did not converge", "restarts"], status: 1)
  }

  /// An output directory that does not exist fails before any work, and an interrupted
  /// write never replaces an existing output file.
  @Test func unwritableOutputAndExistingFiles() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    try expectFailure(
      ["dense"] + fixture.fileArguments + ["--operator", "ggn", "--output", fixture.path("no/such/dir/M.npy")],
      in: fixture, ["--output", "does not exist"], status: 1)
    // A failing run leaves an existing output untouched.
    let existing = fixture.path("keep.npy")
    try Data("old".utf8).write(to: URL(fileURLWithPath: existing))
    var rng = RandomGenerator(seed: 3)
    try NPYArray(rng.normalArray(shape: [51], Double.self)).write(to: URL(fileURLWithPath: fixture.path("b.npy")))
    try expectFailure(
      ["solve"] + fixture.fileArguments
        + ["--operator", "ggn", "--rhs", fixture.path("b.npy"), "--tol", "1e-12", "--max-iterations", "1", "--output", existing],
      in: fixture, ["did not converge"], status: 1)
    #expect(try String(contentsOfFile: existing, encoding: .utf8) == "old")
  }
}
