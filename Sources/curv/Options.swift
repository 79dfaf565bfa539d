import ArgumentParser
import Curvature
import Foundation

// The option groups the subcommands share, one per concern: the model and data
// (`DataOptions`), the curvature operator (`OperatorOptions`), the randomized estimator
// (`EstimatorOptions`) and the output (`OutputOptions`); and the loading of a model and
// data into a `CurvatureProblem`.

/// The model, data and numerical set-up: `--model --weights --inputs --targets | --data`,
/// `--batch-size`, `--dtype`, `--threads`.
struct DataOptions: ParsableArguments {
  @Option(help: ArgumentHelp("The network and loss (Curvature's model.json).", valueName: "model.json"))
  var model: String

  @Option(help: ArgumentHelp(
    "The parameters as safetensors, keyed by state_dict names (default: PyTorch's initialization, seeded by --seed).",
    valueName: "weights.safetensors"))
  var weights: String?

  @Option(help: ArgumentHelp("The inputs [N, ...] as .npy.", valueName: "X.npy"))
  var inputs: String?

  @Option(help: ArgumentHelp(
    "The targets as .npy: class indices [N] for cross_entropy, values shaped like the outputs otherwise.",
    valueName: "y.npy"))
  var targets: String?

  @Option(help: ArgumentHelp("Inputs and targets as the arrays X and y of an .npz archive (instead of --inputs/--targets).", valueName: "data.npz"))
  var data: String?

  @Option(help: ArgumentHelp("Data points per batch (default: the whole set, capped so one batch fits in memory).", valueName: "B"))
  var batchSize: Int?

  @Option(help: ArgumentHelp("The precision of the computation: \(DType.choices) (default: float32).", valueName: "dtype"), transform: DType.parse)
  var dtype: DType = .float32

  @Option(help: ArgumentHelp("Threads for BLAS and LAPACK, at most the processors OpenBLAS sees (default: OpenBLAS's choice).", valueName: "N"))
  var threads: Int?

  @Option(help: ArgumentHelp(
    "Bytes a batch's passes may use; data files are held in memory, read and checked once, when they need at most half of them (default: half of the memory available).",
    valueName: "bytes"))
  var memoryBudget: Int?

  func validate() throws {
    switch (inputs, targets, data) {
    case (nil, nil, nil):
      throw ValidationError("no data: give --inputs X.npy --targets y.npy, or --data data.npz")
    case (_?, nil, nil):
      throw ValidationError("--inputs needs --targets y.npy")
    case (nil, _?, nil):
      throw ValidationError("--targets needs --inputs X.npy")
    case (_, _, _?) where inputs != nil || targets != nil:
      throw ValidationError("give either --data or --inputs/--targets, not both")
    default: break
    }
    if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
    try BLASThreads.validate(threads)
    if let memoryBudget, memoryBudget < 1 { throw ValidationError("--memory-budget must be at least 1 byte, got \(memoryBudget)") }
  }

  /// The files read, with the options naming them (for `--output` to refuse).
  var inputFiles: [(option: String, path: String)] {
    [("--model", model)] + [("--weights", weights), ("--inputs", inputs), ("--targets", targets), ("--data", data)]
      .compactMap { option, path in path.map { (option, $0) } }
  }

  /// Applies `--threads`.
  func configureThreads() {
    if let threads { NumericsBackend.threadCount = threads }
  }

