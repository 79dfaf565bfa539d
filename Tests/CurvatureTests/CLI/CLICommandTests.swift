import Curvature
import Foundation
import Testing

/// Integration tests of every `curv` subcommand: the executable's numbers against the
/// library's (and `dense` against the committed curvlinops matrices), the JSON keys, and
/// the human-readable output.
@Suite(.serialized) struct CLICommandTests {
  /// `curv dense` in float64 equals curvlinops' Hessian, GGN and empirical Fisher of the
  /// committed fixture (Fixtures/Curvature/mlp_ce_mean), for the whole set and batches of 3.
  @Test(arguments: ["hessian", "ggn", "ef"])
  func denseMatchesCurvlinops(_ name: String) throws {
    let fixture = CLI.committedFixture("Curvature", "mlp_ce_mean")
    let expected = try SafetensorsFile(contentsOf: fixture.appendingPathComponent("expected.safetensors"))
      .array(named: name, as: Double.self)
    let directory = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    for batch in [nil, "3"] {
      let output = directory.appendingPathComponent("M.npy")
      let run = try CLI.run(
        ["dense", "--model", fixture.appendingPathComponent("model.json").path,
         "--weights", fixture.appendingPathComponent("weights.safetensors").path,
         "--inputs", fixture.appendingPathComponent("X.npy").path, "--targets", fixture.appendingPathComponent("y.npy").path,
         "--operator", name, "--dtype", "float64", "--output", output.path] + (batch.map { ["--batch-size", $0] } ?? []))
      #expect(run.status == 0, "\(run.stderr)")
      #expect(run.stderr.isEmpty)
      expectClose(try CLI.readNPY(output), expected, rtol: 1e-9, atolFactor: 1e-12, "\(name), batch \(batch ?? "all")")
      #expect(try CLI.contents(of: directory) == ["M.npy"], "a temporary file was left behind")
    }
  }

  /// `curv dense` of KFAC and EKFAC (type-2 and empirical, separate and joint bias) equals
  /// curvlinops' KFACLinearOperator and EKFACLinearOperator on the committed fixture
  /// (Fixtures/KFAC/mlp_ce_sum).
  @Test func kfacAndEKFACDenseMatchCurvlinops() throws {
    let fixture = CLI.committedFixture("KFAC", "mlp_ce_sum")
    let expected = try SafetensorsFile(contentsOf: fixture.appendingPathComponent("expected.safetensors"))
    let directory = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let keys = expected.names.filter { $0.hasPrefix("kfac/") || $0.hasPrefix("ekfac/") }
    #expect(keys.count == 8)
    for key in keys {
      let parts = key.split(separator: "/").map(String.init)  // operator/fisher type/approximation/bias
      let output = directory.appendingPathComponent("K.npy")
      let run = try CLI.run(
        ["dense", "--model", fixture.appendingPathComponent("model.json").path,
         "--weights", fixture.appendingPathComponent("weights.safetensors").path,
         "--inputs", fixture.appendingPathComponent("X.npy").path, "--targets", fixture.appendingPathComponent("y.npy").path,
         "--operator", parts[0], "--fisher-type", parts[1], "--kfac-approx", parts[2], "--dtype", "float64",
         "--output", output.path] + (parts[3] == "joint" ? ["--joint-bias"] : []))
      #expect(run.status == 0, "\(key): \(run.stderr)")
      expectClose(try CLI.readNPY(output), try expected.array(named: key, as: Double.self), rtol: 1e-9, atolFactor: 1e-12, key)
    }
  }

