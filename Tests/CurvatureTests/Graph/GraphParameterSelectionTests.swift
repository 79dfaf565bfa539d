import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// Choosing parameter blocks by state_dict name or fnmatch pattern, per-position class
/// targets and the exporter's archive layout in `NPYDataset`, and `DenseCurvature` on a
/// model with several inputs.
@Suite struct GraphParameterSelectionTests {
  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").appendingPathComponent("Graph")

  static func file<T: BLASScalar>(_ name: String, _: T.Type) throws -> ModelFile<T> {
    let directory = folder.appendingPathComponent(name)
    return try ModelFile<T>(
      description: directory.appendingPathComponent("model.json"), weights: directory.appendingPathComponent("weights.safetensors"))
  }

  @Test func patternsMatchLikeFnmatch() {
    let cases: [(String, String, Bool)] = [
      ("blocks.*.mlp.*", "blocks.0.mlp.c_fc.weight", true),
      ("blocks.*.mlp.*", "blocks.0.attn.c_attn.weight", false),
      ("blocks.*.mlp.*", "blocks.mlp.weight", false),
      ("*", "anything.at.all", true),
      ("*", "", true),
      ("", "", true),
      ("", "a", false),
      ("fc.weight", "fc.weight", true),
      ("fc.weight", "fc.weights", false),
      ("fc.?ias", "fc.bias", true),
      ("fc.?", "fc.bias", false),
      ("*.weight", "layer1.0.conv1.weight", true),
      ("*a*b*c", "xaybzbc", true),
      ("*a*b*c", "xaybzbcd", false),
      ("a**b", "ab", true),
      ("layer?.*", "layer10.weight", false),
    ]
    for (pattern, name, expected) in cases {
      #expect(ParameterNamePattern(pattern).matches(name) == expected, "'\(pattern)' vs '\(name)'")
    }
  }

