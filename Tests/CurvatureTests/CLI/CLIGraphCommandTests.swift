import Curvature
import Foundation
import Testing

/// Every `curv` subcommand on exported graph models (Fixtures/Graph, format 2): the
/// executable's numbers against curvlinops' dense Hessian, GGN and empirical Fisher of the
/// committed fixtures — a decoder with int64 token ids and per-token cross-entropy
/// (nanogpt), a Conv1d net with BatchNorm (conv1d), and an encoder with a float input and
/// a bool padding mask (encoder_padding_mask).
@Suite(.serialized) struct CLIGraphCommandTests {
  /// `dense` in float64 equals curvlinops' matrices, with the inputs as one `--inputs` file
  /// per graph input and with `--data reference.npz`, in one batch and in batches of 2.
  @Test(arguments: ["nanogpt", "conv1d", "encoder_padding_mask"])
  func denseMatchesCurvlinops(_ name: String) throws {
    let fixture = try CLIGraphCase.make(name)
    defer { fixture.remove() }
    let output = fixture.path("M.npy")
    for op in ["hessian", "ggn", "ef"] {
      let run = try CLI.run(["dense"] + fixture.fileArguments + ["--operator", op, "--dtype", "float64", "--output", output])
      #expect(run.status == 0, "\(name) \(op): \(run.stderr)")
      #expect(run.stderr.isEmpty)
      expectClose(try CLI.readNPY(URL(fileURLWithPath: output)), try fixture.matrix(op), rtol: 1e-9, atolFactor: 1e-10, "\(name) \(op)")
    }
    let batched = try CLI.run(
      ["dense"] + fixture.archiveArguments + ["--operator", "ggn", "--dtype", "float64", "--batch-size", "2", "--output", output])
    #expect(batched.status == 0, "\(name) batched: \(batched.stderr)")
    expectClose(try CLI.readNPY(URL(fileURLWithPath: output)), try fixture.matrix("ggn"), rtol: 1e-9, atolFactor: 1e-10, "\(name) batched GGN")
    #expect(try CLI.contents(of: fixture.directory).filter { $0.hasPrefix(".") }.isEmpty, "a temporary file was left behind")
  }

  /// A small ResNet (BatchNorm, residual additions, pooling; P = 401): the GGN and EF one
  /// data point per batch, and the per-token cross-entropy with ignore_index and label
  /// smoothing: the GGN and Hessian.
  @Test func denseOnResNetAndIgnoredTokens() throws {
    let resnet = try CLIGraphCase.make("resnet_tiny")
    defer { resnet.remove() }
    for op in ["ggn", "ef"] {
      let run = try CLI.run(
        ["dense"] + resnet.archiveArguments + ["--operator", op, "--dtype", "float64", "--batch-size", "1", "--output", resnet.path("M.npy")])
      #expect(run.status == 0, "\(run.stderr)")
      expectClose(try CLI.readNPY(URL(fileURLWithPath: resnet.path("M.npy"))), try resnet.matrix(op), rtol: 1e-9, atolFactor: 1e-10, "resnet_tiny \(op)")
    }
    let tokens = try CLIGraphCase.make("per_token_ce_ignore")
    defer { tokens.remove() }
    for op in ["ggn", "hessian"] {
      let run = try CLI.run(["dense"] + tokens.fileArguments + ["--operator", op, "--dtype", "float64", "--output", tokens.path("M.npy")])
      #expect(run.status == 0, "\(run.stderr)")
      expectClose(try CLI.readNPY(URL(fileURLWithPath: tokens.path("M.npy"))), try tokens.matrix(op), rtol: 1e-9, atolFactor: 1e-10, "per_token_ce_ignore \(op)")
    }
  }

  /// `dense` in float32 agrees with curvlinops to float32's accuracy.
  @Test func denseInFloat32() throws {
    let fixture = try CLIGraphCase.make("nanogpt")
    defer { fixture.remove() }
    let output = fixture.path("G.npy")
    let run = try CLI.run(["dense"] + fixture.fileArguments + ["--operator", "ggn", "--output", output])
    #expect(run.status == 0, "\(run.stderr)")
    expectClose(try CLI.readNPY(URL(fileURLWithPath: output)), try fixture.matrix("ggn"), rtol: 1e-3, atolFactor: 1e-4, "float32 GGN")
  }

