// Products with the curvature operators of the reference MLP and CNN: Hessian, GGN,
// empirical Fisher and Monte Carlo Fisher, on blocks of k = 1, 8 and 32 columns, each
// relative to one gradient of the same problem.
//
// Every benchmark of a model and dtype shares one `CurvatureProblem` layout: the model's
// parameters, its loss, and one batch of synthetic data as the whole data set (N = 512 for
// the MLP, 128 for the CNN), processed as one batch, without the determinism check.
//
//   curvature/<model>/<dtype>/gradient        loss and gradient over the data set
//   curvature/<model>/<dtype>/<op>/k=<k>      op · X for X of shape [P, k]
//
// A product is reported with `ratio_to_baseline` = median / (k × gradient median): the
// cost of one column in gradients (targets: Hessian ≤ 3, GGN and EF ≤ 2.5).

import Curvature

func registerCurvatureOperatorBenchmarks(in registry: BenchmarkRegistry) {
  registerCurvatureOperators(name: "mlp", { benchmarkMLP(Float.self) }, in: registry)
  registerCurvatureOperators(name: "cnn", { benchmarkCNN(Float.self) }, in: registry)
  registerCurvatureOperators(name: "mlp", { benchmarkMLP(Double.self) }, in: registry)
  registerCurvatureOperators(name: "cnn", { benchmarkCNN(Double.self) }, in: registry)
}

/// The curvature operators benchmarked, by the name used in benchmark names.
enum CurvatureOperatorKind: String, CaseIterable {
  case hessian, ggn, ef
  case fisherMC = "fisher-mc"

  func make<T: BLASScalar>(_ problem: CurvatureProblem<T>) -> any LinearOperator<T> {
    switch self {
    case .hessian: return HessianOperator(problem)
    case .ggn: return GGNOperator(problem)
    case .ef: return EmpiricalFisherOperator(problem)
    // mcSamples ≥ 1 is valid by construction.
    case .fisherMC: return try! MonteCarloFisherOperator(problem, mcSamples: 1, seed: 0)
    }
  }
}

extension BenchmarkProblem {
  /// The curvature problem of this model, loss and batch: the batch is the whole data
  /// set and is processed as one batch; no determinism check (it would double the set-up).
  func curvatureProblem() -> CurvatureProblem<T> {
    // The benchmark models and data are fixed and consistent; a failure is a programming error.
    let data = try! ArrayDataset(inputs: inputs, targets: targets)
    return try! CurvatureProblem(
      model: model, loss: loss, data: data, batchSize: inputs.shape[0], checkDeterminism: false)
  }

  /// A random block of `k` columns `[P, k]`.
  func columns(_ k: Int, dimension: Int, seed: UInt64) -> NDArray<T> {
    var rng = RandomGenerator(seed: seed)
    return rng.normalArray(shape: [dimension, k])
  }
}

/// The benchmark name of a model's gradient, the baseline of its operator benchmarks.
func curvatureGradientName(model: String, dtype: String) -> String { "curvature/\(model)/\(dtype)/gradient" }

/// The benchmark name of a product with `k` columns.
func curvatureProductName(model: String, dtype: String, operator kind: CurvatureOperatorKind, k: Int) -> String {
  "curvature/\(model)/\(dtype)/\(kind.rawValue)/k=\(k)"
}

private func registerCurvatureOperators<T: BLASScalar>(
  name: String, _ make: @escaping () -> BenchmarkProblem<T>, in registry: BenchmarkRegistry
) {
  let dtype = T.dtypeName
  let gradientName = curvatureGradientName(model: name, dtype: dtype)
  registry.register(gradientName, suite: "curvature") {
    let problem = make().curvatureProblem()
    return { blackHole(try! problem.lossAndGradient()) }
  }
  for kind in CurvatureOperatorKind.allCases {
    for k in [1, 8, 32] {
      // A block of k columns costs k products (about k × 0.1–0.8 s here), so the wider
      // blocks skip the warm-up (the set-up applies one column instead) and take at least 2
      // samples; the CNN's 32-column blocks (10–30 s each) run only with --long.
      let sampling = k == 1 ? nil : Sampling(warmup: 0, minimumRepeats: 2)
      registry.register(
        curvatureProductName(model: name, dtype: dtype, operator: kind, k: k), suite: "curvature",
        work: .items(Double(k), unit: "matvec"), baseline: Baseline(name: gradientName, multiple: .fixed(Double(k))),
        sampling: sampling, long: name == "cnn" && k == 32
      ) {
        let benchmark = make()
        let problem = benchmark.curvatureProblem()
        let op = kind.make(problem)
        let x = benchmark.columns(k, dimension: problem.dimension, seed: 7)
        if k > 1 { blackHole(try! op.apply(benchmark.columns(1, dimension: problem.dimension, seed: 8))) }
        return { blackHole(try! op.apply(x)) }
      }
    }
  }
}
