import ArgumentParser
import Curvature
import Foundation

/// `curv laplace`: a Laplace approximation of the trained network's posterior, its
/// evidence and (optionally) its predictive on test inputs.
struct LaplaceCommand: PrecisionGenericCommand {
  static let configuration = CommandConfiguration(
    commandName: "laplace",
    abstract: "Fit a Laplace approximation: log marginal likelihood, prior tuning and the GLM predictive.",
    discussion: """
      Example: curv laplace --model model.json --weights weights.safetensors \
      --inputs X.npy --targets y.npy --structure kron --optimize-prior marglik \
      --predict Xtest.npy --output probs.npy --json

      The posterior precision is the GGN of the summed log-likelihood (H/σ² for regression) \
      plus the prior precision, as laplace-torch defines it: cross-entropy models are \
      classification, MSE models regression with noise --sigma-noise (½‖f − y‖²/σ²), \
      whatever reduction model.json names. kron is KFAC with type-2 Fisher, expand, separate \
      weight and bias blocks (laplace-torch's curvlinops backend) unless --fisher-type or \
      --kfac-approx say otherwise. --predict writes class probabilities [N, C] as float64 \
      .npy for classification, and an .npz with mean [N, C] and variance [N, C, C] (the \
      functional variance J Σ Jᵀ, without σ²) for regression.
      """)

  @OptionGroup(title: "Model and data") var dataOptions: DataOptions

  @Option(help: ArgumentHelp("The curvature structure: \(LaplaceStructureChoice.choices) (default: kron).", valueName: "structure"),
          transform: LaplaceStructureChoice.parse)
  var structure: LaplaceStructureChoice = .kron

  @Option(help: ArgumentHelp("lowrank: the number of top GGN eigenpairs (default: min(20, P)).", valueName: "k"))
  var rank: Int?

  @Option(help: ArgumentHelp("The prior precision λ > 0 (default: 1; the start of --optimize-prior).", valueName: "λ"))
  var priorPrecision: Double = 1

  @Option(help: ArgumentHelp("The observation noise σ > 0 of a regression (MSE) model; required for regression.", valueName: "σ"))
  var sigmaNoise: Double?

  @Option(help: ArgumentHelp("Checked against the model's loss: \(LaplaceLikelihood.choices) (default: the loss's).", valueName: "likelihood"),
          transform: LaplaceLikelihood.parse)
  var likelihood: LaplaceLikelihood?

  @Option(help: ArgumentHelp("Optimize the scalar prior precision: \(PriorOptimization.choices).", valueName: "method"),
          transform: PriorOptimization.parse)
  var optimizePrior: PriorOptimization?

  @Option(help: ArgumentHelp("kron: the Fisher type, \(FisherType.choices) (default: type-2, as laplace-torch).", valueName: "type"),
          transform: FisherType.parse)
  var fisherType: FisherType?

  @Option(help: ArgumentHelp("kron: weight sharing, \(KFACApproximation.choices) (default: expand).", valueName: "approx"),
          transform: KFACApproximation.parse)
  var kfacApprox: KFACApproximation?

  @Option(help: ArgumentHelp("kron with --fisher-type mc: sampled labels per loss term (default: 1).", valueName: "M"))
  var mcSamples: Int?

  @Flag(help: "kron: EKFAC's corrected eigenvalues in KFAC's eigenbases instead of KFAC's (not in laplace-torch).")
  var ekfac = false

  @Flag(help: "kron: laplace-torch's damping, (√s·Λ_B + √λ)⊗(√s·Λ_A + √λ) per weight instead of s·Λ_B⊗Λ_A + λ.")
  var kronDamping = false

  @Option(help: ArgumentHelp("Test inputs [N, ...] as .npy for the GLM predictive (needs --output).", valueName: "Xtest.npy"))
  var predict: String?

  @Option(help: ArgumentHelp("Classification: the link approximation, \(LinkChoice.choices) (default: probit).", valueName: "link"),
          transform: LinkChoice.parse)
  var linkApprox: LinkChoice?

  @Option(help: ArgumentHelp("--link-approx mc: samples of the logits per test point (default: 100).", valueName: "S"))
  var linkSamples: Int?

