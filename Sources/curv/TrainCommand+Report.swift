import Curvature
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// What `curv train` reports: the losses, and the time per step of the training itself
// (forward, backward, update) and of the instruments, in wall-clock and CPU time, so that
// the instruments' overhead is read off one run.

/// Splits each training step's time into the step itself and the instruments that
/// observed it: `stepDone` marks the end of a step's update, `instrumentsDone` the end of
/// its observation (with no instruments, both are the same instant).
struct StepClock {
  var wall = ContinuousClock.now
  var cpu = processCPUSeconds()
  /// Per step: wall-clock and CPU seconds of the step (since the previous observation ended).
  var stepWall = [Double](), stepCPU = [Double]()
  /// Per step: wall-clock and CPU seconds of the instruments.
  var instrumentWall = [Double](), instrumentCPU = [Double]()
  /// Per step: the minibatch loss before the update.
  var losses = [Double]()

  mutating func stepDone(loss: Double) {
    let (now, cpuNow) = (ContinuousClock.now, processCPUSeconds())
    stepWall.append(seconds(now - wall))
    stepCPU.append(cpuNow - cpu)
    losses.append(loss)
    (wall, cpu) = (now, cpuNow)
  }

  mutating func instrumentsDone() {
    let (now, cpuNow) = (ContinuousClock.now, processCPUSeconds())
    instrumentWall.append(seconds(now - wall))
    instrumentCPU.append(cpuNow - cpu)
    (wall, cpu) = (now, cpuNow)
  }

  func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
  }

  /// The mean time of a training step in milliseconds. The first step also reads and
  /// checks the whole data set (`train` validates it before the first update), so it is
  /// left out when there are others.
  static func stepMilliseconds(_ times: [Double]) -> Double {
    let steps = times.count > 1 ? Array(times.dropFirst()) : times
    return steps.isEmpty ? 0 : steps.reduce(0, +) / Double(steps.count) * 1e3
  }

  /// The mean instrument time per step in milliseconds, over every step (tracked or not:
  /// α's end point is evaluated on the step after a tracked one).
  static func instrumentMilliseconds(_ times: [Double]) -> Double {
    times.isEmpty ? 0 : times.reduce(0, +) / Double(times.count) * 1e3
  }
}

/// One training run's clock and losses.
struct TrainingRun<T: BLASScalar> {
  var start: ContinuousClock.Instant
  var clock = StepClock()
  var epochLosses = [T]()

  init(start: ContinuousClock.Instant) { self.start = start }
}

/// The report of `curv train`: the JSON object of `--json`, and the text summary.
struct TrainReport: Encodable {
  var optimizer: String
  var lr: Double
  var momentum: Double?
  var weightDecay: Double
  var epochs: Int
  var batchSize: Int
  var shuffle: Bool
  var seed: UInt64
  var dtype: String
  var P: Int
  var N: Int
  var steps: Int
  var cockpit: String?
  var instruments: [String]
  var every: Int?
  var trackedSteps: Int
  /// The instruments beyond `--cockpit`'s preset (for the summary).
  var addedInstruments: [String]
  var lossFirst: Double?
  var lossLast: Double?
  var epochLosses: [Double]
  var plainStepMilliseconds: Double
  var instrumentsStepMilliseconds: Double
  var cpuPlainStepMilliseconds: Double
  var cpuInstrumentsStepMilliseconds: Double
  var log: String?
  var weights: String?
  var plot: String?
  var trainingSeconds: Double
  var seconds: Double

  enum CodingKeys: String, CodingKey {
    case optimizer, lr, momentum, weightDecay = "weight_decay", epochs, batchSize = "batch_size", shuffle, seed, dtype, P, N
    case steps, cockpit, instruments, every, trackedSteps = "tracked_steps", lossFirst = "loss_first", lossLast = "loss_last"
    case epochLosses = "epoch_losses", plainStepMilliseconds = "plain_step_ms", stepMilliseconds = "step_ms"
    case instrumentsStepMilliseconds = "instruments_step_ms", overhead
    case cpuPlainStepMilliseconds = "cpu_plain_step_ms", cpuStepMilliseconds = "cpu_step_ms"
    case cpuInstrumentsStepMilliseconds = "cpu_instruments_step_ms", cpuOverhead = "cpu_overhead"
    case log, weights, plot, trainingSeconds = "training_seconds", seconds
  }