  /// `apply` with `V` `[P, k]` equals `H V` and with `V` `[P]` equals `G v`, written as
  /// float64 `.npy` of V's shape; in float32 to float32's accuracy.
  @Test func applyMatchesMatrixTimesVectors() throws {
    let fixture = try CLIGraphCase.make("nanogpt")
    defer { fixture.remove() }
    let p = try fixture.matrix("hessian").shape[0]
    var rng = RandomGenerator(seed: 3)
    let block: NDArray<Double> = rng.normalArray(shape: [p, 3])
    let vector: NDArray<Double> = rng.normalArray(shape: [p])
    try NPYArray(block).write(to: URL(fileURLWithPath: fixture.path("V.npy")))
    try NPYArray(vector).write(to: URL(fileURLWithPath: fixture.path("v.npy")))
    let output = fixture.path("AV.npy")
    for dtype in ["float64", "float32"] {
      let run = try CLI.run(
        ["apply"] + fixture.fileArguments + ["--operator", "hessian", "--dtype", dtype, "--vectors", fixture.path("V.npy"), "--output", output, "--json"])
      #expect(run.status == 0, "\(run.stderr)")
      let json = try run.json()
      #expect(json["P"] as? Int == p && json["columns"] as? Int == 3 && json["matvecs"] as? Int == 3)
      let product = try CLI.readNPY(URL(fileURLWithPath: output))
      #expect(product.shape == [p, 3])
      let expected = matmul(try fixture.matrix("hessian"), block)
      expectClose(product, expected, rtol: dtype == "float64" ? 1e-9 : 1e-3, atolFactor: dtype == "float64" ? 1e-10 : 1e-4, "H V, \(dtype)")
    }
    let run = try CLI.run(
      ["apply"] + fixture.archiveArguments + ["--operator", "ggn", "--dtype", "float64", "--batch-size", "1", "--damping", "0.5", "--vectors", fixture.path("v.npy"), "--output", output])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.stdout.contains("Wrote \(output)"))
    let product = try CLI.readNPY(URL(fileURLWithPath: output))
    #expect(product.shape == [p])
    let expected = matvec(try fixture.matrix("ggn"), vector) + vector * 0.5
    expectClose(product, expected, rtol: 1e-9, atolFactor: 1e-10, "(G + 0.5 I) v")
  }

  /// `diag --method exact` equals the diagonals of curvlinops' matrices (the GGN and EF of
  /// a graph model from unit products), and `trace --method exact` their sums.
  @Test(arguments: ["conv1d", "encoder_padding_mask"])
  func diagAndTraceMatchCurvlinops(_ name: String) throws {
    let fixture = try CLIGraphCase.make(name)
    defer { fixture.remove() }
    let output = fixture.path("d.npy")
    for op in ["hessian", "ggn", "ef"] {
      let expected = try fixture.matrix(op).diagonal()
      let run = try CLI.run(["diag"] + fixture.fileArguments + ["--operator", op, "--dtype", "float64", "--output", output, "--json"])
      #expect(run.status == 0, "\(name) \(op): \(run.stderr)")
      expectClose(try CLI.readNPY(URL(fileURLWithPath: output)), expected, rtol: 1e-9, atolFactor: 1e-10, "\(name) \(op) diagonal")
      let trace = try CLI.run(["trace"] + fixture.fileArguments + ["--operator", op, "--dtype", "float64", "--json"])
      #expect(trace.status == 0, "\(name) \(op): \(trace.stderr)")
      let value = try #require(try trace.json()["trace"] as? Double)
      let sum = expected.scalars.reduce(0, +)
      #expect(Swift.abs(value - sum) <= 1e-9 * Swift.max(1, expected.scalars.map(Swift.abs).reduce(0, +)), "\(name) \(op) trace \(value) vs \(sum)")
    }
  }

  /// `eigs`, `spectrum`, `solve` and the randomized `trace` on a graph model, in float64
  /// and float32, against the dense GGN.
  @Test func eigsSpectrumSolveAndEstimators() throws {
    let fixture = try CLIGraphCase.make("conv1d")
    defer { fixture.remove() }
    let ggn = try fixture.matrix("ggn")
    let p = ggn.shape[0]
    let exact = try ggn.symmetricEigenvalues().scalars.sorted(by: >)
    for dtype in ["float64", "float32"] {
      let run = try CLI.run(["eigs"] + fixture.fileArguments + ["--operator", "ggn", "--k", "3", "--dtype", dtype, "--json"])
      #expect(run.status == 0, "\(dtype): \(run.stderr)")
      let values = try #require(try run.json()["eigenvalues"] as? [Double])
      for (value, expected) in zip(values, exact.prefix(3)) {
        #expect(Swift.abs(value - expected) <= (dtype == "float64" ? 1e-8 : 1e-3) * exact[0], "\(dtype): \(values) vs \(exact.prefix(3))")
      }
    }
    let spectrum = try CLI.run(
      ["spectrum"] + fixture.fileArguments + ["--operator", "hessian", "--lanczos-steps", "8", "--repeats", "2", "--output", fixture.path("s.svg")])
    #expect(spectrum.status == 0, "\(spectrum.stderr)")
    #expect(try String(contentsOfFile: fixture.path("s.svg"), encoding: .utf8).hasPrefix("<svg"))
    let estimate = try CLI.run(
      ["trace"] + fixture.fileArguments + ["--operator", "ggn", "--method", "hutchpp", "--matvecs", "\(2 * p)", "--dtype", "float64", "--json"])
    #expect(estimate.status == 0, "\(estimate.stderr)")
    let traced = try #require(try estimate.json()["trace"] as? Double)
    #expect(Swift.abs(traced - ggn.trace()) <= 1e-6 * Swift.abs(ggn.trace()), "Hutch++ with 2P products is exact: \(traced) vs \(ggn.trace())")

    var rng = RandomGenerator(seed: 9)
    let b: NDArray<Double> = rng.normalArray(shape: [p, 2])
    try NPYArray(b).write(to: URL(fileURLWithPath: fixture.path("b.npy")))
    let solve = try CLI.run(
      ["solve"] + fixture.fileArguments + ["--operator", "ggn", "--damping", "0.1", "--dtype", "float64", "--tol", "1e-10",
        "--rhs", fixture.path("b.npy"), "--output", fixture.path("x.npy")])
    #expect(solve.status == 0, "\(solve.stderr)")
    let x = try CLI.readNPY(URL(fileURLWithPath: fixture.path("x.npy")))
    expectClose(matmul(ggn, x) + x * 0.1, b, rtol: 1e-7, atolFactor: 1e-8, "(G + 0.1 I) x = b")
  }

  /// `--parameters` restricts every operator to the chosen state_dict names or globs, in the
  /// model's order: the dense matrix is the corresponding principal submatrix, and P, eigs,
  /// diag and apply follow.
  @Test func parametersChooseASubBlock() throws {
    let fixture = try CLIGraphCase.make("nanogpt")
    defer { fixture.remove() }
    let hessian = try fixture.matrix("hessian")
    let chosen: Set = [
      "transformer.h.0.mlp.c_fc.weight", "transformer.h.0.mlp.c_fc.bias", "transformer.h.0.mlp.c_proj.weight",
      "transformer.h.0.mlp.c_proj.bias", "transformer.wpe.weight",
    ]
    let indices = try fixture.indices(of: chosen)
    let expected = hessian.principalSubmatrix(indices)
    // A glob and a name, in an order other than the model's: the model's order is kept.
    let selection = ["--parameters", "transformer.h.*.mlp.*, transformer.wpe.weight"]
    let output = fixture.path("H.npy")
    let run = try CLI.run(
      ["dense"] + fixture.fileArguments + selection + ["--operator", "hessian", "--dtype", "float64", "--output", output, "--json"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(try run.json()["P"] as? Int == indices.count)
    expectClose(try CLI.readNPY(URL(fileURLWithPath: output)), expected, rtol: 1e-9, atolFactor: 1e-10, "Hessian sub-block")
    let diag = try CLI.run(["diag"] + fixture.archiveArguments + selection + ["--operator", "hessian", "--dtype", "float64", "--output", fixture.path("d.npy")])
    #expect(diag.status == 0, "\(diag.stderr)")
    #expect(diag.stdout.contains("P = \(indices.count) parameters (5 of 15 parameter tensors)"), "\(diag.stdout)")
    expectClose(try CLI.readNPY(URL(fileURLWithPath: fixture.path("d.npy"))), expected.diagonal(), rtol: 1e-9, atolFactor: 1e-10, "diagonal of the sub-block")
    var rng = RandomGenerator(seed: 4)
    let v: NDArray<Double> = rng.normalArray(shape: [indices.count, 2])
    try NPYArray(v).write(to: URL(fileURLWithPath: fixture.path("V.npy")))
    let apply = try CLI.run(
      ["apply"] + fixture.fileArguments + selection + ["--operator", "hessian", "--dtype", "float64", "--vectors", fixture.path("V.npy"), "--output", fixture.path("AV.npy")])
    #expect(apply.status == 0, "\(apply.stderr)")
    expectClose(try CLI.readNPY(URL(fileURLWithPath: fixture.path("AV.npy"))), matmul(expected, v), rtol: 1e-9, atolFactor: 1e-10, "sub-block times V")
    let eigs = try CLI.run(["eigs"] + fixture.fileArguments + selection + ["--operator", "hessian", "--k", "2", "--which", "magnitude", "--dtype", "float64", "--json"])
    #expect(eigs.status == 0, "\(eigs.stderr)")
    let values = try #require(try eigs.json()["eigenvalues"] as? [Double])
    let exact = try expected.symmetricEigenvalues().scalars.sorted { Swift.abs($0) > Swift.abs($1) }
    #expect(zip(values, exact).allSatisfy { Swift.abs($0 - $1) <= 1e-8 * Swift.abs(exact[0]) }, "\(values) vs \(exact.prefix(2))")
  }

  /// `--parameters` on a format-1 model (its `Sequential` names).
  @Test func parametersOnASequential() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    let full = try GGNOperator(try fixture.problem()).dense()
    let run = try CLI.run(
      ["dense"] + fixture.fileArguments + ["--parameters", "2.*,0.bias", "--operator", "ggn", "--dtype", "float64", "--output", fixture.path("G.npy")])
    #expect(run.status == 0, "\(run.stderr)")
    // 0.weight [6, 4] = 0..<24, 0.bias 24..<30, 2.weight [3, 6] 30..<48, 2.bias 48..<51.
    expectClose(try CLI.readNPY(URL(fileURLWithPath: fixture.path("G.npy"))), full.principalSubmatrix(Array(24..<51)), rtol: 1e-10, atolFactor: 1e-12, "GGN of 0.bias, 2.*")
  }

  /// `bench` on a graph model reports the timings, P and the peak resident memory.
  @Test func benchOnAGraph() throws {
    let fixture = try CLIGraphCase.make("resnet_tiny")
    defer { fixture.remove() }
    let run = try CLI.run(["bench"] + fixture.fileArguments + ["--repeat", "1", "--json"])
    #expect(run.status == 0, "\(run.stderr)")
    let json = try run.json()
    #expect(json["P"] as? Int == 401 && json["N"] as? Int == 2)
    for key in ["gradient_ms", "hessian_matvec_ms", "ggn_matvec_ms", "ef_matvec_ms"] {
      #expect((json[key] as? Double ?? -1) >= 0, "\(key) in \(run.stdout)")
    }
    #expect((json["peak_rss_bytes"] as? Int ?? 0) > 1_000_000)
    let table = try CLI.run(["bench"] + fixture.fileArguments + ["--repeat", "1", "--parameters", "fc.*"])
    #expect(table.status == 0, "\(table.stderr)")
    #expect(table.stdout.contains("peak resident memory") && table.stdout.contains("P = 15 parameters"), "\(table.stdout)")
  }

  /// `check-model` passes on the exporter's reference results in float64 and float32, and
  /// fails with status 1 and one line naming the quantity when the reference differs.
  @Test(arguments: ["nanogpt", "resnet_tiny", "encoder_padding_mask", "per_token_ce_ignore"])
  func checkModelPasses(_ name: String) throws {
    let fixture = try CLIGraphCase.make(name)
    defer { fixture.remove() }
    let base = ["check-model", "--model", fixture.modelPath, "--weights", fixture.weightsPath, "--reference", fixture.referencePath]
    for dtype in ["float64", "float32"] {
      let run = try CLI.run(base + ["--dtype", dtype, "--json"])
      #expect(run.status == 0, "\(name) \(dtype): \(run.stderr) \(run.stdout)")
      let json = try run.json()
      #expect(json["passed"] as? Bool == true)
      for key in ["outputs", "loss", "gradient"] {
        let entry = try #require(json[key] as? [String: Any], "\(key) in \(run.stdout)")
        #expect((entry["max_rel_diff"] as? Double ?? 1) <= (dtype == "float64" ? 1e-8 : 1e-4))
        #expect(entry["max_abs_diff"] is Double)
      }
    }
    // The inputs given as files: the same result, as a table.
    let table = try CLI.run(base + fixture.inputPaths.flatMap { ["--inputs", $0] } + ["--targets", fixture.targetsPath])
    #expect(table.status == 0, "\(table.stderr)")
    #expect(table.stdout.contains("gradient") && table.stdout.contains("yes") && !table.stdout.contains("NO"))
  }

  @Test func checkModelFails() throws {
    let fixture = try CLIGraphCase.make("conv1d")
    defer { fixture.remove() }
    // A reference whose gradient is off by 1 %.
    let archive = try NPZFile(contentsOf: URL(fileURLWithPath: fixture.referencePath))
    var arrays = try archive.arrays()
    let index = try #require(arrays.firstIndex { $0.name == "gradient" })
    arrays[index].array = NPYArray(try arrays[index].array.floats(as: Double.self) * 1.01)
    let reference = fixture.directory.appendingPathComponent("reference.npz")
    try NPZFile.write(arrays, to: reference)
    let run = try CLI.run(
      ["check-model", "--model", fixture.modelPath, "--weights", fixture.weightsPath, "--reference", reference.path, "--json"])
    #expect(run.status == 1)
    #expect(run.errorLines.count == 1 && run.stderr.contains("curv check-model: error: ") && run.stderr.contains("gradient differs"), "\(run.stderr)")
    #expect(try run.json()["passed"] as? Bool == false)
    // A loose --tolerance accepts it.
    let loose = try CLI.run(
      ["check-model", "--model", fixture.modelPath, "--weights", fixture.weightsPath, "--reference", reference.path, "--tolerance", "0.02"])
    #expect(loose.status == 0, "\(loose.stderr)")
  }
}
