import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// KFAC and EKFAC on exported graph models (Fixtures/KFACGraph, written by
/// scripts/fixtures/make_kfac_graph_fixtures.py): curvlinops' `KFACLinearOperator` and
/// `EKFACLinearOperator` over the models' Linear and convolution parameters — a nanoGPT
/// (per-token cross-entropy, class axis 1), a TransformerEncoderLayer classifier, a Conv1d
/// net and a ResNet of BasicBlocks — in every stored Fisher type, approximation and bias
/// treatment.
@Suite struct KFACGraphFixtureTests {
  static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").appendingPathComponent("KFACGraph")
  static let names = ["conv1d", "encoder_classifier", "nanogpt", "resnet_tiny"]

  struct Fixture {
    var model: any DifferentiableModel<Double>
    var loss: Loss<Double>
    var data: ArrayDataset<Double>
    var blocks: [Int]
    var expected: NPZFile

    init(_ name: String) throws {
      let folder = KFACGraphFixtureTests.directory.appendingPathComponent(name)
      let file = try ModelFile<Double>(
        description: folder.appendingPathComponent("model.json"), weights: folder.appendingPathComponent("weights.safetensors"))
      model = file.network
      loss = file.loss
      let reference = try NPZFile(contentsOf: folder.appendingPathComponent("reference.npz"))
      var inputs = [NDArray<Double>]()
      while let reader = try? reference.reader(named: "input_\(inputs.count)") {
        inputs.append(try reader.readAll().floats(as: Double.self))
      }
      let targetArray = try reference.reader(named: "targets").readAll()
      let targets: Targets<Double> = file.loss.kind == .crossEntropy
        ? .classes(try targetArray.integers()) : .values(try targetArray.floats(as: Double.self))
      data = try ArrayDataset(inputs: inputs[0], targets: targets, extraInputs: Array(inputs.dropFirst()))
      expected = try NPZFile(contentsOf: folder.appendingPathComponent("kfac.npz"))
      blocks = try expected.array(named: "blocks").integers()
    }

    func problem(batchSize: Int? = nil) throws -> CurvatureProblem<Double> {
      try CurvatureProblem(model: model, loss: loss, data: data, batchSize: batchSize, blocks: blocks)
    }

    /// The stored matrices: `(kind, options, key)`.
    var entries: [(kind: String, options: KFACOptions, key: String)] {
      expected.names.compactMap { key in
        let parts = key.split(separator: "/").map(String.init)
        guard parts.count == 4, let fisher = FisherType(rawValue: parts[1]),
              let approximation = KFACApproximation(rawValue: parts[2]) else { return nil }
        return (parts[0], KFACOptions(fisherType: fisher, approximation: approximation, jointBias: parts[3] == "joint"), key)
      }
    }
  }

  @Test func everyFixtureIsListed() throws {
    let found = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path).filter { !$0.hasPrefix(".") }
    #expect(Set(found) == Set(Self.names))
  }

  /// Our dense KFAC and EKFAC equal curvlinops' for every stored variant (float64, 1e-9),
  /// with batches of 2 and of the whole data set (curvlinops saw one batch).
  @Test(arguments: names)
  func kfacAndEKFACMatchCurvlinops(_ name: String) throws {
    let fixture = try Fixture(name)
    let entries = fixture.entries
    #expect(entries.count >= 12, "\(name): \(entries.count) matrices")
    for batchSize in [2, fixture.data.count] {
      let problem = try fixture.problem(batchSize: batchSize)
      for (kind, options, key) in entries {
        let op: any LinearOperator<Double> = kind == "kfac"
          ? try KFACOperator(problem, options: options) : try EKFACOperator(problem, options: options)
        let expected = try fixture.expected.array(named: key).floats(as: Double.self)
        expectClose(try op.dense(), expected, rtol: 1e-9, atolFactor: 1e-12, "\(name) \(key), batch \(batchSize)")
      }
    }
  }

  /// Parameters outside the Linear and convolution nodes — LayerNorm, embeddings, a head
  /// tied to the token embedding — are refused by name, not approximated silently.
  @Test func unfactorableParametersAreNamed() throws {
    let fixture = try Fixture("nanogpt")
    let all = try CurvatureProblem(model: fixture.model, loss: fixture.loss, data: fixture.data)
    do {
      _ = try KFACOperator(all, options: KFACOptions(fisherType: .type2))
      Issue.record("KFAC on all nanoGPT parameters did not throw")
    } catch let error as CurvatureError {
      guard case let .unsupported(message) = error else { Issue.record("\(error) is not .unsupported"); return }
      #expect(message.contains("transformer.wte.weight") && message.contains("tied"), "\(message)")
    }
    let graph = try #require(fixture.model as? GraphModel<Double>)
    let names = graph.kroneckerNodes.map { graph.parameterSpecs[$0.weightBlock].name }
    #expect(names == [
      "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_proj.weight", "transformer.h.0.mlp.c_fc.weight",
      "transformer.h.0.mlp.c_proj.weight",
    ])
    #expect(graph.unfactorableReason(block: graph.parameterSpecs.firstIndex { $0.name == "transformer.ln_f.weight" }!) != nil)
  }
}
