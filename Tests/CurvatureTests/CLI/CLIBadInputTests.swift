import Curvature
import Foundation
import Testing

/// One test per class of bad input to `curv`: each prints exactly one line on stderr that
/// names what was wrong, exits non-zero, prints nothing on stdout and leaves no output file
/// (nor temporary file) behind.
@Suite(.serialized) struct CLIBadInputTests {
  @Test func missingFile() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    let missing = fixture.path("missing.safetensors")
    try CLI.expectFailure(
      ["dense", "--model", fixture.modelPath, "--weights", missing, "--inputs", fixture.inputsPath, "--targets", fixture.targetsPath,
       "--operator", "ggn", "--output", fixture.path("M.npy")],
      in: fixture.directory, ["--weights", missing, "no such file"], status: 1)
    try CLI.expectFailure(
      ["trace", "--model", fixture.modelPath, "--data", fixture.path("nothere.npz"), "--operator", "ggn"],
      in: fixture.directory, ["--data", "nothere.npz", "no such file"], status: 1)
    try CLI.expectFailure(
      ["solve"] + fixture.fileArguments + ["--operator", "ggn", "--rhs", fixture.path("b.npy"), "--output", fixture.path("x.npy")],
      in: fixture.directory, ["--rhs", "b.npy", "no such file"], status: 1)
  }

  @Test func malformedFile() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    try Data("{\"layers\": [".utf8).write(to: URL(fileURLWithPath: fixture.path("bad.json")))
    try CLI.expectFailure(
      ["eigs", "--model", fixture.path("bad.json"), "--inputs", fixture.inputsPath, "--targets", fixture.targetsPath,
       "--operator", "ggn", "--k", "2"],
      in: fixture.directory, ["bad.json", "not valid JSON"], status: 1)
    try Data("not an npy file at all".utf8).write(to: URL(fileURLWithPath: fixture.path("bad.npy")))
    try CLI.expectFailure(
      ["dense", "--model", fixture.modelPath, "--weights", fixture.weightsPath, "--inputs", fixture.path("bad.npy"),
       "--targets", fixture.targetsPath, "--operator", "ggn", "--output", fixture.path("M.npy")],
      in: fixture.directory, ["bad.npy"], status: 1)
    // Weights of another model: a shape that does not match the layer.
    let other = try Sequential<Double>([Linear(inFeatures: 4, outFeatures: 5), Tanh(), Linear(inFeatures: 5, outFeatures: 3)], seed: 1)
    try ModelFile(model: other, loss: Loss(.crossEntropy)).write(
      description: URL(fileURLWithPath: fixture.path("other.json")), weights: URL(fileURLWithPath: fixture.path("other.safetensors")))
    try CLI.expectFailure(
      ["diag", "--model", fixture.modelPath, "--weights", fixture.path("other.safetensors"), "--inputs", fixture.inputsPath,
       "--targets", fixture.targetsPath, "--operator", "ggn", "--output", fixture.path("d.npy")],
      in: fixture.directory, ["other.safetensors", "weight shape does not match the layer"], status: 1)
  }

  @Test func shapeMismatch() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    var rng = RandomGenerator(seed: 1)
    // Five input features for a model that takes four.
    try NPYArray(rng.normalArray(shape: [12, 5], Double.self)).write(to: URL(fileURLWithPath: fixture.path("X5.npy")))
    try CLI.expectFailure(
      ["dense", "--model", fixture.modelPath, "--weights", fixture.weightsPath, "--inputs", fixture.path("X5.npy"),
       "--targets", fixture.targetsPath, "--operator", "ggn", "--output", fixture.path("M.npy")],
      in: fixture.directory, ["shape mismatch"], status: 1)
    // Ten targets for twelve inputs.
    try NPYArray(integers: Array(repeating: 0, count: 10)).write(to: URL(fileURLWithPath: fixture.path("y10.npy")))
    try CLI.expectFailure(
      ["trace", "--model", fixture.modelPath, "--weights", fixture.weightsPath, "--inputs", fixture.inputsPath,
       "--targets", fixture.path("y10.npy"), "--operator", "ggn"],
      in: fixture.directory, ["12 data points", "10"], status: 1)
    // A right-hand side of the wrong length.
    try NPYArray(rng.normalArray(shape: [7], Double.self)).write(to: URL(fileURLWithPath: fixture.path("b7.npy")))
    try CLI.expectFailure(
      ["solve"] + fixture.fileArguments + ["--operator", "ggn", "--damping", "0.1", "--rhs", fixture.path("b7.npy"), "--output", fixture.path("x.npy")],
      in: fixture.directory, ["--rhs", "shape [7]", "[51]"], status: 1)
  }

  @Test func unknownOperator() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    try CLI.expectFailure(
      ["eigs"] + fixture.fileArguments + ["--operator", "fisher", "--k", "2"],
      in: fixture.directory, ["--operator", "unknown value 'fisher'", "hessian, ggn, ef, fisher-mc, kfac, ekfac"], status: 64)
    try CLI.expectFailure(
      ["trace"] + fixture.fileArguments + ["--operator", "ggn", "--method", "exactly"],
      in: fixture.directory, ["--method", "unknown value 'exactly'"], status: 64)
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
      try CLI.expectFailure(["eigs"] + fixture.fileArguments + arguments + ["--k", "2"], in: fixture.directory, expected, status: 64)
    }
    try CLI.expectFailure(
      ["trace"] + fixture.fileArguments + ["--operator", "ggn", "--method", "exact", "--matvecs", "10"],
      in: fixture.directory, ["--matvecs", "--method exact"], status: 64)
  }

  @Test func kLargerThanP() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    try CLI.expectFailure(
      ["eigs"] + fixture.fileArguments + ["--operator", "ggn", "--k", "52"],
      in: fixture.directory, ["--k 52", "larger than P = 51"], status: 1)
    try CLI.expectFailure(["eigs"] + fixture.fileArguments + ["--operator", "ggn", "--k", "0"], in: fixture.directory, ["--k"], status: 64)
  }

  @Test func nonConvergence() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    var rng = RandomGenerator(seed: 2)
    try NPYArray(rng.normalArray(shape: [51], Double.self)).write(to: URL(fileURLWithPath: fixture.path("b.npy")))
    let before = try CLI.contents(of: fixture.directory)
    try CLI.expectFailure(
      ["solve"] + fixture.fileArguments
        + ["--operator", "ggn", "--damping", "1e-4", "--rhs", fixture.path("b.npy"), "--tol", "1e-12", "--max-iterations", "3",
           "--output", fixture.path("x.npy")],
      in: fixture.directory, ["CG did not converge in 3 iterations"], status: 1)
    #expect(try CLI.contents(of: fixture.directory) == before)
    try CLI.expectFailure(
      ["eigs"] + fixture.fileArguments + ["--operator", "hessian", "--k", "20", "--which", "smallest", "--tol", "1e-14", "--max-restarts", "0"],
      in: fixture.directory, ["Lanczos did not converge", "restarts"], status: 1)
  }

  /// An output directory that does not exist fails before any work, and an interrupted
  /// write never replaces an existing output file.
  @Test func unwritableOutputAndExistingFiles() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    try CLI.expectFailure(
      ["dense"] + fixture.fileArguments + ["--operator", "ggn", "--output", fixture.path("no/such/dir/M.npy")],
      in: fixture.directory, ["--output", "does not exist"], status: 1)
    // A failing run leaves an existing output untouched.
    let existing = fixture.path("keep.npy")
    try Data("old".utf8).write(to: URL(fileURLWithPath: existing))
    var rng = RandomGenerator(seed: 3)
    try NPYArray(rng.normalArray(shape: [51], Double.self)).write(to: URL(fileURLWithPath: fixture.path("b.npy")))
    try CLI.expectFailure(
      ["solve"] + fixture.fileArguments
        + ["--operator", "ggn", "--rhs", fixture.path("b.npy"), "--tol", "1e-12", "--max-iterations", "1", "--output", existing],
      in: fixture.directory, ["did not converge"], status: 1)
    #expect(try String(contentsOfFile: existing, encoding: .utf8) == "old")
  }
}
