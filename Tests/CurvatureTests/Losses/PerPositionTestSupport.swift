import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// A data set in memory whose class targets may be per position (`[N, d1, …]`, flattened
/// row-major), sliced per data point (`ArrayDataset` holds one class per data point).
struct PositionDataset<Scalar: BLASScalar>: Dataset {
  var inputs: NDArray<Scalar>
  var targets: Targets<Scalar>

  var count: Int { inputs.shape[0] }
  var inputShape: [Int] { Array(inputs.shape.dropFirst()) }
  var source: DataSource { DataSource(inputs: "X", targets: "y.npy") }

  func batch(_ range: Range<Int>) throws -> Batch<Scalar> {
    // An ArrayDataset's batch of these inputs, with the per-position targets swapped in.
    var batch = try ArrayDataset(inputs: inputs, targets: .classes(Array(repeating: 0, count: count))).batch(range)
    batch.targets = targets.slice(range, pointCount: count)
    return batch
  }
}

/// The committed fixtures of `scripts/fixtures/make_loss_fixtures.py`.
enum LossFixtures {
  static func url(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures").appendingPathComponent("Losses").appendingPathComponent(name)
  }

  /// One entry of `losses.json` or `curvature.json`.
  struct Case: Decodable, Sendable, CustomStringConvertible {
    var name: String
    var kind: String?
    var reduction: String
    var ignore_index: Int
    var label_smoothing: Double
    var spatial: [Int]?
    var N: Int?, F: Int?, H: Int?, C: Int?, P: Int?, counted: Int?, terms: Int?
    var description: String { name }

    func loss<T: BLASScalar>(as _: T.Type = T.self) throws -> Loss<T> {
      let kind = LossKind(rawValue: self.kind ?? "cross_entropy")!, reduction = LossReduction(rawValue: reduction)!
      guard kind == .crossEntropy else { return Loss(kind, reduction: reduction) }
      return try Loss<T>.crossEntropy(reduction: reduction, ignoreIndex: ignore_index, labelSmoothing: label_smoothing)
    }
  }

  static func cases(_ file: String) -> [Case] {
    guard let data = try? Data(contentsOf: url(file)), let cases = try? JSONDecoder().decode([Case].self, from: data) else {
      return []
    }
    return cases
  }

  static let lossCases = cases("losses.json")
  static let curvatureCases = cases("curvature.json")

  /// Class indices stored as exact float64.
  static func classes(_ array: NDArray<Double>) -> [Int] { array.scalars.map { Int($0) } }

  /// `f(x) = W2 tanh(W1 x + b1)` reshaped to `[N, C] + spatial`, the fixture's PositionNet.
  static func positionModel<T: BLASScalar>(
    _ c: Case, parameters: [NDArray<T>]
  ) throws -> FunctionModel<T> {
    let shape = [-1, c.C!] + c.spatial!
    return try FunctionModel<T>(
      parameterSpecs: [
        ParameterSpec(name: "W1", shape: [c.H!, c.F!]), ParameterSpec(name: "b1", shape: [c.H!]),
        ParameterSpec(name: "W2", shape: [c.C! * c.spatial!.reduce(1, *), c.H!]),
      ],
      parameters: parameters
    ) { x, p in
      let h = (matmul(x, p[0], transposeB: true) + p[1]).tanh()
      return matmul(h, p[2], transposeB: true).reshaped(shape)
    }
  }

  /// A curvature case's model, loss and data in precision `T`.
  static func problemParts<T: BLASScalar>(
    _ c: Case, as _: T.Type = T.self
  ) throws -> (model: FunctionModel<T>, loss: Loss<T>, data: PositionDataset<T>, x: NDArray<Double>, y: [Int]) {
    let file = try SafetensorsFile(contentsOf: url("curvature.safetensors"))
    let parameters: [NDArray<T>] = try ["W1", "b1", "W2"].map { try file.array(named: "\(c.name).\($0)", as: T.self) }
    let x = try file.array(named: "\(c.name).X", as: Double.self)
    let y = classes(try file.array(named: "\(c.name).y", as: Double.self))
    let data = PositionDataset<T>(inputs: x.converted(to: T.self), targets: .classes(y))
    return (try positionModel(c, parameters: parameters), try c.loss(), data, x, y)
  }

  /// A curvature case's expected matrix.
  static func expected(_ c: Case, _ key: String) throws -> NDArray<Double> {
    try SafetensorsFile(contentsOf: url("curvature.safetensors")).array(named: "\(c.name).\(key)", as: Double.self)
  }
}
