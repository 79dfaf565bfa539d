// Gradient, Hessian-vector product and Jacobian-vector product of the reference MLP and
// CNN. The ratios HVP/gradient and JVP/gradient are the autodiff core's figures of merit
// (targets: HVP ≤ 3×, JVP ≤ 1.5× one gradient).

import Curvature

func registerAutodiffBenchmarks(in registry: BenchmarkRegistry) {
  for make in [{ benchmarkMLP(Float.self) }, { benchmarkCNN(Float.self) }] {
    registerAutodiff(make, in: registry)
  }
  for make in [{ benchmarkMLP(Double.self) }, { benchmarkCNN(Double.self) }] {
    registerAutodiff(make, in: registry)
  }
}

private func registerAutodiff<T: BLASScalar>(_ make: @escaping () -> BenchmarkProblem<T>, in registry: BenchmarkRegistry) {
  let name = make().name
  let prefix = "autodiff/\(name)/\(T.dtypeName)"
  registry.register("\(prefix)/forward", suite: "autodiff") {
    let problem = make()
    let parameters = problem.model.parameterTensors
    return { blackHole(problem.objective(parameters)) }
  }
  registry.register("\(prefix)/gradient", suite: "autodiff") {
    let problem = make()
    let parameters = problem.model.parameterTensors
    return { blackHole(gradient(at: parameters, of: problem.objective)) }
  }
  registry.register("\(prefix)/hvp", suite: "autodiff") {
    let problem = make()
    let parameters = problem.model.parameterTensors, v = problem.direction(seed: 4)
    return { blackHole(hessianVectorProduct(at: parameters, along: v, of: problem.objective)) }
  }
  registry.register("\(prefix)/jvp", suite: "autodiff") {
    let problem = make()
    let parameters = problem.model.parameterTensors, v = problem.direction(seed: 4)
    return { blackHole(jvp(at: parameters, tangents: v, of: problem.output)) }
  }
  registry.register("\(prefix)/vjp", suite: "autodiff") {
    let problem = make()
    let parameters = problem.model.parameterTensors
    let outputShape = problem.output(parameters).shape
    var rng = RandomGenerator(seed: 5)
    let u = Tensor<T>(rng.normalArray(shape: outputShape))
    return { blackHole(vjp(at: parameters, cotangent: u, of: problem.output)) }
  }
}
