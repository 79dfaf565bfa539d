import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// `curv laplace` on the committed laplace-torch fixtures: the JSON evidence and the
/// predictive files match laplace-torch (float64, 1e-8) and the library (float32 and
/// float64); every bad input is one line on stderr with no file written.
@Suite struct CLILaplaceTests {
  /// A copy of a Laplace fixture's files in a temporary directory (outputs go there too).
  struct Case {
    var directory: URL
    var fixture: LaplaceFixture
    var name: String

    init(_ name: String) throws {
      self.name = name
      directory = try CLI.temporaryDirectory()
      let source = LaplaceFixture.directory.appendingPathComponent(name)
      for file in ["model.json", "weights.safetensors", "X.npy", "y.npy", "Xtest.npy"] {
        try FileManager.default.copyItem(at: source.appendingPathComponent(file), to: directory.appendingPathComponent(file))
      }
      fixture = try LaplaceFixture(name)
    }

    func path(_ file: String) -> String { directory.appendingPathComponent(file).path }
    var regression: Bool { fixture.isRegression }
    /// The model and data options (plus `--sigma-noise 0.4` for regression).
    var arguments: [String] {
      ["laplace", "--model", path("model.json"), "--weights", path("weights.safetensors"), "--inputs", path("X.npy"),
       "--targets", path("y.npy")] + (regression ? ["--sigma-noise", "\(LaplaceFixture.sigma)"] : [])
    }
    func remove() { try? FileManager.default.removeItem(at: directory) }
  }

  static let structures: [(argument: String, structure: LaplaceStructure, subset: LaplaceSubset)] = [
    ("full", .full, .all), ("kron", .kron, .all), ("diag", .diag, .all),
    ("last-layer-full", .full, .lastLayer), ("last-layer-kron", .kron, .lastLayer),
  ]

  func json(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    let run = try CLI.run(arguments + ["--json"])
    #expect(run.status == 0, "\(arguments): \(run.stderr)", sourceLocation: sourceLocation)
    return try run.json(sourceLocation: sourceLocation)
  }

  func number(_ object: [String: Any], _ key: String) throws -> Double {
    try #require(object[key] as? Double ?? (object[key] as? Int).map(Double.init), "no number '\(key)' in \(object)")
  }

  /// The evidence keys equal laplace-torch's numbers (float64, 1e-8 relative) for every
  /// structure it has, classification and regression.
  @Test(arguments: LaplaceFixture.cases)
  func evidenceMatchesLaplaceTorch(_ name: String) throws {
    let c = try Case(name)
    defer { c.remove() }
    for (argument, _, _) in Self.structures {
      let object = try json(c.arguments + ["--structure", argument, "--prior-precision", "0.7", "--dtype", "float64"])
      let key = "\(argument)/scalar"
      for (jsonKey, quantity) in [
        ("log_marginal_likelihood", "log_marginal_likelihood"), ("log_likelihood", "log_likelihood"),
        ("log_det_ratio", "log_det_ratio"), ("scatter", "scatter"),
      ] {
        expectRelative(try number(object, jsonKey), try c.fixture.value("\(key)/\(quantity)"), rtol: 1e-8, "\(name) \(argument) \(jsonKey)")
      }
      #expect(try number(object, "prior_precision") == 0.7)
      #expect(object["structure"] as? String == argument)
      #expect(object["likelihood"] as? String == (c.regression ? "regression" : "classification"))
    }
  }

