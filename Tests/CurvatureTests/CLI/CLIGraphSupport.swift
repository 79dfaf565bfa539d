import Curvature
import Foundation
import Testing

/// An exported graph fixture (Fixtures/Graph/<name>) prepared for `curv`: its model,
/// weights and reference.npz, each example input written as its own `.npy` file (in its
/// stored dtype: int64 token ids, bool masks) and the targets, in a temporary directory.
struct CLIGraphCase {
  /// The committed fixture's folder.
  var folder: URL
  /// A scratch directory holding the input and target files.
  var directory: URL
  /// `input_0.npy`, `input_1.npy`, … in the graph's input order.
  var inputPaths: [String]
  var targetsPath: String

  var modelPath: String { folder.appendingPathComponent("model.json").path }
  var weightsPath: String { folder.appendingPathComponent("weights.safetensors").path }
  var referencePath: String { folder.appendingPathComponent("reference.npz").path }

  /// `--model … --weights … --inputs … [--inputs …] --targets …`.
  var fileArguments: [String] {
    ["--model", modelPath, "--weights", weightsPath] + inputPaths.flatMap { ["--inputs", $0] } + ["--targets", targetsPath]
  }

  /// `--model … --weights … --data reference.npz`.
  var archiveArguments: [String] { ["--model", modelPath, "--weights", weightsPath, "--data", referencePath] }

  /// Copies the reference's inputs and targets out of `reference.npz`.
  static func make(_ name: String) throws -> CLIGraphCase {
    let folder = CLI.committedFixture("Graph", name)
    let directory = try CLI.temporaryDirectory()
    let archive = try NPZFile(contentsOf: folder.appendingPathComponent("reference.npz"))
    var inputPaths = [String]()
    while archive.names.contains("input_\(inputPaths.count)") {
      let url = directory.appendingPathComponent("input_\(inputPaths.count).npy")
      try archive.array(named: "input_\(inputPaths.count)").write(to: url)
      inputPaths.append(url.path)
    }
    let targets = directory.appendingPathComponent("targets.npy")
    try archive.array(named: "targets").write(to: targets)
    return CLIGraphCase(folder: folder, directory: directory, inputPaths: inputPaths, targetsPath: targets.path)
  }

  /// The model file at the committed weights and the reference data, as the library reads
  /// them (float64).
  func load() throws -> (file: ModelFile<Double>, data: NPYDataset<Double>) {
    let file = try ModelFile<Double>(description: URL(fileURLWithPath: modelPath), weights: URL(fileURLWithPath: weightsPath))
    let outputShape = file.graph?.outputShape ?? []
    let data = try NPYDataset<Double>(
      archive: URL(fileURLWithPath: referencePath), classTargets: file.loss.kind == .crossEntropy,
      classTargetShape: Array(outputShape.dropFirst(2)))
    return (file, data)
  }

  /// A committed curvlinops matrix: `hessian`, `ggn` or `ef`, `[P, P]`.
  func matrix(_ name: String) throws -> NDArray<Double> {
    try CLI.readNPY(folder.appendingPathComponent("\(name).npy"))
  }

  /// The graph's parameter names and sizes, in order.
  func parameters() throws -> [ParameterSpec] {
    try ModelFile<Double>(description: URL(fileURLWithPath: modelPath), weights: URL(fileURLWithPath: weightsPath)).network.parameterSpecs
  }

  /// The flat indices of the parameters named `names`, in parameter order.
  func indices(of names: Set<String>) throws -> [Int] {
    var offset = 0, result = [Int]()
    for spec in try parameters() {
      if names.contains(spec.name) { result += Array(offset..<(offset + spec.count)) }
      offset += spec.count
    }
    return result
  }

  /// A path in the scratch directory.
  func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

  func remove() { try? FileManager.default.removeItem(at: directory) }
}
