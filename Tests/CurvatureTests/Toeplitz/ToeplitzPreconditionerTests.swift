import ComplexModule
import Curvature
import CurvatureTestSupport
import Testing

/// Circulant, BCCB, level-1, band and Kronecker preconditioners against their definitions.
@Suite struct ToeplitzPreconditionerTests {
  /// T. Chan's projection of a dense matrix: the mean of each wrapped diagonal.
  static func optimalColumn(_ a: NDArray<Double>) -> [Double] {
    let n = a.shape[0]
    return (0..<n).map { k in (0..<n).reduce(0.0) { $0 + a[($1 + k) % n, $1] } / Double(n) }
  }

  @Test(arguments: [1, 2, 6, 9]) func circulantApproximationsMatchDefinitions(n: Int) throws {
    let column = ToeplitzTesting.randomValues(n, seed: UInt64(n) + 40)
    var row = ToeplitzTesting.randomValues(n, seed: UInt64(n) + 50)
    row[0] = column[0]
    let t = try ToeplitzOperator(column: column, row: row)
    let dense = try t.dense()
    let tChan = try CirculantOperator(approximating: t, .tChan)
    assertClose(NDArray(tChan.column), NDArray(Self.optimalColumn(dense)), rtol: 1e-12, atol: 1e-14, "T. Chan n=\(n)")
    let rChan = try CirculantOperator(approximating: t, .rChan)
    let strang = try CirculantOperator(approximating: t, .strang)
    for k in 0..<n {
      let wrapped = k == 0 ? 0 : t.coefficient(k - n)
      assertClose(rChan.column[k], t.coefficient(k) + wrapped, rtol: 1e-14, atol: 1e-15)
      let expected = 2 * k < n ? t.coefficient(k) : (2 * k == n ? (t.coefficient(k) + wrapped) / 2 : wrapped)
      assertClose(strang.column[k], expected, rtol: 1e-14, atol: 1e-15)
    }
    // Superoptimal: λ_j = λ_j(c(TTᵀ)) / conj λ_j(c(T)), with c(TTᵀ) from the dense product.
    let gram = try CirculantOperator(column: Self.optimalColumn(matmul(dense, dense, transposeB: true)))
    let superoptimal = try CirculantOperator(approximating: t, .superoptimal)
    for j in 0..<(n / 2 + 1) {
      let expected = gram.eigenvalues[j] / tChan.eigenvalues[j].conjugate
      #expect((superoptimal.eigenvalues[j] - expected).length <= 1e-11 * Swift.max(1, expected.length), "superoptimal λ_\(j), n=\(n)")
    }
  }

