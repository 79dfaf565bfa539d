import Curvature
import Foundation
import Testing

/// The snippets of the article "File formats" (FileFormats.md).
@Suite struct FileFormatsArticleTests {
  /// A fresh directory for one test's files.
  static func scratchDirectory(_ name: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory
      .appendingPathComponent("curvature-docs-\(name)-\(ProcessInfo.processInfo.processIdentifier)")
    try? FileManager.default.removeItem(at: url)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  @Test func arraysRoundTrip() throws {
    let directory = try Self.scratchDirectory("arrays")
    defer { try? FileManager.default.removeItem(at: directory) }
    var rng = RandomGenerator(seed: 0)
    let x: NDArray<Double> = rng.normalArray(shape: [10, 3])
    let labels = (0..<10).map { $0 % 2 }

    // NumPy .npy: one array (np.load reads it).
    let xURL = directory.appendingPathComponent("X.npy")
    try NPYArray(x).write(to: xURL)
    let xBack: NDArray<Double> = try NPYArray(contentsOf: xURL).floats()

    // NumPy .npz: named arrays in one archive (np.savez / np.load).
    let dataURL = directory.appendingPathComponent("data.npz")
    try NPZFile.write([(name: "X", array: NPYArray(x)), (name: "y", array: NPYArray(integers: labels))],
                      to: dataURL)
    let archive = try NPZFile(contentsOf: dataURL)
    let yBack = try archive.array(named: "y").integers()

    // safetensors: named tensors (safetensors.torch.load_file reads it).
    let tensorsURL = directory.appendingPathComponent("tensors.safetensors")
    try SafetensorsWriter.write([(name: "x", array: x)], to: tensorsURL)
    let tensors = try SafetensorsFile(contentsOf: tensorsURL)
    let xFromSafetensors: NDArray<Double> = try tensors.array(named: "x")

    #expect(xBack == x)
    #expect(archive.names.sorted() == ["X", "y"])
    #expect(yBack == labels)
    #expect(tensors.names == ["x"])
    #expect(xFromSafetensors == x)
  }

  @Test func modelFilesRoundTrip() throws {
    let directory = try Self.scratchDirectory("model")
    defer { try? FileManager.default.removeItem(at: directory) }
    var rng = RandomGenerator(seed: 1)
    let x: NDArray<Double> = rng.normalArray(shape: [12, 4])
    let labels = (0..<12).map { $0 % 3 }
    let model = try Sequential<Double>([Linear(inFeatures: 4, outFeatures: 5), Tanh(),
                                        Linear(inFeatures: 5, outFeatures: 3)], seed: 2)

    // model.json (layers and loss) and weights keyed by state_dict names ("0.weight", …).
    let jsonURL = directory.appendingPathComponent("model.json")
    let weightsURL = directory.appendingPathComponent("weights.safetensors")
    try ModelFile(model: model, loss: Loss(.crossEntropy)).write(description: jsonURL, weights: weightsURL)

    // Data as one .npz with arrays X and y, as `curv --data` reads it.
    let dataURL = directory.appendingPathComponent("data.npz")
    try NPZFile.write([(name: "X", array: NPYArray(x)), (name: "y", array: NPYArray(integers: labels))],
                      to: dataURL)

    let file = try ModelFile<Double>(description: jsonURL, weights: weightsURL)
    let data = try NPYDataset<Double>(archive: dataURL, classTargets: true)
    let problem = try CurvatureProblem(model: file.network, loss: file.loss, data: data)

    let original = try CurvatureProblem(model: model, loss: Loss(.crossEntropy),
                                        data: try ArrayDataset(inputs: x, targets: .classes(labels)))
    #expect(try GGNOperator(problem).dense() == GGNOperator(original).dense())
    #expect(file.network.parameterSpecs.map(\.name) == ["0.weight", "0.bias", "2.weight", "2.bias"])
  }
}
