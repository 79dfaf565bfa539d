import Curvature
import Foundation
import Testing

/// Bad graph models (format 2) and bad data for them, through `curv`: each run prints one
/// line on stderr naming what was wrong, exits with status 1, prints nothing on stdout and
/// leaves no output file behind.
@Suite(.serialized) struct CLIGraphBadInputTests {
  /// nanogpt's model.json with `edit` applied to its JSON object, written as `name`.
  func editedModel(_ fixture: CLIGraphCase, _ name: String, _ edit: (inout [String: Any]) throws -> Void) throws -> String {
    let data = try Data(contentsOf: URL(fileURLWithPath: fixture.modelPath))
    var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    try edit(&object)
    let path = fixture.path(name)
    try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    return path
  }

  /// Sets field `key` of node `index` of a model.json object.
  func setNode(_ object: inout [String: Any], _ index: Int, _ key: String, _ value: Any) throws {
    var nodes = try #require(object["nodes"] as? [[String: Any]])
    nodes[index][key] = value
    object["nodes"] = nodes
  }

  /// Unknown op, missing input and a cycle: the loader's one-line error naming the node.
  @Test func malformedGraph() throws {
    let fixture = try CLIGraphCase.make("nanogpt")
    defer { fixture.remove() }
    // nodes[2] is `add` = transformer.wte + transformer.wpe.
    let unknown = try editedModel(fixture, "unknown_op.json") { try setNode(&$0, 2, "op", "frobnicate") }
    let missing = try editedModel(fixture, "missing_input.json") { try setNode(&$0, 2, "inputs", ["transformer.wte", "nothere"]) }
    let cycle = try editedModel(fixture, "cycle.json") { try setNode(&$0, 2, "inputs", ["add", "transformer.wpe"]) }
    let data = ["--weights", fixture.weightsPath] + fixture.inputPaths.flatMap { ["--inputs", $0] } + ["--targets", fixture.targetsPath]
    let output = fixture.path("M.npy")
    try CLI.expectFailure(
      ["dense", "--model", unknown] + data + ["--operator", "ggn", "--output", output],
      in: fixture.directory, ["unknown_op.json", "node 'add'", "unknown op", "'frobnicate'"], status: 1)
    try CLI.expectFailure(
      ["eigs", "--model", missing] + data + ["--operator", "hessian", "--k", "2"],
      in: fixture.directory, ["missing_input.json", "node 'add'", "unknown input name", "'nothere'"], status: 1)
    try CLI.expectFailure(
      ["apply", "--model", cycle] + data + ["--operator", "ggn", "--vectors", fixture.targetsPath, "--output", output],
      in: fixture.directory, ["cycle.json", "node 'add'", "a cycle"], status: 1)
  }

  /// Weights of the wrong shape, a missing weight and an extra one.
  @Test func badWeights() throws {
    let fixture = try CLIGraphCase.make("conv1d")
    defer { fixture.remove() }
    let file = try ModelFile<Double>(
      description: URL(fileURLWithPath: fixture.modelPath), weights: URL(fileURLWithPath: fixture.weightsPath))
    let graph = try #require(file.graph)
    let named = Array(zip(graph.parameterSpecs.map(\.name) + graph.bufferSpecs.map(\.name), graph.parameters + graph.buffers))
      .map { (name: $0.0, array: $0.1) }
    func write(_ name: String, _ arrays: [(name: String, array: NDArray<Double>)]) throws -> String {
      let path = fixture.path(name)
      try SafetensorsWriter.write(arrays, to: URL(fileURLWithPath: path))
      return path
    }
    let reshaped = try write("reshaped.safetensors", named.map { $0.name == "conv1.bias" ? ($0.name, NDArray<Double>(zeros: [5])) : $0 })
    let missing = try write("missing.safetensors", named.filter { $0.name != "fc.bias" })
    let extra = try write("extra.safetensors", named + [(name: "fc.extra", array: NDArray<Double>(zeros: [2]))])
    func run(_ weights: String) -> [String] {
      ["diag", "--model", fixture.modelPath, "--weights", weights, "--inputs", fixture.inputPaths[0], "--targets", fixture.targetsPath,
       "--operator", "ggn", "--output", fixture.path("d.npy")]
    }
    try CLI.expectFailure(run(reshaped), in: fixture.directory, ["reshaped.safetensors", "conv1.bias", "weight shape does not match"], status: 1)
    try CLI.expectFailure(run(missing), in: fixture.directory, ["missing.safetensors", "fc.bias", "missing weight key"], status: 1)
    try CLI.expectFailure(run(extra), in: fixture.directory, ["extra.safetensors", "fc.extra", "extra weight key"], status: 1)
  }

