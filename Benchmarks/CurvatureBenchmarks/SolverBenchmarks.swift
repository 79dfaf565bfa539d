// Solvers and estimators on the GGN of the reference MLP (N = 512, one batch):
//
//   solvers/mlp/<dtype>/lanczos-top10    the 10 largest eigenvalues (lanczosEigenpairs,
//                                        default tolerance 1e-10 and multiplicity check)
//   solvers/mlp/<dtype>/hutchpp-300      Hutch++ trace estimate with 300 matvecs
//   solvers/mlp/<dtype>/slq-10x30        stochastic Lanczos quadrature, 10 probes × 30 steps
//
// Each records its matvec count (`metrics.matvecs`) and is reported relative to one GGN
// matvec of the same problem: `ratio_to_baseline` = median / (matvecs × GGN matvec median),
// so 1.0 means all the time goes into the products and the excess is the solver's own
// work (orthogonalization, small eigenproblems, memory traffic).

import Curvature

func registerSolverBenchmarks(in registry: BenchmarkRegistry) {
  registerSolvers({ benchmarkMLP(Float.self) }, in: registry)
  registerSolvers({ benchmarkMLP(Double.self) }, in: registry)
}

private func registerSolvers<T: BLASScalar>(_ make: @escaping () -> BenchmarkProblem<T>, in registry: BenchmarkRegistry) {
  let dtype = T.dtypeName
  let model = "mlp"
  let prefix = "solvers/\(model)/\(dtype)"
  let baseline = Baseline(
    name: curvatureProductName(model: model, dtype: dtype, operator: .ggn, k: 1), multiple: .metric("matvecs"))
  // Each run is hundreds of products (tens of seconds): no warm-up beyond the product the
  // set-up applies, and at least 2 samples.
  let sampling = Sampling(warmup: 0, minimumRepeats: 2)

  /// The GGN of the MLP, after one product to warm up caches and the allocator.
  func warmGGN() -> GGNOperator<T> {
    let benchmark = make()
    let ggn = GGNOperator(benchmark.curvatureProblem())
    blackHole(try! ggn.apply(benchmark.columns(1, dimension: ggn.rowCount, seed: 8)))
    return ggn
  }

  registry.register(
    "\(prefix)/lanczos-top10", suite: "solvers", baseline: baseline, sampling: sampling
  ) { recorder in
    let ggn = warmGGN()
    let options = LanczosOptions(count: 10, which: .largest, seed: 1)
    return {
      let result = try! lanczosEigenpairs(ggn, options: options)
      recorder.record("matvecs", result.matvecs)
      recorder.record("restarts", result.iterations)
      recorder.record("converged", result.converged)
      recorder.record("top_eigenvalue", Double(result.eigenvalues.scalars[0]))
      blackHole(result)
    }
  }
  registry.register(
    "\(prefix)/hutchpp-300", suite: "solvers", baseline: baseline, sampling: sampling
  ) { recorder in
    let ggn = warmGGN()
    return {
      let estimate = try! hutchPlusPlusTrace(ggn, matvecs: 300, seed: 1)
      recorder.record("matvecs", estimate.matvecs)
      recorder.record("trace", estimate.value)
      blackHole(estimate)
    }
  }
  registry.register(
    "\(prefix)/slq-10x30", suite: "solvers", baseline: baseline, sampling: sampling
  ) { recorder in
    let ggn = warmGGN()
    let options = SLQOptions(steps: 30, probes: 10, seed: 1)
    return {
      let quadrature = try! stochasticLanczosQuadrature(ggn, options: options)
      recorder.record("matvecs", quadrature.matvecs)
      blackHole(quadrature)
    }
  }
}
