import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// `curv train`: its `--log` lines are the library cockpit's records (float64, bit for
/// bit), `--save-weights` holds the library's trained parameters and is read back by the
/// other subcommands, `--every` and `--no-shuffle` choose the steps and the order, and
/// every bad input is one line on stderr with no file written.
@Suite struct CLITrainTests {
  /// A committed cockpit fixture (an MLP or a small CNN with cross-entropy, initial
  /// weights and data), with a scratch directory for the outputs.
  struct Case {
    var folder: URL
    var directory: URL

    init(_ name: String) throws {
      folder = CLI.committedFixture("Cockpit", name)
      directory = try CLI.temporaryDirectory()
    }

    func input(_ file: String) -> String { folder.appendingPathComponent(file).path }
    func path(_ file: String) -> String { directory.appendingPathComponent(file).path }

    /// `train --model … --weights … --inputs … --targets …`.
    var arguments: [String] {
      ["train", "--model", input("model.json"), "--weights", input("weights.safetensors"), "--inputs", input("X.npy"),
       "--targets", input("y.npy")]
    }

    /// The model and data as the library reads them.
    func load() throws -> (model: Sequential<Double>, loss: Loss<Double>, data: NPYDataset<Double>) {
      let file = try ModelFile<Double>(
        description: URL(fileURLWithPath: input("model.json")), weights: URL(fileURLWithPath: input("weights.safetensors")))
      let data = try NPYDataset<Double>(
        inputs: [URL(fileURLWithPath: input("X.npy"))], targets: URL(fileURLWithPath: input("y.npy")), classTargets: true,
        classTargetShape: [])
      return (file.model, file.loss, data)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
  }

  /// Runs `curv arguments --json`, which must succeed, and returns its JSON object.
  func json(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    let run = try CLI.run(arguments + ["--json"])
    #expect(run.status == 0, "\(arguments): \(run.stderr)", sourceLocation: sourceLocation)
    return try run.json(sourceLocation: sourceLocation)
  }

  /// The lines of a `--log` file.
  func logLines(_ path: String) throws -> [String] {
    let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
    #expect(text.hasSuffix("\n"))
    return text.split(separator: "\n").map(String.init)
  }

