import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// The GLM (linearized) predictive f(x; θ) ≈ f(x; θ*) + J(x)(θ − θ*) (Immer, Korzepa &
// Bauer 2021): f ~ N(f(x; θ*), J Σ Jᵀ) per input, with Σ = P⁻¹ applied through the
// structure's factorization (never formed for diag, kron and lowrank).

extension LaplaceApproximation {
  /// The network outputs and Jacobians of a batch of inputs: `f` `[B, C]` and `J`
  /// `[B·C, P]` (rows in point-major order), by one recorded forward pass and `B·C`
  /// reverse passes.
  func outputsAndJacobians(_ inputs: NDArray<Scalar>, range: Range<Int>) throws -> (NDArray<Scalar>, NDArray<Scalar>) {
    let batch = Batch(inputs: inputs, targets: Targets<Scalar>.classes([]), range: range)
    let (parameters, output, _) = try problem.linearizedForward(batch, tangent: nil)
    let rows = output.value.count, p = parameterCount
    var jacobian = NDArray<Scalar>(zeros: [rows, p])
    for r in 0..<rows {
      var unit = NDArray<Scalar>(zeros: output.shape)
      unit.scalars[r] = 1
      let row = problem.transposedJacobianProduct(parameters, output: output, cotangent: unit)
      try problem.requireFiniteColumn(row, "Jacobian row \(r) of test points \(range)")
      for j in 0..<p { jacobian.scalars[r * p + j] = row[j] }
    }
    return (output.value, jacobian)
  }

  /// The checked test inputs as batches of at most the problem's batch size.
  func testBatches(_ inputs: NDArray<Scalar>) throws -> [(Range<Int>, NDArray<Scalar>)] {
    guard inputs.rank >= 1, Array(inputs.shape.dropFirst()) == problem.data.inputShape else {
      throw CurvatureError.wrongShape("test inputs have shape \(inputs.shape); the model takes [N] + \(problem.data.inputShape)")
    }
    let n = inputs.shape[0], row = inputs.count / Swift.max(n, 1)
    return stride(from: 0, to: n, by: problem.batchSize).map { start in
      let range = start..<Swift.min(start + problem.batchSize, n)
      return (range, NDArray(shape: [range.count] + problem.data.inputShape, scalars: Array(inputs.scalars[(start * row)..<(range.upperBound * row)])))
    }
  }

  /// `J_n Σ J_nᵀ` for every point of a Jacobian `[B·C, P]`, `[B, C, C]`.
  func functionalCovariance(_ jacobian: NDArray<Scalar>, posterior: LaplacePosteriorFactor<Scalar>) throws -> NDArray<Scalar> {
    let rows = jacobian.shape[0], p = parameterCount, c = outputCount, b = rows / c
    let product = try posterior.applyPower(jacobian.transposed(), exponent: -1)     // [P, B·C]
    var result = NDArray<Scalar>(zeros: [b, c, c])
    for n in 0..<b {
      for i in 0..<c {
        for k in 0..<c {
          var sum: Scalar = 0
          for j in 0..<p { sum += jacobian.scalars[(n * c + i) * p + j] * product.scalars[j * rows + n * c + k] }
          result.scalars[(n * c + i) * c + k] = sum
        }
      }
    }
    return result
  }

  /// The GLM predictive's mean and covariance over the outputs (laplace-torch's
  /// `_glm_predictive_distribution`; for regression the functional variance without σ²).
  /// - Parameter inputs: `[N, ...]`, shaped like the training inputs.
  /// - Returns: `mean` `[N, C]` (the network's outputs) and `covariance` `[N, C, C]`.
  /// - Throws: `CurvatureError.wrongShape` for inputs of the wrong shape; `.nonFinite` for
  ///   non-finite outputs or Jacobians; `.singular` for a singular posterior precision.
  /// - Complexity: Per test point `C` reverse passes and `C` products with the posterior
  ///   covariance.
  public func functionalPredictive(inputs: NDArray<Scalar>) throws -> (mean: NDArray<Scalar>, covariance: NDArray<Scalar>) {
    let posterior = try factor()
    var means = [Scalar](), covariances = [Scalar]()
    for (range, x) in try testBatches(inputs) {
      let (f, jacobian) = try outputsAndJacobians(x, range: range)
      means += f.scalars
      covariances += try functionalCovariance(jacobian, posterior: posterior).scalars
    }
    let n = inputs.shape[0], c = outputCount
    return (NDArray(shape: [n, c], scalars: means), NDArray(shape: [n, c, c], scalars: covariances))
  }

  /// Class probabilities from the GLM predictive (laplace-torch's `pred_type="glm"`).
  /// - Parameters:
  ///   - inputs: `[N, ...]`.
  ///   - link: `.probit` (default), `.bridge` or `.monteCarlo(samples:seed:)`.
  /// - Returns: `[N, C]`, each row summing to 1.
  /// - Throws: `CurvatureError.incompatible` for a regression approximation; what
  ///   `functionalPredictive` throws; `.invalidArgument` for fewer than one MC sample.
  public func predictiveProbabilities(inputs: NDArray<Scalar>, link: LinkApproximation = .probit) throws -> NDArray<Scalar> {
    guard likelihood == .classification else {
      throw CurvatureError.incompatible("class probabilities need a classification Laplace approximation; use functionalPredictive for regression")
    }
    let (mean, covariance) = try functionalPredictive(inputs: inputs)
    return try LaplaceApproximation.link(mean: mean, covariance: covariance, link)
  }