  @Option(help: ArgumentHelp(
    "Where --predict writes: probabilities [N, C] as float64 .npy (classification), or an .npz with mean and variance (regression).",
    valueName: "path"))
  var output: String?

  @Option(help: ArgumentHelp("Seed of the Monte Carlo labels (--fisher-type mc), the mc link and initial parameters without --weights.", valueName: "S"))
  var seed: UInt64 = 0

  @OptionGroup(title: "Output") var outputOptions: OutputOptions

  func validate() throws {
    guard priorPrecision > 0, priorPrecision.isFinite else {
      throw ValidationError("--prior-precision must be positive and finite, got \(priorPrecision)")
    }
    if let sigmaNoise, !(sigmaNoise > 0 && sigmaNoise.isFinite) {
      throw ValidationError("--sigma-noise must be positive and finite, got \(sigmaNoise)")
    }
    if predict != nil, output == nil { throw ValidationError("--predict needs --output (where to write the predictive)") }
    if output != nil, predict == nil { throw ValidationError("--output needs --predict Xtest.npy (the test inputs)") }
    if predict == nil {
      if linkApprox != nil { throw ValidationError("--link-approx needs --predict Xtest.npy") }
    }
    if let linkSamples {
      guard linkApprox == .mc else { throw ValidationError("--link-samples applies to --link-approx mc only") }
      guard linkSamples >= 1 else { throw ValidationError("--link-samples must be at least 1, got \(linkSamples)") }
    }
    if !structure.isKron {
      for (name, given) in [
        ("--fisher-type", fisherType != nil), ("--kfac-approx", kfacApprox != nil), ("--mc-samples", mcSamples != nil),
        ("--ekfac", ekfac), ("--kron-damping", kronDamping),
      ] where given {
        throw ValidationError("\(name) applies to --structure kron and last-layer-kron, not \(structure.argument)")
      }
    }
    if let mcSamples {
      guard (fisherType ?? .type2) == .mc else { throw ValidationError("--mc-samples applies to --fisher-type mc only") }
      guard mcSamples >= 1 else { throw ValidationError("--mc-samples must be at least 1, got \(mcSamples)") }
    }
    if ekfac, kronDamping { throw ValidationError("--kron-damping applies to KFAC's factors, not to --ekfac") }
    if fisherType == .forwardOnly { throw ValidationError("--fisher-type forward-only has no likelihood curvature; use type-2, mc or empirical") }
    if let rank {
      guard structure == .lowrank else { throw ValidationError("--rank applies to --structure lowrank only") }
      guard rank >= 1 else { throw ValidationError("--rank must be at least 1, got \(rank)") }
    }
  }

  func run() throws {
    if let output { try checkOutputPath(output, inputs: dataOptions.inputFiles + [("--predict", predict!)]) }
    if let predict { try requireFile(predict, option: "--predict") }
    try dispatch()
  }

  /// The JSON keys of `laplace`.
  struct Report: Encodable {
    var logMarginalLikelihood: Double
    var logLikelihood: Double
    var logDetRatio: Double
    var scatter: Double
    var priorPrecision: Double
    var sigmaNoise: Double
    var likelihood: String
    var structure: String
    var kron: String?
    var optimized: Bool
    var P: Int
    var N: Int
    var output: String?
    var fitSeconds: Double
    var optimizeSeconds: Double?
    var predictSeconds: Double?
    var seconds: Double

    enum CodingKeys: String, CodingKey {
      case logMarginalLikelihood = "log_marginal_likelihood", logLikelihood = "log_likelihood"
      case logDetRatio = "log_det_ratio", scatter, priorPrecision = "prior_precision", sigmaNoise = "sigma_noise"
      case likelihood, structure, kron, optimized, P, N, output, ranks
      case fitSeconds = "fit_seconds", optimizeSeconds = "optimize_seconds", predictSeconds = "predict_seconds", seconds
    }

