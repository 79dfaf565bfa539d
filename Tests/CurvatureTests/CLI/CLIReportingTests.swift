import Curvature
import Foundation
import Testing

/// What `curv` may report and write: never a NaN or infinity (issue 20 §3), never over one
/// of its own inputs (§5); `--threads` within what OpenBLAS can run (§4); errors of options
/// name the option (§7); and the JSON keys scripts read (issue 14 §2).
@Suite(.serialized) struct CLIReportingTests {
  /// A 3-5-2 ReLU MLP with MSE (P = 32) on 6 points, written to a temporary directory;
  /// `edit` changes the parameters, `inputs` the data before they are written.
  func overflowFixture(
    edit: (inout [NDArray<Double>]) -> Void = { _ in }, inputs: (inout NDArray<Double>) -> Void = { _ in }
  ) throws -> URL {
    let directory = try CLI.temporaryDirectory()
    var rng = RandomGenerator(seed: 8)
    var model = try Sequential<Double>([Linear(inFeatures: 3, outFeatures: 5), ReLU(), Linear(inFeatures: 5, outFeatures: 2)], seed: 8)
    var parameters = try model.unflatten(model.flatParameters())
    edit(&parameters)
    try model.setParameters(parameters)
    try ModelFile(model: model, loss: Loss(.mse, reduction: .mean)).write(
      description: directory.appendingPathComponent("model.json"), weights: directory.appendingPathComponent("weights.safetensors"))
    var x: NDArray<Double> = rng.normalArray(shape: [6, 3])
    inputs(&x)
    try NPYArray(x).write(to: directory.appendingPathComponent("X.npy"))
    try NPYArray(rng.normalArray(shape: [6, 2], Double.self)).write(to: directory.appendingPathComponent("y.npy"))
    try NPYArray(rng.normalArray(shape: [32], Double.self)).write(to: directory.appendingPathComponent("b.npy"))
    return directory
  }

  func files(_ directory: URL) -> [String] {
    ["--model", "model.json", "--weights", "weights.safetensors", "--inputs", "X.npy", "--targets", "y.npy"].enumerated().map {
      $0.offset % 2 == 0 ? $0.element : directory.appendingPathComponent($0.element).path
    }
  }

  /// Inputs of 1e300 overflow the loss in float64: every subcommand fails with
  /// one line naming the pass whose values are not finite, and writes nothing (before,
  /// `dense` wrote a matrix full of infinities and exited with status 0).
  @Test func overflowingInputsFailNamingTheStage() throws {
    let directory = try overflowFixture(inputs: { x in for j in 0..<3 { x[0, j] = 1e300 } })
    defer { try? FileManager.default.removeItem(at: directory) }
    let data = files(directory) + ["--operator", "ggn", "--dtype", "float64"]
    let output = { (name: String) in directory.appendingPathComponent(name).path }
    let cases: [[String]] = [
      ["dense"] + data + ["--output", output("G.npy")],
      ["dense"] + data + ["--damping", "0.5", "--output", output("G.npy"), "--json"],
      ["eigs"] + data + ["--k", "2", "--json"],
      ["trace"] + data + ["--json"],
      ["trace"] + data + ["--method", "hutchinson", "--matvecs", "8"],
      ["diag"] + data + ["--output", output("d.npy")],
      ["solve"] + data + ["--damping", "0.1", "--rhs", output("b.npy"), "--output", output("x.npy")],
      ["spectrum"] + data + ["--lanczos-steps", "5", "--repeats", "2", "--output", output("s.svg"), "--json"],
    ]
    // The library stops at the first pass whose values are not finite (here the loss, before
    // any product of the subcommand runs) and names it.
    for arguments in cases {
      try CLI.expectFailure(arguments, in: directory, ["non-finite", "loss", "data points 0..<6"], status: 1)
    }
  }

  /// Weights of 1e30 overflow in float32 (they are finite in float64).
  @Test func overflowingWeightsFailInFloat32() throws {
    let directory = try overflowFixture(edit: { parameters in parameters[2][0, 0] = 1e30 })
    defer { try? FileManager.default.removeItem(at: directory) }
    let output = directory.appendingPathComponent("G.npy").path
    for operatorName in ["ggn", "hessian"] {
      try CLI.expectFailure(
        ["dense"] + files(directory) + ["--operator", operatorName, "--dtype", "float32", "--output", output],
        in: directory, ["non-finite", "loss"], status: 1)
    }
    try CLI.expectFailure(
      ["trace"] + files(directory) + ["--operator", "ggn", "--dtype", "float32"], in: directory, ["non-finite", "trace"], status: 1)
    // In float64 the same files give a finite matrix.
    let arguments: [String] = ["dense"] + files(directory) + ["--operator", "ggn", "--dtype", "float64", "--output", output]
    let finite = try CLI.run(arguments)
    #expect(finite.status == 0, "\(finite.stderr)")
    let matrix = try CLI.readNPY(URL(fileURLWithPath: output))
    #expect(matrix.scalars.allSatisfy { $0.isFinite })
  }

