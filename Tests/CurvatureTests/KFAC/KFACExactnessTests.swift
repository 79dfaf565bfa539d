import Curvature
import CurvatureTestSupport
import Testing

/// KFAC where theory says it is exact ("KFAC from scratch", Dangel et al. 2025;
/// Eschenhagen et al. 2023), against the dense GGN and empirical Fisher of the operators,
/// and where it must not be. EKFAC equals the block wherever KFAC does.
@Suite struct KFACExactnessTests {
  typealias T = KFACTesting

  static let activations: [(String, any Layer<Double>)] = [("tanh", Tanh()), ("sigmoid", Sigmoid()), ("relu", ReLU())]

  /// Checks that KFAC (and EKFAC) with `options` equal the block-diagonal part of `reference`.
  static func expectExact(
    _ problem: CurvatureProblem<Double>, _ options: KFACOptions, reference: NDArray<Double>, _ label: String,
    ekfac: Bool = true, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let kfac = try KFACOperator(problem, options: options)
    let expected = try T.blockPart(reference, like: kfac)
    expectClose(try kfac.dense(), expected, rtol: 1e-10, atolFactor: 1e-12, "KFAC \(label)", sourceLocation: sourceLocation)
    if ekfac {
      expectClose(
        try EKFACOperator(problem, options: options).dense(), expected, rtol: 1e-10, atolFactor: 1e-12, "EKFAC \(label)",
        sourceLocation: sourceLocation)
    }
  }

  /// Checks that KFAC with `options` differs from the block-diagonal part of `reference` by
  /// more than `margin` relative to it.
  static func expectInexact(
    _ problem: CurvatureProblem<Double>, _ options: KFACOptions, reference: NDArray<Double>, _ label: String,
    margin: Double = 1e-3, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let kfac = try KFACOperator(problem, options: options)
    let expected = try T.blockPart(reference, like: kfac)
    let error = T.relativeDistance(try kfac.dense(), expected)
    #expect(error > margin, "KFAC \(label) should differ from the reference, relative error \(error)", sourceLocation: sourceLocation)
  }

  /// 1. One data point: type-2 KFAC is the GGN's block and empirical KFAC the empirical
  /// Fisher's, for every activation, MSE and cross-entropy, mean and sum, separate and
  /// joint bias.
  @Test(arguments: [LossKind.mse, .crossEntropy], [LossReduction.mean, .sum])
  func onePoint(_ kind: LossKind, _ reduction: LossReduction) throws {
    for (name, activation) in Self.activations {
      let problem = try T.mlp(activation, kind, reduction, n: 1, seed: 21)
      let ggn = try GGNOperator(problem).dense()
      let ef = try EmpiricalFisherOperator(problem).dense()
      for joint in [false, true] {
        let label = "\(name) \(kind.rawValue) \(reduction.rawValue) joint=\(joint)"
        try Self.expectExact(problem, KFACOptions(fisherType: .type2, jointBias: joint), reference: ggn, "type-2 \(label)")
        try Self.expectExact(problem, KFACOptions(fisherType: .empirical, jointBias: joint), reference: ef, "empirical \(label)")
      }
    }
  }

  /// 2. A deep linear network with MSE and several data points: type-2 KFAC is the
  /// block-diagonal GGN (separate and joint bias); empirical KFAC is not the empirical
  /// Fisher's block (the residuals differ between data points).
  @Test(arguments: [LossReduction.mean, .sum])
  func deepLinearNetwork(_ reduction: LossReduction) throws {
    for batchSize in [6, 4] {
      let problem = try T.deepLinear(n: 6, reduction, batchSize: batchSize)
      let ggn = try GGNOperator(problem).dense()
      let ef = try EmpiricalFisherOperator(problem).dense()
      for joint in [false, true] {
        let label = "\(reduction.rawValue) joint=\(joint) batch \(batchSize)"
        try Self.expectExact(problem, KFACOptions(fisherType: .type2, jointBias: joint), reference: ggn, label)
        try Self.expectInexact(problem, KFACOptions(fisherType: .empirical, jointBias: joint), reference: ef, "empirical \(label)", margin: 1e-2)
      }
    }
  }

