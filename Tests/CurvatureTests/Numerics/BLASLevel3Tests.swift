import Curvature
import CurvatureTestSupport
import Testing

private typealias Ref = NumericsReference

/// BLAS level 3 products (`gemm`, `syrk`) against naive triple loops: all transposes,
/// non-square and degenerate shapes, padded leading dimensions. Padding, and for `syrk`
/// the triangle that is not written, must stay untouched.
@Suite struct BLASLevel3Tests {
  @Test func gemmFloat() { checkGemm(Float.self) }
  @Test func gemmDouble() { checkGemm(Double.self) }
  @Test func gemmEmptyInnerDimensionGivesBetaCFloat() { checkGemmEmptyInner(Float.self) }
  @Test func gemmEmptyInnerDimensionGivesBetaCDouble() { checkGemmEmptyInner(Double.self) }
  @Test func syrkFloat() { checkSyrk(Float.self) }
  @Test func syrkDouble() { checkSyrk(Double.self) }
  @Test func syrkEmptyInnerDimensionWritesOnlyTriangleFloat() { checkSyrkEmptyInner(Float.self) }
  @Test func syrkEmptyInnerDimensionWritesOnlyTriangleDouble() { checkSyrkEmptyInner(Double.self) }
}

private let transposes: [Transpose] = [.none, .transpose]

/// Rows and columns of the stored matrix whose `op` is `rows×columns`.
private func stored(_ t: Transpose, _ rows: Int, _ columns: Int) -> (Int, Int) {
  t == .none ? (rows, columns) : (columns, rows)
}

private func checkGemm<T: BLASScalar & TestTolerance>(_: T.Type) {
  // (m, n, k): non-square, all-ones, and each dimension 1 on its own.
  let shapes = [(3, 5, 7), (7, 3, 5), (1, 1, 1), (1, 4, 3), (4, 1, 3), (3, 4, 1), (6, 6, 6)]
  var seed: UInt64 = 1000
  for (m, n, k) in shapes {
    for ta in transposes {
      for tb in transposes {
        // Padding 0 (tight) and 3 (leading dimensions larger than needed).
        for pad in [0, 3] {
          for (alpha, beta) in [(T(1), T(0)), (T(-1.5), T(0.75))] {
            seed += 3
            let (ar, ac) = stored(ta, m, k), (br, bc) = stored(tb, k, n)
            let (lda, ldb, ldc) = (ac + pad, bc + pad, n + pad)
            let a: [T] = Ref.randomScalars(Ref.span(rows: ar, columns: ac, ld: lda), seed: seed)
            let b: [T] = Ref.randomScalars(Ref.span(rows: br, columns: bc, ld: ldb), seed: seed + 1)
            // One element past the end as well as the row padding must survive.
            let c0: [T] = Ref.randomScalars(Ref.span(rows: m, columns: n, ld: ldc) + 1, seed: seed + 2)
            var c = c0
            a.withUnsafeBufferPointer { pa in
              b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                  T.gemm(
                    transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: alpha, a: pa, lda: lda,
                    b: pb, ldb: ldb, beta: beta, c: pc, ldc: ldc)
                }
              }
            }
            var expected = c0
            for i in 0..<m {
              for j in 0..<n {
                var sum = 0.0
                for p in 0..<k { sum += Ref.element(a, ld: lda, ta, i, p) * Ref.element(b, ld: ldb, tb, p, j) }
                expected[i * ldc + j] = T(Double(alpha) * sum + Double(beta) * Double(c0[i * ldc + j]))
              }
            }
            Ref.assertCloseScalars(
              c, expected, rtol: T.testRelativeTolerance, atol: T.testAbsoluteTolerance,
              "gemm \(ta)×\(tb) m \(m) n \(n) k \(k) pad \(pad) α \(alpha) β \(beta)")
          }
        }
      }
    }
  }
  // Hand-checked 2×2: [[1, 2], [3, 4]] [[5, 6], [7, 8]] = [[19, 22], [43, 50]].
  let a: [T] = [1, 2, 3, 4], b: [T] = [5, 6, 7, 8]
  var c = [T](repeating: 0, count: 4)
  a.withUnsafeBufferPointer { pa in
    b.withUnsafeBufferPointer { pb in
      c.withUnsafeMutableBufferPointer { pc in
        T.gemm(transposeA: .none, transposeB: .none, m: 2, n: 2, k: 2, alpha: 1, a: pa, lda: 2,
               b: pb, ldb: 2, beta: 0, c: pc, ldc: 2)
      }
    }
  }
  #expect(c == [19, 22, 43, 50])
}

