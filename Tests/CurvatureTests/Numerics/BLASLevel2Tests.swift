import Curvature
import CurvatureTestSupport
import Testing

private typealias Ref = NumericsReference

/// BLAS level 2 (`gemv`, `ger`) against naive loops: both transposes, non-square shapes,
/// padded leading dimensions and strided vectors. Padding must stay untouched.
@Suite struct BLASLevel2Tests {
  @Test func gemvFloat() { checkGemv(Float.self) }
  @Test func gemvDouble() { checkGemv(Double.self) }
  @Test func gemvEmptyInnerDimensionScalesYFloat() { checkGemvEmpty(Float.self) }
  @Test func gemvEmptyInnerDimensionScalesYDouble() { checkGemvEmpty(Double.self) }
  @Test func gerFloat() { checkGer(Float.self) }
  @Test func gerDouble() { checkGer(Double.self) }
}

private func checkGemv<T: BLASScalar & TestTolerance>(_: T.Type) {
  // (m, n, lda): tall, wide, square, a single row and a single column; lda ≥ n.
  let shapes = [(3, 5, 7), (5, 3, 3), (4, 4, 6), (1, 6, 6), (6, 1, 2)]
  var seed: UInt64 = 1
  for (m, n, lda) in shapes {
    let a: [T] = Ref.randomScalars(Ref.span(rows: m, columns: n, ld: lda), seed: seed)
    for transpose in [Transpose.none, .transpose] {
      for (strideX, strideY) in [(1, 1), (2, 1), (1, 2), (3, 2)] {
        for (alpha, beta) in [(T(1), T(0)), (T(1.25), T(-0.5))] {
          seed += 3
          let (xCount, yCount) = transpose == .none ? (n, m) : (m, n)
          let x: [T] = Ref.randomScalars(Ref.span(count: xCount, stride: strideX), seed: seed)
          let y0: [T] = Ref.randomScalars(Ref.span(count: yCount, stride: strideY) + 1, seed: seed + 1)
          var y = y0
          a.withUnsafeBufferPointer { pa in
            x.withUnsafeBufferPointer { px in
              y.withUnsafeMutableBufferPointer { py in
                T.gemv(
                  transpose: transpose, m: m, n: n, alpha: alpha, a: pa, lda: lda, x: px,
                  strideX: strideX, beta: beta, y: py, strideY: strideY)
              }
            }
          }
          var expected = y0
          for i in 0..<yCount {
            var sum = 0.0
            for j in 0..<xCount {
              // op(A)[i][j]: A[i][j] untransposed, A[j][i] transposed.
              sum += Ref.element(a, ld: lda, transpose, i, j) * Double(x[j * strideX])
            }
            expected[i * strideY] = T(Double(alpha) * sum + Double(beta) * Double(y0[i * strideY]))
          }
          Ref.assertCloseScalars(
            y, expected, rtol: T.testRelativeTolerance, atol: T.testAbsoluteTolerance,
            "gemv \(transpose) m \(m) n \(n) lda \(lda) strides \(strideX), \(strideY) β \(beta)")
        }
      }
    }
  }
  // Hand-checked: [[1, 2, 3], [4, 5, 6]] (lda 4, padding 99) times (1, 1, 1) and its transpose times (1, 2).
  let a: [T] = [1, 2, 3, 99, 4, 5, 6]
  func product(_ transpose: Transpose, _ x: [T], _ count: Int) -> [T] {
    var y = [T](repeating: 0, count: count)
    a.withUnsafeBufferPointer { pa in
      x.withUnsafeBufferPointer { px in
        y.withUnsafeMutableBufferPointer { py in
          T.gemv(transpose: transpose, m: 2, n: 3, alpha: 1, a: pa, lda: 4, x: px, strideX: 1, beta: 0, y: py, strideY: 1)
        }
      }
    }
    return y
  }
  #expect(product(.none, [1, 1, 1], 2) == [6, 15])
  #expect(product(.transpose, [1, 2], 3) == [9, 12, 15])
}

private func checkGemvEmpty<T: BLASScalar & TestTolerance>(_: T.Type) {
  // n = 0: op(A) x is an empty sum, so y ← βy.
  let a: [T] = [], x: [T] = []
  var y: [T] = [1, -2, 3]
  a.withUnsafeBufferPointer { pa in
    x.withUnsafeBufferPointer { px in
      y.withUnsafeMutableBufferPointer { py in
        T.gemv(transpose: .none, m: 3, n: 0, alpha: 1, a: pa, lda: 1, x: px, strideX: 1, beta: 0.5, y: py, strideY: 1)
      }
    }
  }
  #expect(y == [0.5, -1, 1.5])
}

private func checkGer<T: BLASScalar & TestTolerance>(_: T.Type) {
  // (m, n, lda, strideX, strideY)
  let cases = [(3, 4, 6, 2, 3), (4, 3, 3, 1, 1), (1, 5, 5, 1, 2), (5, 1, 4, 2, 1)]
  for (caseIndex, (m, n, lda, strideX, strideY)) in cases.enumerated() {
    let seed = UInt64(50 + 5 * caseIndex)
    let a0: [T] = Ref.randomScalars(Ref.span(rows: m, columns: n, ld: lda) + 1, seed: seed)
    let x: [T] = Ref.randomScalars(Ref.span(count: m, stride: strideX), seed: seed + 1)
    let y: [T] = Ref.randomScalars(Ref.span(count: n, stride: strideY), seed: seed + 2)
    let alpha: T = 0.5
    var a = a0
    x.withUnsafeBufferPointer { px in
      y.withUnsafeBufferPointer { py in
        a.withUnsafeMutableBufferPointer { pa in
          T.ger(m: m, n: n, alpha: alpha, x: px, strideX: strideX, y: py, strideY: strideY, a: pa, lda: lda)
        }
      }
    }
    var expected = a0
    for i in 0..<m {
      for j in 0..<n {
        expected[i * lda + j] = T(
          Double(a0[i * lda + j]) + Double(alpha) * Double(x[i * strideX]) * Double(y[j * strideY]))
      }
    }
    Ref.assertCloseScalars(
      a, expected, rtol: T.testRelativeTolerance, atol: T.testAbsoluteTolerance,
      "ger m \(m) n \(n) lda \(lda) strides \(strideX), \(strideY)")
  }
}
