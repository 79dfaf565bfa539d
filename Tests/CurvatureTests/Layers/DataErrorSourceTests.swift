import Curvature
import Foundation
import Testing

/// Errors about targets name the targets' file and the element in the whole data set
/// (flat index and data point), as `FileFormatError`s do; a model without parameters is
/// named as such (issue 20, §7).
@Suite struct DataErrorSourceTests {
  static func expectInvalidData(
    _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
  ) {
    let error = #expect(throws: CurvatureError.self, sourceLocation: sourceLocation) { try body() }
    guard let error else { return }
    guard case .invalidData = error else { Issue.record("\(error) is not invalidData", sourceLocation: sourceLocation); return }
    for fragment in fragments {
      #expect(error.description.contains(fragment), "lacks \"\(fragment)\": \(error)", sourceLocation: sourceLocation)
    }
  }

  static func directory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("curvature-data-errors-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// A class index out of range in `y.npy`, found in the third batch of two: the message
  /// names the file, the flat index and the data point in the whole set.
  func classOutOfRangeNamesTheFile<T: BLASScalar>(_: T.Type) throws {
    let dir = try Self.directory()
    defer { try? FileManager.default.removeItem(at: dir) }
    var rng = RandomGenerator(seed: 1)
    let x = dir.appendingPathComponent("X.npy"), y = dir.appendingPathComponent("y.npy")
    try NPYArray(rng.normalArray(shape: [6, 3], T.self)).write(to: x)
    try NPYArray(integers: [0, 1, 2, 3, 1, -1]).write(to: y)
    let data = try NPYDataset<T>(inputs: x, targets: y, classTargets: true)
    #expect(data.source.targets == y.path)
    let model = try Sequential<T>([Linear(inFeatures: 3, outFeatures: 4)], seed: 0)
    Self.expectInvalidData([y.path, "class index -1", "flat index 5", "data point 5", "4 classes"]) {
      _ = try CurvatureProblem(model: model, loss: Loss(.crossEntropy), data: data, batchSize: 2)
    }
  }

  @Test func classOutOfRangeNamesTheFileDouble() throws { try classOutOfRangeNamesTheFile(Double.self) }
  @Test func classOutOfRangeNamesTheFileFloat() throws { try classOutOfRangeNamesTheFile(Float.self) }

  /// BCE targets outside [0, 1] and MSE targets of the wrong shape name the source given to
  /// an `ArrayDataset` and the whole set's shapes.
  func valueTargetErrorsNameTheSource<T: BLASScalar>(_: T.Type) throws {
    var rng = RandomGenerator(seed: 2)
    let inputs: NDArray<T> = rng.normalArray(shape: [4, 3])
    let model = try Sequential<T>([Linear(inFeatures: 3, outFeatures: 2)], seed: 0)
    let values = NDArray<T>(shape: [4, 2], scalars: (0..<8).map { $0 == 7 ? T(1.5) : T(0.5) })
    let source = DataSource(inputs: "X.npy", targets: "targets.npy")
    let bce = try ArrayDataset(inputs: inputs, targets: .values(values), source: source)
    Self.expectInvalidData(["targets.npy", "BCE target 1.5", "flat index 7", "data point 3", "outside [0, 1]"]) {
      _ = try CurvatureProblem(model: model, loss: Loss(.bceWithLogits), data: bce, batchSize: 3)
    }
    let wide = try ArrayDataset(inputs: inputs, targets: .values(NDArray(zeros: [4, 3])), source: source)
    Self.expectInvalidData(["targets.npy", "mse", "[4] + [2]", "shape [4, 3]"]) {
      _ = try CurvatureProblem(model: model, loss: Loss(.mse), data: wide, batchSize: 3)
    }
  }

  @Test func valueTargetErrorsNameTheSourceDouble() throws { try valueTargetErrorsNameTheSource(Double.self) }
  @Test func valueTargetErrorsNameTheSourceFloat() throws { try valueTargetErrorsNameTheSource(Float.self) }

  @Test func modelWithoutParameters() throws {
    let model = try Sequential<Double>([Flatten(), ReLU()], seed: 0)
    let data = try ArrayDataset<Double>(inputs: NDArray(zeros: [2, 3]), targets: .values(NDArray(zeros: [2, 3])))
    let error = #expect(throws: CurvatureError.self) {
      _ = try CurvatureProblem(model: model, loss: Loss(.mse), data: data)
    }
    if let error {
      #expect(error.description.contains("the model has no parameters"), "\(error)")
      #expect(!error.description.contains("no parameter blocks selected"), "\(error)")
    }
  }
}