  /// `dense` of fisher-mc and KFAC (with their options) and `--damping` against the library.
  @Test func denseMatchesLibraryOperators() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    let problem = try fixture.problem()
    let cases: [([String], NDArray<Double>)] = [
      (["--operator", "fisher-mc", "--mc-samples", "3", "--seed", "7"],
       try MonteCarloFisherOperator(problem, mcSamples: 3, seed: 7).dense()),
      (["--operator", "kfac", "--fisher-type", "type-2"],
       try KFACOperator(problem, options: KFACOptions(fisherType: .type2)).dense()),
      (["--operator", "kfac", "--fisher-type", "mc", "--mc-samples", "2", "--seed", "4", "--joint-bias"],
       try KFACOperator(problem, options: KFACOptions(fisherType: .mc, mcSamples: 2, seed: 4, jointBias: true)).dense()),
      (["--operator", "kfac", "--fisher-type", "empirical", "--kfac-approx", "reduce"],
       try KFACOperator(problem, options: KFACOptions(fisherType: .empirical, approximation: .reduce)).dense()),
      (["--operator", "ekfac", "--fisher-type", "mc", "--mc-samples", "2", "--seed", "5"],
       try EKFACOperator(problem, options: KFACOptions(fisherType: .mc, mcSamples: 2, seed: 5)).dense()),
      (["--operator", "ggn", "--damping", "0.5"],
       try GGNOperator(problem).dense() + 0.5 * NDArray<Double>.identity(problem.dimension)),
    ]
    for (arguments, expected) in cases {
      let run = try CLI.run(["dense"] + fixture.fileArguments + arguments + ["--dtype", "float64", "--output", fixture.path("M.npy")])
      #expect(run.status == 0, "\(arguments): \(run.stderr)")
      expectClose(try CLI.readNPY(URL(fileURLWithPath: fixture.path("M.npy"))), expected, rtol: 1e-10, "\(arguments)")
    }
  }

  /// `--data data.npz` and `--batch-size` give the same matrix as `.npy` files in one batch.
  @Test func npzDataAndBatchSizeGiveTheSameMatrix() throws {
    let fixture = try CLIFixture.make(mse: true)
    defer { fixture.remove() }
    try NPZFile.write(
      [("X", try NPYArray(contentsOf: URL(fileURLWithPath: fixture.inputsPath))),
       ("y", try NPYArray(contentsOf: URL(fileURLWithPath: fixture.targetsPath)))],
      to: URL(fileURLWithPath: fixture.path("data.npz")))
    let expected = try GGNOperator(fixture.problem()).dense()
    let runs: [[String]] = [
      fixture.fileArguments,
      ["--model", fixture.modelPath, "--weights", fixture.weightsPath, "--data", fixture.path("data.npz"), "--batch-size", "5"],
    ]
    for arguments in runs {
      let run = try CLI.run(["dense"] + arguments + ["--operator", "ggn", "--dtype", "float64", "--output", fixture.path("G.npy"), "--json"])
      #expect(run.status == 0, "\(run.stderr)")
      let json = try run.json()
      #expect(json["operator"] as? String == "ggn")
      #expect(json["P"] as? Int == 32)
      expectClose(try CLI.readNPY(URL(fileURLWithPath: fixture.path("G.npy"))), expected, rtol: 1e-10, "\(arguments)")
    }
  }

  /// `eigs --json` gives the eigenvalues of the dense matrix, sorted as requested, with the
  /// matvec count; float32 agrees to single precision.
  @Test func eigsMatchTheDenseSpectrum() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    let problem = try fixture.problem()
    for (name, op) in [("hessian", HessianOperator(problem) as any LinearOperator<Double>), ("ggn", GGNOperator(problem))] {
      let spectrum = try op.dense().symmetricEigenvalues().scalars  // ascending
      let k = 4
      let expected: [String: [Double]] = [
        "largest": Array(spectrum.reversed().prefix(k)),
        "smallest": Array(spectrum.prefix(k)),
        "magnitude": Array(spectrum.sorted { abs($0) > abs($1) }.prefix(k)),
      ]
      for which in ["largest", "smallest", "magnitude"] where !(name == "ggn" && which != "largest") {
        let run = try CLI.run(
          ["eigs"] + fixture.fileArguments + ["--operator", name, "--k", "\(k)", "--which", which, "--dtype", "float64", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let json = try run.json()
        #expect(Set(json.keys).isSuperset(of: ["operator", "seconds", "eigenvalues", "matvecs"]))
        #expect(json["operator"] as? String == name)
        #expect((json["matvecs"] as? Int ?? 0) > 0)
        #expect((json["seconds"] as? Double ?? -1) >= 0)
        let values = try #require(json["eigenvalues"] as? [Double])
        let reference = expected[which]!
        #expect(values.count == k)
        for (value, want) in zip(values, reference) {
          #expect(abs(value - want) <= 1e-7 * abs(reference[0]), "\(name) \(which): \(values) vs \(reference)")
        }
      }
    }
    let single = try CLI.run(["eigs"] + fixture.fileArguments + ["--operator", "ggn", "--k", "2", "--json"])
    #expect(single.status == 0, "\(single.stderr)")
    let top = try GGNOperator(problem).dense().symmetricEigenvalues().scalars.reversed().prefix(2)
    let values = try #require(try single.json()["eigenvalues"] as? [Double])
    for (value, want) in zip(values, top) { #expect(abs(value - want) <= 1e-4 * abs(top.first!)) }
  }

  /// `trace`: exact against the operators' traces; the estimators against the library's
  /// with the same seed; Hutch++ with 3P and XTrace with 2P matvecs are exact.
  @Test func traceMatchesTheLibrary() throws {
    let fixture = try CLIFixture.make(mse: true)
    defer { fixture.remove() }
    let problem = try fixture.problem()
    let p = problem.dimension
    func trace(_ arguments: [String]) throws -> (Double, Int) {
      let run = try CLI.run(["trace"] + fixture.fileArguments + arguments + ["--dtype", "float64", "--json"])
      #expect(run.status == 0, "\(arguments): \(run.stderr)")
      let json = try run.json()
      #expect(Set(json.keys).isSuperset(of: ["operator", "seconds", "trace", "matvecs"]))
      return (try #require(json["trace"] as? Double), try #require(json["matvecs"] as? Int))
    }
    let ggn = GGNOperator(problem)
    let exactG = try ggn.dense().trace()
    #expect(abs(try trace(["--operator", "ggn"]).0 - exactG) <= 1e-10 * abs(exactG))
    let exactH = try HessianOperator(problem).dense().trace()
    let (hessianTrace, hessianMatvecs) = try trace(["--operator", "hessian", "--method", "exact"])
    #expect(abs(hessianTrace - exactH) <= 1e-10 * abs(exactH))
    #expect(hessianMatvecs == p)
    let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .type2))
    #expect(abs(try trace(["--operator", "kfac", "--fisher-type", "type-2"]).0 - (try kfac.trace())) <= 1e-10 * abs(exactG))
    #expect(abs(try trace(["--operator", "ggn", "--damping", "0.25"]).0 - (exactG + 0.25 * Double(p))) <= 1e-10 * abs(exactG))

    let hutchinson = try hutchinsonTrace(ggn, matvecs: 40, seed: 9)
    let (value, matvecs) = try trace(["--operator", "ggn", "--method", "hutchinson", "--matvecs", "40", "--seed", "9"])
    #expect(abs(value - hutchinson.value) <= 1e-10 * abs(exactG))
    #expect(matvecs == 40)
    #expect(abs(try trace(["--operator", "ggn", "--method", "hutchpp", "--matvecs", "\(3 * p)"]).0 - exactG) <= 1e-8 * abs(exactG))
    // XTrace needs a sketch of full rank: the Hessian (the GGN's rank is at most N·C = 24 < P).
    #expect(abs(try trace(["--operator", "hessian", "--method", "xtrace", "--matvecs", "\(2 * p)"]).0 - exactH) <= 1e-8 * abs(exactH))
  }

  /// `diag`: exact against the dense diagonal; Hutchinson and XDiag against the library with
  /// the same seed.
  @Test func diagMatchesTheLibrary() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    let problem = try fixture.problem()
    let output = fixture.path("d.npy")
    func diagonal(_ arguments: [String]) throws -> NDArray<Double> {
      let run = try CLI.run(["diag"] + fixture.fileArguments + arguments + ["--dtype", "float64", "--output", output, "--json"])
      #expect(run.status == 0, "\(arguments): \(run.stderr)")
      let json = try run.json()
      #expect(json["output"] as? String == output)
      #expect(json["P"] as? Int == problem.dimension)
      return try CLI.readNPY(URL(fileURLWithPath: output))
    }
    for (name, op) in [
      ("hessian", HessianOperator(problem) as any LinearOperator<Double>), ("ggn", GGNOperator(problem)),
      ("ef", EmpiricalFisherOperator(problem)),
    ] {
      expectClose(try diagonal(["--operator", name]), try op.dense().diagonal(), rtol: 1e-9, atolFactor: 1e-12, name)
    }
    let ggn = GGNOperator(problem)
    expectClose(
      try diagonal(["--operator", "ggn", "--method", "hutchinson", "--matvecs", "30", "--seed", "3"]),
      try hutchinsonDiagonal(ggn, matvecs: 30, seed: 3).value, rtol: 1e-10, "hutchinson")
    expectClose(
      try diagonal(["--operator", "ggn", "--method", "xdiag", "--matvecs", "40", "--seed", "3"]),
      try xDiagonal(ggn, matvecs: 40, seed: 3).value, rtol: 1e-9, "xdiag")
  }

  /// `spectrum`: the JSON grid and density are the library's SLQ density; the SVG has axes,
  /// labels and a curve, on linear and logarithmic scales.
  @Test func spectrumWritesTheDensityAndPlot() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    let problem = try fixture.problem()
    let svg = fixture.path("density.svg")
    let run = try CLI.run(
      ["spectrum"] + fixture.fileArguments
        + ["--operator", "hessian", "--lanczos-steps", "12", "--repeats", "3", "--seed", "2", "--grid-points", "400",
           "--dtype", "float64", "--output", svg, "--json"])
    #expect(run.status == 0, "\(run.stderr)")
    let json = try run.json()
    #expect(Set(json.keys).isSuperset(of: ["operator", "seconds", "grid", "density"]))
    let grid = try #require(json["grid"] as? [Double]), density = try #require(json["density"] as? [Double])
    let quadrature = try stochasticLanczosQuadrature(HessianOperator(problem), options: SLQOptions(steps: 12, probes: 3, seed: 2))
    let expected = quadrature.density(options: SpectralDensityOptions(gridPoints: 400))
    #expect(grid.count == 400 && density.count == 400)
    for i in stride(from: 0, to: 400, by: 7) {
      #expect(abs(grid[i] - expected.grid[i]) <= 1e-9 * max(1, abs(expected.grid[i])))
      #expect(abs(density[i] - expected.density[i]) <= 1e-6 * (expected.density.max() ?? 1))
    }
    #expect(json["matvecs"] as? Int == quadrature.matvecs)
    let text = try String(contentsOfFile: svg, encoding: .utf8)
    #expect(text.hasPrefix("<svg"))
    #expect(text.contains("eigenvalue λ") && text.contains(">density<") && text.contains("Spectral density of the Hessian"))
    #expect(text.contains("<path d=\"M"))

    let logRun = try CLI.run(
      ["spectrum"] + fixture.fileArguments + ["--operator", "ggn", "--lanczos-steps", "10", "--repeats", "2", "--log-scale", "--output", svg])
    #expect(logRun.status == 0, "\(logRun.stderr)")
    #expect(logRun.stdout.contains("Wrote \(svg)"))
    #expect(try String(contentsOfFile: svg, encoding: .utf8).contains("density (log scale)"))
    let magnitude = try CLI.run(
      ["spectrum"] + fixture.fileArguments + ["--operator", "ggn", "--lanczos-steps", "10", "--repeats", "2", "--log-magnitude", "--json"])
    #expect(magnitude.status == 0, "\(magnitude.stderr)")
    #expect(try magnitude.json()["x"] as? String == "log10_magnitude")
  }

  /// `solve`: the solution's residual, recomputed with the library, meets the tolerance,
  /// with and without the KFAC preconditioner, for one and two right-hand sides; MINRES for
  /// the Hessian. (Whether KFAC saves iterations depends on the problem: on this tiny
  /// network it does not, so only convergence is checked.)
  @Test func solveReachesTheTolerance() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    let problem = try fixture.problem()
    let p = problem.dimension
    var rng = RandomGenerator(seed: 11)
    let damping = 0.01
    for (columns, rhsShape) in [(1, [p]), (2, [p, 2])] {
      let b: NDArray<Double> = rng.normalArray(shape: rhsShape)
      try NPYArray(b).write(to: URL(fileURLWithPath: fixture.path("b.npy")))
      var iterations = [String: Int]()
      for (op, preconditioner) in [("ggn", "none"), ("ggn", "kfac"), ("hessian", "none"), ("ef", "kfac")] {
        let run = try CLI.run(
          ["solve"] + fixture.fileArguments
            + ["--operator", op, "--damping", "\(damping)", "--rhs", fixture.path("b.npy"), "--preconditioner", preconditioner,
               "--tol", "1e-8", "--dtype", "float64", "--output", fixture.path("x.npy"), "--json"]
            + (preconditioner == "kfac" ? ["--fisher-type", "type-2"] : []))
        #expect(run.status == 0, "\(op) \(preconditioner): \(run.stderr)")
        let json = try run.json()
        #expect(Set(json.keys).isSuperset(of: ["operator", "seconds", "iterations", "relative_residual"]))
        iterations["\(op) \(preconditioner)"] = json["iterations"] as? Int
        let x = try CLI.readNPY(URL(fileURLWithPath: fixture.path("x.npy")))
        #expect(x.shape == b.shape)
        let a: any LinearOperator<Double>
        switch op {
        case "ggn": a = GGNOperator(problem)
        case "ef": a = EmpiricalFisherOperator(problem)
        default: a = HessianOperator(problem)
        }
        let residual = b - (try a.damped(by: damping).apply(x))
        for j in 0..<columns {
          let r = (0..<p).map { residual.scalars[$0 * columns + j] }, bj = (0..<p).map { b.scalars[$0 * columns + j] }
          let relative = sqrt(r.map { $0 * $0 }.reduce(0, +) / bj.map { $0 * $0 }.reduce(0, +))
          #expect(relative <= 1e-7, "\(op) \(preconditioner) column \(j): \(relative)")
          #expect(relative <= (json["relative_residual"] as? Double ?? 0) * 1.01 + 1e-15)
        }
      }
      #expect(iterations.values.allSatisfy { $0 > 0 }, "\(iterations)")
    }
  }

  /// `bench --json` has exactly the issue's keys, plus P, N and the peak resident memory.
  @Test func benchReportsTheTimings() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    let run = try CLI.run(["bench"] + fixture.fileArguments + ["--repeat", "2", "--json"])
    #expect(run.status == 0, "\(run.stderr)")
    let json = try run.json()
    let timings = ["gradient_ms", "hessian_matvec_ms", "ggn_matvec_ms", "ef_matvec_ms", "kfac_type-2_build_ms", "kfac_mc_build_ms", "kfac_matvec_ms"]
    for key in timings {
      let value = try #require(json[key] as? Double, "missing \(key) in \(run.stdout)")
      #expect(value >= 0 && value < 60_000)
    }
    #expect(json["P"] as? Int == 51)
    #expect(json["N"] as? Int == 12)
    #expect((json["peak_rss_bytes"] as? Int ?? 0) > 1_000_000)
    #expect(json["operator"] as? String == "all")
    #expect(json["seconds"] is Double)
    #expect(run.stdout.split(separator: "\n").count == 1)
  }

  /// Without `--json`, output is a table on stdout; with stderr not a terminal there is no
  /// progress bar.
  @Test func humanOutputIsATable() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    let run = try CLI.run(["eigs"] + fixture.fileArguments + ["--operator", "ggn", "--k", "3"])
    #expect(run.status == 0)
    #expect(run.stderr.isEmpty)
    let lines = run.stdout.split(separator: "\n")
    #expect(lines.first?.hasPrefix("3 largest eigenvalues of the GGN (P = 51 parameters, N = 12 data points") == true)
    #expect(lines.contains { $0.contains("eigenvalue") && $0.contains("#") })
    #expect(lines.contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("3 ") })
    #expect(lines.last?.hasPrefix("matvecs ") == true)
    #expect(!run.stdout.contains("{"))
  }

  /// `demo` (its small variant, for debug builds) trains, reports every section and writes
  /// the SVG; its output is the same on every run.
  @Test func demoRunsWithoutFiles() throws {
    let directory = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let svg = directory.appendingPathComponent("spectrum.svg").path
    let run = try CLI.run(["demo", "--small", "--output", svg])
    #expect(run.status == 0, "\(run.stderr)")
    for text in ["Training", "Top 5 eigenvalues", "Hutch++", "KFAC (type-2)", "EKFAC (type-2)", "preconditioner", "Hessian spectral density", svg] {
      #expect(run.stdout.contains(text), "missing \(text) in \(run.stdout)")
    }
    #expect(try String(contentsOfFile: svg, encoding: .utf8).hasPrefix("<svg"))
    #expect(try CLI.contents(of: directory) == ["spectrum.svg"])
    // Deterministic: a second run prints the same numbers (timings aside).
    let again = try CLI.run(["demo", "--small", "--output", svg])
    func numbers(_ text: String) -> [Substring] {
      text.split(separator: "\n").filter { !$0.contains(" s]") && !$0.hasPrefix("Total time") }
    }
    #expect(numbers(again.stdout) == numbers(run.stdout))
  }
}