  /// Reads the model, weights and data and sets up the curvature problem.
  /// - Parameter seed: Initializes the parameters when no weights are given.
  /// - Throws: `CLIError` for missing files; the library's errors for malformed files,
  ///   data that do not fit the model, or non-finite values.
  func load<T: BLASScalar>(_: T.Type, seed: UInt64) throws -> LoadedProblem<T> {
    for (option, path) in inputFiles { try requireFile(path, option: option) }

    let file = try ModelFile<T>(
      description: URL(fileURLWithPath: model), weights: weights.map { URL(fileURLWithPath: $0) }, seed: seed)
    // Graph models (format 2) load in the library; curv's subcommands still take a Sequential.
    guard file.sequential != nil else {
      throw CLIError("\(model): graph models (\"format\": 2) are not supported by curv yet; nothing was written")
    }
    let classTargets = file.loss.kind == .crossEntropy
    let dataset: NPYDataset<T>
    if let data {
      dataset = try NPYDataset<T>(archive: URL(fileURLWithPath: data), classTargets: classTargets)
    } else {
      dataset = try NPYDataset<T>(
        inputs: URL(fileURLWithPath: inputs!), targets: URL(fileURLWithPath: targets!), classTargets: classTargets)
    }
    guard dataset.count > 0 else { throw CLIError("\(data ?? inputs!): the data set is empty (0 data points)") }
    let size = Swift.min(batchSize ?? defaultBatchSize(model: file.model, dataset: dataset), dataset.count)
    let problem = try CurvatureProblem(
      model: file.model, loss: file.loss, data: dataset, batchSize: size, checkDeterminism: false,
      memoryBudget: memoryBudget)
    let loaded = LoadedProblem(model: file.model, loss: file.loss, data: dataset, problem: problem, dtype: dtype)
    do {
      try problem.checkDeterminism()
    } catch CurvatureError.nonDeterministic(let message) {
      // NaN differs from itself: two passes that overflowed are not non-determinism.
      if let overflow = loaded.lossAndGradientOverflow() {
        throw CLIError("non-finite values in the loss and gradient at these weights: \(overflow); nothing was written")
      }
      throw CurvatureError.nonDeterministic(message)
    }
    return loaded
  }

  /// The whole set, capped so that one batch's forward and backward passes (activations,
  /// tangents and cotangents of every layer) fit in about an eighth of physical memory
  /// (at most 1 GiB).
  func defaultBatchSize<T: BLASScalar>(model: Sequential<T>, dataset: some Dataset<T>) -> Int {
    var shape = [1] + dataset.inputShape
    var elements = shape.reduce(1, *)
    for layer in model.layers {
      guard let next = try? layer.outputShape(for: shape) else { return Swift.min(dataset.count, 1024) }
      shape = next
      elements += shape.reduce(1, *)
    }
    let bytesPerPoint = Swift.max(1, elements * MemoryLayout<T>.stride * 32)
    let budget = Swift.min(Int(ProcessInfo.processInfo.physicalMemory / 8), 1 << 30)
    return Swift.max(1, Swift.min(dataset.count, budget / bytesPerPoint))
  }
}

/// A model, loss and data set read from files, and their curvature problem.
struct LoadedProblem<T: BLASScalar> {
  var model: Sequential<T>
  var loss: Loss<T>
  var data: NPYDataset<T>
  var problem: CurvatureProblem<T>
  var dtype: DType

  /// `P = 51 parameters, N = 16 data points in batches of 16, float32`.
  var summary: String {
    "P = \(problem.dimension) parameters, N = \(data.count) data points in batches of \(problem.batchSize), \(dtype.rawValue)"
  }

  /// Where the loss and gradient at these weights stop being finite (the forward or the
  /// backward pass), or nil when they are finite.
  func lossAndGradientOverflow() -> String? {
    do {
      let (loss, gradient) = try problem.lossAndGradient()
      if !loss.isFinite {
        return "the loss at these weights is already \(loss): the forward pass overflows in \(dtype.rawValue)"
      }
      if !gradient.scalars.allSatisfy(\.isFinite) {
        return "the loss is finite but its gradient is not: the backward pass overflows in \(dtype.rawValue)"
      }
      return nil
    } catch {
      return "the forward and backward pass fail: \(oneLineDescription(error))"
    }
  }

  /// The gate for what a run on this problem reports; when values are not finite it tells
  /// whether the forward pass, the backward pass or the curvature products overflowed.
  var gate: FiniteGate {
    FiniteGate { [self] in
      lossAndGradientOverflow() ?? "the loss and its gradient are finite: the curvature products overflow in \(dtype.rawValue)"
    }
  }
}

