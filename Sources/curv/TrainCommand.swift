import ArgumentParser
import Curvature
import Foundation

/// `curv train`: trains the network of a model file on its data with SGD, Adam or AdamW,
/// optionally with cockpit's instruments observing every step (Schneider, Dangel & Hennig
/// 2021, "Cockpit: A Practical Debugging Tool for the Training of Deep Neural Networks").
struct TrainCommand: PrecisionGenericCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Train a network, with cockpit's curvature and gradient-noise instruments per step.",
    discussion: """
      Example: curv train --model model.json --weights weights.safetensors \
      --inputs X.npy --targets y.npy --optimizer sgd --lr 0.1 --epochs 5 --batch-size 32 \
      --cockpit economy --instruments mean-gsnr --log run.jsonl --save-weights out.safetensors \
      --plot cockpit.html

      --batch-size is the minibatch of one optimizer step (default: the whole set, capped \
      so that one batch fits in memory: full-batch gradient descent). Each epoch visits the data in a permutation seeded by --seed (or in order with \
      --no-shuffle). The instruments are evaluated on a step's minibatch at the parameters \
      before its update, every --every steps; α's end point is the next step's minibatch. \
      CABS and early-stopping are defined for plain SGD (no momentum, no weight decay) and \
      logged as null for other optimizers. Sequential (format-1) and graph models take \
      every instrument. The report gives the time per step of the training \
      itself and with the instruments. --log, --save-weights and --plot are written at the \
      end, all or none.
      """)

  @OptionGroup(title: "Model and data") var dataOptions: DataOptions
  @OptionGroup(title: "Training") var trainingOptions: TrainingOptions
  @OptionGroup(title: "Instruments") var cockpitOptions: CockpitOptions
  @OptionGroup(title: "Files") var outputFiles: TrainOutputOptions
  @OptionGroup(title: "Output") var outputOptions: OutputOptions

  func validate() throws {
    if dataOptions.parameters != nil {
      throw ValidationError("--parameters does not apply to curv train (it trains every parameter)")
    }
    if !cockpitOptions.isEnabled {
      if outputFiles.log != nil { throw ValidationError("--log needs instruments: give --cockpit or --instruments (e.g. --instruments loss)") }
      if outputFiles.plot != nil { throw ValidationError("--plot needs instruments: give --cockpit or --instruments") }
    }
    let files = outputFiles.files
    for (index, file) in files.enumerated() {
      for other in files[..<index] where URL(fileURLWithPath: other.path).standardizedFileURL == URL(fileURLWithPath: file.path).standardizedFileURL {
        throw ValidationError("\(other.option) and \(file.option) name the same file \(file.path)")
      }
    }
  }

  func run() throws {
    if DataParallel.isLaunchedByMPI, runCommunicator.size > 1 {
      throw CLIError("curv train does not run under mpiexec: it trains in one process (run it without mpiexec)")
    }
    for file in outputFiles.files { try checkOutputPath(file.path, option: file.option, inputs: dataOptions.inputFiles) }
    try dispatch()
  }

  func execute<T: BLASScalar>(_: T.Type) throws {
    let start = ContinuousClock.now
    for (option, path) in dataOptions.inputFiles { try requireFile(path, option: option) }
    let file = try ModelFile<T>(
      description: URL(fileURLWithPath: dataOptions.model), weights: dataOptions.weights.map { URL(fileURLWithPath: $0) },
      seed: trainingOptions.seed)
    let files = try dataOptions.loadDataset(file)
    guard files.count > 0 else { throw CLIError("\(dataOptions.data ?? dataOptions.inputs[0]): the data set is empty (0 data points)") }
    let budget = dataOptions.memoryBudget ?? MemoryBudget.defaultBytes
    let batchSize = Swift.min(dataOptions.batchSize ?? dataOptions.defaultBatchSize(file: file, dataset: files), files.count)
    if let sequential = file.sequential {
      _ = try sequential.checkMemory(inputShape: files.inputShape, batchSize: batchSize, budget: budget)
    }
    let instruments = try cockpitOptions.chosenInstruments()
    let parameterCount = file.network.parameterSpecs.reduce(0) { $0 + $1.count }
    // The instruments hold the minibatch's individual gradients, B × P numbers (with a
    // copy for the tests): refuse what cannot fit rather than fail allocating it.
    let individualBytes = batchSize.multipliedReportingOverflow(by: parameterCount * MemoryLayout<T>.stride * 2)
    if !instruments.isEmpty, individualBytes.overflow || individualBytes.partialValue > budget {
      throw CLIError(
        "--batch-size \(batchSize): the instruments hold the minibatch's individual gradients, \(batchSize) × P = \(batchSize) × \(parameterCount) numbers, more than the memory budget of \(budget) bytes allows; give a smaller --batch-size (or a larger --memory-budget)")
    }
    // Every epoch reads every point: files are read, decoded and checked once.
    let data = InMemoryDataset(files, budget: budget / 2)
    var cockpit = try instruments.isEmpty
      ? nil : Cockpit<T>(instruments: instruments, every: cockpitOptions.every ?? 1, seed: trainingOptions.seed)

    var run = TrainingRun<T>(start: start)
    let trained: TrainedWeights<T>
    let observe = { (step: TrainingStep<T>) throws in
      run.clock.stepDone(loss: Double(step.loss))
      if cockpit != nil {
        try cockpit?.observe(step)
        run.clock.instrumentsDone()
      }
    }
    switch file.content {
    case .sequential(var model):
      try withOptimizer(T.self) { optimizer in
        run.epochLosses = try train(
          &model, loss: file.loss, data: data, optimizer: &optimizer, epochs: trainingOptions.epochs, batchSize: batchSize,
          order: trainingOptions.order, observe: observe)
      }
      trained = TrainedWeights(names: model.parameterNames, arrays: model.parameters)
    case .graph(var model):
      try withOptimizer(T.self) { optimizer in
        run.epochLosses = try train(
          &model, loss: file.loss, data: data, optimizer: &optimizer, epochs: trainingOptions.epochs, batchSize: batchSize,
          order: trainingOptions.order, observe: observe)
      }
      trained = TrainedWeights(
        names: model.parameterSpecs.map(\.name) + model.bufferSpecs.map(\.name), arrays: model.parameters + model.buffers)
    }
    let trainingSeconds = secondsSince(run.start)

    let records = cockpit?.records ?? []
    try writeOutputs(records: records, weights: trained)
    let report = TrainReport(
      command: self, parameterCount: parameterCount, pointCount: data.count,
      batchSize: batchSize, instruments: instruments, trackedSteps: records.count, run: run,
      trainingSeconds: trainingSeconds, seconds: secondsSince(start))
    if outputOptions.json {
      try printJSON(report)
    } else {
      print(report.text)
    }
  }

  /// Runs `body` with the optimizer `--optimizer` names, set up from the options.
  func withOptimizer<T: BLASScalar>(_: T.Type, _ body: (inout any Optimizer<T>) throws -> Void) throws {
    let lr = T(trainingOptions.learningRate), decay = T(trainingOptions.decay)
    var optimizer: any Optimizer<T>
    switch trainingOptions.optimizer {
    case .sgd: optimizer = SGD<T>(learningRate: lr, momentum: T(trainingOptions.momentum ?? 0), weightDecay: decay)
    case .adam: optimizer = Adam<T>(learningRate: lr, weightDecay: decay)
    case .adamw: optimizer = Adam<T>.adamW(learningRate: lr, weightDecay: decay)
    }
    try body(&optimizer)
  }

  /// Writes `--log`, `--save-weights` and `--plot`, all or none.
  func writeOutputs<T: BLASScalar>(records: [CockpitRecord], weights: TrainedWeights<T>) throws {
    var staged = [StagedFile]()
    if let log = outputFiles.log {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
      var text = Data()
      for record in records {
        text.append(try encoder.encode(record.jsonObject))
        text.append(UInt8(ascii: "\n"))
      }
      staged.append(StagedFile(path: log) { url in try text.write(to: url) })
    }
    if let path = outputFiles.saveWeights {
      staged.append(StagedFile(path: path) { url in
        try SafetensorsWriter.write(zip(weights.names, weights.arrays).map { (name: $0.0, array: $0.1) }, to: url)
      })
    }
    if let path = outputFiles.plot {
      let page = CockpitDashboard.html(
        records: records, title: "curv train: \(URL(fileURLWithPath: dataOptions.model).lastPathComponent)", hyperparameters: true)
      staged.append(StagedFile(path: path) { url in try Data(page.utf8).write(to: url) })
    }
    try writeAllAtomically(staged)
  }
}

/// The trained parameters (and a graph's buffers) with their `state_dict` names.
struct TrainedWeights<T: BLASScalar> {
  var names: [String]
  var arrays: [NDArray<T>]
}

