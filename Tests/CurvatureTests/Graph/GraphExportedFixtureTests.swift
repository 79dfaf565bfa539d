import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// The exporter's committed fixtures (Fixtures/Graph): PyTorch's output, loss and
/// gradient, and curvlinops' dense GGN and Hessian, reproduced by loading model.json and
/// weights.safetensors as a GraphModel.
@Suite struct GraphExportedFixtureTests {
  static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").appendingPathComponent("Graph")

  static let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
    .filter { !$0.hasSuffix(".md") }.sorted()

  @Test(arguments: names)
  func fixtureMatchesPyTorch(_ name: String) throws {
    let folder = Self.directory.appendingPathComponent(name)
    let file = try ModelFile<Double>(
      description: folder.appendingPathComponent("model.json"), weights: folder.appendingPathComponent("weights.safetensors"))
    let model = file.network
    let reference = try NPZFile(contentsOf: folder.appendingPathComponent("reference.npz"))
    var inputs = [NDArray<Double>]()
    while let reader = try? reference.reader(named: "input_\(inputs.count)") {
      inputs.append(try reader.readAll().floats(as: Double.self))
    }
    let output = try reference.reader(named: "output").readAll().floats(as: Double.self)
    let predicted = AutodiffMode.withoutRecording { model(inputs.map { Tensor($0) }, parameters: model.parameters.map { Tensor($0) }).value }
    expectClose(predicted, output, rtol: 1e-9, "\(name) output")
    let targetArray = try reference.reader(named: "targets").readAll()
    let targets: Targets<Double> = file.loss.kind == .crossEntropy
      ? .classes(try targetArray.integers()) : .values(try targetArray.floats(as: Double.self))
    let data = try ArrayDataset(inputs: inputs[0], targets: targets, extraInputs: Array(inputs.dropFirst()))
    let problem = try CurvatureProblem(model: model, loss: file.loss, data: data)
    let (loss, gradient) = try problem.lossAndGradient()
    let expectedLoss = try reference.reader(named: "loss").readAll().floats(as: Double.self).scalars[0]
    #expect(Swift.abs(loss - expectedLoss) <= 1e-9 * Swift.max(1, Swift.abs(expectedLoss)), "\(name) loss \(loss) vs \(expectedLoss)")
    expectClose(gradient, try reference.reader(named: "gradient").readAll().floats(as: Double.self), rtol: 1e-9, "\(name) gradient")
    if problem.dimension <= 250 {
      let ggn = try NPYArray(contentsOf: folder.appendingPathComponent("ggn.npy")).floats(as: Double.self)
      let hessian = try NPYArray(contentsOf: folder.appendingPathComponent("hessian.npy")).floats(as: Double.self)
      expectClose(try GGNOperator(problem).dense(), ggn, rtol: 1e-9, atolFactor: 1e-10, "\(name) GGN")
      expectClose(try HessianOperator(problem).dense(), hessian, rtol: 1e-9, atolFactor: 1e-10, "\(name) Hessian")
    }
  }
}