private func checkGemmEmptyInner<T: BLASScalar & TestTolerance>(_: T.Type) {
  // k = 0: op(A) op(B) is an empty sum, so C ← βC; β = 0 overwrites, even NaN.
  let (m, n, ldc) = (3, 4, 6)
  for ta in transposes {
    for tb in transposes {
      for beta in [T(0.5), T(0)] {
        var c0: [T] = Ref.randomScalars(Ref.span(rows: m, columns: n, ld: ldc), seed: 77)
        c0[0] = .nan
        var c = c0
        let a: [T] = [], b: [T] = []
        a.withUnsafeBufferPointer { pa in
          b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
              T.gemm(
                transposeA: ta, transposeB: tb, m: m, n: n, k: 0, alpha: 2, a: pa,
                lda: ta == .none ? 1 : n, b: pb, ldb: tb == .none ? n : 1, beta: beta, c: pc, ldc: ldc)
            }
          }
        }
        for i in 0..<m {
          for j in 0..<ldc where i * ldc + j < c.count {
            let index = i * ldc + j
            if j < n {
              let expected = beta == 0 ? 0 : beta * c0[index]
              #expect(c[index] == expected || (c[index].isNaN && expected.isNaN), "C[\(i)][\(j)] \(ta)×\(tb) β \(beta)")
            } else {
              #expect(c[index] == c0[index], "padding C[\(i)][\(j)] changed")
            }
          }
        }
      }
    }
  }
}

private func checkSyrk<T: BLASScalar & TestTolerance>(_: T.Type) {
  var seed: UInt64 = 2000
  for (n, k) in [(4, 3), (3, 5), (1, 1), (5, 1)] {
    for transpose in transposes {
      for triangle in [Triangle.upper, .lower] {
        for pad in [0, 2] {
          seed += 3
          let (ar, ac) = stored(transpose, n, k)
          let (lda, ldc) = (ac + pad, n + pad)
          let a: [T] = Ref.randomScalars(Ref.span(rows: ar, columns: ac, ld: lda), seed: seed)
          let c0: [T] = Ref.randomScalars(Ref.span(rows: n, columns: n, ld: ldc) + 1, seed: seed + 1)
          let (alpha, beta): (T, T) = (0.75, -1.25)
          var c = c0
          a.withUnsafeBufferPointer { pa in
            c.withUnsafeMutableBufferPointer { pc in
              T.syrk(
                triangle: triangle, transpose: transpose, n: n, k: k, alpha: alpha, a: pa, lda: lda,
                beta: beta, c: pc, ldc: ldc)
            }
          }
          // op(A) is n×k: C ← α op(A) op(A)ᵀ + βC, on the chosen triangle only.
          var expected = c0
          for i in 0..<n {
            for j in 0..<n where triangle == .upper ? j >= i : j <= i {
              var sum = 0.0
              for p in 0..<k { sum += Ref.element(a, ld: lda, transpose, i, p) * Ref.element(a, ld: lda, transpose, j, p) }
              expected[i * ldc + j] = T(Double(alpha) * sum + Double(beta) * Double(c0[i * ldc + j]))
            }
          }
          Ref.assertCloseScalars(
            c, expected, rtol: T.testRelativeTolerance, atol: T.testAbsoluteTolerance,
            "syrk \(triangle) \(transpose) n \(n) k \(k) pad \(pad)")
        }
      }
    }
  }
}

private func checkSyrkEmptyInner<T: BLASScalar & TestTolerance>(_: T.Type) {
  // k = 0: C ← βC on the chosen triangle; the other triangle is documented as not written.
  let n = 3
  for transpose in transposes {
    for triangle in [Triangle.upper, .lower] {
      let c0: [T] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
      var c = c0
      let a: [T] = []
      a.withUnsafeBufferPointer { pa in
        c.withUnsafeMutableBufferPointer { pc in
          T.syrk(triangle: triangle, transpose: transpose, n: n, k: 0, alpha: 1, a: pa, lda: transpose == .none ? 1 : n,
                 beta: 2, c: pc, ldc: n)
        }
      }
      let expected: [T] = triangle == .upper ? [2, 4, 6, 4, 10, 12, 7, 8, 18] : [2, 2, 3, 8, 10, 6, 14, 16, 18]
      #expect(c == expected, "syrk k = 0, \(triangle), \(transpose)")
    }
  }
}