  /// The JSON equals the library's numbers in float32 and float64 (lowrank included), and
  /// `--optimize-prior marglik` reports the library's optimum, at least laplace-torch's.
  @Test(arguments: LaplaceFixture.cases)
  func evidenceEqualsTheLibrary(_ name: String) throws {
    let c = try Case(name)
    defer { c.remove() }
    let sigma = c.regression ? LaplaceFixture.sigma : nil
    let cases = Self.structures + [("lowrank", LaplaceStructure.lowRank(rank: 7), LaplaceSubset.all)]
    for (argument, structure, subset) in cases {
      let rank = argument == "lowrank" ? ["--rank", "7"] : []
      for dtype in ["float32", "float64"] {
        let object = try json(c.arguments + ["--structure", argument, "--prior-precision", "0.7", "--dtype", dtype] + rank)
        let expected: (logMarginalLikelihood: Double, logLikelihood: Double, logDetRatio: Double, scatter: Double)
        let rtol: Double
        if dtype == "float64" {
          let e = try LaplaceApproximation(try c.fixture.problem(), structure: structure, subset: subset, priorPrecision: [0.7], sigmaNoise: sigma)
            .logMarginalLikelihood()
          expected = (e.logMarginalLikelihood, e.logLikelihood, e.logDetRatio, e.scatter)
          rtol = 1e-10
        } else {
          let floats = try floatProblem(c)
          let e = try LaplaceApproximation(floats, structure: structure, subset: subset, priorPrecision: [0.7], sigmaNoise: sigma.map(Float.init))
            .logMarginalLikelihood()
          expected = (Double(e.logMarginalLikelihood), Double(e.logLikelihood), Double(e.logDetRatio), Double(e.scatter))
          rtol = 1e-5
        }
        let what = "\(name) \(argument) \(dtype)"
        expectRelative(try number(object, "log_marginal_likelihood"), expected.logMarginalLikelihood, rtol: rtol, "\(what) lml")
        expectRelative(try number(object, "log_likelihood"), expected.logLikelihood, rtol: rtol, "\(what) log likelihood")
        expectRelative(try number(object, "log_det_ratio"), expected.logDetRatio, rtol: rtol, "\(what) log det ratio")
        expectRelative(try number(object, "scatter"), expected.scatter, rtol: rtol, "\(what) scatter")
      }
    }
    for (argument, structure, subset) in Self.structures {
      let object = try json(c.arguments + ["--structure", argument, "--optimize-prior", "marglik", "--dtype", "float64"])
      var la = try LaplaceApproximation(try c.fixture.problem(), structure: structure, subset: subset, sigmaNoise: sigma)
      let evidence = try la.optimizePriorPrecision()
      expectRelative(try number(object, "prior_precision"), la.priorPrecision[0], rtol: 1e-10, "\(name) \(argument) optimized prior")
      expectRelative(try number(object, "log_marginal_likelihood"), evidence.logMarginalLikelihood, rtol: 1e-12, "\(name) \(argument) optimized lml")
      let theirs = try c.fixture.value("\(argument)/optimized/log_marginal_likelihood")
      #expect(try number(object, "log_marginal_likelihood") >= theirs - 1e-10 * abs(theirs), "\(name) \(argument) below laplace-torch's \(theirs)")
      #expect(object["optimized"] as? Bool == true)
    }
  }

  /// `--ekfac` and `--kron-damping` give the fixtures' EKFAC and damped-kron numbers
  /// (float64, 1e-8), all weights and last layer; they are kron options.
  @Test(arguments: LaplaceFixture.cases)
  func kronVariantsMatchTheFixtures(_ name: String) throws {
    let c = try Case(name)
    defer { c.remove() }
    for (structure, flag, key) in [
      ("kron", "--ekfac", "ekfac"), ("last-layer-kron", "--ekfac", "last-layer-ekfac"),
      ("kron", "--kron-damping", "kron-damped"), ("last-layer-kron", "--kron-damping", "last-layer-kron-damped"),
    ] {
      let object = try json(c.arguments + ["--structure", structure, flag, "--prior-precision", "0.7", "--dtype", "float64"])
      for quantity in ["log_marginal_likelihood", "log_likelihood", "log_det_ratio", "scatter"] {
        expectRelative(try number(object, quantity), try c.fixture.value("\(key)/scalar/\(quantity)"), rtol: 1e-8, "\(name) \(key) \(quantity)")
      }
      #expect(object["kron"] as? String == (flag == "--ekfac" ? "ekfac" : "kfac-damped"))
    }
    try CLI.expectFailure(c.arguments + ["--structure", "full", "--ekfac"], in: c.directory, ["--ekfac applies to --structure kron"], status: 64)
    try CLI.expectFailure(c.arguments + ["--structure", "diag", "--kron-damping"], in: c.directory, ["--kron-damping applies to --structure kron"], status: 64)
    try CLI.expectFailure(c.arguments + ["--ekfac", "--kron-damping"], in: c.directory, ["--kron-damping applies to KFAC's factors"], status: 64)
  }

