import Curvature
import CurvatureTestSupport
import Testing

/// Derivatives of the shape operations — reshape, flatten, permute, transpose, broadcast,
/// its adjoint `summed(toShape:)`, and `expandingShape` — through `DerivativeCheck`. They are
/// linear, so the second-order checks exercise their pullbacks' own derivatives through the
/// outer `tanh`; each case also composes with an elementwise product so that the position
/// of every element matters.
@Suite struct ShapeDerivativeTests {
  static let cases: [UnaryTensorCase] = [
    UnaryTensorCase("reshaped [2,3,4] → [6,4]", [2, 3, 4], [6, 4]) { $0.reshaped([6, 4]) },
    UnaryTensorCase("reshaped [2,3,4] → [4,-1]", [2, 3, 4], [4, 6]) { $0.reshaped([4, -1]) },
    UnaryTensorCase("reshaped [2,3,4] → [24]", [2, 3, 4], [24]) { $0.reshaped([24]) },
    UnaryTensorCase("reshaped [6] → [1,2,1,3]", [6], [1, 2, 1, 3]) { $0.reshaped([1, 2, 1, 3]) },
    UnaryTensorCase("reshaped to its own shape", [2, 3], [2, 3]) { $0.reshaped([2, 3]) },
    UnaryTensorCase("reshaped [] → [1,1]", [], [1, 1]) { $0.reshaped([1, 1]) },
    UnaryTensorCase("flattened()", [2, 3, 2], [12]) { $0.flattened() },
    UnaryTensorCase("flattened(from: 1)", [2, 3, 2], [2, 6]) { $0.flattened(from: 1) },
    UnaryTensorCase("flattened(from: 2) rank 4", [2, 1, 3, 2], [2, 1, 6]) { $0.flattened(from: 2) },
    UnaryTensorCase("flattened(from: rank)", [2, 3], [2, 3, 1]) { $0.flattened(from: 2) },
    UnaryTensorCase("permuted [2,0,1]", [2, 3, 4], [4, 2, 3]) { $0.permuted([2, 0, 1]) },
    UnaryTensorCase("permuted [1,2,0]", [2, 3, 4], [3, 4, 2]) { $0.permuted([1, 2, 0]) },
    UnaryTensorCase("permuted [0,2,1]", [2, 3, 4], [2, 4, 3]) { $0.permuted([0, 2, 1]) },
    UnaryTensorCase("permuted rank 4 [3,1,0,2]", [2, 3, 2, 2], [2, 3, 2, 2]) { $0.permuted([3, 1, 0, 2]) },
    UnaryTensorCase("permuted rank 4 [2,3,1,0]", [2, 1, 3, 2], [3, 2, 1, 2]) { $0.permuted([2, 3, 1, 0]) },
    UnaryTensorCase("permuted identity", [2, 3], [2, 3]) { $0.permuted([0, 1]) },
    UnaryTensorCase("transposed rank 2", [3, 4], [4, 3]) { $0.transposed() },
    UnaryTensorCase("transposed rank 3", [2, 3, 4], [2, 4, 3]) { $0.transposed() },
    UnaryTensorCase("transposed twice", [2, 3], [2, 3]) { $0.transposed().transposed() },
    UnaryTensorCase("broadcast [3,1] → [2,3,4]", [3, 1], [2, 3, 4]) { $0.broadcast(to: [2, 3, 4]) },
    UnaryTensorCase("broadcast [4] → [3,4]", [4], [3, 4]) { $0.broadcast(to: [3, 4]) },
    UnaryTensorCase("broadcast [1,4] → [2,3,4]", [1, 4], [2, 3, 4]) { $0.broadcast(to: [2, 3, 4]) },
    UnaryTensorCase("broadcast [] → [2,3]", [], [2, 3]) { $0.broadcast(to: [2, 3]) },
    UnaryTensorCase("broadcast [2,1,3] → [2,4,3]", [2, 1, 3], [2, 4, 3]) { $0.broadcast(to: [2, 4, 3]) },
    UnaryTensorCase("summed [2,3,4] → [3,1]", [2, 3, 4], [3, 1]) { $0.summed(toShape: [3, 1]) },
    UnaryTensorCase("summed [2,3,4] → [4]", [2, 3, 4], [4]) { $0.summed(toShape: [4]) },
    UnaryTensorCase("summed [2,3,4] → [2,1,4]", [2, 3, 4], [2, 1, 4]) { $0.summed(toShape: [2, 1, 4]) },
    UnaryTensorCase("summed [2,3,4] → [1,1]", [2, 3, 4], [1, 1]) { $0.summed(toShape: [1, 1]) },
    UnaryTensorCase("summed [3,4] → []", [3, 4], []) { $0.summed(toShape: []) },
    UnaryTensorCase("summed to its own shape", [3, 4], [3, 4]) { $0.summed(toShape: [3, 4]) },
    UnaryTensorCase("expandingShape(at: 0)", [3, 4], [1, 3, 4]) { $0.expandingShape(at: 0) },
    UnaryTensorCase("expandingShape(at: 1)", [3, 4], [3, 1, 4]) { $0.expandingShape(at: 1) },
    UnaryTensorCase("expandingShape(at: 2)", [3, 4], [3, 4, 1]) { $0.expandingShape(at: 2) },
    UnaryTensorCase("expandingShape(at: -1)", [3, 4], [3, 4, 1]) { $0.expandingShape(at: -1) },
    UnaryTensorCase("expandingShape(at: -3)", [3, 4], [1, 3, 4]) { $0.expandingShape(at: -3) },
    UnaryTensorCase("expandingShape of a scalar", [], [1]) { $0.expandingShape(at: 0) },
    UnaryTensorCase("broadcast then summed back", [3, 1], [3, 1]) {
      $0.broadcast(to: [2, 3, 4]).summed(toShape: [3, 1])
    },
    UnaryTensorCase("permute, reshape, transpose", [2, 3, 4], [4, 6]) {
      $0.permuted([1, 0, 2]).reshaped([6, 4]).transposed()
    },
  ]

