// Toeplitz and BTTB matrix-vector products through circulant embedding and FFTW, against a
// dense gemv on the same matrix for the crossover.

import Curvature

/// Registers, for float64:
/// - `toeplitz/fft/n=<n>`: `ToeplitzOperator.apply` for n = 2⁵ … 2²⁰ (N log N growth);
/// - `toeplitz/gemv/n=<n>`: `BLASScalar.gemv` on the dense matrix for n = 2⁵ … 2¹² (crossover);
/// - `bttb/fft/n=<n₁>x<n₂>`: `BTTBOperator.apply` for n₁ = n₂ = 16 … 1024;
/// - `bttb/gemv/n=<n₁>x<n₂>`: dense gemv for n₁ = n₂ = 16 … 64.
/// Work is reported as matrix rows per second.
func registerToeplitzBenchmarks(in registry: BenchmarkRegistry) {
  for p in 5...20 { registerToeplitzFFT(n: 1 << p, in: registry) }
  for p in 5...12 { registerToeplitzGemv(n: 1 << p, in: registry) }
  for n in [16, 32, 64, 128, 256, 512, 1024] { registerBTTBFFT(n: n, in: registry) }
  for n in [16, 32, 64] { registerBTTBGemv(n: n, in: registry) }
}

/// A symmetric column with decaying entries, `t_k = 1/(1 + k)`.
private func toeplitzColumn(_ n: Int) -> [Double] { (0..<n).map { 1 / Double(1 + $0) } }

/// The generator of `t_{p,q} = 1/(1 + |p| + |q|)`.
private func bttbGenerator(_ n: Int) -> NDArray<Double> {
  NDArray(shape: [2 * n - 1, 2 * n - 1]) { i in 1 / Double(1 + abs(i[0] - n + 1) + abs(i[1] - n + 1)) }
}

private func vector(_ n: Int, seed: UInt64) -> NDArray<Double> {
  var rng = RandomGenerator(seed: seed)
  return rng.uniformArray(shape: [n, 1], in: -1..<1)
}

private func registerToeplitzFFT(n: Int, in registry: BenchmarkRegistry) {
  registry.register("toeplitz/fft/n=\(n)", suite: "toeplitz", work: .items(Double(n), unit: "row")) {
    let column = toeplitzColumn(n)
    let t = try! ToeplitzOperator(symmetric: column)
    let x = vector(n, seed: UInt64(n))
    // Check a few rows once against the direct sum.
    let y = try! t.apply(matrix: x)
    for i in [0, n / 2, n - 1] {
      var exact = 0.0
      for j in 0..<n { exact += column[abs(i - j)] * x.scalars[j] }
      precondition(abs(y.scalars[i] - exact) <= 1e-9 * Double(n), "toeplitz/fft/n=\(n): row \(i) is \(y.scalars[i]), expected \(exact)")
    }
    return {
      let y = try! t.apply(matrix: x)
      blackHole(y.scalars[n - 1])
    }
  }
}

private func registerToeplitzGemv(n: Int, in registry: BenchmarkRegistry) {
  registry.register("toeplitz/gemv/n=\(n)", suite: "toeplitz", work: .items(Double(n), unit: "row")) {
    let column = toeplitzColumn(n)
    let a = BenchmarkBuffer(repeating: 0.0, count: n * n)
    for i in 0..<n { for j in 0..<n { a.storage[i * n + j] = column[abs(i - j)] } }
    let x = BenchmarkBuffer(vector(n, seed: UInt64(n)).scalars)
    let y = BenchmarkBuffer(repeating: 0.0, count: n)
    return {
      Double.gemv(
        transpose: .none, m: n, n: n, alpha: 1, a: a.readOnly, lda: n, x: x.readOnly, strideX: 1, beta: 0,
        y: y.storage, strideY: 1)
      blackHole(y.storage[n - 1])
    }
  }
}

private func registerBTTBFFT(n: Int, in registry: BenchmarkRegistry) {
  let rows = n * n
  registry.register("bttb/fft/n=\(n)x\(n)", suite: "bttb", work: .items(Double(rows), unit: "row")) {
    let g = bttbGenerator(n)
    let a = try! BTTBOperator(generator: g)
    let x = vector(rows, seed: UInt64(n))
    let y = try! a.apply(matrix: x)
    for (i1, i2) in [(0, 0), (n / 2, n / 3), (n - 1, n - 1)] {
      var exact = 0.0
      for j1 in 0..<n { for j2 in 0..<n { exact += a.coefficient(i1 - j1, i2 - j2) * x.scalars[j1 * n + j2] } }
      precondition(abs(y.scalars[i1 * n + i2] - exact) <= 1e-9 * Double(rows), "bttb/fft/n=\(n): wrong entry")
    }
    return {
      let y = try! a.apply(matrix: x)
      blackHole(y.scalars[rows - 1])
    }
  }
}

private func registerBTTBGemv(n: Int, in registry: BenchmarkRegistry) {
  let rows = n * n
  registry.register("bttb/gemv/n=\(n)x\(n)", suite: "bttb", work: .items(Double(rows), unit: "row")) {
    let dense = try! BTTBOperator(generator: bttbGenerator(n)).dense()
    let a = BenchmarkBuffer(dense.scalars)
    let x = BenchmarkBuffer(vector(rows, seed: UInt64(n)).scalars)
    let y = BenchmarkBuffer(repeating: 0.0, count: rows)
    return {
      Double.gemv(
        transpose: .none, m: rows, n: rows, alpha: 1, a: a.readOnly, lda: rows, x: x.readOnly, strideX: 1, beta: 0,
        y: y.storage, strideY: 1)
      blackHole(y.storage[rows - 1])
    }
  }
}
