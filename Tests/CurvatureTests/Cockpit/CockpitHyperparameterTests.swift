import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// The records of one epoch (two steps) of `optimizer` on the cockpit tests' MLP.
private func run<T: BLASScalar>(
  _: T.Type, _ optimizer: some Optimizer<T>, instruments: [CockpitInstrument]
) throws -> [CockpitRecord] {
  try CockpitRun.records(
    try Cockpit<T>(instruments: instruments), model: try CockpitRun.network(T.self),
    data: try CockpitRun.blobs(T.self, count: 10, seed: 8), optimizer: optimizer, batchSize: 5, order: .sequential)
}

/// The `data-panel` values of a page, in document order.
private func panelIDs(_ page: String) -> [String] {
  page.components(separatedBy: "data-panel=\"").dropFirst().compactMap { $0.split(separator: "\"", maxSplits: 1).first.map(String.init) }
}

/// Cockpit's hyperparameter gauge: the learning rate of every step in the records, in the
/// `--log` lines (`learning_rate`, with `loss`) and as a panel of the dashboard.
@Suite struct CockpitHyperparameterTests {
  @Test func recordsHoldTheOptimizersLearningRate() throws {
    try check(Float.self)
    try check(Double.self)
  }

  func check<T: BLASScalar>(_: T.Type) throws {
    let sgd = try run(T.self, SGD<T>(learningRate: 0.25), instruments: [.loss, .gradNorm])
    #expect(sgd.count == 2 && sgd.allSatisfy { $0.learningRate == 0.25 })
    let adam = try run(T.self, Adam<T>(learningRate: T(0.01)), instruments: [.loss])
    #expect(adam.allSatisfy { $0.learningRate == Double(T(0.01)) })
    // In the JSON with the loss, as cockpit's `log` takes both; the other keys as before.
    guard case let .object(object) = sgd[0].jsonObject else {
      Issue.record("not an object")
      return
    }
    #expect(Set(object.keys) == ["step", "loss", "grad_norm", "learning_rate"])
    #expect(object["learning_rate"] == .number(0.25))
    let withoutLoss = try run(T.self, SGD<T>(learningRate: 0.25), instruments: [.gradNorm])
    guard case let .object(bare) = withoutLoss[0].jsonObject else { return }
    #expect(Set(bare.keys) == ["step", "grad_norm"])
    #expect(withoutLoss[0].learningRate == 0.25)
    // An optimizer without a learning rate: null.
    var record = CockpitRecord(step: 0, instruments: [.loss])
    record.loss = 1
    guard case let .object(none) = record.jsonObject else { return }
    #expect(none["learning_rate"] == .null)
  }

  @Test func dashboardShowsTheHyperparameterPanelWhenAsked() throws {
    let instruments = CockpitPreset.economy.instruments
    let plain = CockpitDashboard.panelIDs(for: instruments)
    let withPanel = CockpitDashboard.panelIDs(for: instruments, hyperparameters: true)
    var expected = plain
    expected.insert("hyperparameters", at: try #require(plain.firstIndex(of: "performance")))
    #expect(withPanel == expected)
    #expect(CockpitDashboard.panelIDs(for: instruments, hyperparameters: false) == plain)
    #expect(CockpitDashboard.panelIDs(for: [], hyperparameters: true) == ["hyperparameters"])

    // A learning rate that drops from 0.5 to 0.05 half way (a schedule).
    var records = try run(Double.self, SGD<Double>(learningRate: 0.5), instruments: instruments)
    for step in 2..<6 {
      var record = CockpitRecord(step: step, instruments: instruments)
      record.loss = 1 / Double(step)
      record.learningRate = 0.05
      records.append(record)
    }
    let html = CockpitDashboard.html(records: records, title: "schedule", hyperparameters: true)
    let svg = CockpitDashboard.svg(records: records, title: "schedule", hyperparameters: true)
    #expect(panelIDs(html) == withPanel)
    #expect(panelIDs(svg) == withPanel)
    let panel = svg.components(separatedBy: "id=\"hyperparameters\"")[1].components(separatedBy: "</g>")[0]
    #expect(panel.contains("Hyperparameters") && panel.contains("Learning rate") && panel.contains("<path d=\"M"))
    #expect(html.contains("id=\"hyperparameters\" data-panel=\"hyperparameters\""))
    // Without the flag the documents are those of html(records:title:) and svg(records:title:).
    #expect(CockpitDashboard.html(records: records, title: "schedule", hyperparameters: false) == CockpitDashboard.html(records: records, title: "schedule"))
    #expect(CockpitDashboard.svg(records: records, title: "schedule", hyperparameters: false) == CockpitDashboard.svg(records: records, title: "schedule"))
    #expect(!panelIDs(CockpitDashboard.html(records: records, title: "schedule")).contains("hyperparameters"))

    // Records without a learning rate: the panel stays and says so.
    for index in records.indices { records[index].learningRate = nil }
    let empty = CockpitDashboard.svg(records: records, title: "none", hyperparameters: true)
    #expect(empty.components(separatedBy: "id=\"hyperparameters\"")[1].contains("no learning rate recorded"))
  }

  /// Writes the page of each preset with the hyperparameter panel (as `curv train --plot`
  /// draws it) and its panel ids to `$CURVATURE_DASHBOARD_DIR` for scripts/browser-check.sh;
  /// a no-op otherwise.
  @Test func writesHyperparameterPagesForTheBrowserCheck() throws {
    guard let directory = ProcessInfo.processInfo.environment["CURVATURE_DASHBOARD_DIR"] else { return }
    for preset in CockpitPreset.allCases {
      let records = try run(Double.self, SGD<Double>(learningRate: 0.3), instruments: preset.instruments)
      let base = URL(fileURLWithPath: directory).appendingPathComponent("\(preset.rawValue)-hyperparameters")
      try CockpitDashboard.html(records: records, title: "Cockpit: \(preset) preset, hyperparameters", hyperparameters: true).write(
        to: base.appendingPathExtension("html"), atomically: true, encoding: .utf8)
      try (CockpitDashboard.panelIDs(for: preset.instruments, hyperparameters: true).joined(separator: "\n") + "\n").write(
        to: base.appendingPathExtension("ids"), atomically: true, encoding: .utf8)
    }
  }
}