  init<T: BLASScalar>(
    command: TrainCommand, parameterCount: Int, pointCount: Int, batchSize: Int, instruments: [CockpitInstrument],
    trackedSteps: Int, run: TrainingRun<T>, trainingSeconds: Double, seconds: Double
  ) {
    let training = command.trainingOptions
    optimizer = training.optimizer.argument
    lr = training.learningRate
    momentum = training.optimizer == .sgd ? training.momentum ?? 0 : nil
    weightDecay = training.decay
    epochs = training.epochs
    self.batchSize = batchSize
    shuffle = !training.noShuffle
    seed = training.seed
    dtype = command.dataOptions.dtype.rawValue
    P = parameterCount
    N = pointCount
    steps = run.clock.losses.count
    cockpit = command.cockpitOptions.cockpit?.argument
    self.instruments = instruments.map(\.rawValue)
    let preset = Set(command.cockpitOptions.cockpit?.instruments ?? [])
    addedInstruments = instruments.filter { !preset.contains($0) }.map(\.rawValue)
    every = instruments.isEmpty ? nil : command.cockpitOptions.every ?? 1
    self.trackedSteps = trackedSteps
    lossFirst = run.clock.losses.first
    lossLast = run.clock.losses.last
    epochLosses = run.epochLosses.map { Double($0) }
    plainStepMilliseconds = StepClock.stepMilliseconds(run.clock.stepWall)
    cpuPlainStepMilliseconds = StepClock.stepMilliseconds(run.clock.stepCPU)
    instrumentsStepMilliseconds = StepClock.instrumentMilliseconds(run.clock.instrumentWall)
    cpuInstrumentsStepMilliseconds = StepClock.instrumentMilliseconds(run.clock.instrumentCPU)
    log = command.outputFiles.log
    weights = command.outputFiles.saveWeights
    plot = command.outputFiles.plot
    self.trainingSeconds = trainingSeconds
    self.seconds = seconds
  }

  /// Mean time per step with the instruments.
  var stepMilliseconds: Double { plainStepMilliseconds + instrumentsStepMilliseconds }
  var cpuStepMilliseconds: Double { cpuPlainStepMilliseconds + cpuInstrumentsStepMilliseconds }
  /// With instruments over without (1 without instruments).
  var overhead: Double { plainStepMilliseconds > 0 ? stepMilliseconds / plainStepMilliseconds : 1 }
  var cpuOverhead: Double { cpuPlainStepMilliseconds > 0 ? cpuStepMilliseconds / cpuPlainStepMilliseconds : 1 }

  func encode(to encoder: any Encoder) throws {
    func rounded(_ value: Double) -> Double { (value * 1e6).rounded() / 1e6 }
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(optimizer, forKey: .optimizer)
    try c.encode(lr, forKey: .lr)
    try c.encode(momentum, forKey: .momentum)  // null, not absent
    try c.encode(weightDecay, forKey: .weightDecay)
    try c.encode(epochs, forKey: .epochs)
    try c.encode(batchSize, forKey: .batchSize)
    try c.encode(shuffle, forKey: .shuffle)
    try c.encode(seed, forKey: .seed)
    try c.encode(dtype, forKey: .dtype)
    try c.encode(P, forKey: .P)
    try c.encode(N, forKey: .N)
    try c.encode(steps, forKey: .steps)
    try c.encode(cockpit, forKey: .cockpit)
    try c.encode(instruments, forKey: .instruments)
    try c.encode(every, forKey: .every)
    try c.encode(trackedSteps, forKey: .trackedSteps)
    try c.encode(lossFirst, forKey: .lossFirst)
    try c.encode(lossLast, forKey: .lossLast)
    try c.encode(epochLosses, forKey: .epochLosses)
    try c.encode(rounded(plainStepMilliseconds), forKey: .plainStepMilliseconds)
    try c.encode(rounded(stepMilliseconds), forKey: .stepMilliseconds)
    try c.encode(rounded(instrumentsStepMilliseconds), forKey: .instrumentsStepMilliseconds)
    try c.encode(rounded(overhead), forKey: .overhead)
    try c.encode(rounded(cpuPlainStepMilliseconds), forKey: .cpuPlainStepMilliseconds)
    try c.encode(rounded(cpuStepMilliseconds), forKey: .cpuStepMilliseconds)
    try c.encode(rounded(cpuInstrumentsStepMilliseconds), forKey: .cpuInstrumentsStepMilliseconds)
    try c.encode(rounded(cpuOverhead), forKey: .cpuOverhead)
    try c.encode(log, forKey: .log)
    try c.encode(weights, forKey: .weights)
    try c.encode(plot, forKey: .plot)
    try c.encode(rounded(trainingSeconds), forKey: .trainingSeconds)
    try c.encode(rounded(seconds), forKey: .seconds)
  }