  /// 3. Weight sharing, expand setting (a loss term per position): KFAC-expand is the
  /// GGN's block-diagonal, KFAC-reduce is not.
  @Test(arguments: [LossReduction.mean, .sum])
  func expandSetting(_ reduction: LossReduction) throws {
    let problem = try T.deepLinearSequence(n: 3, t: 4, reduction)
    let ggn = try GGNOperator(problem).dense()
    for joint in [false, true] {
      try Self.expectExact(problem, KFACOptions(fisherType: .type2, approximation: .expand, jointBias: joint), reference: ggn, "expand joint=\(joint)")
      try Self.expectInexact(problem, KFACOptions(fisherType: .type2, approximation: .reduce, jointBias: joint), reference: ggn, "reduce joint=\(joint)")
    }
  }

  /// 4. Weight sharing, reduce setting (a sum or mean over the shared axis before the
  /// loss): KFAC-reduce is the GGN's block-diagonal, KFAC-expand is not. The summing layer
  /// is a fixed Linear excluded from the blocks.
  @Test(arguments: [false, true])
  func reduceSettingOnSequences(_ mean: Bool) throws {
    let problem = try T.sequenceReduce(n: 4, t: 3, mean: mean)
    let ggn = try GGNOperator(problem).dense()
    for joint in [false, true] {
      try Self.expectExact(problem, KFACOptions(fisherType: .type2, approximation: .reduce, jointBias: joint), reference: ggn, "reduce mean=\(mean) joint=\(joint)")
      try Self.expectInexact(problem, KFACOptions(fisherType: .type2, approximation: .expand, jointBias: joint), reference: ggn, "expand mean=\(mean) joint=\(joint)")
    }
  }

  /// 4. (Conv2d) A linear CNN followed by a spatial sum: KFAC-reduce is exact, expand is not.
  @Test func reduceSettingOnConvolutions() throws {
    let problem = try T.convolutionReduce(n: 3)
    let ggn = try GGNOperator(problem).dense()
    for joint in [false, true] {
      try Self.expectExact(problem, KFACOptions(fisherType: .type2, approximation: .reduce, jointBias: joint), reference: ggn, "conv reduce joint=\(joint)")
      try Self.expectInexact(problem, KFACOptions(fisherType: .type2, approximation: .expand, jointBias: joint), reference: ggn, "conv expand joint=\(joint)")
    }
  }

  /// 5. MC KFAC converges to type-2 KFAC: with the sum reduction `B_mc − B` is an average
  /// of `M` independent zero-mean draws per data point, so
  /// `E‖B_mc − B‖²_F = (1/M) Σ_n v_n` with the per-point variance `v_n` known in closed
  /// form (MSE: ĝ ~ N(0, 2I), `v_n = (tr B_n)² + ‖B_n‖²_F`; cross-entropy: enumerating
  /// the labels, `v_n = Σ_y p_y ‖δ_y‖⁴ − ‖B_n‖²_F`), from one-point type-2 and empirical
  /// KFAC. By Markov's inequality the error exceeds 10 standard deviations with
  /// probability at most 1 %. A is the same.
  @Test(arguments: [LossKind.mse, .crossEntropy])
  func monteCarloConvergesToType2(_ kind: LossKind) throws {
    let n = 4
    let problem = try T.mlp(Tanh(), kind, .sum, n: n, seed: 31)
    let type2 = try KFACOperator(problem, options: KFACOptions(fisherType: .type2)).computeFactors()
    // The per-point variances v_n for each layer.
    var variance = [Double](repeating: 0, count: type2.count)
    let x = problem.data
    for point in 0..<n {
      let batch = try x.batch(point..<(point + 1))
      let one = try CurvatureProblem(
        model: problem.model, loss: problem.loss, data: try ArrayDataset(inputs: batch.inputs, targets: batch.targets),
        checkDeterminism: false)
      let b = try KFACOperator(one, options: KFACOptions(fisherType: .type2)).computeFactors().map(\.gradientCovariance)
      switch kind {
      case .mse:
        for l in b.indices { variance[l] += b[l].trace() * b[l].trace() + b[l].norm() * b[l].norm() }
      default:
        let logits = (problem.model as! Sequential<Double>).predict(batch.inputs)
        let e = logits.scalars.map { Double.exp($0 - logits.scalars.max()!) }
        let p = e.map { $0 / e.reduce(0, +) }
        for y in 0..<3 {
          let labeled = try CurvatureProblem(
            model: problem.model, loss: problem.loss, data: try ArrayDataset(inputs: batch.inputs, targets: .classes([y])),
            checkDeterminism: false)
          let by = try KFACOperator(labeled, options: KFACOptions(fisherType: .empirical)).computeFactors().map(\.gradientCovariance)
          for l in by.indices { variance[l] += p[y] * by[l].trace() * by[l].trace() }
        }
        for l in b.indices { variance[l] -= b[l].norm() * b[l].norm() }
      }
    }
    var previous = [Double](repeating: .infinity, count: type2.count)
    for samples in [1, 16, 256, 2048] {
      let mc = try KFACOperator(problem, options: KFACOptions(fisherType: .mc, mcSamples: samples, seed: 5)).computeFactors()
      for (l, (m, t)) in zip(mc, type2).enumerated() {
        #expect(m.inputCovariance == t.inputCovariance)
        let error = T.distance(m.gradientCovariance, t.gradientCovariance)
        let bound = 10 * (variance[l] / Double(samples)).squareRoot()
        #expect(error <= bound, "layer \(m.layer), M = \(samples): ‖B_mc − B‖ = \(error) > \(bound)")
        #expect(error > 0)
        previous[l] = error
      }
    }
    // At 2048 samples the error is small relative to B itself.
    for (l, t) in type2.enumerated() {
      #expect(previous[l] < 0.25 * t.gradientCovariance.norm(), "layer \(t.layer): \(previous[l]) vs ‖B‖ = \(t.gradientCovariance.norm())")
    }
  }

