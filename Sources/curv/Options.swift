import ArgumentParser
import Curvature
import Foundation

// The option groups the subcommands share, one per concern: the model and data
// (`DataOptions`), the curvature operator (`OperatorOptions`), the randomized estimator
// (`EstimatorOptions`) and the output (`OutputOptions`); and the loading of a model and
// data into a `CurvatureProblem`.

/// The checks of option values the groups share (here and in TrainOptions.swift), each one
/// `ValidationError` line naming the flag and the value.
enum OptionChecks {
  /// A count given with `flag` must be at least 1 (`unit` follows the bound, e.g. " byte").
  static func atLeastOne(_ value: Int?, _ flag: String, unit: String = "") throws {
    if let value, value < 1 { throw ValidationError("\(flag) must be at least 1\(unit), got \(value)") }
  }

  /// A value given with `flag` must be finite and ≥ 0.
  static func finiteNonNegative(_ value: Double?, _ flag: String) throws {
    if let value, !(value.isFinite && value >= 0) { throw ValidationError("\(flag) must be finite and ≥ 0, got \(value)") }
  }

  /// The trimmed entries of the comma-separated `list` of `flag`; an empty entry is an
  /// error saying the list holds `what`.
  static func commaSeparated(_ list: String, _ flag: String, of what: String) throws -> [String] {
    let entries = list.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    if entries.contains(where: \.isEmpty) {
      throw ValidationError("\(flag) '\(list)' has an empty entry: give comma-separated \(what)")
    }
    return entries
  }
}

/// The model, data and numerical set-up: `--model --weights --inputs --targets | --data`,
/// `--parameters`, `--batch-size`, `--dtype`, `--threads`.
struct DataOptions: ParsableArguments {
  @Option(help: ArgumentHelp("The network and loss (Curvature's model.json, format 1 or a graph of format 2).", valueName: "model.json"))
  var model: String

  @Option(help: ArgumentHelp(
    "The parameters as safetensors, keyed by state_dict names (default: PyTorch's initialization, seeded by --seed).",
    valueName: "weights.safetensors"))
  var weights: String?

  @Option(help: ArgumentHelp(
    "The inputs [N, ...] as .npy (float, or integer/bool for token ids and masks); repeat once per graph input, in the graph's input order.",
    valueName: "X.npy"))
  var inputs: [String] = []

  @Option(help: ArgumentHelp(
    "The targets as .npy: class indices [N] for cross_entropy ([N, d1, ...] for outputs [N, C, d1, ...]), values shaped like the outputs otherwise.",
    valueName: "y.npy"))
  var targets: String?

  @Option(help: ArgumentHelp(
    "Inputs and targets as the arrays X and y of an .npz archive, or input_0, input_1, ... and targets as in the exporter's reference.npz (instead of --inputs/--targets).",
    valueName: "data.npz"))
  var data: String?

  @Option(help: ArgumentHelp(
    "The parameters the operator acts on: comma-separated state_dict names or patterns with * and ? ('blocks.*.mlp.*'), kept in the model's order (default: all).",
    valueName: "LIST"))
  var parameters: String?