    func encode(to encoder: any Encoder) throws {
      var c = encoder.container(keyedBy: CodingKeys.self)
      try c.encode(logMarginalLikelihood, forKey: .logMarginalLikelihood)
      try c.encode(logLikelihood, forKey: .logLikelihood)
      try c.encode(logDetRatio, forKey: .logDetRatio)
      try c.encode(scatter, forKey: .scatter)
      try c.encode(priorPrecision, forKey: .priorPrecision)
      try c.encode(sigmaNoise, forKey: .sigmaNoise)
      try c.encode(likelihood, forKey: .likelihood)
      try c.encode(structure, forKey: .structure)
      try c.encodeIfPresent(kron, forKey: .kron)
      try c.encode(optimized, forKey: .optimized)
      try c.encode(P, forKey: .P)
      try c.encode(N, forKey: .N)
      try c.encode(output, forKey: .output)  // null, not absent
      try c.encode(rounded(fitSeconds), forKey: .fitSeconds)
      try c.encode(optimizeSeconds.map(rounded), forKey: .optimizeSeconds)
      try c.encode(predictSeconds.map(rounded), forKey: .predictSeconds)
      try c.encode(rounded(seconds), forKey: .seconds)
      // Under mpiexec, as every subcommand's report (OperatorReport): the number of ranks.
      if DataParallel.isLaunchedByMPI { try c.encode(runCommunicator.size, forKey: .ranks) }
    }

    func rounded(_ value: Double) -> Double { (value * 1e6).rounded() / 1e6 }
  }

  /// The library's structure for `--structure` (and the KFAC options).
  func laplaceStructure(parameters: Int) -> LaplaceStructure {
    switch structure {
    case .full, .lastLayerFull: return .full
    case .diag: return .diag
    case .lowrank: return .lowRank(rank: rank ?? Swift.min(20, parameters))
    case .kron, .lastLayerKron:
      let options = KFACOptions(
        fisherType: fisherType ?? .type2, mcSamples: mcSamples ?? 1, seed: seed, approximation: kfacApprox ?? .expand)
      return ekfac ? .ekfac(options) : .kron(options)
    }
  }

