import Curvature
import CurvatureTestSupport
import Testing

/// Derivatives of `matmul` on tensors — 2-D with every transpose combination, batched
/// rank-3 × rank-3, rank-3 × 2-D (the folded pullback path), 2-D × rank-3, and broadcast
/// batch axes — through `DerivativeCheck`, plus values against a naive product.
@Suite struct MatmulDerivativeTests {
  static let cases: [MatmulCase] = {
    var cases = [MatmulCase]()
    let flags = [(false, false), (true, false), (false, true), (true, true)]
    // m = 3, k = 4, n = 2.
    for (ta, tb) in flags {
      cases.append(MatmulCase(batchA: [], batchB: [], transposeA: ta, transposeB: tb))  // 2-D
      cases.append(MatmulCase(batchA: [2], batchB: [2], transposeA: ta, transposeB: tb))  // batched
      cases.append(MatmulCase(batchA: [2], batchB: [], transposeA: ta, transposeB: tb))  // rank-3 × 2-D
      cases.append(MatmulCase(batchA: [], batchB: [2], transposeA: ta, transposeB: tb))  // 2-D × rank-3
    }
    // The folded path with a rank-4 left factor.
    cases.append(MatmulCase(batchA: [2, 2], batchB: [], transposeA: false, transposeB: false))
    cases.append(MatmulCase(batchA: [2, 2], batchB: [], transposeA: false, transposeB: true))
    // Broadcast batch axes: [2,1,m,k] × [3,k,n] → [2,3,m,n], and the other way round.
    cases.append(MatmulCase(batchA: [2, 1], batchB: [3], transposeA: false, transposeB: false))
    cases.append(MatmulCase(batchA: [2, 1], batchB: [3], transposeA: true, transposeB: true))
    cases.append(MatmulCase(batchA: [3], batchB: [2, 1], transposeA: false, transposeB: true))
    cases.append(MatmulCase(batchA: [1, 2], batchB: [2, 1], transposeA: true, transposeB: false))
    return cases
  }()

  @Test(arguments: cases)
  func derivatives(_ c: MatmulCase) {
    let a = DerivativeCheck.normal(c.shapeA, seed: 51)
    let b = DerivativeCheck.normal(c.shapeB, seed: 52)
    let product = matmul(Tensor(a), Tensor(b), transposeA: c.transposeA, transposeB: c.transposeB)
    #expect(product.shape == c.resultShape)
    assertClose(product.value, c.naiveProduct(a, b), rtol: 1e-13, atol: 1e-14)
    DerivativeCheck.check(c.testDescription, at: [a, b]) { t in
      matmul(t[0], t[1], transposeA: c.transposeA, transposeB: c.transposeB)
    }
  }

  /// Only one factor requires gradients: the pullback asks for one cotangent.
  @Test(arguments: [
    MatmulCase(batchA: [2], batchB: [], transposeA: false, transposeB: false),
    MatmulCase(batchA: [2], batchB: [], transposeA: false, transposeB: true),
    MatmulCase(batchA: [2, 1], batchB: [3], transposeA: true, transposeB: false),
  ])
  func oneFactorVaries(_ c: MatmulCase) {
    let a = DerivativeCheck.normal(c.shapeA, seed: 53)
    let b = DerivativeCheck.normal(c.shapeB, seed: 54)
    DerivativeCheck.check("\(c.testDescription), A only", at: [a]) { t in
      matmul(t[0], Tensor(b), transposeA: c.transposeA, transposeB: c.transposeB)
    }
    DerivativeCheck.check("\(c.testDescription), B only", at: [b]) { t in
      matmul(Tensor(a), t[0], transposeA: c.transposeA, transposeB: c.transposeB)
    }
  }

  /// The same tensor as both factors: `X Xᵀ` and `Xᵀ X`, plain and batched.
  @Test func gramMatrices() {
    let x = DerivativeCheck.normal([3, 2], seed: 55)
    DerivativeCheck.check("X Xᵀ", at: [x]) { t in matmul(t[0], t[0], transposeB: true) }
    DerivativeCheck.check("Xᵀ X", at: [x]) { t in matmul(t[0], t[0], transposeA: true) }
    let xb = DerivativeCheck.normal([2, 3, 2], seed: 56)
    DerivativeCheck.check("batched X Xᵀ", at: [xb]) { t in matmul(t[0], t[0], transposeB: true) }
    DerivativeCheck.check("X X (square)", at: [DerivativeCheck.normal([3, 3], seed: 57)]) { t in matmul(t[0], t[0]) }
  }

  /// A two-layer network: matmuls composed with a bias and a nonlinearity.
  @Test func twoLayerNetwork() {
    let x = DerivativeCheck.normal([2, 3, 4], seed: 58)
    let w1 = DerivativeCheck.normal([5, 4], seed: 59)
    let b1 = DerivativeCheck.normal([5], seed: 60)
    let w2 = DerivativeCheck.normal([5, 2], seed: 61)
    DerivativeCheck.check("two-layer network", at: [x, w1, b1, w2]) { t in
      matmul((matmul(t[0], t[1], transposeB: true) + t[2]).tanh(), t[3])
    }
  }
}

extension MatmulDerivativeTests {
  /// A matrix product case with `m = 3`, `k = 4`, `n = 2` and the given batch axes.
  struct MatmulCase: Sendable, CustomTestStringConvertible {
    let batchA: [Int]
    let batchB: [Int]
    let transposeA: Bool
    let transposeB: Bool
    var m: Int { 3 }
    var k: Int { 4 }
    var n: Int { 2 }

    var shapeA: [Int] { batchA + (transposeA ? [k, m] : [m, k]) }
    var shapeB: [Int] { batchB + (transposeB ? [n, k] : [k, n]) }
    var batchShape: [Int] { NDArray<Double>.broadcastShape(batchA, batchB)! }
    var resultShape: [Int] { batchShape + [m, n] }

    var testDescription: String {
      "\(shapeA)\(transposeA ? "ᵀ" : "") × \(shapeB)\(transposeB ? "ᵀ" : "")"
    }

    /// `op(a) op(b)` by explicit loops, broadcasting batch axes.
    func naiveProduct(_ a: NDArray<Double>, _ b: NDArray<Double>) -> NDArray<Double> {
      let batch = batchShape
      return NDArray(shape: resultShape) { index in
        let batchIndex = Array(index.prefix(batch.count))
        let (i, j) = (index[batch.count], index[batch.count + 1])
        func matrixIndex(_ batchAxes: [Int]) -> [Int] {
          // Align trailing batch axes; an extent of 1 reads entry 0.
          let offset = batch.count - batchAxes.count
          return batchAxes.enumerated().map { axis, extent in extent == 1 ? 0 : batchIndex[offset + axis] }
        }
        let ia = matrixIndex(batchA), ib = matrixIndex(batchB)
        var total = 0.0
        for p in 0..<k {
          let av = a[flat: ia + (transposeA ? [p, i] : [i, p])]
          let bv = b[flat: ib + (transposeB ? [j, p] : [p, j])]
          total += av * bv
        }
        return total
      }
    }
  }
}

extension NDArray {
  /// The element at a multi-index given as an array.
  fileprivate subscript(flat indices: [Int]) -> Scalar { scalars[offset(of: indices)] }
}