  @Option(help: ArgumentHelp("Data points per batch (default: the whole set, capped so one batch's passes fit in --memory-budget).", valueName: "B"))
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
    switch (inputs.isEmpty, targets, data) {
    case (true, nil, nil):
      throw ValidationError("no data: give --inputs X.npy --targets y.npy, or --data data.npz")
    case (false, nil, nil):
      throw ValidationError("--inputs needs --targets y.npy")
    case (true, _?, nil):
      throw ValidationError("--targets needs --inputs X.npy")
    case (_, _, _?) where !inputs.isEmpty || targets != nil:
      throw ValidationError("give either --data or --inputs/--targets, not both")
    default: break
    }
    try OptionChecks.atLeastOne(batchSize, "--batch-size")
    _ = try parameterPatterns()
    try BLASThreads.validate(threads)
    try OptionChecks.atLeastOne(memoryBudget, "--memory-budget", unit: " byte")
  }

  /// The names and patterns of `--parameters`, nil when it is not given.
  /// - Throws: `ValidationError` for an empty list or an empty entry.
  func parameterPatterns() throws -> [String]? {
    guard let parameters else { return nil }
    return try OptionChecks.commaSeparated(parameters, "--parameters", of: "state_dict names or patterns")
  }

  /// The files read, with the options naming them (for `--output` to refuse).
  var inputFiles: [(option: String, path: String)] {
    [("--model", model)] + [("--weights", weights)].compactMap { option, path in path.map { (option, $0) } }
      + inputs.map { ("--inputs", $0) }
      + [("--targets", targets), ("--data", data)].compactMap { option, path in path.map { (option, $0) } }
  }

  /// Applies `--threads`.
  func configureThreads() {
    if let threads { NumericsBackend.threadCount = threads }
  }

  /// Reads the model, weights and data and sets up the curvature problem (restricted to
  /// `--parameters` when given).
  /// - Parameter seed: Initializes the parameters when no weights are given.
  /// - Throws: `CLIError` for missing files, data files that do not fit a graph's inputs
  ///   and `--parameters` that match nothing; the library's errors for malformed files,
  ///   data that do not fit the model, or non-finite values.
  func load<T: BLASScalar>(_: T.Type, seed: UInt64) throws -> LoadedProblem<T> {
    for (option, path) in inputFiles { try requireFile(path, option: option) }

    let file = try ModelFile<T>(
      description: URL(fileURLWithPath: model), weights: weights.map { URL(fileURLWithPath: $0) }, seed: seed)
    let dataset = try loadDataset(file)
    guard dataset.count > 0 else { throw CLIError("\(data ?? inputs[0]): the data set is empty (0 data points)") }
    let network = file.network
    let blocks = try selectedBlocks(network)
    let size = Swift.min(batchSize ?? defaultBatchSize(file: file, dataset: dataset), dataset.count)
    let problem = try CurvatureProblem(
      model: network, loss: file.loss, data: dataset, batchSize: size, blocks: blocks, checkDeterminism: false,
      memoryBudget: memoryBudget, communicator: runCommunicator)
    let loaded = LoadedProblem(model: network, loss: file.loss, data: dataset, problem: problem, dtype: dtype)
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

  /// The data set of `--inputs/--targets` or `--data`, checked against the model: one input
  /// file per graph input, integer or boolean files for a graph's integer and boolean
  /// inputs, class targets `[N, d1, …]` for cross-entropy on outputs `[N, C, d1, …]`.
  /// - Throws: `CLIError` naming the option, the file and the graph's inputs; the library's
  ///   errors for malformed files.
  func loadDataset<T: BLASScalar>(_ file: ModelFile<T>) throws -> NPYDataset<T> {
    let classTargets = file.loss.kind == .crossEntropy
    // Cross-entropy takes PyTorch's class axis 1: outputs [N, C, d1, ...] need targets [N, d1, ...].
    let classTargetShape = file.graph.map { Array($0.outputShape.dropFirst(2)) } ?? []
    let specs = file.graph?.inputSpecs ?? [GraphValueSpec(name: "input", shape: [-1])]
    let names = specs.map { "'\($0.name)'" }.joined(separator: ", ")
    if !inputs.isEmpty, inputs.count != specs.count {
      throw CLIError(
        "\(inputs.count) --inputs file\(inputs.count == 1 ? "" : "s") given, but \(model) takes \(specs.count) input\(specs.count == 1 ? "" : "s"): \(names) (give --inputs once per input, in this order)")
    }
    let dataset: NPYDataset<T>
    if let data {
      dataset = try NPYDataset<T>(archive: URL(fileURLWithPath: data), classTargets: classTargets, classTargetShape: classTargetShape)
      guard dataset.inputCount == specs.count else {
        throw CLIError(
          "--data \(data) holds \(dataset.inputCount) input array\(dataset.inputCount == 1 ? "" : "s"), but \(model) takes \(specs.count): \(names) (give X, or input_0, input_1, ... in this order)")
      }
    } else {
      dataset = try NPYDataset<T>(
        inputs: inputs.map { URL(fileURLWithPath: $0) }, targets: URL(fileURLWithPath: targets!), classTargets: classTargets,
        classTargetShape: classTargetShape)
    }
    for (index, (spec, stored)) in zip(specs, dataset.inputDTypes).enumerated() where spec.dtype != .float {
      if stored == .float16 || stored == .float32 || stored == .float64 {
        throw CLIError(
          "\(dataset.inputSources[index]): graph input '\(spec.name)' is \(spec.dtype.rawValue) (\(spec.dtype == .bool ? "a mask" : "token ids or indices")), but the file holds \(stored) values; give an \(spec.dtype == .bool ? "bool or integer" : "integer (int64 or int32)") .npy")
      }
    }
    return dataset
  }

  /// The parameter blocks `--parameters` chooses (nil: all).
  /// - Throws: `CLIError` naming `--parameters`, the pattern that matches nothing and the
  ///   model's parameter names.
  func selectedBlocks<T: BLASScalar>(_ network: any DifferentiableModel<T>) throws -> [Int]? {
    guard let patterns = try parameterPatterns() else { return nil }
    do {
      return try network.parameterBlocks(matching: patterns)
    } catch CurvatureError.invalidArgument(let message) {
      throw CLIError("--parameters: \(message)")
    }
  }

  /// The whole set, capped so that one batch's forward and backward passes (activations,
  /// tangents and cotangents of every layer, counted 32 times over for the passes' other
  /// intermediates) fit in the memory budget (`--memory-budget`, default half of the memory
  /// available), the bytes the problem itself allows a batch's passes. A graph's
  /// intermediate shapes are not listed, so each of its nodes is counted as large as its
  /// largest input or output. (Until issue 17 the cap was an eighth of physical memory, at
  /// most 1 GiB: the compare.py CNN in float64 then ran in two batches of 69 and 59 points,
  /// each too small to split into row chunks, on one core.)
  func defaultBatchSize<T: BLASScalar>(file: ModelFile<T>, dataset: some Dataset<T>) -> Int {
    var elements = 0
    if let sequential = file.sequential {
      var shape = [1] + dataset.inputShape
      elements = shape.reduce(1, *)
      for layer in sequential.layers {
        guard let next = try? layer.outputShape(for: shape) else { return Swift.min(dataset.count, 1024) }
        shape = next
        elements += shape.reduce(1, *)
      }
    } else if let graph = file.graph {
      let widest = (graph.inputSpecs.map(\.shape) + [graph.outputShape]).map { $0.dropFirst().reduce(1, *) }.max() ?? 1
      elements = widest * Swift.max(1, graph.nodeCount)
    }
    let bytesPerPoint = Swift.max(1, elements * MemoryLayout<T>.stride * 32)
    let budget = memoryBudget ?? MemoryBudget.defaultBytes
    let cap = file.graph == nil ? dataset.count : 1024
    return Swift.max(1, Swift.min(dataset.count, cap, budget / bytesPerPoint))
  }
}

