import Curvature
import Foundation
import Testing

/// torchvision's resnet18 (11 M parameters) exported as a graph: its Hessian- and
/// GGN-vector products equal curvlinops' to 1e-9 relative, in float64, without forming
/// anything P×P. The export (about 540 MB with the vectors) is too large to commit:
/// `python/tests/test_resnet18.py` writes it and runs this test with
/// `CURVATURE_RESNET18_DIR` pointing at it; without the variable the test is skipped.
///
/// The directory holds `model.json`, `weights.safetensors` and `reference.npz` from
/// `curvature_export.export`, `vector.npy` `[P]`, and curvlinops' products with it,
/// `hessian_vector.npy` and `ggn_vector.npy` `[P]`.
@Suite struct GraphResNet18ProductTests {
  static let directory = ProcessInfo.processInfo.environment["CURVATURE_RESNET18_DIR"].map { URL(fileURLWithPath: $0) }

  /// `max |a − b| / max |b|`.
  static func relativeDifference(_ a: [Double], _ b: [Double]) -> Double {
    var difference = 0.0, scale = 0.0
    for (x, y) in zip(a, b) {
      difference = Swift.max(difference, Swift.abs(x - y))
      scale = Swift.max(scale, Swift.abs(y))
    }
    return difference / Swift.max(scale, .leastNormalMagnitude)
  }

  @Test(.enabled(if: directory != nil, "set CURVATURE_RESNET18_DIR to an export written by python/tests/test_resnet18.py"))
  func productsMatchCurvlinops() throws {
    let folder = try #require(Self.directory)
    let file = try ModelFile<Double>(
      description: folder.appendingPathComponent("model.json"), weights: folder.appendingPathComponent("weights.safetensors"))
    let reference = try NPZFile(contentsOf: folder.appendingPathComponent("reference.npz"))
    let inputs = try reference.reader(named: "input_0").readAll().floats(as: Double.self)
    let targets = try reference.reader(named: "targets").readAll().integers()
    let data = try ArrayDataset(inputs: inputs, targets: .classes(targets))
    let problem = try CurvatureProblem(model: file.network, loss: file.loss, data: data)
    #expect(problem.dimension > 10_000_000)

    let (loss, gradient) = try problem.lossAndGradient()
    let expectedLoss = try reference.reader(named: "loss").readAll().floats(as: Double.self).scalars[0]
    #expect(Swift.abs(loss - expectedLoss) <= 1e-10 * Swift.max(1, Swift.abs(expectedLoss)), "loss \(loss) vs PyTorch's \(expectedLoss)")
    let expectedGradient = try reference.reader(named: "gradient").readAll().floats(as: Double.self).scalars
    let gradientDifference = Self.relativeDifference(gradient.scalars, expectedGradient)
    #expect(gradientDifference <= 1e-9, "gradient: relative difference \(gradientDifference)")

    let vector = try NPYArray(contentsOf: folder.appendingPathComponent("vector.npy")).floats(as: Double.self)
    #expect(vector.shape == [problem.dimension])
    let operators: [(String, any LinearOperator<Double>)] = [("hessian", HessianOperator(problem)), ("ggn", GGNOperator(problem))]
    for (name, op) in operators {
      let product = try op.apply(vector)
      let expected = try NPYArray(contentsOf: folder.appendingPathComponent("\(name)_vector.npy")).floats(as: Double.self)
      let difference = Self.relativeDifference(product.scalars, expected.scalars)
      #expect(product.shape == expected.shape && difference <= 1e-9, "\(name) product: relative difference \(difference)")
      print("resnet18 \(name)-vector product (P = \(problem.dimension)): max relative difference \(difference) to curvlinops")
    }
  }
}