  /// A record as a `--log` line: its `jsonObject` in compact JSON with sorted keys. Doubles
  /// are written in their shortest round-trip form, so equal lines mean bit-equal values
  /// (Foundation's JSON parsers on Linux are not correctly rounded: comparing parsed
  /// numbers could be off by an ulp either way).
  func line(_ record: CockpitRecord) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(record.jsonObject), as: UTF8.self)
  }

  /// The step of a `--log` line.
  func step(_ line: String) throws -> Int? {
    (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["step"] as? Int
  }

  /// The library's run: SGD on the fixture with a cockpit, as `curv train` sets it up.
  func libraryRecords(
    _ c: Case, instruments: [CockpitInstrument], lr: Double, batchSize: Int, epochs: Int, order: TrainingOrder,
    every: Int = 1, seed: UInt64
  ) throws -> (records: [CockpitRecord], parameters: [NDArray<Double>]) {
    var (model, loss, data) = try c.load()
    var cockpit = try Cockpit<Double>(instruments: instruments, every: every, seed: seed)
    var sgd = SGD<Double>(learningRate: lr)
    try train(&model, loss: loss, data: data, optimizer: &sgd, epochs: epochs, batchSize: batchSize, order: order) {
      try cockpit.observe($0)
    }
    return (cockpit.records, model.parameters)
  }

  /// `--log` holds one line per step, equal to the library cockpit's `jsonObject` of the
  /// same run (float64, same seed, shuffled over two epochs): every preset, plus the
  /// instruments in none, by cockpit's names and ours, on the MLP and the CNN.
  @Test(arguments: ["mlp", "cnn"])
  func logEqualsTheLibraryCockpit(_ name: String) throws {
    let c = try Case(name)
    defer { c.remove() }
    let log = c.path("run.jsonl")
    // HessMaxEV's Lanczos reductions depend on the BLAS thread count in the last bits:
    // the command runs with this process's.
    let threads = ["--threads", "\(NumericsBackend.threadCount)"]
    for preset in CockpitPreset.allCases {
      let object = try json(
        c.arguments + threads + [
          "--dtype", "float64", "--lr", "0.2", "--batch-size", "8", "--epochs", "2", "--seed", "7", "--cockpit", preset.rawValue,
          "--instruments", "tic-trace,MeanGSNR,cabs,early_stopping", "--log", log,
        ])
      let added: [CockpitInstrument] = [.ticTrace, .meanGSNR, .cabs, .earlyStopping]
      let expected = try libraryRecords(
        c, instruments: preset.instruments + added, lr: 0.2, batchSize: 8, epochs: 2, order: .shuffled(seed: 7), seed: 7)
      let lines = try logLines(log)
      #expect(lines.count == expected.records.count && lines.count == object["steps"] as? Int, "\(name) \(preset)")
      for (text, record) in zip(lines, expected.records) {
        #expect(text == (try line(record)), "\(name) \(preset) step \(record.step)")
      }
      #expect(object["tracked_steps"] as? Int == expected.records.count)
      expectRelative(try #require(object["loss_first"] as? Double), try #require(expected.records.first?.loss), rtol: 1e-15, "loss_first")
      #expect(object["cockpit"] as? String == preset.rawValue)
      #expect(Set(object["instruments"] as? [String] ?? []) == Set((preset.instruments + added).map(\.rawValue)))
      for key in ["plain_step_ms", "step_ms", "instruments_step_ms", "cpu_plain_step_ms", "cpu_step_ms", "overhead"] {
        #expect((object[key] as? Double).map { $0 >= 0 } ?? (object[key] as? Int != nil), "\(key) in \(object)")
      }
    }
  }

  /// `--every n` tracks steps 0, n, 2n, … and `--no-shuffle` visits the data in order,
  /// as the library's `every:` and `.sequential`; a shuffled run differs.
  @Test func everyAndNoShuffle() throws {
    let c = try Case("mlp")
    defer { c.remove() }
    let log = c.path("run.jsonl")
    let object = try json(
      c.arguments + [
        "--dtype", "float64", "--lr", "0.3", "--batch-size", "8", "--epochs", "2", "--no-shuffle", "--every", "3",
        "--cockpit", "economy", "--log", log,
      ])
    let expected = try libraryRecords(
      c, instruments: CockpitPreset.economy.instruments, lr: 0.3, batchSize: 8, epochs: 2, order: .sequential, every: 3, seed: 0)
    let lines = try logLines(log)
    #expect(object["steps"] as? Int == 10 && object["tracked_steps"] as? Int == 4 && object["every"] as? Int == 3)
    #expect(try lines.map(step) == [0, 3, 6, 9])
    #expect(lines == (try expected.records.map(line)))
    #expect(object["shuffle"] as? Bool == false)

    _ = try json(
      c.arguments + ["--dtype", "float64", "--lr", "0.3", "--batch-size", "8", "--epochs", "2", "--every", "3", "--cockpit", "economy", "--log", log])
    let shuffled = try logLines(log)
    #expect(shuffled.count == 4 && shuffled != lines)
  }

  /// `--save-weights` writes the library's trained parameters (float64, bit for bit, with
  /// momentum and weight decay), and `curv trace --weights` reads them: its GGN trace is the
  /// library's at the trained parameters.
  @Test func savedWeightsRoundTrip() throws {
    let c = try Case("cnn")
    defer { c.remove() }
    let weights = c.path("trained.safetensors")
    _ = try json(
      c.arguments + [
        "--dtype", "float64", "--lr", "0.1", "--momentum", "0.9", "--weight-decay", "0.01", "--batch-size", "5", "--epochs", "3",
        "--seed", "4", "--save-weights", weights,
      ])
    var (model, loss, data) = try c.load()
    var sgd = SGD<Double>(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
    try train(&model, loss: loss, data: data, optimizer: &sgd, epochs: 3, batchSize: 5, seed: 4)
    let file = try SafetensorsFile(contentsOf: URL(fileURLWithPath: weights))
    #expect(file.names == model.parameterNames)
    for (name, expected) in zip(model.parameterNames, model.parameters) {
      #expect(try file.array(named: name, as: Double.self) == expected, "\(name)")
    }
    let trace = try json([
      "trace", "--model", c.input("model.json"), "--weights", weights, "--inputs", c.input("X.npy"), "--targets", c.input("y.npy"),
      "--operator", "ggn", "--dtype", "float64",
    ])
    let problem = try CurvatureProblem(model: model, loss: loss, data: data)
    expectRelative(try #require(trace["trace"] as? Double), Double(try GGNOperator(problem).trace()), rtol: 1e-10, "GGN trace")
  }

  /// A graph model (a tiny ResNet with batch norm buffers) trains with Adam: the saved
  /// parameters and buffers are the library's, and `curv trace --weights` reads them.
  @Test func graphModelTrainsAndSaves() throws {
    let fixture = try CLIGraphCase.make("resnet_tiny")
    defer { fixture.remove() }
    let weights = fixture.path("trained.safetensors")
    let object = try json(
      ["train"] + fixture.archiveArguments + [
        "--dtype", "float64", "--optimizer", "adam", "--lr", "0.01", "--batch-size", "2", "--epochs", "2", "--no-shuffle",
        "--save-weights", weights,
      ])
    let (modelFile, data) = try fixture.load()
    var graph = try #require(modelFile.graph)
    var adam = Adam<Double>(learningRate: 0.01)
    var losses = [Double]()
    try train(
      &graph, loss: modelFile.loss, data: data, optimizer: &adam, epochs: 2, batchSize: 2, order: .sequential,
      stepLoss: { _, loss in losses.append(loss) })
    #expect(object["steps"] as? Int == losses.count)
    expectRelative(try #require(object["loss_last"] as? Double), try #require(losses.last), rtol: 1e-15, "loss_last")
    let file = try SafetensorsFile(contentsOf: URL(fileURLWithPath: weights))
    let names = graph.parameterSpecs.map(\.name) + graph.bufferSpecs.map(\.name)
    #expect(file.names == names)
    for (name, expected) in zip(names, graph.parameters + graph.buffers) {
      #expect(try file.array(named: name, as: Double.self) == expected, "\(name)")
    }
    let trace = try CLI.run(
      ["trace", "--model", fixture.modelPath, "--weights", weights, "--data", fixture.referencePath, "--operator", "ggn", "--json"])
    #expect(trace.status == 0, "\(trace.stderr)")
  }

  /// Every bad value, and every failure during the run, is one line naming the flag or
  /// the problem, and leaves no file: not the log, the weights or the page.
  @Test func badInputsAreOneLineAndWriteNothing() throws {
    let c = try Case("mlp")
    defer { c.remove() }
    let outputs = ["--log", c.path("run.jsonl"), "--save-weights", c.path("out.safetensors")]
    let cockpit = ["--cockpit", "economy"]
    // (arguments, what the line says); all but the first few also ask for the files.
    let bare: [([String], [String])] = [
      (["--every", "2"], ["--every", "--cockpit"]),
      (["--log", c.path("run.jsonl")], ["--log", "instruments"]),
      (["--plot", c.path("page.html")], ["--plot", "instruments"]),
    ]
    for (extra, expected) in bare { try CLI.expectFailure(c.arguments + extra, in: c.directory, expected) }
    let cases: [([String], [String])] = [
      (["--lr", "0"], ["--lr"]),
      (["--lr=-0.1"], ["--lr"]),
      (["--lr", "nan"], ["--lr"]),
      (["--epochs", "0"], ["--epochs"]),
      (["--batch-size", "0"], ["--batch-size"]),
      (cockpit + ["--every", "0"], ["--every"]),
      (["--instruments", "hess_max_ev,magic"], ["--instruments", "magic"]),
      (["--instruments", "loss,,alpha"], ["--instruments", "empty"]),
      (cockpit + ["--optimizer", "adam", "--momentum", "0.9"], ["--momentum", "adam"]),
      (cockpit + ["--optimizer", "rmsprop"], ["--optimizer", "rmsprop"]),
      (cockpit + ["--cockpit", "first-class"], ["--cockpit", "first-class"]),
      (cockpit + ["--weight-decay=-1"], ["--weight-decay"]),
      (cockpit + ["--parameters", "0.weight"], ["--parameters"]),
      (cockpit + ["--plot", c.path("run.jsonl")], ["--log", "--plot", "same file"]),
      (cockpit + ["--save-weights", c.input("weights.safetensors")], ["--save-weights", "input"]),
      (cockpit + ["--log", c.path("missing/run.jsonl")], ["--log", "does not exist"]),
      // Fails while training: a diverging run writes nothing.
      (cockpit + ["--lr", "1e308", "--batch-size", "8", "--dtype", "float64"], ["loss", "learning rate"]),
      // The instruments' individual gradients cannot fit the budget.
      (cockpit + ["--memory-budget", "3000", "--batch-size", "8"], ["--batch-size", "memory budget"]),
    ]
    for (extra, expected) in cases { try CLI.expectFailure(c.arguments + outputs + extra, in: c.directory, expected) }
  }

  /// `--plot` writes one self-contained page that shows every panel of the preset (and of
  /// added instruments), with the log and the weights in the same run.
  @Test func plotShowsEveryPanelOfThePreset() throws {
    let c = try Case("mlp")
    defer { c.remove() }
    for preset in CockpitPreset.allCases {
      let page = c.path("cockpit-\(preset.rawValue).html")
      let object = try json(
        c.arguments + [
          "--lr", "0.3", "--batch-size", "8", "--epochs", "2", "--cockpit", preset.rawValue, "--instruments", "cabs", "--plot", page,
          "--log", c.path("run.jsonl"), "--save-weights", c.path("out.safetensors"),
        ])
      #expect(object["plot"] as? String == page)
      let html = String(decoding: try Data(contentsOf: URL(fileURLWithPath: page)), as: UTF8.self)
      #expect(html.contains("<!DOCTYPE html>"), "\(html.prefix(40))")
      let ids = CockpitDashboard.panelIDs(for: preset.instruments + [.cabs])
      #expect(ids.contains("cabs") && ids.count >= 8)
      for id in ids { #expect(html.contains("data-panel=\"\(id)\""), "panel \(id) missing for \(preset)") }
      #expect(!html.contains("src=\"http") && !html.contains("href=\"http"), "external resources")
    }
    #expect(try CLI.contents(of: c.directory).filter { $0.hasPrefix(".") }.isEmpty, "temporary files left behind")
  }

  /// A graph model (a tiny ResNet with batch norm) trains with the economy preset: its
  /// `--log` lines are the library cockpit's records of the same graph run (float64, bit for
  /// bit), with `learning_rate`, and `--plot` shows every panel of the preset and the
  /// hyperparameter panel.
  @Test func graphModelTrainsWithTheCockpit() throws {
    let fixture = try CLIGraphCase.make("resnet_tiny")
    defer { fixture.remove() }
    let log = fixture.path("run.jsonl"), page = fixture.path("cockpit.html")
    let object = try json(
      ["train"] + fixture.archiveArguments + [
        "--dtype", "float64", "--threads", "\(NumericsBackend.threadCount)", "--lr", "0.05", "--batch-size", "2", "--epochs", "3",
        "--no-shuffle", "--cockpit", "economy", "--log", log, "--plot", page,
      ])
    let (modelFile, data) = try fixture.load()
    var graph = try #require(modelFile.graph)
    let instruments = CockpitPreset.economy.instruments
    var cockpit = try Cockpit<Double>(instruments: instruments)
    var sgd = SGD<Double>(learningRate: 0.05)
    try train(&graph, loss: modelFile.loss, data: data, optimizer: &sgd, epochs: 3, batchSize: 2, order: .sequential) {
      try cockpit.observe($0)
    }
    let lines = try logLines(log)
    #expect(object["steps"] as? Int == 3 && object["tracked_steps"] as? Int == 3)
    #expect(lines == (try cockpit.records.map(line)))
    for text in lines {
      let keys = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]).keys
      #expect(Set(keys) == Set(["step", "learning_rate"] + instruments.map(\.rawValue)))
    }
    #expect(cockpit.records.allSatisfy { $0.learningRate == 0.05 && $0.normTest != nil && $0.gradHist1d != nil })
    let html = String(decoding: try Data(contentsOf: URL(fileURLWithPath: page)), as: UTF8.self)
    for id in CockpitDashboard.panelIDs(for: instruments, hyperparameters: true) {
      #expect(html.contains("data-panel=\"\(id)\""), "panel \(id) missing")
    }
  }
}
