import Curvature
import CurvatureTestSupport
import Foundation

/// Problems for the per-sample gradient and graph diagonal tests, and the independent
/// reference: one reverse pass per data point.
enum PerSampleSupport {
  static let graphDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").appendingPathComponent("Graph")

  static let graphNames = ((try? FileManager.default.contentsOfDirectory(atPath: graphDirectory.path)) ?? [])
    .filter { !$0.hasSuffix(".md") }.sorted()

  /// An exported graph fixture as a problem over its reference inputs and targets.
  static func graphProblem<T: BLASScalar>(
    _ name: String, as _: T.Type = T.self, batchSize: Int? = nil, directory: URL = graphDirectory
  ) throws -> CurvatureProblem<T> {
    let folder = directory.appendingPathComponent(name)
    let file = try ModelFile<T>(
      description: folder.appendingPathComponent("model.json"), weights: folder.appendingPathComponent("weights.safetensors"))
    let reference = try NPZFile(contentsOf: folder.appendingPathComponent("reference.npz"))
    var inputs = [NDArray<T>]()
    while let reader = try? reference.reader(named: "input_\(inputs.count)") {
      inputs.append(try reader.readAll().floats(as: T.self))
    }
    let targetArray = try reference.reader(named: "targets").readAll()
    let targets: Targets<T> = file.loss.kind == .crossEntropy
      ? .classes(try targetArray.integers()) : .values(try targetArray.floats(as: T.self))
    let data = try ArrayDataset(inputs: inputs[0], targets: targets, extraInputs: Array(inputs.dropFirst()))
    return try CurvatureProblem(model: file.network, loss: file.loss, data: data, batchSize: batchSize)
  }

  /// Sequential problems: an MLP, a sequence model (Linear on [N, S, D]) and a CNN.
  static func sequentialProblems<T: BLASScalar>(as _: T.Type = T.self) throws -> [(String, CurvatureProblem<T>)] {
    var rng = RandomGenerator(seed: 11)
    let mlp = try Sequential<T>(
      [Linear(inFeatures: 4, outFeatures: 5), Tanh(), Linear(inFeatures: 5, outFeatures: 3)], seed: 1)
    let ce = try CurvatureProblem(
      model: mlp, loss: Loss(.crossEntropy),
      data: try ArrayDataset(inputs: rng.normalArray(shape: [6, 4]), targets: .classes([0, 2, 1, 1, 0, 2])), batchSize: 4)
    let sequence = try Sequential<T>(
      [Linear(inFeatures: 3, outFeatures: 4), Sigmoid(), Linear(inFeatures: 4, outFeatures: 2)], seed: 2)
    let mse = try CurvatureProblem(
      model: sequence, loss: Loss(.mse),
      data: try ArrayDataset(inputs: rng.normalArray(shape: [3, 5, 3]), targets: .values(rng.normalArray(shape: [3, 5, 2]))),
      batchSize: 2)
    let cnn = try Sequential<T>(
      [try Conv2d(inChannels: 2, outChannels: 4, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), groups: 2), ReLU(),
       Flatten(), Linear(inFeatures: 4 * 3 * 3, outFeatures: 3)], seed: 3)
    let conv = try CurvatureProblem(
      model: cnn, loss: Loss(.crossEntropy, reduction: .sum),
      data: try ArrayDataset(inputs: rng.normalArray(shape: [4, 2, 5, 5]), targets: .classes([2, 0, 1, 2])), batchSize: 3)
    return [("mlp-ce", ce), ("sequence-mse", mse), ("cnn-ce-sum", conv)]
  }

  /// `g_n = ∇ (1/R) Σ_{t ∈ n} ℓ_t` by one forward and reverse pass per data point: `[N, P]`.
  static func referencePerSampleGradients<T: BLASScalar>(_ problem: CurvatureProblem<T>) throws -> NDArray<T> {
    let model = problem.model
    var rows = [T]()
    for n in 0..<problem.data.count {
      let batch = try problem.data.batch(n..<(n + 1))
      let fixed = model.parameters.map { Tensor($0) }
      let (_, grads) = valueAndGradient(at: problem.blocks.map { fixed[$0] }) { chosen in
        var all = fixed
        for (i, b) in problem.blocks.enumerated() { all[b] = chosen[i] }
        return problem.loss.summedTerms(model(batch.inputTensors, parameters: all), batch.targets) * (1 / T(problem.reductionFactor))
      }
      rows += grads.flatMap { $0.value.scalars }
    }
    return NDArray(shape: [problem.data.count, problem.dimension], scalars: rows)
  }
}