  /// Class probabilities from Gaussian logits `N(mean[n], covariance[n])` by a link
  /// approximation (laplace-torch's `link_approx`).
  /// - Parameters:
  ///   - mean: `[N, C]`.
  ///   - covariance: `[N, C, C]`, symmetric positive semidefinite.
  ///   - link: The approximation.
  /// - Returns: `[N, C]`.
  /// - Throws: `CurvatureError.wrongShape` for mismatched shapes; `.invalidArgument` for
  ///   fewer than one Monte Carlo sample.
  public static func link(mean: NDArray<Scalar>, covariance: NDArray<Scalar>, _ link: LinkApproximation) throws -> NDArray<Scalar> {
    guard mean.rank == 2, covariance.shape == [mean.shape[0], mean.shape[1], mean.shape[1]] else {
      throw CurvatureError.wrongShape("link: logit means \(mean.shape) need [N, C] and covariances [N, C, C], got \(covariance.shape)")
    }
    let (n, c) = (mean.shape[0], mean.shape[1])
    var result = NDArray<Scalar>(zeros: [n, c])
    var generator: RandomGenerator? = nil
    if case let .monteCarlo(samples, seed) = link {
      guard samples >= 1 else { throw CurvatureError.invalidArgument("the Monte Carlo link needs at least one sample, got \(samples)") }
      generator = RandomGenerator(seed: seed)
    }
    for i in 0..<n {
      let mu = Array(mean.scalars[(i * c)..<((i + 1) * c)])
      var sigma = Array(covariance.scalars[(i * c * c)..<((i + 1) * c * c)])
      var row = [Scalar](repeating: 0, count: c)
      switch link {
      case .probit:
        row = softmax((0..<c).map { mu[$0] / (1 + Scalar.pi / 8 * sigma[$0 * c + $0]).squareRoot() })
      case .bridge:
        // laplace-torch's Laplace bridge with the zero-mean correction.
        let rowSums = (0..<c).map { a in (0..<c).reduce(0) { $0 + sigma[a * c + $1] } }
        let columnSums = (0..<c).map { b in (0..<c).reduce(0) { $0 + sigma[$1 * c + b] } }
        let total = rowSums.reduce(0, +), muSum = mu.reduce(0, +)
        let m = (0..<c).map { mu[$0] - rowSums[$0] * muSum / total }
        for a in 0..<c { for b in 0..<c { sigma[a * c + b] -= rowSums[a] * columnSums[b] / total } }
        let sumExp = m.reduce(0) { $0 + Scalar.exp(-$1) }
        let k = Scalar(c)
        let alpha = (0..<c).map { (1 - 2 / k + Scalar.exp(m[$0]) / (k * k) * sumExp) / sigma[$0 * c + $0] }
        let alphaSum = alpha.reduce(0, +)
        row = alpha.map { value in
          let p = value / alphaSum
          return p.isNaN ? 1 : p
        }
      case let .monteCarlo(samples, _):
        let (values, vectors) = try NDArray(shape: [c, c], scalars: sigma).symmetricEigen()
        let roots = values.scalars.map { Swift.max($0, 0).squareRoot() }
        for _ in 0..<samples {
          let z = (0..<c).map { roots[$0] * generator!.normal(Scalar.self) }
          let f = (0..<c).map { a in mu[a] + (0..<c).reduce(0) { $0 + vectors.scalars[a * c + $1] * z[$1] } }
          let p = softmax(f)
          for a in 0..<c { row[a] += p[a] / Scalar(samples) }
        }
      }
      for a in 0..<c { result.scalars[i * c + a] = row[a] }
    }
    return result
  }

  /// The predictive by sampling parameters from the posterior and running the network
  /// (laplace-torch's `pred_type="nn"`): the mean of the softmax (classification) or of
  /// the outputs (regression) over `count` samples.
  /// - Returns: `[N, C]`.
  /// - Throws: What `samples` and the forward passes throw.
  /// - Complexity: `count` forward passes over the inputs.
  public func samplingPredictive(inputs: NDArray<Scalar>, count: Int, seed: UInt64) throws -> NDArray<Scalar> {
    let draws = try samples(count: count, seed: seed)
    let n = inputs.shape[0], c = outputCount, p = parameterCount
    var result = NDArray<Scalar>(zeros: [n, c])
    let batches = try testBatches(inputs)
    for s in 0..<count {
      let theta = NDArray(Array(draws.scalars[(s * p)..<((s + 1) * p)]))
      let blocks = problem.splitColumn(theta)
      let parameters = problem.parameterTensors { i, _ in Tensor(blocks[i]) }
      for (range, x) in batches {
        let output = AutodiffMode.withoutRecording { problem.model([Tensor(x)], parameters: parameters) }.value
        try requireFinite(output, "network outputs of the sampled parameters \(s) for test points \(range)")
        for i in 0..<range.count {
          let f = Array(output.scalars[(i * c)..<((i + 1) * c)])
          let values = likelihood == .classification ? softmax(f) : f
          for a in 0..<c { result.scalars[(range.lowerBound + i) * c + a] += values[a] / Scalar(count) }
        }
      }
    }
    return result
  }
}

/// A numerically stable softmax.
func softmax<Scalar: BLASScalar>(_ x: [Scalar]) -> [Scalar] {
  let top = x.max() ?? 0
  let e = x.map { Scalar.exp($0 - top) }
  let total = e.reduce(0, +)
  return e.map { $0 / total }
}