  @Test func blocksByNameKeepTheModelsOrder() throws {
    let model = try Self.file("nanogpt", Double.self).network
    let names = model.parameterSpecs.map(\.name)
    let blocks = try model.parameterBlocks(matching: ["transformer.ln_f.*", "transformer.h.0.mlp.*", "transformer.wte.weight"])
    #expect(blocks.map { names[$0] } == [
      "transformer.wte.weight", "transformer.h.0.mlp.c_fc.weight", "transformer.h.0.mlp.c_fc.bias",
      "transformer.h.0.mlp.c_proj.weight", "transformer.h.0.mlp.c_proj.bias", "transformer.ln_f.weight", "transformer.ln_f.bias",
    ])
    // Overlapping patterns select each block once.
    #expect(try model.parameterBlocks(matching: ["*.weight", "transformer.wte.*"]).count == names.filter { $0.hasSuffix(".weight") }.count)
    let error = #expect(throws: CurvatureError.self) { _ = try model.parameterBlocks(matching: ["*.mlp.*", "h.*"]) }
    let text = error?.description ?? ""
    #expect(text.contains("'h.*' matches no parameter") && text.contains(names.joined(separator: ", ")) && !text.contains("\n"), "\(text)")
    #expect(throws: CurvatureError.self) { _ = try model.parameterBlocks(matching: []) }
    // A Sequential's names.
    let sequential = try Sequential<Double>([Linear(inFeatures: 2, outFeatures: 3), Tanh(), Linear(inFeatures: 3, outFeatures: 1)], seed: 0)
    #expect(try sequential.parameterBlocks(matching: ["2.*", "0.bias"]) == [1, 2, 3])
  }

  /// A problem restricted by names has the principal sub-block of the full GGN and Hessian.
  func restrictedProblem<T: BLASScalar>(_: T.Type) throws {
    let file = try Self.file("conv1d", T.self)
    let reference = try NPZFile(contentsOf: Self.folder.appendingPathComponent("conv1d").appendingPathComponent("reference.npz"))
    let data = try ArrayDataset(
      inputs: try reference.array(named: "input_0").floats(as: T.self), targets: .classes(try reference.array(named: "targets").integers()))
    let problem = try CurvatureProblem(model: file.network, loss: file.loss, data: data)
    let restricted = try problem.restricted(toParametersMatching: ["conv2.*", "fc.bias"])
    #expect(restricted.selectedParameterNames == ["conv2.weight", "conv2.bias", "fc.bias"])
    // conv1 4·2·3 + 4 and bn1 4 + 4 entries: conv2 is 36..<88 (48 + 4), fc.weight 88..<100, fc.bias 100..<103.
    let indices = Array(36..<88) + Array(100..<103)
    #expect(restricted.dimension == indices.count)
    let tolerance: T = T.self == Float.self ? 1e-4 : 1e-11
    for (name, full, part) in [
      ("GGN", try GGNOperator(problem).dense(), try GGNOperator(restricted).dense()),
      ("Hessian", try HessianOperator(problem).dense(), try HessianOperator(restricted).dense()),
    ] {
      let expected = full.principalSubmatrix(indices)
      let scale = expected.scalars.map { Swift.abs($0) }.max() ?? 1
      #expect(zip(part.scalars, expected.scalars).allSatisfy { Swift.abs($0 - $1) <= tolerance * scale }, "\(name) sub-block, \(T.self)")
    }
  }

  @Test func restrictedProblemFloat() throws { try restrictedProblem(Float.self) }
  @Test func restrictedProblemDouble() throws { try restrictedProblem(Double.self) }

  /// Per-token targets `[N, T]` are read when the data set is told their shape; the plain
  /// class-target reading still requires `[N]`.
  @Test func perPositionTargetsFromFiles() throws {
    let directory = Self.folder.appendingPathComponent("nanogpt")
    let archive = directory.appendingPathComponent("reference.npz")
    let data = try NPYDataset<Float>(archive: archive, classTargets: true, classTargetShape: [4])
    #expect(data.count == 3 && data.inputCount == 1 && data.inputDTypes == [.int64] && data.targetShape == [3, 4])
    let expected = try NPZFile(contentsOf: archive).array(named: "targets").integers()
    #expect(try data.batch(1..<3).targets == .classes(Array(expected[4..<12])))
    let file = try Self.file("nanogpt", Float.self)
    let problem = try CurvatureProblem(model: file.network, loss: file.loss, data: data, batchSize: 2)
    #expect(problem.sampleOutputShape == [7, 4] && problem.countedTerms == 12)
    // Shapes that do not fit are refused naming the file.
    let wrong = #expect(throws: DataError.self) { _ = try NPYDataset<Float>(archive: archive, classTargets: true, classTargetShape: [5]) }
    #expect(wrong?.description.contains("per-position class targets must have shape [N, 5]") == true, "\(String(describing: wrong))")
    let plain = #expect(throws: DataError.self) { _ = try NPYDataset<Float>(archive: archive, classTargets: true, classTargetShape: []) }
    #expect(plain?.description.contains("class targets must have shape [N]") == true)
    // The two-input archive layout: input_0, input_1 in order.
    let encoder = try NPYDataset<Double>(
      archive: Self.folder.appendingPathComponent("encoder_padding_mask").appendingPathComponent("reference.npz"), classTargets: true,
      classTargetShape: [])
    #expect(encoder.inputCount == 2 && encoder.inputDTypes == [.float64, .bool])
    #expect(try encoder.batch(0..<3).extraInputs.first?.shape == [3, 4])
  }

  /// `DenseCurvature` on a model with a float input and a bool mask equals curvlinops' GGN.
  @Test func denseCurvatureWithSeveralInputs() throws {
    let directory = Self.folder.appendingPathComponent("encoder_padding_mask")
    let file = try Self.file("encoder_padding_mask", Double.self)
    let reference = try NPZFile(contentsOf: directory.appendingPathComponent("reference.npz"))
    let data = try ArrayDataset(
      inputs: try reference.array(named: "input_0").floats(as: Double.self), targets: .classes(try reference.array(named: "targets").integers()),
      extraInputs: [try reference.array(named: "input_1").floats(as: Double.self)])
    let dense = DenseCurvature(model: file.network, loss: file.loss, data: data)
    let ggn = try NPYArray(contentsOf: directory.appendingPathComponent("ggn.npy")).floats(as: Double.self)
    let ef = try NPYArray(contentsOf: directory.appendingPathComponent("ef.npy")).floats(as: Double.self)
    let scale = ggn.scalars.map { Swift.abs($0) }.max() ?? 1
    #expect(zip(dense.ggn.scalars, ggn.scalars).allSatisfy { Swift.abs($0 - $1) <= 1e-9 * scale })
    let efScale = ef.scalars.map { Swift.abs($0) }.max() ?? 1
    #expect(zip(dense.empiricalFisher.scalars, ef.scalars).allSatisfy { Swift.abs($0 - $1) <= 1e-9 * efScale })
    let gradient = try reference.array(named: "gradient").floats(as: Double.self)
    let computed = dense.riskGradient(at: dense.flatParameters)
    #expect(zip(computed, gradient.scalars).allSatisfy { Swift.abs($0 - $1) <= 1e-9 * Swift.max(1, Swift.abs($1)) })
  }
}
