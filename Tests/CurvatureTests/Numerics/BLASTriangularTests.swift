import Curvature
import CurvatureTestSupport
import Testing

private typealias Ref = NumericsReference

/// `trsm` (every side, triangle, transpose and diagonal kind) checked by multiplying the
/// solution back with naive loops, and `omatcopy` against naive index mapping.
@Suite struct BLASTriangularTests {
  @Test func trsmFloat() { checkTrsm(Float.self) }
  @Test func trsmDouble() { checkTrsm(Double.self) }
  @Test func trsmHandCheckedFloat() { checkTrsmHandChecked(Float.self) }
  @Test func trsmHandCheckedDouble() { checkTrsmHandChecked(Double.self) }
  @Test func omatcopyFloat() { checkOmatcopy(Float.self) }
  @Test func omatcopyDouble() { checkOmatcopy(Double.self) }
}

private func checkTrsm<T: BLASScalar & TestTolerance>(_: T.Type) {
  let (m, n) = (4, 3)
  var seed: UInt64 = 3000
  for side in [Side.left, .right] {
    for triangle in [Triangle.upper, .lower] {
      for transpose in [Transpose.none, .transpose] {
        for diagonal in [DiagonalKind.nonUnit, .unit] {
          seed += 2
          let order = side == .left ? m : n
          let (lda, ldb) = (order + 2, n + 1)
          let noise: [T] = Ref.randomScalars(order * lda, seed: seed)
          // The triangle in use: small off-diagonal entries and a diagonal ≥ 2, so it is
          // well conditioned. Everything else (the other triangle, the padding, and the
          // diagonal when it is implicitly one) holds large garbage that must be ignored.
          var a = [T](repeating: 0, count: order * lda)
          var effective = NDArray<T>(zeros: [order, order])
          for i in 0..<order {
            for j in 0..<lda {
              let inTriangle = j < order && (triangle == .upper ? j > i : j < i)
              if j == i {
                a[i * lda + j] = diagonal == .unit ? 1000 : 2 + abs(noise[i * lda + j])
                effective[i, i] = diagonal == .unit ? 1 : a[i * lda + j]
              } else if inTriangle {
                a[i * lda + j] = noise[i * lda + j] / 2
                effective[i, j] = a[i * lda + j]
              } else {
                a[i * lda + j] = 500 + noise[i * lda + j]
              }
            }
          }
          let b0: [T] = Ref.randomScalars(Ref.span(rows: m, columns: n, ld: ldb) + 1, seed: seed + 1)
          let alpha: T = 1.5
          var b = b0
          a.withUnsafeBufferPointer { pa in
            b.withUnsafeMutableBufferPointer { pb in
              T.trsm(
                side: side, triangle: triangle, transpose: transpose, diagonal: diagonal, m: m, n: n,
                alpha: alpha, a: pa, lda: lda, b: pb, ldb: ldb)
            }
          }
          // Residual: op(A) X (left) or X op(A) (right) must equal αB.
          let x = NDArray<T>(shape: [m, n]) { b[$0[0] * ldb + $0[1]] }
          let opA = transpose == .none ? effective : Ref.transpose(effective)
          let product = side == .left ? Ref.matmul(opA, x) : Ref.matmul(x, opA)
          let expected = NDArray<T>(shape: [m, n]) { alpha * b0[$0[0] * ldb + $0[1]] }
          let label = "trsm \(side) \(triangle) \(transpose) \(diagonal)"
          assertClose(product, expected, rtol: T.testRelativeTolerance, atol: T.testAbsoluteTolerance, label)
          // Padding of B is untouched.
          for i in b.indices where i / ldb >= m || i % ldb >= n {
            #expect(b[i] == b0[i], "\(label): padding of B at \(i) changed")
          }
        }
      }
    }
  }
}

private func checkTrsmHandChecked<T: BLASScalar & TestTolerance>(_: T.Type) {
  // L = [[2, 0], [1, 4]]: L x = (4, 10) gives x = (2, 2); Lᵀ x = (4, 8) gives x = (1, 2).
  let l: [T] = [2, 0, 1, 4]
  func solve(_ rhs: [T], _ transpose: Transpose) -> [T] {
    var b = rhs
    l.withUnsafeBufferPointer { pa in
      b.withUnsafeMutableBufferPointer { pb in
        T.trsm(side: .left, triangle: .lower, transpose: transpose, diagonal: .nonUnit, m: 2, n: 1,
               alpha: 1, a: pa, lda: 2, b: pb, ldb: 1)
      }
    }
    return b
  }
  #expect(solve([4, 10], .none) == [2, 2])
  #expect(solve([4, 8], .transpose) == [1, 2])
}

private func checkOmatcopy<T: BLASScalar & TestTolerance>(_: T.Type) {
  // (rows, columns, padding of A, padding of B)
  let cases = [(3, 5, 1, 2), (5, 3, 0, 0), (1, 4, 2, 1), (4, 1, 0, 3), (1, 1, 0, 0)]
  for (caseIndex, (rows, columns, padA, padB)) in cases.enumerated() {
    for transpose in [Transpose.none, .transpose] {
      for alpha in [T(1), T(-2)] {
        let lda = columns + padA
        let (br, bc) = transpose == .none ? (rows, columns) : (columns, rows)
        let ldb = bc + padB
        let a: [T] = Ref.randomScalars(Ref.span(rows: rows, columns: columns, ld: lda), seed: UInt64(4000 + caseIndex))
        let b0: [T] = Ref.randomScalars(Ref.span(rows: br, columns: bc, ld: ldb) + 1, seed: UInt64(4100 + caseIndex))
        var b = b0
        a.withUnsafeBufferPointer { pa in
          b.withUnsafeMutableBufferPointer { pb in
            T.omatcopy(transpose: transpose, rows: rows, columns: columns, alpha: alpha, a: pa, lda: lda, b: pb, ldb: ldb)
          }
        }
        var expected = b0
        for i in 0..<br {
          for j in 0..<bc {
            // B[i][j] = α A[i][j], or α A[j][i] when transposing.
            expected[i * ldb + j] = alpha * T(Ref.element(a, ld: lda, transpose, i, j))
          }
        }
        // Scaling by 1 or −2 is exact, so the copy must be exact too.
        #expect(b == expected, "omatcopy \(transpose) \(rows)×\(columns) α \(alpha) lda \(lda) ldb \(ldb)")
      }
    }
  }
}
