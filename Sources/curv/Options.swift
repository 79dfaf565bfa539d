import ArgumentParser
import Curvature
import Foundation

// The options shared by the subcommands that read a model and data (`DataOptions`) and
// choose a curvature operator (`OperatorOptions`), and the loading of both into a
// `CurvatureProblem`.

/// `--dtype`: the precision of every computation (outputs are written as float64).
enum DType: String, CaseIterable, ExpressibleByArgument {
  case float32, float64
}

/// `--operator`: the curvature matrix.
enum OperatorKind: String, CaseIterable, ExpressibleByArgument {
  case hessian, ggn, ef
  case fisherMC = "fisher-mc"
  case kfac, ekfac

  /// Whether the operator is Kronecker-factored (takes the KFAC options).
  var isKronecker: Bool { self == .kfac || self == .ekfac }

  /// The name in headings.
  var title: String {
    switch self {
    case .hessian: return "Hessian"
    case .ggn: return "GGN"
    case .ef: return "empirical Fisher"
    case .fisherMC: return "Monte Carlo Fisher"
    case .kfac: return "KFAC"
    case .ekfac: return "EKFAC"
    }
  }

  static let choices = allCases.map(\.rawValue).joined(separator: "|")
}

/// `--fisher-type` (curvlinops' `FisherType`).
enum FisherTypeOption: String, CaseIterable, ExpressibleByArgument {
  case type2 = "type-2"
  case mc, empirical
  case forwardOnly = "forward-only"

  var library: FisherType {
    switch self {
    case .type2: return .type2
    case .mc: return .mc
    case .empirical: return .empirical
    case .forwardOnly: return .forwardOnly
    }
  }
}

/// `--kfac-approx`: how weight sharing enters the KFAC factors.
enum KFACApproxOption: String, CaseIterable, ExpressibleByArgument {
  case expand, reduce

  var library: KFACApproximation { self == .expand ? .expand : .reduce }
}

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

  @Option(help: "The precision of the computation: float32 or float64.")
  var dtype: DType = .float32

  @Option(help: ArgumentHelp("Threads for BLAS and LAPACK (default: OpenBLAS's choice).", valueName: "N"))
  var threads: Int?

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
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
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
    try requireFile(model, option: "--model")
    if let weights { try requireFile(weights, option: "--weights") }
    if let data { try requireFile(data, option: "--data") }
    if let inputs { try requireFile(inputs, option: "--inputs") }
    if let targets { try requireFile(targets, option: "--targets") }

    let file = try ModelFile<T>(
      description: URL(fileURLWithPath: model), weights: weights.map { URL(fileURLWithPath: $0) }, seed: seed)
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
    let problem = try CurvatureProblem(model: file.model, loss: file.loss, data: dataset, batchSize: size)
    return LoadedProblem(model: file.model, loss: file.loss, data: dataset, problem: problem, dtype: dtype)
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

/// Requires that `path` names a readable regular file.
/// - Throws: `CLIError` naming the option and the path.
func requireFile(_ path: String, option: String) throws {
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
    throw CLIError("\(option) \(path): no such file")
  }
  guard !isDirectory.boolValue else { throw CLIError("\(option) \(path): is a directory, expected a file") }
  guard FileManager.default.isReadableFile(atPath: path) else { throw CLIError("\(option) \(path): the file is not readable") }
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
}

/// The curvature operator and its settings: `--operator`, `--fisher-type`,
/// `--kfac-approx`, `--mc-samples`, `--joint-bias`, `--seed`, `--damping`.
struct OperatorOptions: ParsableArguments {
  @Option(
    name: .customLong("operator"),
    help: ArgumentHelp("The curvature matrix: \(OperatorKind.choices).", valueName: "operator"))
  var kind: OperatorKind

  @Option(help: ArgumentHelp(
    "KFAC/EKFAC: the Fisher type, type-2|mc|empirical|forward-only (default: mc, as curvlinops).", valueName: "type"))
  var fisherType: FisherTypeOption?

  @Option(help: ArgumentHelp("KFAC/EKFAC: weight sharing, expand|reduce (default: expand).", valueName: "approx"))
  var kfacApprox: KFACApproxOption?

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
      if fisherType != nil { throw ValidationError("--fisher-type does not apply to --operator \(kind.rawValue)\(context)") }
      if kfacApprox != nil { throw ValidationError("--kfac-approx does not apply to --operator \(kind.rawValue)\(context)") }
      if jointBias { throw ValidationError("--joint-bias does not apply to --operator \(kind.rawValue)\(context)") }
    }
    if mcSamples != nil {
      let fisher = fisherType ?? .mc
      switch kind {
      case .fisherMC: break
      case .kfac, .ekfac:
        if fisher != .mc {
          throw ValidationError("--mc-samples does not apply to --operator \(kind.rawValue) with --fisher-type \(fisher.rawValue) (only mc samples labels)")
        }
      case .hessian, .ggn, .ef:
        if !(kfacPreconditioner && fisher == .mc) {
          throw ValidationError("--mc-samples does not apply to --operator \(kind.rawValue) (it is an option of fisher-mc, and of kfac/ekfac with --fisher-type mc)")
        }
      }
    }
  }

  /// The operator choice for `makeOperator`.
  var choice: OperatorChoice {
    OperatorChoice(
      kind: kind, mcSamples: mcSamples ?? 1, seed: seed,
      kfac: KFACOptions(
        fisherType: (fisherType ?? .mc).library, mcSamples: mcSamples ?? 1, seed: seed,
        approximation: (kfacApprox ?? .expand).library, jointBias: jointBias))
  }
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