  @Test(arguments: cases)
  func derivatives(_ c: UnaryTensorCase) {
    let x = DerivativeCheck.normal(c.inputShape, seed: 31)
    #expect(c.op(Tensor(x)).shape == c.outputShape, "\(c.name): result shape")
    DerivativeCheck.check(c.name, at: [x]) { t in c.op(t[0]) }
    // Weighted by a second input, so the check also sees the derivative w.r.t. position.
    let y = DerivativeCheck.normal(c.outputShape, seed: 32)
    DerivativeCheck.check("\(c.name) ⊙ y", at: [x, y]) { t in c.op(t[0]) * t[1] }
  }

  @Test func permutedValues() {
    let x = NDArray<Double>(shape: [2, 3, 4]) { i in Double(100 * i[0] + 10 * i[1] + i[2]) }
    let p = Tensor(x).permuted([2, 0, 1])
    #expect(p.shape == [4, 2, 3])
    for i in 0..<4 { for j in 0..<2 { for k in 0..<3 { #expect(p.value[i, j, k] == x[j, k, i]) } } }
    let t = Tensor(x).transposed()
    #expect(t.shape == [2, 4, 3])
    #expect(t.value[1, 3, 2] == x[1, 2, 3])
  }

  @Test func broadcastAndSummedValues() {
    let x = Tensor<Double>(NDArray(rows: [[1], [2], [3]]))
    let b = x.broadcast(to: [2, 3, 2])
    #expect(b.value.scalars == [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3])
    #expect(b.summed(toShape: [3, 1]).value == NDArray(rows: [[4], [8], [12]]))
    #expect(b.summed(toShape: [2]).value == NDArray([12, 12]))
    #expect(b.summed(toShape: []).value == NDArray(scalar: 24))
  }

  /// Shape operations that change nothing return their input, which stays differentiable.
  @Test func noOpShapeOperationsKeepTheGradient() {
    let x = Tensor<Double>(NDArray(rows: [[1, 2], [3, 4]]))
    let g = gradient(at: x) { x in
      (x.reshaped([2, 2]).permuted([0, 1]).broadcast(to: [2, 2]).summed(toShape: [2, 2]) * x).sum()
    }
    assertClose(g.value, NDArray(rows: [[2, 4], [6, 8]]), rtol: 0)
  }
}

extension ShapeDerivativeTests {
  /// A one-input tensor function with the shapes it maps between.
  struct UnaryTensorCase: Sendable, CustomTestStringConvertible {
    let name: String
    let inputShape: [Int]
    let outputShape: [Int]
    let op: @Sendable (Tensor<Double>) -> Tensor<Double>

    init(_ name: String, _ inputShape: [Int], _ outputShape: [Int], _ op: @escaping @Sendable (Tensor<Double>) -> Tensor<Double>) {
      self.name = name
      self.inputShape = inputShape
      self.outputShape = outputShape
      self.op = op
    }

    var testDescription: String { name }
  }
}
