// KFAC and EKFAC on the reference MLP and CNN (one batch, the benchmark data set):
// factor construction (type-2: one reverse pass per class; mc: one sampled pass) and
// products with the computed approximation. A product's work is the flops of its factor
// gemms (KFAC: B V A per layer, 2·out·in·(out + in); EKFAC: rotation into and out of the
// eigenbasis, twice that), for comparison with the gemm benchmark's GFLOP/s.
//
// The CNN's last Linear layer has 8192 inputs (A is 8192 × 8192); EKFAC would need its
// eigendecomposition, so the EKFAC benchmarks of the CNN cover its convolutions only.

import Curvature

func registerKFACBenchmarks(in registry: BenchmarkRegistry) {
  registerKFAC({ benchmarkMLP(Float.self) }, blocks: nil, ekfacBlocks: nil, in: registry)
  registerKFAC({ benchmarkCNN(Float.self) }, blocks: nil, ekfacBlocks: [0, 1, 2, 3], in: registry)
}

/// The curvature problem of a benchmark batch.
private func kfacProblem<T: BLASScalar>(_ p: BenchmarkProblem<T>, blocks: [Int]?) -> CurvatureProblem<T> {
  // The problem is fixed and valid; a failure here is a programming error.
  try! CurvatureProblem(
    model: p.model, loss: p.loss, data: try! ArrayDataset(inputs: p.inputs, targets: p.targets),
    blocks: blocks, checkDeterminism: false)
}

/// Flops of one KFAC product with `k` columns: per layer `B V` and `(B V) A`, plus `B b`.
private func kfacProductFlops<T: BLASScalar>(_ model: Sequential<T>, blocks: [Int]?, columns k: Int) -> Double {
  let selected = Set(blocks ?? Array(model.parameterSpecs.indices))
  var flops = 0.0
  for index in model.layers.indices {
    let range = model.parameterRanges[index]
    guard !range.isEmpty else { continue }
    let spec = model.parameterSpecs[range.lowerBound]
    let out = Double(spec.shape[0]), inputs = Double(spec.count) / out
    if selected.contains(range.lowerBound) { flops += 2 * out * inputs * (out + inputs) * Double(k) }
    if range.count > 1, selected.contains(range.lowerBound + 1) { flops += 2 * out * out * Double(k) }
  }
  return flops
}

private func randomColumns<T: BLASScalar>(_ n: Int, _ k: Int) -> NDArray<T> {
  var rng = RandomGenerator(seed: 11)
  return k == 1 ? rng.normalArray(shape: [n]) : rng.normalArray(shape: [n, k])
}

private func registerKFAC<T: BLASScalar>(
  _ make: @escaping () -> BenchmarkProblem<T>, blocks: [Int]?, ekfacBlocks: [Int]?, in registry: BenchmarkRegistry
) {
  let sample = make()
  let prefix = "kfac/\(sample.name)/\(T.dtypeName)"
  let type2 = KFACOptions(fisherType: .type2), mc = KFACOptions(fisherType: .mc)

  for (label, options) in [("type-2", type2), ("mc", mc)] {
    registry.register("\(prefix)/build/\(label)", suite: "kfac") {
      let problem = kfacProblem(make(), blocks: blocks)
      return { blackHole(try! KFACOperator(problem, options: options).computeFactors()) }
    }
  }
  for k in [1, 16] {
    registry.register(
      "\(prefix)/\(k == 1 ? "matvec" : "matmat-k=\(k)")", suite: "kfac",
      work: .flops(kfacProductFlops(sample.model, blocks: blocks, columns: k))
    ) {
      let problem = kfacProblem(make(), blocks: blocks)
      let kfac = try! KFACOperator(problem, options: type2)
      try! kfac.computeFactors()
      let v: NDArray<T> = randomColumns(problem.dimension, k)
      return { blackHole(try! kfac.apply(v)) }
    }
  }

  let ekfacPrefix = "ekfac/\(sample.name)\(ekfacBlocks == nil ? "" : "-conv")/\(T.dtypeName)"
  registry.register("\(ekfacPrefix)/build/type-2", suite: "ekfac") {
    let problem = kfacProblem(make(), blocks: ekfacBlocks)
    return { blackHole(try! EKFACOperator(problem, options: type2).computeFactors()) }
  }
  registry.register("\(ekfacPrefix)/correction/type-2", suite: "ekfac") {
    // Eigendecompositions and the correction pass, from computed KFAC factors.
    let problem = kfacProblem(make(), blocks: ekfacBlocks)
    let kfac = try! KFACOperator(problem, options: type2)
    try! kfac.computeFactors()
    return { blackHole(try! EKFACOperator(correcting: kfac).computeFactors()) }
  }
  registry.register(
    "\(ekfacPrefix)/matvec", suite: "ekfac",
    work: .flops(2 * kfacProductFlops(sample.model, blocks: ekfacBlocks, columns: 1))
  ) {
    let problem = kfacProblem(make(), blocks: ekfacBlocks)
    let ekfac = try! EKFACOperator(problem, options: type2)
    try! ekfac.computeFactors()
    let v: NDArray<T> = randomColumns(problem.dimension, 1)
    return { blackHole(try! ekfac.apply(v)) }
  }
  if ekfacBlocks != nil {
    registry.register(
      "kfac/\(sample.name)-conv/\(T.dtypeName)/matvec", suite: "kfac",
      work: .flops(kfacProductFlops(sample.model, blocks: ekfacBlocks, columns: 1))
    ) {
      let problem = kfacProblem(make(), blocks: ekfacBlocks)
      let kfac = try! KFACOperator(problem, options: type2)
      try! kfac.computeFactors()
      let v: NDArray<T> = randomColumns(problem.dimension, 1)
      return { blackHole(try! kfac.apply(v)) }
    }
  }
}