/// The curvature operator and its settings: `--operator`, `--fisher-type`,
/// `--kfac-approx`, `--mc-samples`, `--joint-bias`, `--seed`, `--damping`.
struct OperatorOptions: ParsableArguments {
  @Option(
    name: .customLong("operator"),
    help: ArgumentHelp("The curvature matrix: \(OperatorKind.choices).", valueName: "operator"),
    transform: OperatorKind.parse)
  var kind: OperatorKind

  @Option(
    help: ArgumentHelp(
      "KFAC/EKFAC: the Fisher type, \(FisherType.choices) (default: mc, as curvlinops).", valueName: "type"),
    transform: FisherType.parse)
  var fisherType: FisherType?

  @Option(
    help: ArgumentHelp("KFAC/EKFAC: weight sharing, \(KFACApproximation.choices) (default: expand).", valueName: "approx"),
    transform: KFACApproximation.parse)
  var kfacApprox: KFACApproximation?

  @Option(help: ArgumentHelp(
    "fisher-mc, and KFAC/EKFAC with --fisher-type mc: sampled labels per loss term (default: 1).", valueName: "M"))
  var mcSamples: Int?

  @Flag(help: "KFAC/EKFAC: one Kronecker block for a layer's weight and bias (default: separate blocks).")
  var jointBias = false

  @Option(help: ArgumentHelp(
    "Seed of every random choice: Monte Carlo labels, probe and start vectors, initial parameters without --weights.",
    valueName: "S"))
  var seed: UInt64 = 0

  @Option(help: ArgumentHelp("Work with the damped operator A + δI (δ ≥ 0).", valueName: "δ"))
  var damping: Double = 0

  func validate() throws {
    guard damping.isFinite, damping >= 0 else { throw ValidationError("--damping must be finite and ≥ 0, got \(damping)") }
    if let mcSamples, mcSamples < 1 { throw ValidationError("--mc-samples must be at least 1, got \(mcSamples)") }
  }

  /// Rejects options that do not apply to the chosen operator.
  /// - Parameter kfacPreconditioner: Whether a KFAC preconditioner also uses the KFAC options.
  /// - Throws: `ValidationError` naming the option and the operator.
  func checkApplicable(kfacPreconditioner: Bool = false) throws {
    let usesKFAC = kind.isKronecker || kfacPreconditioner
    let context = kfacPreconditioner || kind.isKronecker ? "" : " (it is an option of kfac and ekfac)"
    if !usesKFAC {
      if fisherType != nil { throw ValidationError("--fisher-type does not apply to --operator \(kind.argument)\(context)") }
      if kfacApprox != nil { throw ValidationError("--kfac-approx does not apply to --operator \(kind.argument)\(context)") }
      if jointBias { throw ValidationError("--joint-bias does not apply to --operator \(kind.argument)\(context)") }
    }
    if mcSamples != nil {
      let fisher = fisherType ?? .mc
      switch kind {
      case .fisherMC: break
      case .kfac, .ekfac:
        if fisher != .mc {
          throw ValidationError("--mc-samples does not apply to --operator \(kind.argument) with --fisher-type \(fisher.argument) (only mc samples labels)")
        }
      case .hessian, .ggn, .ef:
        if !(kfacPreconditioner && fisher == .mc) {
          throw ValidationError("--mc-samples does not apply to --operator \(kind.argument) (it is an option of fisher-mc, and of kfac/ekfac with --fisher-type mc)")
        }
      }
    }
  }

  /// The settings of kfac and ekfac (and of a KFAC preconditioner).
  var kfacOptions: KFACOptions {
    KFACOptions(
      fisherType: fisherType ?? .mc, mcSamples: mcSamples ?? 1, seed: seed,
      approximation: kfacApprox ?? .expand, jointBias: jointBias)
  }

  /// The operator choice for `makeOperator`.
  var choice: OperatorChoice {
    OperatorChoice(kind: kind, mcSamples: mcSamples ?? 1, seed: seed, kfac: kfacOptions)
  }

