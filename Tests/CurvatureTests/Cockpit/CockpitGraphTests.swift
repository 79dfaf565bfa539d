import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// `CockpitRun.network` as a format-2 graph (the export of `nn.Sequential`), with its weights.
private func graphMLP<T: BLASScalar>(_: T.Type) throws -> GraphModel<T> {
  let text = GraphSupport.document(
    inputs: [GraphSupport.value("x", [-1, 4])],
    parameters: [
      GraphSupport.value("0.weight", [6, 4]), GraphSupport.value("0.bias", [6]), GraphSupport.value("2.weight", [3, 6]),
      GraphSupport.value("2.bias", [3]),
    ],
    nodes: [
      GraphSupport.node("h", "linear", ["x", "0.weight", "0.bias"], [-1, 6]), GraphSupport.node("a", "sigmoid", ["h"], [-1, 6]),
      GraphSupport.node("out", "linear", ["a", "2.weight", "2.bias"], [-1, 3]),
    ], output: "out", loss: #"{"type": "cross_entropy", "reduction": "mean"}"#)
  var graph = try GraphSupport.graph(text, as: T.self)
  try graph.setParameters(try CockpitRun.network(T.self).parameters)
  return graph
}

/// A cockpit's records of `epochs` of SGD on `model` in data order, in minibatches of 6.
private func records<Model: TrainableModel>(
  _ model: Model, instruments: [CockpitInstrument], data: ArrayDataset<Model.Scalar>, lr: Double = 0.5, epochs: Int = 1
) throws -> [CockpitRecord] {
  try CockpitRun.records(
    try Cockpit<Model.Scalar>(instruments: instruments, seed: 3), model: model, data: data,
    optimizer: SGD<Model.Scalar>(learningRate: Model.Scalar(lr)), epochs: epochs, batchSize: 6, order: .sequential)
}

/// `|a − e| ≤ rtol·|e|`, or `≤ 1e-14` absolute near 0; both nil counts as equal.
private func expectClose(_ a: Double?, _ e: Double?, rtol: Double, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
  guard let a, let e else {
    #expect(a == nil && e == nil, "\(what): \(String(describing: a)) vs \(String(describing: e))", sourceLocation: sourceLocation)
    return
  }
  #expect(abs(a - e) <= rtol * abs(e) || abs(a - e) <= 1e-14, "\(what): \(a) vs \(e)", sourceLocation: sourceLocation)
}

private func expectClose(_ a: [Double]?, _ e: [Double]?, rtol: Double, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
  #expect(a?.count == e?.count, "\(what): lengths", sourceLocation: sourceLocation)
  for (k, (x, y)) in zip(a ?? [], e ?? []).enumerated() { expectClose(x, y, rtol: rtol, "\(what)[\(k)]", sourceLocation: sourceLocation) }
}

@Suite struct CockpitGraphTests {
  /// The graph export of an MLP gives the `Sequential` run's records: every instrument of
  /// every step to 1e-10 relative in Double, identical histogram counts, and the same
  /// parameters after training.
  @Test func graphExportRecordsTheSequentialRun() throws {
    let data = try CockpitRun.blobs(Double.self, count: 24, seed: 4)
    let instruments = CockpitInstrument.allCases.filter { $0 != .time }
    let expected = try records(try CockpitRun.network(Double.self), instruments: instruments, data: data, epochs: 2)
    let actual = try records(try graphMLP(Double.self), instruments: instruments, data: data, epochs: 2)
    #expect(actual.count == 8 && actual.map(\.step) == expected.map(\.step))
    let rtol = 1e-10
    for (a, e) in zip(actual, expected) {
      let what = "step \(e.step)"
      #expect(a.instruments == e.instruments)
      for (x, y, name) in [
        (a.loss, e.loss, "loss"), (a.normTest, e.normTest, "norm_test"), (a.innerTest, e.innerTest, "inner_test"),
        (a.orthoTest, e.orthoTest, "ortho_test"), (a.meanGSNR, e.meanGSNR, "mean_gsnr"), (a.cabs, e.cabs, "cabs"),
        (a.earlyStopping, e.earlyStopping, "early_stopping"), (a.alpha, e.alpha, "alpha"), (a.hessMaxEV, e.hessMaxEV, "hess_max_ev"),
        (a.ticDiag, e.ticDiag, "tic_diag"), (a.ticTrace, e.ticTrace, "tic_trace"), (a.learningRate, e.learningRate, "learning_rate"),
      ] {
        #expect(y != nil || (name == "alpha" && e.step == 7), "\(what) \(name) not recorded")
        expectClose(x, y, rtol: rtol, "\(what) \(name)")
      }
      for (x, y, name) in [
        (a.distance, e.distance, "distance"), (a.updateSize, e.updateSize, "update_size"), (a.gradNorm, e.gradNorm, "grad_norm"),
        (a.hessTrace, e.hessTrace, "hess_trace"),
      ] {
        #expect(y?.count == 4, "\(what) \(name): one value per block")
        expectClose(x, y, rtol: rtol, "\(what) \(name)")
      }
      for (k, (x, y)) in zip(a.parameters ?? [], e.parameters ?? []).enumerated() { expectClose(x, y, rtol: rtol, "\(what) parameters \(k)") }
      #expect(a.gradHist1d?.counts == e.gradHist1d?.counts && e.gradHist1d != nil, "\(what) grad_hist_1d counts")
      expectClose(a.gradHist1d?.edges, e.gradHist1d?.edges, rtol: rtol, "\(what) grad_hist_1d edges")
      #expect(a.gradHist2d?.counts == e.gradHist2d?.counts && e.gradHist2d != nil, "\(what) grad_hist_2d counts")
      expectClose(a.gradHist2d?.xEdges, e.gradHist2d?.xEdges, rtol: rtol, "\(what) grad_hist_2d x edges")
      expectClose(a.gradHist2d?.yEdges, e.gradHist2d?.yEdges, rtol: rtol, "\(what) grad_hist_2d y edges")
    }
  }

  /// A graph-only model (a residual block, `x + W2 relu(W1 x + b1)`) runs every preset with
  /// the instruments in none: every record holds exactly its instruments' keys (and
  /// `learning_rate` with `loss`), every value is computed (α but for the last step), and
  /// the first step's HessMaxEV and HessTrace are those of the dense minibatch Hessian.
  @Test(arguments: CockpitPreset.allCases) func residualGraphRunsEveryPreset(preset: CockpitPreset) throws {
    try runResidual(Double.self, preset: preset, rtol: 1e-8)
    try runResidual(Float.self, preset: preset, rtol: 1e-3)
  }

  func runResidual<T: BLASScalar>(_: T.Type, preset: CockpitPreset, rtol: Double) throws {
    let added: [CockpitInstrument] = [.ticTrace, .meanGSNR, .cabs, .earlyStopping]
    let instruments = preset.instruments + added
    let graph = try GraphSupport.graph(GraphSupport.residual, as: T.self, seed: 2)
    let data = try CockpitRun.blobs(T.self, count: 24, seed: 7)
    let result = try records(graph, instruments: instruments, data: data, lr: 0.3)
    #expect(result.map(\.step) == [0, 1, 2, 3])
    let keys = Set(["step", "learning_rate"] + instruments.map(\.rawValue))
    for record in result {
      guard case let .object(object) = record.jsonObject else {
        Issue.record("not an object")
        return
      }
      #expect(Set(object.keys) == keys, "\(T.self) \(preset) step \(record.step)")
      for (key, value) in object where value == .null {
        #expect(key == "alpha" && record.step == 3, "\(T.self) \(preset) step \(record.step): \(key) is null")
      }
      #expect(record.learningRate == Double(T(0.3)))
    }
    // The first step's curvature from the dense Hessian of its minibatch (points 0..<6).
    let problem = try CurvatureProblem(model: graph, loss: Loss(.crossEntropy), data: try ArrayDataset(
      inputs: try data.batch(0..<6).inputs, targets: try data.batch(0..<6).targets))
    let dense = try HessianOperator(problem).dense()
    let top = Double(try dense.symmetricEigenvalues().scalars.max()!)
    let trace = (0..<dense.shape[0]).reduce(0.0) { $0 + Double(dense.scalars[$1 * dense.shape[0] + $1]) }
    if instruments.contains(.hessMaxEV) { expectClose(result[0].hessMaxEV, top, rtol: rtol, "\(T.self) \(preset) hess_max_ev") }
    if let blocks = result[0].hessTrace { expectClose(blocks.reduce(0, +), trace, rtol: rtol, "\(T.self) \(preset) hess_trace") }
  }

  /// A step of a graph model carries the graph as `network`, with the parameters before
  /// the step.
  @Test func stepsOfAGraphCarryTheNetwork() throws {
    var graph = try graphMLP(Double.self)
    let initial = graph.parameters
    var sgd = SGD<Double>(learningRate: 0.1)
    var steps = [TrainingStep<Double>]()
    try train(&graph, loss: Loss(.crossEntropy), data: try CockpitRun.blobs(Double.self, count: 6, seed: 1), optimizer: &sgd, epochs: 1,
              batchSize: 3, order: .sequential) { steps.append($0) }
    #expect(steps.count == 2)
    #expect(steps[0].network is GraphModel<Double>)
    #expect(steps[0].parametersBefore == initial && steps[0].parametersBefore != steps[0].parametersAfter)
    #expect(steps[1].parametersBefore == steps[0].parametersAfter && steps[1].parametersAfter == graph.parameters)
  }
}
