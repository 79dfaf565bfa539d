import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// A committed case of `Fixtures/Cockpit` (scripts/fixtures/make_cockpit_fixtures.py): a
/// small network at its initial weights, its data, and cockpit-for-pytorch's per-step
/// quantities for one epoch of plain SGD in data order, in float64.
struct CockpitFixture {
  var model: Sequential<Double>
  var loss: Loss<Double>
  var data: NPYDataset<Double>
  var learningRate: Double
  var batchSize: Int
  var steps: Int
  var exactTopEigenvalues: [Double]
  /// Per run: cockpit's class names and its output, step → class name → value.
  var runs: [String: (quantities: [String], output: [Int: [String: Any]])]

  static let cases = ["mlp", "cnn"]

  init(_ name: String) throws {
    let directory = ReferenceFixture.directory("Cockpit").appendingPathComponent(name)
    (model, loss, data) = try ReferenceFixture.modelAndData(in: directory)
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("expected.json"))) as! [String: Any]
    learningRate = json["lr"] as! Double
    batchSize = json["batch_size"] as! Int
    steps = json["steps"] as! Int
    exactTopEigenvalues = json["hess_max_ev_exact"] as! [Double]
    runs = [:]
    for (run, value) in json["runs"] as! [String: Any] {
      let entry = value as! [String: Any]
      let output = entry["output"] as! [String: Any]
      runs[run] = (entry["quantities"] as! [String], Dictionary(uniqueKeysWithValues: output.map { (Int($0.key)!, $0.value as! [String: Any]) }))
    }
  }

  /// Trains a copy of the model as the fixture did and returns the cockpit's records.
  func record(_ instruments: [CockpitInstrument], seed: UInt64 = 0) throws -> [CockpitRecord] {
    var cockpit = try Cockpit<Double>(instruments: instruments, seed: seed)
    var network = model
    var sgd = SGD<Double>(learningRate: learningRate)
    try train(&network, loss: loss, data: data, optimizer: &sgd, epochs: 1, batchSize: batchSize, order: .sequential) {
      try cockpit.observe($0)
    }
    return cockpit.records
  }
}

/// `|a − e| ≤ rtol·|e|` (or `≤ 1e-14` for `e = 0`).
private func expectClose(_ actual: Double?, _ expected: Double, rtol: Double = 1e-8, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
  guard let actual else {
    Issue.record("\(what): nil, expected \(expected)", sourceLocation: sourceLocation)
    return
  }
  let error = abs(actual - expected)
  #expect(error <= rtol * abs(expected) || error <= 1e-14, "\(what): \(actual) vs \(expected), relative \(error / abs(expected))", sourceLocation: sourceLocation)
}

private func expectClose(_ actual: [Double]?, _ expected: [Double], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
  guard let actual, actual.count == expected.count else {
    Issue.record("\(what): \(String(describing: actual)) vs \(expected)", sourceLocation: sourceLocation)
    return
  }
  for (k, (a, e)) in zip(actual, expected).enumerated() { expectClose(a, e, "\(what)[\(k)]", sourceLocation: sourceLocation) }
}

@Suite struct CockpitFixtureTests {
  /// Compares every quantity cockpit recorded at every step with our record of that step.
  func compare(_ fixture: CockpitFixture, run: String, _ name: String) throws {
    let (quantities, output) = fixture.runs[run]!
    let instruments = try quantities.map { try CockpitInstrument(named: $0) }
    #expect(instruments.map(\.cockpitName) == quantities)
    let records = try fixture.record(instruments)
    #expect(records.map(\.step) == Array(0..<fixture.steps))
    for (step, values) in output.sorted(by: { $0.key < $1.key }) {
      let record = records[step]
      for (quantity, value) in values {
        let what = "\(name)/\(run) step \(step) \(quantity)"
        switch try CockpitInstrument(named: quantity) {
        case .loss: expectClose(record.loss, value as! Double, what)
        case .normTest: expectClose(record.normTest, value as! Double, what)
        case .innerTest: expectClose(record.innerTest, value as! Double, what)
        case .orthoTest: expectClose(record.orthoTest, value as! Double, what)
        case .meanGSNR: expectClose(record.meanGSNR, value as! Double, what)
        case .cabs: expectClose(record.cabs, value as! Double, what)
        case .earlyStopping: expectClose(record.earlyStopping, value as! Double, what)
        case .alpha: expectClose(record.alpha, value as! Double, what)
        case .ticDiag: expectClose(record.ticDiag, value as! Double, what)
        case .ticTrace: expectClose(record.ticTrace, value as! Double, what)
        case .distance: expectClose(record.distance, value as! [Double], what)
        case .updateSize: expectClose(record.updateSize, value as! [Double], what)
        case .gradNorm: expectClose(record.gradNorm, value as! [Double], what)
        case .hessTrace: expectClose(record.hessTrace, value as! [Double], what)
        case .parameters:
          let blocks = value as! [[Double]]
          #expect(record.parameters?.count == blocks.count, "\(what): block count")
          for (k, block) in blocks.enumerated() { expectClose(record.parameters?[k], block, "\(what) block \(k)") }
        case .hessMaxEV:
          // cockpit's power iteration stops ~1e-3 short; ours must match the dense top
          // eigenvalue of the minibatch Hessian to 1e-6 relative.
          let exact = fixture.exactTopEigenvalues[step]
          expectClose(record.hessMaxEV, exact, rtol: 1e-6, "\(what) against the dense top eigenvalue")
        case .gradHist1d:
          let histogram = value as! [String: Any]
          #expect(record.gradHist1d?.counts == (histogram["hist"] as! [Double]).map { Int($0) }, "\(what) counts")
          expectClose(record.gradHist1d?.edges, histogram["edges"] as! [Double], "\(what) edges")
        case .gradHist2d:
          let histogram = value as! [String: Any]
          #expect(record.gradHist2d?.counts == (histogram["hist"] as! [[Int]]), "\(what) counts")
          let edges = histogram["edges"] as! [[Double]]
          expectClose(record.gradHist2d?.xEdges, edges[0], "\(what) x edges")
          expectClose(record.gradHist2d?.yEdges, edges[1], "\(what) y edges")
        case .time:
          break
        }
      }
    }
    // α needs the next minibatch: the last step has none, as in cockpit.
    if instruments.contains(.alpha) { #expect(records.last?.alpha == nil) }
  }

  @Test(arguments: CockpitFixture.cases, ["economy", "business", "full", "extra"])
  func matchesCockpitForPyTorch(_ name: String, _ run: String) throws {
    try compare(try CockpitFixture(name), run: run, name)
  }

  @Test func presetsHoldCockpitsConfigurations() throws {
    let fixture = try CockpitFixture("mlp")
    for preset in CockpitPreset.allCases {
      #expect(preset.instruments.map(\.cockpitName) == fixture.runs[preset.rawValue]!.quantities, "\(preset)")
    }
    let inPresets = Set(CockpitPreset.full.instruments)
    #expect(Set([CockpitInstrument.ticTrace, .meanGSNR, .cabs, .earlyStopping]).isDisjoint(with: inPresets))
  }
}