  /// The chosen curvature operator of `problem`, undamped.
  /// - Throws: What `makeOperator` throws.
  func undampedOperator<T: BLASScalar>(_ problem: CurvatureProblem<T>) throws -> any LinearOperator<T> {
    try makeOperator(choice, problem: problem)
  }

  /// The operator every subcommand works with: `A + δI` by the library's `damped(by:)`
  /// (the operator itself for δ = 0).
  func dampedOperator<T: BLASScalar>(_ a: any LinearOperator<T>) -> any LinearOperator<T> {
    damping == 0 ? a : a.damped(by: T(damping))
  }
}

/// A `--method` of a subcommand with exact and randomized variants.
protocol EstimatorMethod: OptionChoice, ExpressibleByArgument {
  /// The exact method (the default), which takes no `--matvecs`.
  static var exact: Self { get }
  /// The fewest products the method can work with.
  var minimumMatvecs: Int { get }
  /// Whether the method's sketch has `--matvecs / 2` columns, so at most `2P` products.
  var sketchesAtMostTwiceP: Bool { get }
}

/// The estimator: `--method` and its budget `--matvecs`.
struct EstimatorOptions<Method: EstimatorMethod>: ParsableArguments {
  @Option(help: ArgumentHelp("\(Method.spellings.joined(separator: ", ")) (default: exact).", valueName: "method"), transform: Method.parse)
  var method: Method = .exact

  @Option(help: ArgumentHelp("Products with the operator for the estimators (default: 100).", valueName: "M"))
  var matvecs: Int?

  func validate() throws {
    if method == .exact, matvecs != nil { throw ValidationError("--matvecs does not apply to --method exact") }
    if let matvecs, matvecs < 1 { throw ValidationError("--matvecs must be at least 1, got \(matvecs)") }
    if let matvecs, matvecs < method.minimumMatvecs {
      throw ValidationError("--matvecs must be at least \(method.minimumMatvecs) for --method \(method.argument), got \(matvecs)")
    }
  }

  /// The products the estimator may spend: `--matvecs`, 100 by default.
  /// - Parameter p: The operator's order.
  /// - Throws: `CLIError` naming `--matvecs` when the method cannot spend that many on P.
  func budget(p: Int) throws -> Int {
    let budget = matvecs ?? 100
    if method.sketchesAtMostTwiceP, budget > 2 * p {
      throw CLIError(
        "--matvecs \(budget)\(matvecs == nil ? " (the default)" : "") is more than --method \(method.argument) can use for P = \(p): at most 2P = \(2 * p)")
    }
    return budget
  }
}

/// What every subcommand's output shares: `--json`.
struct OutputOptions: ParsableArguments {
  @Flag(help: "Print one JSON object on stdout instead of a table.")
  var json = false

  /// The progress bar: drawn only for tables (and only on a terminal).
  func progressBar() -> ProgressBar { ProgressBar(enabled: !json) }
}

/// A subcommand that computes in the precision chosen by `--dtype`.
protocol PrecisionGenericCommand: ParsableCommand {
  /// The model and data options.
  var dataOptions: DataOptions { get }
  /// The work, in precision `T`.
  func execute<T: BLASScalar>(_: T.Type) throws
}

extension PrecisionGenericCommand {
  /// Applies `--threads` and runs `execute` in Float or Double.
  func dispatch() throws {
    dataOptions.configureThreads()
    switch dataOptions.dtype {
    case .float32: try execute(Float.self)
    case .float64: try execute(Double.self)
    }
  }
}

/// A subcommand that writes what it computes from one curvature operator to `--output`
/// (`dense`, `diag`): the operator is checked before parsing ends, the output path before
/// any work.
protocol OperatorOutputCommand: PrecisionGenericCommand {
  /// The operator options.
  var operatorOptions: OperatorOptions { get }
  /// The `--output` path.
  var output: String { get }
}

extension OperatorOutputCommand {
  func validate() throws { try operatorOptions.checkApplicable() }

  func run() throws {
    try checkOutputPath(output, inputs: dataOptions.inputFiles)
    try dispatch()
  }
}