/// A model, loss and data set read from files, and their curvature problem.
struct LoadedProblem<T: BLASScalar> {
  var model: any DifferentiableModel<T>
  var loss: Loss<T>
  var data: NPYDataset<T>
  var problem: CurvatureProblem<T>
  var dtype: DType

  /// `P = 51 parameters, N = 16 data points in batches of 16, float32`, with the number
  /// of selected parameter tensors when `--parameters` chose some.
  var summary: String {
    let total = model.parameterSpecs.count
    let selection = problem.blocks.count < total ? " (\(problem.blocks.count) of \(total) parameter tensors)" : ""
    return "P = \(problem.dimension) parameters\(selection), N = \(data.count) data points in batches of \(problem.batchSize), \(dtype.rawValue)"
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
      // The diagnosis makes another pass over the data, collective with several ranks; a
      // failure seen on one rank only would leave the others waiting in another collective.
      guard problem.communicator.size == 1 else { return nil }
      return lossAndGradientOverflow() ?? "the loss and its gradient are finite: the curvature products overflow in \(dtype.rawValue)"
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

  @Option(
    help: ArgumentHelp(
      "KFAC/EKFAC: the curvature of parameters outside linear and convolution nodes (norms, embeddings, free or tied parameters), \(OtherParameters.choices) (default: diagonal; a note on stderr names them).",
      valueName: "kind"),
    transform: OtherParameters.parse)
  var otherParameters: OtherParameters?

  @Option(
    help: ArgumentHelp(
      "KFAC/EKFAC: a packed in-projection (nn.MultiheadAttention's in_proj_weight [3E, E] read as q, k, v) as one Kronecker block with the q-k-v cross terms or a block per projection, \(PackedProjection.choices) (default: one-block).",
      valueName: "kind"),
    transform: PackedProjection.parse)
  var packedProjection: PackedProjection?

  @Flag(help: "KFAC: Kronecker-factor the embeddings of a graph model (token counts ⊗ output-gradient covariance; default: they are other parameters).")
  var kfacEmbeddings = false

  @Option(help: ArgumentHelp(
    "Seed of every random choice: Monte Carlo labels, probe and start vectors, initial parameters without --weights.",
    valueName: "S"))
  var seed: UInt64 = 0

  @Option(help: ArgumentHelp("Work with the damped operator A + δI (δ ≥ 0).", valueName: "δ"))
  var damping: Double = 0

  func validate() throws {
    try OptionChecks.finiteNonNegative(damping, "--damping")
    try OptionChecks.atLeastOne(mcSamples, "--mc-samples")
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
      if otherParameters != nil {
        throw ValidationError("--other-parameters does not apply to --operator \(kind.argument)\(context)")
      }
      if packedProjection != nil {
        throw ValidationError("--packed-projection does not apply to --operator \(kind.argument)\(context)")
      }
      if kfacEmbeddings { throw ValidationError("--kfac-embeddings does not apply to --operator \(kind.argument)\(context)") }
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
      approximation: kfacApprox ?? .expand, jointBias: jointBias, otherParameters: otherParameters ?? .diagonal,
      packedProjection: packedProjection ?? .oneBlock, embeddings: kfacEmbeddings)
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
    try OptionChecks.atLeastOne(matvecs, "--matvecs")
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
