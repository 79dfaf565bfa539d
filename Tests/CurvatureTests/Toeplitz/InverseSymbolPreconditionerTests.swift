import ComplexModule
import Curvature
import CurvatureTestSupport
import Testing

/// The inverse generating function preconditioners `T[1/f]`, `T[1/f(x, y)]`, `T[F⁻¹]`.
@Suite struct InverseSymbolPreconditionerTests {
  @Test func coefficientsOfTrigonometricPolynomialsAreExact() throws {
    // f = 2 + cos θ + 0.5 cos 2θ: t₀ = 2, t₁ = 1/2, t₂ = 1/4.
    let samples = GeneratingFunction.samples(of: { 2 + Double.cos($0) + 0.5 * Double.cos(2 * $0) }, gridSize: 16)
    assertClose(NDArray(try GeneratingFunction.coefficients(samples: samples, count: 4)), NDArray([2, 0.5, 0.25, 0]), rtol: 1e-14, atol: 1e-15)
    // f(x, y) = 3 + cos x + 0.5 cos y + 0.25 cos(x + y).
    let grid = GeneratingFunction.samples(of: { x, y in 3 + Double.cos(x) + 0.5 * Double.cos(y) + 0.25 * Double.cos(x + y) }, gridShape: [8, 6])
    let g = try GeneratingFunction.generator(samples: grid, blockCount: 3, blockSize: 3)
    var expected = NDArray<Double>(zeros: [5, 5])
    expected[2, 2] = 3
    for (i, j, value) in [(1, 2, 0.5), (3, 2, 0.5), (2, 1, 0.25), (2, 3, 0.25), (3, 3, 0.125), (1, 1, 0.125)] {
      expected[i, j] = value
    }
    assertClose(g, expected, rtol: 1e-14, atol: 1e-15)
    // The closed-form coefficients of θ⁴ used by the other tests agree with quadrature.
    let quartic = try GeneratingFunction.coefficients(samples: GeneratingFunction.samples(of: { Double.pow($0, 4) }, gridSize: 1 << 16), count: 6)
    assertClose(NDArray(quartic), NDArray((0..<6).map(ClassicalSymbols.quartic)), rtol: 1e-6, atol: 1e-6)
  }

  /// The number of eigenvalues of `T[1/f] T[f]` outside `[0.9, 1.1]` for `f = θ⁴ + 1`.
  static func outliers(_ n: Int) throws -> Int {
    let t = try ToeplitzOperator(symmetric: ClassicalSymbols.column(n, ClassicalSymbols.quarticPlusOne))
    let m = try InverseSymbolPreconditioner<Double>(size: n) { Double.pow($0, 4) + 1 }
    let eigenvalues = try ToeplitzTesting.preconditionedEigenvalues(try m.dense(), try t.dense())
    return eigenvalues.filter { $0 < 0.9 || $0 > 1.1 }.count
  }

  @Test func quarticSymbolHasBoundedOutliers() throws {
    let sizes = [64, 256, 1024]
    let counts = try sizes.map(Self.outliers)
    print("T[1/f]·T[f] for f = θ⁴ + 1: eigenvalues outside [0.9, 1.1]: " + zip(sizes, counts).map { "n = \($0): \($1)" }.joined(separator: ", "))
    #expect(counts.allSatisfy { $0 <= 12 }, "outliers \(counts)")
    #expect(counts.last! <= counts.first! + 2, "outliers grow: \(counts)")
  }

  @Test func kacMurdockSzegoIsIdentityPlusRankTwo() throws {
    // t_k = ρ^|k| has f(θ) = (1 − ρ²)/(1 − 2ρ cos θ + ρ²); 1/f is a trigonometric polynomial
    // of degree 1, T[1/f] is tridiagonal and differs from T⁻¹ only in the two corners.
    let (rho, n) = (0.7, 60)
    let t = try ToeplitzOperator(symmetric: (0..<n).map { Double.pow(rho, Double($0)) })
    let m = try InverseSymbolPreconditioner<Double>(size: n, gridSize: 128) { theta in
      (1 - rho * rho) / (1 - 2 * rho * Double.cos(theta) + rho * rho)
    }
    let difference = matmul(try m.dense(), try t.dense()) - NDArray<Double>.identity(n)
    let singular = try difference.svd().s.scalars
    #expect(singular[1] > 1e-3 && singular[2] < 1e-10, "singular values \(singular.prefix(4))")
    let result = try conjugateGradient(t, NDArray(repeating: 1, shape: [n]), preconditioner: m, options: .init(relativeTolerance: 1e-10))
    #expect(result.outcome == .converged && result.iterations <= 3, "PCG took \(result.iterations) iterations")
  }

  @Test func estimatedSymbolFallsBackToFejerWeights() throws {
    // θ² vanishes at 0; the truncated series there is −(tail), negative for one parity of n.
    var fallbacks = 0
    for n in [32, 33] {
      let t = try ToeplitzOperator(symmetric: ClassicalSymbols.column(n, ClassicalSymbols.quadratic))
      let m = try InverseSymbolPreconditioner(estimatingFrom: t)
      if m.usedFejerWeights { fallbacks += 1 }
      #expect(m.symbolRange.lowerBound > 0)
      let eigenvalues = try m.dense().symmetricEigenvalues().scalars
      #expect(eigenvalues[0] > 0, "T[1/f] must be positive definite (n = \(n))")
    }
    #expect(fallbacks == 1)
    // The estimate of a positive symbol is used as is.
    let positive = try ToeplitzOperator(symmetric: ClassicalSymbols.column(32, ClassicalSymbols.quarticPlusOne))
    #expect(try !InverseSymbolPreconditioner(estimatingFrom: positive).usedFejerWeights)
  }