  /// One `--inputs` file per graph input: too few or too many name the graph's inputs.
  @Test func wrongNumberOfInputs() throws {
    let encoder = try CLIGraphCase.make("encoder_padding_mask")
    defer { encoder.remove() }
    try CLI.expectFailure(
      ["trace", "--model", encoder.modelPath, "--weights", encoder.weightsPath, "--inputs", encoder.inputPaths[0],
       "--targets", encoder.targetsPath, "--operator", "ggn"],
      in: encoder.directory, ["1 --inputs file given", "takes 2 inputs", "'x', 'padding'"], status: 1)
    let gpt = try CLIGraphCase.make("nanogpt")
    defer { gpt.remove() }
    try CLI.expectFailure(
      ["dense", "--model", gpt.modelPath, "--weights", gpt.weightsPath, "--inputs", gpt.inputPaths[0], "--inputs", gpt.inputPaths[0],
       "--targets", gpt.targetsPath, "--operator", "ggn", "--output", gpt.path("M.npy")],
      in: gpt.directory, ["2 --inputs files given", "takes 1 input", "'idx'"], status: 1)
    // An archive with X and y for a graph of two inputs.
    let npz = encoder.path("xy.npz")
    try NPZFile.write(
      [("X", try NPYArray(contentsOf: URL(fileURLWithPath: encoder.inputPaths[0]))),
       ("y", try NPYArray(contentsOf: URL(fileURLWithPath: encoder.targetsPath)))], to: URL(fileURLWithPath: npz))
    try CLI.expectFailure(
      ["trace", "--model", encoder.modelPath, "--weights", encoder.weightsPath, "--data", npz, "--operator", "ggn"],
      in: encoder.directory, ["--data", "xy.npz", "1 input array", "'x', 'padding'"], status: 1)
  }

  /// Float token ids, an id beyond the vocabulary, and targets of the wrong shape for
  /// per-token cross-entropy.
  @Test func badTokenData() throws {
    let fixture = try CLIGraphCase.make("nanogpt")
    defer { fixture.remove() }
    let ids = try NPYArray(contentsOf: URL(fileURLWithPath: fixture.inputPaths[0])).integers()
    let floats = fixture.path("float_ids.npy")
    try NPYArray(NDArray<Double>(shape: [3, 4], scalars: ids.map(Double.init))).write(to: URL(fileURLWithPath: floats))
    func arguments(inputs: String, targets: String) -> [String] {
      ["dense", "--model", fixture.modelPath, "--weights", fixture.weightsPath, "--inputs", inputs, "--targets", targets,
       "--operator", "ggn", "--output", fixture.path("M.npy")]
    }
    try CLI.expectFailure(
      arguments(inputs: floats, targets: fixture.targetsPath), in: fixture.directory,
      ["float_ids.npy", "graph input 'idx' is int64", "float64"], status: 1)
    var outside = ids
    outside[9] = 7  // data point 2; the vocabulary has 7 tokens
    let large = fixture.path("large_ids.npy")
    try NPYArray(integers: outside, shape: [3, 4]).write(to: URL(fileURLWithPath: large))
    try CLI.expectFailure(
      arguments(inputs: large, targets: fixture.targetsPath), in: fixture.directory,
      ["graph input 'idx'", "is 7", "7 rows of embedding 'transformer.wte'"], status: 1)
    let short = fixture.path("y3.npy")
    try NPYArray(integers: [0, 1, 2]).write(to: URL(fileURLWithPath: short))
    try CLI.expectFailure(
      arguments(inputs: fixture.inputPaths[0], targets: short), in: fixture.directory,
      ["y3.npy", "per-position class targets must have shape [N, 4]", "[3]"], status: 1)
  }

  /// `--parameters` matching nothing lists the parameter names; `apply` refuses vectors of
  /// the wrong size (naming both sizes) and non-finite ones.
  @Test func badSelectionAndVectors() throws {
    let fixture = try CLIGraphCase.make("nanogpt")
    defer { fixture.remove() }
    try CLI.expectFailure(
      ["trace"] + fixture.fileArguments + ["--operator", "ggn", "--parameters", "transformer.wte.weight,blocks.*"],
      in: fixture.directory, ["--parameters", "'blocks.*' matches no parameter", "transformer.wte.weight, transformer.wpe.weight"],
      status: 1)
    var rng = RandomGenerator(seed: 2)
    try NPYArray(rng.normalArray(shape: [7, 2], Double.self)).write(to: URL(fileURLWithPath: fixture.path("V7.npy")))
    try CLI.expectFailure(
      ["apply"] + fixture.fileArguments + ["--operator", "hessian", "--vectors", fixture.path("V7.npy"), "--output", fixture.path("AV.npy")],
      in: fixture.directory, ["--vectors", "V7.npy", "shape [7, 2]", "[220]", "P = 220"], status: 1)
    // With --parameters, P is the selected count.
    try CLI.expectFailure(
      ["apply"] + fixture.fileArguments + ["--parameters", "transformer.ln_f.*", "--operator", "ggn", "--vectors", fixture.path("V7.npy"),
        "--output", fixture.path("AV.npy")],
      in: fixture.directory, ["shape [7, 2]", "P = 8", "selected"], status: 1)
    var values = rng.normalArray(shape: [220], Double.self).scalars
    values[5] = .nan
    try NPYArray(NDArray(values)).write(to: URL(fileURLWithPath: fixture.path("Vnan.npy")))
    try CLI.expectFailure(
      ["apply"] + fixture.fileArguments + ["--operator", "ggn", "--vectors", fixture.path("Vnan.npy"), "--output", fixture.path("AV.npy")],
      in: fixture.directory, ["Vnan.npy", "non-finite"], status: 1)
  }
}
