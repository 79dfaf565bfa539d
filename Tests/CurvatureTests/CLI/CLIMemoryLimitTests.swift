import Curvature
import Foundation
import Testing

/// Inputs that imply far more memory than they hold (issue 20 §4), run under a virtual
/// memory limit of 3 GB (`ulimit -v`): each ends with one line naming the problem and
/// status 1 — never an allocation trap — and leaves the directory as it was.
@Suite(.serialized) struct CLIMemoryLimitTests {
  /// The limit, in KiB: below every size these inputs claim, far above what `curv` needs.
  static let limit = 3_000_000

  /// The limit leaves room for ordinary runs: the same kind of model and data succeeds.
  @Test func ordinaryRunsFitUnderTheLimit() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    let run = try CLI.run(["trace"] + fixture.fileArguments + ["--operator", "ggn", "--json"], memoryLimitKiB: Self.limit)
    #expect(run.status == 0, "\(run.stderr)")
    #expect(try run.json()["trace"] is Double)
  }

  /// A safetensors file whose header gives `0.weight` of the fixture's `[6, 4]` layer 2³⁰
  /// float64 elements (an 8 GiB sparse file): refused from the header, before reading.
  @Test func hugeSafetensorsShape() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    let elements = 1 << 30
    let header = """
      {"0.weight":{"dtype":"F64","shape":[32768,32768],"data_offsets":[0,\(8 * elements)]},\
      "0.bias":{"dtype":"F64","shape":[6],"data_offsets":[\(8 * elements),\(8 * elements + 48)]},\
      "2.weight":{"dtype":"F64","shape":[3,6],"data_offsets":[\(8 * elements + 48),\(8 * elements + 192)]},\
      "2.bias":{"dtype":"F64","shape":[3],"data_offsets":[\(8 * elements + 192),\(8 * elements + 216)]}}
      """
    let headerBytes = Array(header.utf8)
    let length = UInt64(headerBytes.count)
    let prefix = (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) }
    let url = URL(fileURLWithPath: fixture.weightsPath)
    try Data(prefix + headerBytes).write(to: url)
    let handle = try FileHandle(forWritingTo: url)
    try handle.truncate(atOffset: 8 + length + UInt64(8 * elements + 216))  // sparse: no disk space used
    try handle.close()
    let output = fixture.directory.appendingPathComponent("G.npy").path
    try CLI.expectFailure(
      ["dense"] + fixture.fileArguments + ["--operator", "ggn", "--output", output], in: fixture.directory,
      ["weights.safetensors", "0.weight", "[32768, 32768]", "[6, 4]"], status: 1, memoryLimitKiB: Self.limit)
  }

  /// An `.npz` whose `X.npy` member claims a 4 GB array (header and directory agree) that
  /// 200 bytes of deflate stream cannot hold: refused before allocating the array.
  @Test func npzMemberClaimingGigabytes() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    let preamble = npyPreamble(descr: "<f8", shape: "(125000000, 4)")
    let labels = NPYArray(integers: (0..<12).map { $0 % 3 }).npyBytes()
    let archive = zipArchive(members: [
      ("X.npy", fixedHuffmanStream(literals: preamble + [7], repeats: 1), preamble.count + 4_000_000_000, 0),
      ("y.npy", fixedHuffmanStream(literals: labels, repeats: 0), labels.count, CRC32.checksum(labels)),
    ])
    let data = fixture.directory.appendingPathComponent("data.npz")
    try Data(archive).write(to: data)
    try CLI.expectFailure(
      ["trace", "--model", fixture.modelPath, "--weights", fixture.weightsPath, "--data", data.path, "--operator", "ggn"],
      in: fixture.directory, ["data.npz", "X.npy", "cannot expand"], status: 1, memoryLimitKiB: Self.limit)
  }

  /// A valid convolutional model whose padding (20000) and stride (40000) make its first
  /// activation 40006×40006 per image (115 GB of unfolded patches in float64): refused
  /// before allocating, naming the layer.
  @Test func convolutionWithHugeIntermediates() throws {
    let directory = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let model = try MemoryBoundTests.paddedModel(Double.self)
    let modelURL = directory.appendingPathComponent("model.json")
    try ModelFile(model: model, loss: Loss(.crossEntropy)).write(description: modelURL)
    let inputs = directory.appendingPathComponent("X.npy"), targets = directory.appendingPathComponent("y.npy")
    try NPYArray(NDArray<Double>(zeros: [3, 1, 8, 8])).write(to: inputs)
    try NPYArray(integers: [0, 1, 0]).write(to: targets)
    try CLI.expectFailure(
      ["dense", "--model", modelURL.path, "--inputs", inputs.path, "--targets", targets.path, "--operator", "ggn",
       "--dtype", "float64", "--output", directory.appendingPathComponent("G.npy").path],
      in: directory, ["layer 0", "Conv2d", "unfolded patches"], status: 1, memoryLimitKiB: Self.limit)
  }
}