  /// 6. Forward-only KFAC is KFAC with B = I (A from the same pass), in every setting.
  @Test func forwardOnlyIsKFACWithIdentityB() throws {
    let problems = [
      try T.mlp(Tanh(), .crossEntropy, n: 5), try T.convolutionReduce(n: 2), try T.sequence(.mse, n: 2),
    ]
    for problem in problems {
      for approximation in KFACApproximation.allCases {
        for joint in [false, true] {
          let options = KFACOptions(fisherType: .forwardOnly, approximation: approximation, jointBias: joint)
          let forwardOnly = try KFACOperator(problem, options: options)
          var factors = try KFACOperator(problem, options: KFACOptions(fisherType: .type2, approximation: approximation, jointBias: joint)).computeFactors()
          for i in factors.indices { factors[i].gradientCovariance = .identity(factors[i].weightShape[0]) }
          #expect(try forwardOnly.computeFactors() == factors)
          let withIdentity = try KFACOperator(problem, options: options, factors: factors)
          expectClose(try forwardOnly.dense(), try withIdentity.dense(), rtol: 1e-14, "\(approximation) joint=\(joint)")
        }
      }
    }
  }

  /// Factors do not depend on the batch size, for every Fisher type and both approximations.
  @Test func factorsAreIndependentOfTheBatching() throws {
    for approximation in KFACApproximation.allCases {
      for fisherType in FisherType.allCases {
        let options = KFACOptions(fisherType: fisherType, mcSamples: fisherType == .mc ? 3 : 1, approximation: approximation, jointBias: true)
        let whole = try KFACOperator(try T.groupedCNN(.crossEntropy, n: 5), options: options).computeFactors()
        let batched = try KFACOperator(try T.problem(
          T.groupedCNN(.crossEntropy, n: 5), batchSize: 2), options: options).computeFactors()
        for (a, b) in zip(whole, batched) {
          expectClose(a.gradientCovariance, b.gradientCovariance, rtol: 1e-12, "\(fisherType) \(approximation) B")
          expectClose(a.inputCovariance!, b.inputCovariance!, rtol: 1e-12, "\(fisherType) \(approximation) A")
        }
      }
    }
  }
}

extension KFACTesting {
  /// The same problem with another batch size.
  static func problem(_ p: CurvatureProblem<Double>, batchSize: Int) throws -> CurvatureProblem<Double> {
    try CurvatureProblem(model: p.model, loss: p.loss, data: p.data, batchSize: batchSize, blocks: p.blocks, checkDeterminism: false)
  }
}