  func floatProblem(_ c: Case) throws -> CurvatureProblem<Float> { try LaplaceFixture.floatProblem(c.name) }

  /// `--predict`: probit and bridge probabilities and the regression mean and functional
  /// variance equal laplace-torch's (1e-8); the mc link equals the library's with the seed.
  @Test(arguments: LaplaceFixture.cases)
  func predictiveFilesMatchLaplaceTorch(_ name: String) throws {
    let c = try Case(name)
    defer { c.remove() }
    for (argument, structure, subset) in Self.structures {
      let key = "\(argument)/scalar"
      let common = c.arguments + ["--structure", argument, "--prior-precision", "0.7", "--dtype", "float64", "--predict", c.path("Xtest.npy")]
      if c.regression {
        let output = c.path("pred.npz")
        let object = try json(common + ["--output", output])
        #expect(object["output"] as? String == output)
        let archive = try NPZFile(contentsOf: URL(fileURLWithPath: output))
        #expect(archive.names == ["mean", "variance"])
        assertClose(try archive.array(named: "mean").floats(as: Double.self), try c.fixture.array("\(key)/mean"), rtol: 1e-8, atol: 1e-12, "\(argument) mean")
        assertClose(try archive.array(named: "variance").floats(as: Double.self), try c.fixture.array("\(key)/variance"), rtol: 1e-8, atol: 1e-12, "\(argument) variance")
      } else {
        for link in ["probit", "bridge"] {
          let output = c.path("\(link).npy")
          _ = try json(common + ["--link-approx", link, "--output", output])
          assertClose(try CLI.readNPY(URL(fileURLWithPath: output)), try c.fixture.array("\(key)/\(link)"), rtol: 1e-8, atol: 1e-12, "\(argument) \(link)")
        }
        let output = c.path("mc.npy")
        _ = try json(common + ["--link-approx", "mc", "--link-samples", "50", "--seed", "3", "--output", output])
        let la = try LaplaceApproximation(try c.fixture.problem(), structure: structure, subset: subset, priorPrecision: [0.7])
        let expected = try la.predictiveProbabilities(inputs: c.fixture.testInputs, link: .monteCarlo(samples: 50, seed: 3))
        assertClose(try CLI.readNPY(URL(fileURLWithPath: output)), expected, rtol: 1e-12, atol: 1e-15, "\(argument) mc")
      }
    }
    // Without --json: a table and the file.
    let output = c.path(c.regression ? "table.npz" : "table.npy")
    let run = try CLI.run(c.arguments + ["--structure", "kron", "--predict", c.path("Xtest.npy"), "--output", output])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.stdout.contains("log marginal likelihood") && run.stdout.contains("Wrote \(output)"), "\(run.stdout)")
    #expect(FileManager.default.fileExists(atPath: output))
  }

  /// Every bad input: one line on stderr, a non-zero status, nothing written.
  @Test func badInputsFailWithOneLine() throws {
    let c = try Case("mlp_classification")
    defer { c.remove() }
    let r = try Case("mlp_regression")
    defer { r.remove() }
    let out = ["--output", c.path("p.npy")]
    let predict = ["--predict", c.path("Xtest.npy")]
    try CLI.expectFailure(c.arguments + ["--prior-precision", "0"], in: c.directory, ["--prior-precision must be positive"], status: 64)
    try CLI.expectFailure(c.arguments + ["--prior-precision=-2"], in: c.directory, ["--prior-precision must be positive", "-2"], status: 64)
    try CLI.expectFailure(c.arguments + ["--sigma-noise", "0"], in: c.directory, ["--sigma-noise must be positive"], status: 64)
    try CLI.expectFailure(c.arguments + predict, in: c.directory, ["--predict needs --output"], status: 64)
    try CLI.expectFailure(c.arguments + out, in: c.directory, ["--output needs --predict"], status: 64)
    try CLI.expectFailure(c.arguments + ["--structure", "block"], in: c.directory, ["unknown value 'block'", "last-layer-full"], status: 64)
    try CLI.expectFailure(c.arguments + ["--optimize-prior", "adam"], in: c.directory, ["unknown value 'adam'", "marglik"], status: 64)
    try CLI.expectFailure(c.arguments + predict + out + ["--link-approx", "logit"], in: c.directory, ["unknown value 'logit'"], status: 64)
    try CLI.expectFailure(c.arguments + ["--structure", "full", "--fisher-type", "mc"], in: c.directory, ["--fisher-type applies to --structure kron"], status: 64)
    try CLI.expectFailure(c.arguments + ["--structure", "kron", "--rank", "3"], in: c.directory, ["--rank applies to --structure lowrank"], status: 64)
    // Regression without σ, σ for classification, a link for regression.
    let regression = Array(r.arguments.dropLast(2))
    try CLI.expectFailure(regression, in: r.directory, ["mse", "--sigma-noise"], status: 1)
    try CLI.expectFailure(c.arguments + ["--sigma-noise", "0.4"], in: c.directory, ["--sigma-noise applies to regression"], status: 1)
    try CLI.expectFailure(
      r.arguments + ["--predict", r.path("Xtest.npy"), "--output", r.path("p.npz"), "--link-approx", "probit"], in: r.directory,
      ["--link-approx probit applies to classification"], status: 1)
    // A likelihood that does not match the loss.
    try CLI.expectFailure(c.arguments + ["--likelihood", "regression"], in: c.directory, ["--likelihood regression does not match", "cross_entropy"], status: 1)
    // Test inputs of the wrong shape.
    try NPYArray(NDArray<Double>(zeros: [4, 7])).write(to: URL(fileURLWithPath: c.path("bad.npy")))
    try CLI.expectFailure(
      c.arguments + ["--predict", c.path("bad.npy")] + out, in: c.directory, ["--predict", "bad.npy", "[4, 7]", "[N] + [3]"], status: 1)
    try CLI.expectFailure(c.arguments + ["--predict", c.path("missing.npy")] + out, in: c.directory, ["--predict", "no such file"], status: 1)
    // The output may not overwrite an input.
    try CLI.expectFailure(c.arguments + predict + ["--output", c.path("X.npy")], in: c.directory, ["refusing to overwrite an input"], status: 1)
  }

  /// A posterior precision without curvature in most directions and a vanishing prior is
  /// singular: one line, no output file.
  @Test func singularPosteriorFails() throws {
    let fixture = try CLIFixture.make(count: 2)
    defer { fixture.remove() }
    try CLI.expectFailure(
      ["laplace"] + fixture.fileArguments + ["--structure", "full", "--prior-precision", "1e-300", "--dtype", "float64",
       "--predict", fixture.inputsPath, "--output", fixture.path("p.npy")],
      in: fixture.directory, ["posterior precision", "increase the prior precision"], status: 1)
  }

  /// A loss that is no likelihood of the Laplace approximation (BCE with logits).
  @Test func lossWithoutLikelihoodFails() throws {
    let directory = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let model = try Sequential<Double>([Linear(inFeatures: 2, outFeatures: 3)], seed: 1)
    try ModelFile(model: model, loss: Loss(.bceWithLogits, reduction: .mean)).write(
      description: directory.appendingPathComponent("model.json"), weights: directory.appendingPathComponent("w.safetensors"))
    var rng = RandomGenerator(seed: 2)
    try NPYArray(rng.normalArray(shape: [4, 2]) as NDArray<Double>).write(to: directory.appendingPathComponent("X.npy"))
    try NPYArray(NDArray<Double>(shape: [4, 3], scalars: (0..<12).map { Double($0 % 2) })).write(to: directory.appendingPathComponent("y.npy"))
    let path = { (name: String) in directory.appendingPathComponent(name).path }
    try CLI.expectFailure(
      ["laplace", "--model", path("model.json"), "--weights", path("w.safetensors"), "--inputs", path("X.npy"), "--targets", path("y.npy")],
      in: directory, ["bce_with_logits"], status: 1)
  }
}