  @Test func superoptimalMinimizesTheResidualNorm() throws {
    // ‖I − C⁻¹T‖_F is smallest for the superoptimal circulant.
    let t = try ToeplitzOperator(symmetric: ClassicalSymbols.column(12, ClassicalSymbols.quarticPlusOne))
    let dense = try t.dense()
    func residual(_ kind: CirculantApproximation) throws -> Double {
      let inverse = try CirculantOperator(approximating: t, kind).inverted().dense()
      return (NDArray<Double>.identity(12) - matmul(inverse, dense)).norm()
    }
    let best = try residual(.superoptimal)
    for kind in [CirculantApproximation.strang, .tChan, .rChan] { #expect(best <= (try residual(kind)) + 1e-12, "\(kind)") }
  }

  @Test func indefiniteCirculantIsRejected() throws {
    // θ² vanishes at 0, and the Strang circulant's eigenvalue there is a partial sum of the
    // Fourier series at 0, which is negative for one parity of n.
    var rejected = 0
    for n in 8...11 {
      let t = try ToeplitzOperator(symmetric: ClassicalSymbols.column(n, ClassicalSymbols.quadratic))
      let strang = try CirculantOperator(approximating: t, .strang)
      if strang.minimumEigenvalue <= 0 {
        rejected += 1
        #expect(throws: ToeplitzError.self) { try CirculantOperator.preconditioner(for: t, .strang) }
      } else {
        _ = try CirculantOperator.preconditioner(for: t, .strang)
      }
      // T. Chan's circulant of a positive definite matrix is positive definite.
      #expect(try CirculantOperator(approximating: t, .tChan).minimumEigenvalue > 0)
    }
    #expect(rejected >= 1)
  }

  static func randomSymmetricGenerator(_ n1: Int, _ n2: Int, seed: UInt64) -> NDArray<Double> {
    let values = ToeplitzTesting.randomValues((2 * n1 - 1) * (2 * n2 - 1), seed: seed)
    var g = NDArray<Double>(shape: [2 * n1 - 1, 2 * n2 - 1], scalars: values)
    let reversed = NDArray<Double>(shape: g.shape, scalars: g.scalars.reversed())
    g = 0.5 * (g + reversed)
    g[n1 - 1, n2 - 1] = Double(2 * n1 * n2)  // diagonally dominant: positive definite
    return g
  }

  @Test(arguments: [(3, 4), (4, 4), (5, 2)]) func bccbApproximationsMatchDefinitions(n1: Int, n2: Int) throws {
    let a = try BTTBOperator(generator: Self.randomSymmetricGenerator(n1, n2, seed: UInt64(n1 * 9 + n2)))
    let dense = try a.dense()
    let n = n1 * n2
    // Level-2 T. Chan: the mean of each wrapped 2-level diagonal.
    let optimal = NDArray<Double>(shape: [n1, n2]) { i in
      var sum = 0.0
      for j1 in 0..<n1 {
        for j2 in 0..<n2 { sum += dense[((j1 + i[0]) % n1) * n2 + (j2 + i[1]) % n2, j1 * n2 + j2] }
      }
      return sum / Double(n)
    }
    assertClose(try BCCBOperator(approximating: a, .tChan).column, optimal, rtol: 1e-12, atol: 1e-13)
    let strang = try BCCBOperator(approximating: a, .strang)
    #expect(strang.column[0, 0] == a.coefficient(0, 0) && strang.column[1, 0] == a.coefficient(1, 0))
    let m = try BCCBOperator.preconditioner(for: a, .tChan)
    let c = try BCCBOperator(approximating: a, .tChan)
    let x = NDArray(ToeplitzTesting.randomValues(n, seed: 3))
    assertClose(try m.apply(c.apply(x)), x, rtol: 1e-10, atol: 1e-12)
    #expect(throws: ToeplitzError.self) { try BCCBOperator(approximating: a, .superoptimal) }
  }

  @Test(arguments: [CirculantApproximation.tChan, .strang, .rChan]) func levelOneInvertsItsBlockCirculant(kind: CirculantApproximation) throws {
    try check(Double.self)
    try check(Float.self)
    func check<T: BLASScalar & TestTolerance>(_: T.Type) throws {
      let (n1, n2) = (5, 4)
      let a = try BTTBOperator(generator: Self.randomSymmetricGenerator(n1, n2, seed: 77).converted(to: T.self))
      let m = try LevelOnePreconditioner(for: a, kind)
      // The block-circulant matrix with Toeplitz blocks C_p = w(p) A_p + w̄(p) A_{p−n₁}.
      let n = n1 * n2
      var c = NDArray<T>(zeros: [n, n])
      for j1 in 0..<n1 {
        for k1 in 0..<n1 {
          let p = (j1 - k1 + n1) % n1
          let (w, wWrapped): (Double, Double) = switch kind {
          case .strang: 2 * p < n1 ? (1, 0) : (2 * p == n1 ? (0.5, 0.5) : (0, 1))
          case .rChan: (1, p == 0 ? 0 : 1)
          default: (Double(n1 - p) / Double(n1), Double(p) / Double(n1))
          }
          for j2 in 0..<n2 {
            for k2 in 0..<n2 {
              c[j1 * n2 + j2, k1 * n2 + k2] = T(w * Double(a.coefficient(p, j2 - k2)) + wWrapped * Double(a.coefficient(p - n1, j2 - k2)))
            }
          }
        }
      }
      var rng = RandomGenerator(seed: 5)
      let x: NDArray<T> = rng.normalArray(shape: [n, 2])
      let rtol = T.testRelativeTolerance * 100
      assertClose(try m.apply(matmul(c, x)), x, rtol: rtol, atol: rtol, "level-1 \(kind) <\(T.self)>")
      #expect(try m.apply(NDArray<T>(zeros: [n, 0])).shape == [n, 0])
    }
  }

  @Test func bandPreconditionerSolvesItsBandMatrix() throws {
    #expect(BandToeplitzPreconditioner<Double>.coefficients(zeroOrder: 1) == [2, -1])
    #expect(BandToeplitzPreconditioner<Double>.coefficients(zeroOrder: 2) == [6, -4, 1])
    #expect(BandToeplitzPreconditioner<Double>.coefficients(zeroOrder: 3) == [20, -15, 6, -1])
    for n in [1, 2, 3, 10] {
      let p = try BandToeplitzPreconditioner<Double>(size: n, zeroOrder: 2, scale: 0.5)
      let full = [3.0, -2, 0.5] + [Double](repeating: 0, count: Swift.max(0, n - 3))
      let band = ToeplitzTesting.denseToeplitz(column: Array(full.prefix(n)), row: Array(full.prefix(n)))
      let x = NDArray<Double>(shape: [n, 2], scalars: ToeplitzTesting.randomValues(2 * n, seed: 8))
      assertClose(try p.apply(matmul(band, x)), x, rtol: 1e-10, atol: 1e-10, "band n=\(n)")
      #expect(try p.apply(NDArray<Double>(zeros: [n, 0])).shape == [n, 0])
      assertClose(try p.logDeterminant().logMagnitude, -(try band.signAndLogDeterminant().logMagnitude), rtol: 1e-10, atol: 1e-12)
    }
    // The fit picks ν = 1 for θ², ν = 2 for θ⁴.
    let m = 256
    let square = GeneratingFunction.samples(of: { $0 * $0 }, gridSize: m)
    let fourth = GeneratingFunction.samples(of: { Double.pow($0, 4) }, gridSize: m)
    #expect(try BandToeplitzPreconditioner<Double>.fit(square, size: 64).order == 1)
    #expect(try BandToeplitzPreconditioner<Double>.fit(fourth, size: 64).order == 2)
    #expect(throws: ToeplitzError.self) { try BandToeplitzPreconditioner<Double>(size: 4, band: [1, 2]) }
    #expect(throws: ToeplitzError.self) { try BandToeplitzPreconditioner<Double>(size: 4, zeroOrder: 0) }
    let negative = GeneratingFunction.samples(of: { $0 * $0 - 1 }, gridSize: 64)
    #expect(throws: ToeplitzError.self) { try BandToeplitzPreconditioner<Double>.fit(negative, size: 8) }
  }

  @Test func kroneckerApproximationIsExactForSeparableStructure() throws {
    let (n1, n2) = (6, 5)
    // Separable RBF kernel plus a nugget: rank 2 exactly; without the nugget rank 1.
    let rbf = { (p: Int, q: Int) in Double.exp(-Double(p * p) / 8 - Double(q * q) / 4.5) }
    let separable = try BTTBOperator<Double>(blockCount: n1, blockSize: n2, coefficient: rbf)
    let rank1 = try KroneckerApproximation(approximating: separable, rank: 1)
    #expect(rank1.relativeError < 1e-12)
    assertClose(try rank1.dense(), try separable.dense(), rtol: 1e-10, atol: 1e-12)
    let withNugget = try BTTBOperator<Double>(blockCount: n1, blockSize: n2) { p, q in rbf(p, q) + (p == 0 && q == 0 ? 0.1 : 0) }
    let approximation = try KroneckerApproximation(approximating: withNugget, rank: 2)
    #expect(approximation.relativeError < 1e-12)
    let dense = try withNugget.dense()
    assertClose(try approximation.dense(), dense, rtol: 1e-10, atol: 1e-12)
    // Its inverse is exact: M⁻¹ A = I.
    let inverse = try approximation.inverted()
    let x = NDArray<Double>(shape: [n1 * n2, 3], scalars: ToeplitzTesting.randomValues(3 * n1 * n2, seed: 21))
    assertClose(try inverse.apply(matmul(dense, x)), x, rtol: 1e-8, atol: 1e-8)
    assertClose(try inverse.applyTranspose(matmul(dense, x)), x, rtol: 1e-8, atol: 1e-8)
    // A Laplacian-type symbol x² + y² + c: f(x) + g(y), rank 2 again.
    let laplacian = try BTTBOperator<Double>(blockCount: n1, blockSize: n2) { p, q in
      (q == 0 ? ClassicalSymbols.quadratic(p) : 0) + (p == 0 ? ClassicalSymbols.quadratic(q) : 0) + (p == 0 && q == 0 ? 0.01 : 0)
    }
    let laplacianInverse = try KroneckerApproximation.preconditioner(for: laplacian, rank: 2)
    #expect(laplacianInverse.approximation.relativeError < 1e-12)
    let denseLaplacian = try laplacian.dense()
    assertClose(try laplacianInverse.apply(matmul(denseLaplacian, x)), x, rtol: 1e-7, atol: 1e-7)
    // Rank 1 of a general matrix: the inverse of A₁ ⊗ B₁.
    let general = try BTTBOperator(generator: Self.randomSymmetricGenerator(n1, n2, seed: 4))
    let approximation1 = try KroneckerApproximation(approximating: general, rank: 1)
    let m1 = try approximation1.dense()
    assertClose(try approximation1.inverted().apply(matmul(m1, x)), x, rtol: 1e-8, atol: 1e-8)
    #expect(approximation1.relativeError > 0.01)
    #expect(throws: ToeplitzError.self) { try KroneckerApproximation(approximating: general, rank: 3) }
  }

  /// The preconditioners as operators: products, transposes and blocks against dense
  /// references built independently (Float and Double; n = 1 included).
  @Test(arguments: [1, 6, 9]) func preconditionerOperatorsMatchDense(n: Int) throws {
    try check(Double.self)
    try check(Float.self)
    func check<T: BLASScalar & TestTolerance>(_: T.Type) throws {
      let column = ClassicalSymbols.column(n, ClassicalSymbols.quarticPlusOne)
      let t = try ToeplitzOperator(symmetric: column.map { T($0) })
      let denseT = ToeplitzTesting.denseToeplitz(column: column, row: column)
      // Circulant preconditioners: C⁻¹ with C from its column.
      for kind in CirculantApproximation.allCases {
        let c = try CirculantOperator(approximating: t, kind)
        let cDense = NDArray<Double>(shape: [n, n]) { i in Double(c.column[(i[0] - i[1] + n) % n]) }
        try ToeplitzTesting.checkAgainstDense(
          try c.inverted(), try cDense.inverse().converted(to: T.self), seed: 1, "\(kind)⁻¹ n=\(n)")
      }
      // Gohberg-Semencul inverse.
      try ToeplitzTesting.checkAgainstDense(try ToeplitzInverseOperator(t), try denseT.inverse().converted(to: T.self), seed: 2, "T⁻¹ n=\(n)")
      // T[1/f]: the Toeplitz matrix of its coefficients.
      let igf = try InverseSymbolPreconditioner<T>(size: n) { Double.pow($0, 4) + 1 }
      let s = igf.toeplitz.column
      try ToeplitzTesting.checkAgainstDense(igf, ToeplitzTesting.denseToeplitz(column: s, row: s), seed: 3, "T[1/f] n=\(n)")
      // Band: the inverse of the band Toeplitz matrix.
      let band = try BandToeplitzPreconditioner<T>(size: n, zeroOrder: 2)
      let b = [6.0, -4, 1] + [Double](repeating: 0, count: Swift.max(0, n - 3))
      let denseBand = ToeplitzTesting.denseToeplitz(column: Array(b.prefix(n)), row: Array(b.prefix(n)))
      try ToeplitzTesting.checkAgainstDense(band, try denseBand.inverse().converted(to: T.self), seed: 4, "band⁻¹ n=\(n)")
      // 2 levels on an n×(n+1) grid.
      let (n1, n2) = (n, n + 1)
      let g = Self.randomSymmetricGenerator(n1, n2, seed: UInt64(n))
      let a = try BTTBOperator(generator: g.converted(to: T.self))
      let denseA = try BTTBOperator(generator: g).dense()
      for rank in [1, 2] {
        let k = try KroneckerApproximation(approximating: a, rank: rank)
        var m = NDArray<Double>(zeros: [n1 * n2, n1 * n2])
        for term in k.terms {
          m.add(kronecker(try term.left.dense().converted(to: Double.self), try term.right.dense().converted(to: Double.self)))
        }
        try ToeplitzTesting.checkAgainstDense(k, m.converted(to: T.self), seed: 5, "Kronecker rank \(rank) n=\(n)")
        if let inverse = try? k.inverted() {
          try ToeplitzTesting.checkAgainstDense(inverse, try m.inverse().converted(to: T.self), seed: 6, "Kronecker⁻¹ rank \(rank) n=\(n)")
        } else {
          #expect(rank == 2, "the rank-1 inverse of a diagonally dominant BTTB matrix exists")
        }
      }
      let bccb = try BCCBOperator.preconditioner(for: a, .tChan)
      let c = try BCCBOperator(approximating: a, .tChan).column.converted(to: Double.self)
      let denseC = NDArray<Double>(shape: [n1 * n2, n1 * n2]) { i in
        c[(i[0] / n2 - i[1] / n2 + n1) % n1, (i[0] % n2 - i[1] % n2 + n2) % n2]
      }
      try ToeplitzTesting.checkAgainstDense(bccb, try denseC.inverse().converted(to: T.self), seed: 7, "BCCB⁻¹ n=\(n)")
      try ToeplitzTesting.checkAgainstDense(a, denseA.converted(to: T.self), seed: 8, "BTTB n=\(n)")
    }
  }
}