  func execute<T: BLASScalar>(_: T.Type) throws {
    let start = ContinuousClock.now
    let loaded = try dataOptions.load(T.self, seed: seed)
    let gate = loaded.gate
    let implied = try LaplaceLikelihood.from(loaded.loss)
    if let likelihood, likelihood != implied {
      throw CLIError("--likelihood \(likelihood.argument) does not match the model's \(loaded.loss.kind.rawValue) loss, a \(implied.rawValue) likelihood")
    }
    if implied == .regression, sigmaNoise == nil {
      throw CLIError("the model's loss is \(loaded.loss.kind.rawValue), a regression likelihood: give its observation noise with --sigma-noise σ")
    }
    if implied == .classification, let sigmaNoise, sigmaNoise != 1 {
      throw CLIError("--sigma-noise applies to regression; the model's \(loaded.loss.kind.rawValue) loss is a classification likelihood")
    }
    if implied == .regression, let linkApprox {
      throw CLIError("--link-approx \(linkApprox.argument) applies to classification; a regression predictive is the closed-form mean and variance")
    }
    let testInputs: NDArray<T>? = try predict.map { path in
      let array = try NPYArray(contentsOf: URL(fileURLWithPath: path)).floats(as: T.self)
      guard array.rank >= 1, Array(array.shape.dropFirst()) == loaded.data.inputShape else {
        throw CLIError("--predict \(path) has shape \(array.shape); the model takes inputs [N] + \(loaded.data.inputShape)")
      }
      return array
    }
    let subset: LaplaceSubset = structure.isLastLayer ? .lastLayer : .all
    let fitStart = ContinuousClock.now
    var la = try gate.run("the Laplace fit") {
      try LaplaceApproximation(
        loaded.problem, structure: laplaceStructure(parameters: loaded.problem.dimension), subset: subset,
        likelihood: likelihood, priorPrecision: [T(priorPrecision)], sigmaNoise: sigmaNoise.map { T($0) }, damping: kronDamping)
    }
    let fitSeconds = secondsSince(fitStart)
    var optimizeSeconds: Double? = nil
    var evidence: LaplaceEvidence<T>
    if optimizePrior != nil {
      let begin = ContinuousClock.now
      evidence = try gate.run("the prior precision optimization") { try la.optimizePriorPrecision() }
      optimizeSeconds = secondsSince(begin)
    } else {
      evidence = try gate.run("the log marginal likelihood") { try la.logMarginalLikelihood() }
    }
    let parts = try gate.check(
      [evidence.logMarginalLikelihood, evidence.logLikelihood, evidence.logDetRatio, evidence.scatter, la.priorPrecision[0]].map { Double($0) },
      "the log marginal likelihood and its parts")
    var predictSeconds: Double? = nil
    if let testInputs, let output {
      let begin = ContinuousClock.now
      if la.likelihood == .classification {
        let link: LinkApproximation
        switch linkApprox ?? .probit {
        case .probit: link = .probit
        case .bridge: link = .bridge
        case .mc: link = .monteCarlo(samples: linkSamples ?? 100, seed: seed)
        }
        let probabilities = try gate.check(
          try gate.run("the predictive probabilities") { try la.predictiveProbabilities(inputs: testInputs, link: link) },
          "the predictive probabilities")
        try writeNPY(probabilities, to: output)
      } else {
        let (mean, variance) = try gate.run("the GLM predictive") { try la.functionalPredictive(inputs: testInputs) }
        let arrays = [
          ("mean", try gate.check(mean, "the predictive mean")), ("variance", try gate.check(variance, "the functional variance")),
        ]
        try writeAtomically(to: output) { url in
          try NPZFile.write(arrays.map { (name: $0.0, array: NPYArray($0.1.converted(to: Double.self))) }, to: url)
        }
      }
      predictSeconds = secondsSince(begin)
    }
    let seconds = secondsSince(start)
    let report = Report(
      logMarginalLikelihood: parts[0], logLikelihood: parts[1], logDetRatio: parts[2], scatter: parts[3], priorPrecision: parts[4],
      sigmaNoise: Double(la.sigmaNoise), likelihood: la.likelihood.rawValue, structure: structure.argument,
      kron: structure.isKron ? (ekfac ? "ekfac" : kronDamping ? "kfac-damped" : "kfac") : nil,
      optimized: optimizePrior != nil, P: la.parameterCount, N: loaded.data.count, output: output, fitSeconds: fitSeconds,
      optimizeSeconds: optimizeSeconds, predictSeconds: predictSeconds, seconds: seconds)
    if outputOptions.json {
      try printJSON(report)
    } else {
      print("Laplace approximation, \(structure.argument), \(la.likelihood.rawValue) (\(loaded.summary), \(la.parameterCount) covered parameters)")
      var table = TextTable(["", "value"])
      table.add(["log marginal likelihood", formatNumber(parts[0], significant: 10)])
      table.add(["log likelihood", formatNumber(parts[1], significant: 10)])
      table.add(["log det ratio", formatNumber(parts[2], significant: 10)])
      table.add(["scatter", formatNumber(parts[3], significant: 10)])
      table.add(["prior precision\(optimizePrior != nil ? " (optimized)" : "")", formatNumber(parts[4], significant: 10)])
      if la.likelihood == .regression { table.add(["sigma noise", formatNumber(Double(la.sigmaNoise), significant: 10)]) }
      table.add(["time", formatSeconds(seconds)])
      print(table.text)
      if let output { print("Wrote \(output)") }
    }
  }
}

/// `--structure` of `curv laplace`.
enum LaplaceStructureChoice: String, OptionChoice, ExpressibleByArgument {
  case full, kron, diag, lowrank
  case lastLayerKron = "last-layer-kron"
  case lastLayerFull = "last-layer-full"

  var argument: String { rawValue }
  var isKron: Bool { self == .kron || self == .lastLayerKron }
  var isLastLayer: Bool { self == .lastLayerKron || self == .lastLayerFull }
}

/// `--optimize-prior` of `curv laplace`.
enum PriorOptimization: String, OptionChoice, ExpressibleByArgument {
  case marglik
  var argument: String { rawValue }
}

/// `--link-approx` of `curv laplace`.
enum LinkChoice: String, OptionChoice, ExpressibleByArgument {
  case probit, bridge, mc
  var argument: String { rawValue }
}

/// `--likelihood` of `curv laplace`.
extension LaplaceLikelihood: ExpressibleByArgument, OptionChoice {
  public var argument: String { rawValue }
}