  @Test func symbolErrorsAreClear() throws {
    let n = 8
    #expect(throws: ToeplitzError.self) { try InverseSymbolPreconditioner<Double>(size: n, samples: [Double](repeating: 1, count: 15)) }
    #expect(throws: ToeplitzError.self) { try InverseSymbolPreconditioner<Double>(size: n, samples: [1, .nan] + [Double](repeating: 1, count: 14)) }
    // θ⁴ + 1 evaluated at θ_j ∈ [0, 2π) instead of (−π, π] is not even.
    let notEven = (0..<32).map { j in Double.pow(2 * .pi * Double(j) / 32, 4) + 1 }
    #expect(throws: ToeplitzError.self) { try InverseSymbolPreconditioner<Double>(size: n, samples: notEven) }
    do {
      _ = try InverseSymbolPreconditioner<Double>(size: n) { $0 * $0 }
      Issue.record("θ² has a zero and must be rejected")
    } catch {
      guard case .symbolNotPositive = error else { Issue.record("wrong error \(error)"); return }
      #expect(error.description.contains("band preconditioner"))
    }
    let nonsymmetric = try ToeplitzOperator<Double>(column: [2, 1], row: [2, 0])
    #expect(throws: ToeplitzError.self) { try InverseSymbolPreconditioner(estimatingFrom: nonsymmetric) }
  }

  @Test func twoLevelInverseSymbol() throws {
    // f(x, y) = x² + y² + 1 on a 12×10 grid: the preconditioned spectrum clusters at 1.
    let (n1, n2) = (12, 10)
    let a = try BTTBOperator<Double>(blockCount: n1, blockSize: n2) { p, q in
      (q == 0 ? ClassicalSymbols.quadratic(p) : 0) + (p == 0 ? ClassicalSymbols.quadratic(q) : 0) + (p == 0 && q == 0 ? 1 : 0)
    }
    let given = try BTTBInverseSymbolPreconditioner<Double>(blockCount: n1, blockSize: n2) { x, y in x * x + y * y + 1 }
    let estimated = try BTTBInverseSymbolPreconditioner(estimatingFrom: a)
    for m in [given.bttb, estimated.bttb] {
      let eigenvalues = try ToeplitzTesting.preconditionedEigenvalues(try m.dense(), try a.dense())
      let outside = eigenvalues.filter { $0 < 0.9 || $0 > 1.1 }.count
      #expect(eigenvalues[0] > 0 && outside < n1 * n2 / 4, "2-level T[1/f]: \(outside) of \(n1 * n2) outside [0.9, 1.1]")
    }
    #expect(throws: ToeplitzError.self) {
      try BTTBInverseSymbolPreconditioner<Double>(blockCount: n1, blockSize: n2, samples: NDArray(zeros: [24, 20]))
    }
  }

  @Test(arguments: [BlockToeplitzLayout.blockToeplitz, .toeplitzBlock]) func matrixValuedInverseSymbol(layout: BlockToeplitzLayout) throws {
    // F(θ) = T₀ + T₁ e^{iθ} + T₁ᵀ e^{−iθ}, Hermitian positive definite.
    let (n, s) = (24, 2)
    let t0 = [3.0, 0.5, 0.5, 2.0], t1 = [-0.5, 0.3, 0.1, -0.4]
    var coefficients = NDArray<Double>(zeros: [2 * n - 1, s, s])
    for a in 0..<s {
      for b in 0..<s {
        coefficients[n - 1, a, b] = t0[a * s + b]
        coefficients[n, a, b] = t1[a * s + b]
        coefficients[n - 2, a, b] = t1[b * s + a]
      }
    }
    let matrix = try BlockToeplitzOperator(coefficients: coefficients, layout: layout)
    #expect(matrix.isSymmetric)
    let given = try BlockInverseSymbolPreconditioner<Double>(blockCount: n, blockSize: s, layout: layout) { theta in
      let (c, sn) = (Double.cos(theta), Double.sin(theta))
      // Re F = T₀ + (T₁ + T₁ᵀ) cos θ, Im F = (T₁ − T₁ᵀ) sin θ.
      let re = (0..<4).map { e in t0[e] + (t1[e] + t1[(e % 2) * 2 + e / 2]) * c }
      let im = (0..<4).map { e in (t1[e] - t1[(e % 2) * 2 + e / 2]) * sn }
      return (re, im)
    }
    let estimated = try BlockInverseSymbolPreconditioner(estimatingFrom: matrix)
    #expect(!estimated.usedFejerWeights)
    // F is a trigonometric polynomial, so the estimate is exact and both agree.
    assertClose(estimated.toeplitz.coefficients, given.toeplitz.coefficients, rtol: 1e-10, atol: 1e-12)
    let eigenvalues = try ToeplitzTesting.preconditionedEigenvalues(try given.dense(), try matrix.dense())
    let outside = eigenvalues.filter { $0 < 0.9 || $0 > 1.1 }.count
    #expect(eigenvalues[0] > 0 && outside <= 4 * s, "T[F⁻¹]·T[F]: \(outside) eigenvalues outside [0.9, 1.1]")
    let b = NDArray<Double>(repeating: 1, shape: [n * s])
    let plain = try conjugateGradient(matrix, b, options: .init(relativeTolerance: 1e-8))
    let preconditioned = try conjugateGradient(matrix, b, preconditioner: given, options: .init(relativeTolerance: 1e-8))
    #expect(preconditioned.outcome == .converged && preconditioned.iterations < plain.iterations)
    // A symbol that is not positive definite is rejected.
    #expect(throws: ToeplitzError.self) {
      try BlockInverseSymbolPreconditioner<Double>(blockCount: n, blockSize: s) { _ in ([1, 2, 2, 1], [0, 0, 0, 0]) }
    }
  }
}
