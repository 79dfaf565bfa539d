import Curvature
import Foundation

/// A committed reference case: a directory of `Fixtures/<group>/<name>` written by one of
/// scripts/fixtures/make_*_fixtures.py with a `Sequential` model (`model.json`,
/// `weights.safetensors`), its data (`X.npy`, `y.npy`; class targets for cross-entropy)
/// and the reference numbers (`expected.safetensors`), all float64. The curvlinops, KFAC
/// and Laplace fixture tests load their cases through it.
struct ReferenceFixture {
  var directory: URL
  var model: Sequential<Double>
  var loss: Loss<Double>
  var data: NPYDataset<Double>
  var expected: SafetensorsFile

  /// `Tests/CurvatureTests/Fixtures/<group>`.
  static func directory(_ group: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("Fixtures").appendingPathComponent(group)
  }

  /// Loads case `name` of fixture group `group` (`Curvature`, `KFAC`, `Laplace`).
  init(_ group: String, _ name: String) throws {
    directory = Self.directory(group).appendingPathComponent(name)
    (model, loss, data) = try Self.modelAndData(in: directory)
    expected = try SafetensorsFile(contentsOf: directory.appendingPathComponent("expected.safetensors"))
  }

  /// The model at its committed weights, its loss and the data of a case directory (also
  /// the Cockpit fixtures', whose reference numbers are JSON).
  static func modelAndData(in directory: URL) throws -> (model: Sequential<Double>, loss: Loss<Double>, data: NPYDataset<Double>) {
    let file = try ModelFile<Double>(
      description: directory.appendingPathComponent("model.json"),
      weights: directory.appendingPathComponent("weights.safetensors"))
    let data = try NPYDataset<Double>(
      inputs: directory.appendingPathComponent("X.npy"), targets: directory.appendingPathComponent("y.npy"),
      classTargets: file.loss.kind == .crossEntropy)
    return (file.model, file.loss, data)
  }

  /// The case names of a fixture group, sorted (hidden files left out).
  static func cases(_ group: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory(group).path).filter { !$0.hasPrefix(".") }.sorted()
  }
}