  /// The human-readable summary.
  var text: String {
    let settings = optimizer == "sgd"
      ? "sgd, lr \(formatNumber(lr))\(momentum.map { $0 > 0 ? ", momentum \(formatNumber($0))" : "" } ?? "")"
      : "\(optimizer), lr \(formatNumber(lr))"
    let decay = weightDecay > 0 ? ", weight decay \(formatNumber(weightDecay))" : ""
    var lines = [
      "Trained with \(settings)\(decay): \(epochs) epoch\(epochs == 1 ? "" : "s"), \(steps) steps of batch size \(batchSize)\(shuffle ? "" : ", no shuffling") (P = \(P), N = \(N), \(dtype))"
    ]
    if let first = lossFirst, let last = lossLast {
      lines.append("  loss: \(formatNumber(first)) at the first step, \(formatNumber(last)) at the last")
    }
    if epochLosses.count > 1 {
      lines.append("  epoch mean loss: \(epochLosses.map { formatNumber($0, significant: 4) }.joined(separator: ", "))")
    }
    func ms(_ value: Double) -> String { String(format: "%.3g ms", value) }
    if instruments.isEmpty {
      lines.append("  time per step: \(ms(plainStepMilliseconds)) (CPU \(ms(cpuPlainStepMilliseconds)))")
    } else {
      let set = cockpit.map { "\($0)\(addedInstruments.isEmpty ? "" : " + " + addedInstruments.joined(separator: ", "))" }
        ?? instruments.joined(separator: ", ")
      lines.append("  instruments: \(set), \(trackedSteps) tracked step\(trackedSteps == 1 ? "" : "s") (every \(every ?? 1))")
      lines.append(
        "  time per step: plain \(ms(plainStepMilliseconds)), with instruments \(ms(stepMilliseconds)) (\(String(format: "%.2f", overhead))×); CPU \(ms(cpuPlainStepMilliseconds)) and \(ms(cpuStepMilliseconds)) (\(String(format: "%.2f", cpuOverhead))×)")
    }
    let written = [log, weights, plot].compactMap { $0 }
    if !written.isEmpty { lines.append("Wrote \(written.joined(separator: ", "))") }
    return lines.joined(separator: "\n")
  }
}

/// A file to write, its contents produced by `write` into a given URL.
struct StagedFile {
  var path: String
  var write: (URL) throws -> Void
}

/// Writes every file, all or none: each goes to a temporary file in its directory first,
/// and only when all are written are they renamed into place; on any failure every
/// temporary file is removed.
/// - Throws: What a `write` throws, or `CLIError` naming the file that cannot be renamed.
func writeAllAtomically(_ files: [StagedFile]) throws {
  guard runCommunicator.isRoot else { return }
  var temporaries = [URL]()
  defer { for url in temporaries { try? FileManager.default.removeItem(at: url) } }
  for file in files {
    let url = URL(fileURLWithPath: file.path)
    let temporary = url.deletingLastPathComponent()
      .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
    temporaries.append(temporary)
    try file.write(temporary)
  }
  for (file, temporary) in zip(files, temporaries) {
    guard rename(temporary.path, file.path) == 0 else {
      throw CLIError("cannot write \(file.path): \(String(cString: strerror(errno)))")
    }
  }
}
