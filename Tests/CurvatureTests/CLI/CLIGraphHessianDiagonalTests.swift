import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// `curv diag --operator hessian --method exact` on graph models: the backpropagated
/// diagonal (unit products only for blocks without a second-order rule) equals
/// curvlinops' dense Hessian diagonal, and one line on stderr says which path was used.
@Suite struct CLIGraphHessianDiagonalTests {
  @Test(arguments: [
    ("resnet_tiny", "Hessian diagonal: backpropagated (DiagHessian) for all 401 parameters"),
    ("encoder_classifier", "Hessian diagonal: backpropagated (DiagHessian) for 23 parameters in 4 blocks, unit products for 128 parameters in 10 blocks (second-order terms without a rule at 'layer.self_attn.attention' (attention)"),
    ("masked_fill_matmul", "Hessian diagonal: unit products for all 24 parameters (second-order terms without a rule at 'softmax' (softmax))"),
  ])
  func diagonalAndItsPathOnStderr(_ name: String, _ line: String) throws {
    let fixture = try CLIGraphCase.make(name)
    defer { fixture.remove() }
    let result = try CLI.run(
      ["diag"] + fixture.fileArguments
        + ["--operator", "hessian", "--method", "exact", "--dtype", "float64", "--batch-size", "2", "--output", fixture.path("d.npy")])
    #expect(result.status == 0, "\(result.stderr)")
    let lines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("Hessian diagonal:") }
    #expect(lines.count == 1 && lines[0].hasPrefix(line), "\(result.stderr)")
    let diagonal = try CLI.readNPY(URL(fileURLWithPath: fixture.path("d.npy")))
    let expected = try fixture.matrix("hessian").diagonal()
    let scale = expected.scalars.map { Swift.abs($0) }.max() ?? 1
    let worst = zip(diagonal.scalars, expected.scalars).map { Swift.abs($0 - $1) }.max() ?? 0
    #expect(worst <= 1e-10 * scale, "\(name): max error \(worst) of \(scale)")
  }
}
