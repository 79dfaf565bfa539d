import ArgumentParser
import Curvature
import Foundation

// The options of `curv train` besides the model and data: the optimizer and its schedule
// (`TrainingOptions`), the cockpit's instruments (`CockpitOptions`) and the files the run
// writes (`TrainOutputOptions`). Each group checks its own values; the cross-checks are
// the command's.

/// `--optimizer` of `curv train`.
enum OptimizerChoice: String, OptionChoice, ExpressibleByArgument {
  case sgd, adam, adamw
  var argument: String { rawValue }

  /// PyTorch's default learning rate for Adam and AdamW; SGD has none in PyTorch, 0.01 here.
  var defaultLearningRate: Double { self == .sgd ? 0.01 : 0.001 }

  /// The weight decay without `--weight-decay`: PyTorch's defaults (AdamW 0.01, else 0).
  var defaultWeightDecay: Double { self == .adamw ? 0.01 : 0 }
}

/// `--cockpit`: one of cockpit's instrument configurations.
extension CockpitPreset: ExpressibleByArgument, OptionChoice {
  public var argument: String { rawValue }
}

/// The optimizer and the schedule: `--optimizer`, `--lr`, `--momentum`, `--weight-decay`,
/// `--epochs`, `--no-shuffle`, `--seed` (the minibatch size is `--batch-size` of the model
/// and data options).
struct TrainingOptions: ParsableArguments {
  @Option(help: ArgumentHelp("The optimizer: \(OptimizerChoice.choices) (as torch.optim's SGD, Adam, AdamW; default: sgd).", valueName: "name"),
          transform: OptimizerChoice.parse)
  var optimizer: OptimizerChoice = .sgd

  @Option(help: ArgumentHelp("The learning rate, positive (default: 0.01 for sgd, 0.001 for adam and adamw).", valueName: "η"))
  var lr: Double?

  @Option(help: ArgumentHelp("sgd: the momentum μ in [0, 1) (default: 0, plain SGD).", valueName: "μ"))
  var momentum: Double?

  @Option(help: ArgumentHelp(
    "The weight decay λ ≥ 0: L2 in the gradient for sgd and adam, decoupled for adamw (default: 0; 0.01 for adamw, as PyTorch).",
    valueName: "λ"))
  var weightDecay: Double?

  @Option(help: ArgumentHelp("Passes over the data, at least 1.", valueName: "E"))
  var epochs: Int = 1

  @Flag(help: "Visit the data in their order in every epoch (PyTorch's shuffle=False) instead of a seeded permutation per epoch.")
  var noShuffle = false

  @Option(help: ArgumentHelp(
    "Seed of the shuffling, of HessMaxEV's Lanczos start vectors and of the initial parameters without --weights.",
    valueName: "S"))
  var seed: UInt64 = 0

  func validate() throws {
    if let lr, !(lr.isFinite && lr > 0) { throw ValidationError("--lr must be positive and finite, got \(lr)") }
    if let momentum {
      guard optimizer == .sgd else {
        throw ValidationError("--momentum applies to --optimizer sgd only (\(optimizer.argument) keeps its own moment averages)")
      }
      guard momentum.isFinite, momentum >= 0, momentum < 1 else {
        throw ValidationError("--momentum must be in [0, 1), got \(momentum)")
      }
    }
    try OptionChecks.finiteNonNegative(weightDecay, "--weight-decay")
    try OptionChecks.atLeastOne(epochs, "--epochs")
  }

  /// The learning rate: `--lr` or the optimizer's default.
  var learningRate: Double { lr ?? optimizer.defaultLearningRate }

  /// The weight decay: `--weight-decay` or the optimizer's default.
  var decay: Double { weightDecay ?? optimizer.defaultWeightDecay }

  /// The order of every epoch.
  var order: TrainingOrder { noShuffle ? .sequential : .shuffled(seed: seed) }
}

/// The instruments: `--cockpit`, `--instruments`, `--every`.
struct CockpitOptions: ParsableArguments {
  @Option(help: ArgumentHelp(
    "Track one of cockpit's instrument sets: \(CockpitPreset.choices) (economy: loss, distance, update size, gradient norm and tests, α, histogram; business adds TIC and the Hessian trace; full adds HessMaxEV and the 2d histogram).",
    valueName: "preset"),
    transform: CockpitPreset.parse)
  var cockpit: CockpitPreset?

  @Option(help: ArgumentHelp(
    "Comma-separated instruments to track (added to --cockpit's), by their log keys or cockpit's names: tic-trace, mean-gsnr, cabs, early-stopping, hess_max_ev, GradHist1d, ...",
    valueName: "a,b,..."))
  var instruments: String?

  @Option(help: ArgumentHelp("Evaluate the instruments every n steps: steps 0, n, 2n, ... (default: 1).", valueName: "n"))
  var every: Int?

  func validate() throws {
    _ = try addedInstruments()
    if let every {
      try OptionChecks.atLeastOne(every, "--every")
      if !isEnabled { throw ValidationError("--every needs instruments: give --cockpit or --instruments") }
    }
  }

  /// Whether any instrument is chosen.
  var isEnabled: Bool { cockpit != nil || instruments != nil }

  /// The instruments of `--instruments`, in its order.
  /// - Throws: `ValidationError` naming `--instruments` for an empty entry or an unknown name.
  func addedInstruments() throws -> [CockpitInstrument] {
    guard let instruments else { return [] }
    let entries = try OptionChecks.commaSeparated(instruments, "--instruments", of: "instrument names")
    do {
      return try entries.map { try CockpitInstrument(named: $0) }
    } catch CurvatureError.invalidArgument(let message) {
      throw ValidationError("--instruments: \(message)")
    }
  }

  /// The chosen instruments, in `CockpitInstrument` order (empty without `--cockpit` and
  /// `--instruments`).
  func chosenInstruments() throws -> [CockpitInstrument] {
    let chosen = Set((cockpit?.instruments ?? []) + (try addedInstruments()))
    return CockpitInstrument.allCases.filter(chosen.contains)
  }
}

/// The files `curv train` writes: `--log`, `--save-weights`, `--plot`.
struct TrainOutputOptions: ParsableArguments {
  @Option(help: ArgumentHelp(
    "Write one JSON object per tracked step: 'step' and one key per instrument (loss, grad_norm, alpha, hess_max_ev, ...; null where not computed), and learning_rate with loss.",
    valueName: "run.jsonl"))
  var log: String?

  @Option(help: ArgumentHelp(
    "Write the trained parameters as safetensors, keyed by state_dict names (read by the other subcommands' --weights).",
    valueName: "out.safetensors"))
  var saveWeights: String?

  @Option(help: ArgumentHelp("Write cockpit's dashboard of the tracked instruments: one self-contained HTML page with inline SVG.", valueName: "cockpit.html"))
  var plot: String?

  /// The output paths with the options naming them.
  var files: [(option: String, path: String)] {
    [("--log", log), ("--save-weights", saveWeights), ("--plot", plot)].compactMap { option, path in path.map { (option, $0) } }
  }
}