  /// `--output` naming an input — by the same path, another spelling, a symbolic link or a
  /// hard link — is refused before any work; the input is unchanged.
  @Test func outputNamingAnInputIsRefused() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    let directory = fixture.directory
    var rng = RandomGenerator(seed: 4)
    try NPYArray(rng.normalArray(shape: [51], Double.self)).write(to: URL(fileURLWithPath: fixture.path("b.npy")))
    try FileManager.default.createSymbolicLink(atPath: fixture.path("link.npy"), withDestinationPath: fixture.inputsPath)
    try FileManager.default.linkItem(atPath: fixture.weightsPath, toPath: fixture.path("hard.safetensors"))
    let cases: [([String], [String])] = [
      (["dense"] + fixture.fileArguments + ["--operator", "ggn", "--output", fixture.inputsPath], ["--output", "--inputs"]),
      (["dense"] + fixture.fileArguments + ["--operator", "ggn", "--output", fixture.path("./sub/../model.json")], ["--model"]),
      (["diag"] + fixture.fileArguments + ["--operator", "ggn", "--output", fixture.path("link.npy")], ["--inputs"]),
      (["dense"] + fixture.fileArguments + ["--operator", "ggn", "--output", fixture.path("hard.safetensors")], ["--weights"]),
      (["dense"] + fixture.fileArguments + ["--operator", "ggn", "--output", fixture.targetsPath], ["--targets"]),
      (["solve"] + fixture.fileArguments + ["--operator", "ggn", "--damping", "1", "--rhs", fixture.path("b.npy"), "--output", fixture.path("b.npy")],
       ["--rhs"]),
      (["spectrum"] + fixture.fileArguments + ["--operator", "ggn", "--output", fixture.modelPath], ["--model"]),
      (["toeplitz", "--column", fixture.path("b.npy"), "--rhs", fixture.path("b.npy"), "--output", fixture.path("b.npy")], ["--column"]),
    ]
    try FileManager.default.createDirectory(atPath: fixture.path("sub"), withIntermediateDirectories: false)
    for (arguments, expected) in cases {
      try CLI.expectFailure(arguments, in: directory, ["refusing to overwrite an input"] + expected, status: 1)
    }
    // A new file next to the inputs is written as before.
    let run = try CLI.run(["diag"] + fixture.fileArguments + ["--operator", "ggn", "--output", fixture.path("d.npy")])
    #expect(run.status == 0, "\(run.stderr)")
  }

  /// `--threads` outside 1…(the processors OpenBLAS sees) is a command-line error naming
  /// the option and the range, instead of a hang while OpenBLAS starts its threads.
  @Test func threadsOutsideTheSupportedRangeAreRefused() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    for threads in ["0", "100000", "\(Int(Int32.max) + 1)"] {
      try CLI.expectFailure(
        ["trace"] + fixture.fileArguments + ["--operator", "ggn", "--threads", threads],
        in: fixture.directory, ["--threads", "between 1 and", "got \(threads)"], status: 64)
    }
    try CLI.expectFailure(["demo", "--small", "--threads", "100000"], in: fixture.directory, ["--threads", "between 1 and"], status: 64)
    let run = try CLI.run(["trace"] + fixture.fileArguments + ["--operator", "ggn", "--threads", "1", "--json"])
    #expect(run.status == 0, "\(run.stderr)")
  }

  /// A budget an estimator cannot work with names `--matvecs` (and the method).
  @Test func estimatorBudgetsNameTheOption() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    let data = fixture.fileArguments + ["--operator", "ggn"]
    try CLI.expectFailure(["trace"] + data + ["--method", "hutchpp", "--matvecs", "1"], in: fixture.directory, ["--matvecs", "hutchpp", "at least 3"], status: 64)
    try CLI.expectFailure(["trace"] + data + ["--method", "xtrace", "--matvecs", "3"], in: fixture.directory, ["--matvecs", "xtrace", "at least 4"], status: 64)
    try CLI.expectFailure(
      ["diag"] + data + ["--method", "xdiag", "--matvecs", "2", "--output", fixture.path("d.npy")], in: fixture.directory,
      ["--matvecs", "xdiag"], status: 64)
    try CLI.expectFailure(["trace"] + data + ["--method", "xtrace", "--matvecs", "200"], in: fixture.directory, ["--matvecs 200", "2P = 102"], status: 1)
    let small = try CLIFixture.make(mse: true)  // P = 32
    defer { small.remove() }
    try CLI.expectFailure(
      ["trace"] + small.fileArguments + ["--operator", "ggn", "--method", "xtrace"], in: small.directory,
      ["--matvecs 100 (the default)", "2P = 64"], status: 1)
    let run = try CLI.run(["trace"] + data + ["--method", "hutchpp", "--matvecs", "3", "--json"])
    #expect(run.status == 0, "\(run.stderr)")
  }

  /// Unknown values of the library's enums name the option and the choices on one line, as
  /// `curv` has always spelled them.
  @Test func enumOptionsKeepTheirSpellings() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    let data = fixture.fileArguments
    try CLI.expectFailure(
      ["dense"] + data + ["--operator", "kfac", "--fisher-type", "type2", "--output", fixture.path("K.npy")], in: fixture.directory,
      ["--fisher-type", "unknown value 'type2'", "type-2, mc, empirical, forward-only"], status: 64)
    try CLI.expectFailure(
      ["eigs"] + data + ["--operator", "ggn", "--k", "2", "--which", "largestMagnitude"], in: fixture.directory,
      ["--which", "largest, smallest, magnitude"], status: 64)
    try CLI.expectFailure(
      ["dense"] + data + ["--operator", "kfac", "--kfac-approx", "sum", "--output", fixture.path("K.npy")], in: fixture.directory,
      ["--kfac-approx", "expand, reduce"], status: 64)
    try CLI.expectFailure(["trace"] + data + ["--operator", "ggn", "--dtype", "float16"], in: fixture.directory, ["--dtype", "float32, float64"], status: 64)
    for arguments in [["--fisher-type", "forward-only"], ["--fisher-type", "empirical", "--kfac-approx", "reduce"]] {
      let run = try CLI.run(["trace"] + data + ["--operator", "kfac"] + arguments + ["--json"])
      #expect(run.status == 0, "\(arguments): \(run.stderr)")
    }
    let run = try CLI.run(["eigs"] + data + ["--operator", "hessian", "--k", "1", "--which", "magnitude", "--json"])
    #expect(try run.json()["which"] as? String == "magnitude")
  }

  /// The JSON keys of every subcommand, exactly (the contract scripts rely on), with their
  /// types; `standard_error` is null for the exact trace.
  @Test func jsonKeysAreTheContract() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    var rng = RandomGenerator(seed: 4)
    try NPYArray(rng.normalArray(shape: [51], Double.self)).write(to: URL(fileURLWithPath: fixture.path("b.npy")))
    let data = fixture.fileArguments + ["--operator", "ggn"]
    func keys(_ arguments: [String]) throws -> [String: Any] {
      let run = try CLI.run(arguments + ["--json"])
      #expect(run.status == 0, "\(arguments): \(run.stderr)")
      #expect(run.stdout.split(separator: "\n").count == 1)
      return try run.json()
    }
    let common: Set = ["operator", "seconds"]
    let dense = try keys(["dense"] + data + ["--output", fixture.path("M.npy")])
    #expect(Set(dense.keys) == common.union(["output", "P", "N", "damping", "matvecs", "trace", "frobenius_norm"]))
    #expect(dense["P"] as? Int == 51 && dense["frobenius_norm"] is Double && dense["output"] as? String == fixture.path("M.npy"))
    let eigs = try keys(["eigs"] + data + ["--k", "2"])
    #expect(Set(eigs.keys) == common.union(["eigenvalues", "matvecs", "which", "k", "P", "damping", "residual_norms", "restarts"]))
    #expect((eigs["residual_norms"] as? [Double])?.count == 2 && eigs["restarts"] is Int)
    let exact = try keys(["trace"] + data)
    #expect(Set(exact.keys) == common.union(["trace", "matvecs", "method", "standard_error", "P", "damping"]))
    #expect(exact["standard_error"] is NSNull)
    let estimate = try keys(["trace"] + data + ["--method", "hutchinson", "--matvecs", "10"])
    #expect(estimate["standard_error"] is Double && estimate["method"] as? String == "hutchinson")
    let diag = try keys(["diag"] + data + ["--output", fixture.path("d.npy")])
    #expect(Set(diag.keys) == common.union(["output", "method", "matvecs", "P", "sum", "min", "max", "damping"]))
    let solve = try keys(["solve"] + data + ["--damping", "0.1", "--rhs", fixture.path("b.npy"), "--output", fixture.path("x.npy")])
    #expect(Set(solve.keys) == common.union([
      "iterations", "relative_residual", "solver", "preconditioner", "damping", "P", "right_hand_sides", "output",
    ]))
    #expect(solve["solver"] as? String == "cg" && solve["preconditioner"] as? String == "none" && solve["right_hand_sides"] as? Int == 1)
    let spectrumKeys: Set = ["grid", "density", "matvecs", "lanczos_steps", "repeats", "variance", "x", "P", "damping"]
    let spectrum = try keys(["spectrum"] + data + ["--lanczos-steps", "5", "--repeats", "2"])
    #expect(Set(spectrum.keys) == common.union(spectrumKeys))
    let plotted = try keys(["spectrum"] + data + ["--lanczos-steps", "5", "--repeats", "2", "--output", fixture.path("s.svg")])
    #expect(Set(plotted.keys) == common.union(spectrumKeys).union(["output"]))
    let bench = try keys(["bench"] + fixture.fileArguments + ["--repeat", "1"])
    #expect(Set(bench.keys) == common.union([
      "gradient_ms", "hessian_matvec_ms", "ggn_matvec_ms", "ef_matvec_ms", "kfac_type-2_build_ms", "kfac_mc_build_ms",
      "kfac_matvec_ms", "P", "N", "batch_size", "dtype", "threads", "repeat", "peak_rss_bytes",
    ]))
    #expect(bench["dtype"] as? String == "float32" && bench["repeat"] as? Int == 1)
  }
}
