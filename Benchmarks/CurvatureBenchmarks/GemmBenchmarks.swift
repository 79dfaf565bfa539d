// Dense matrix multiplication through the BLASScalar.gemm requirement (OpenBLAS ?gemm).

import Curvature

/// Registers `gemm/<dtype>/n=<n>`: square `C = A·B` (2n³ flops) on preallocated buffers,
/// for Float and Double at n = 256, 512 and 1024.
func registerGemmBenchmarks(in registry: BenchmarkRegistry) {
  for n in [256, 512, 1024] { registerGemm(Float.self, n: n, in: registry) }
  for n in [256, 512, 1024] { registerGemm(Double.self, n: n, in: registry) }
}

private func registerGemm<T: BLASScalar>(_: T.Type, n: Int, in registry: BenchmarkRegistry) {
  let flops = 2 * Double(n) * Double(n) * Double(n)
  registry.register("gemm/\(T.dtypeName)/n=\(n)", suite: "gemm", work: .flops(flops)) {
    var rng = RandomGenerator(seed: 2026, stream: UInt64(n))
    let a = BenchmarkBuffer(rng.uniformArray(shape: [n, n], in: -1..<1, T.self).scalars)
    let b = BenchmarkBuffer(rng.uniformArray(shape: [n, n], in: -1..<1, T.self).scalars)
    let c = BenchmarkBuffer(repeating: T.zero, count: n * n)

    func multiply() {
      T.gemm(
        transposeA: .none, transposeB: .none, m: n, n: n, k: n, alpha: 1,
        a: a.readOnly, lda: n, b: b.readOnly, ldb: n, beta: 0, c: c.storage, ldc: n)
    }

    // Check a few entries once, so a broken binding cannot produce fast nonsense.
    multiply()
    for (i, j) in [(0, 0), (n / 2, n / 3), (n - 1, n - 1)] {
      var exact = 0.0, magnitude = 0.0
      for k in 0..<n {
        let term = Double(a.storage[i * n + k]) * Double(b.storage[k * n + j])
        exact += term
        magnitude += abs(term)
      }
      let error = abs(Double(c.storage[i * n + j]) - exact)
      precondition(
        error <= Double(n) * Double(T.ulpOfOne) * magnitude,
        "gemm/\(T.dtypeName)/n=\(n): C[\(i), \(j)] = \(c.storage[i * n + j]), expected \(exact)")
    }

    return {
      multiply()
      blackHole(c.storage[n * n - 1])
    }
  }
}
