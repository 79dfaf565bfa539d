import Curvature
import CurvatureTestSupport
import Foundation
import Testing

@Suite struct CockpitTests {
  @Test func observedTrainingIsBitIdenticalToSeededTraining() throws {
    let data = try CockpitRun.blobs(Double.self, count: 30, seed: 1)
    let loss = Loss<Double>(.crossEntropy)
    var a = try CockpitRun.network(Double.self), b = a
    var adamA = Adam<Double>(learningRate: 0.01), adamB = adamA
    let lossesA = try train(&a, loss: loss, data: data, optimizer: &adamA, epochs: 3, batchSize: 7, seed: 9)
    var steps = [TrainingStep<Double>]()
    let lossesB = try train(&b, loss: loss, data: data, optimizer: &adamB, epochs: 3, batchSize: 7, order: .shuffled(seed: 9)) {
      steps.append($0)
    }
    #expect(lossesA == lossesB)
    #expect(a.parameters == b.parameters)
    #expect(steps.map(\.step) == Array(0..<15))
    #expect(steps.map(\.epoch) == [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3])
    #expect(steps.last!.parametersAfter == b.parameters)
    for (previous, next) in zip(steps, steps.dropFirst()) { #expect(previous.parametersAfter == next.parametersBefore) }
    #expect(steps[0].hyperparameters == OptimizerHyperparameters(name: "adam", learningRate: 0.01, momentum: 0.9, weightDecay: 0))
    // Each epoch visits every point once.
    #expect(Set(steps.prefix(5).flatMap(\.indices)) == Set(0..<30))
  }

  @Test func sequentialOrderVisitsTheDataInOrder() throws {
    let data = try CockpitRun.blobs(Double.self, count: 10, seed: 2)
    var model = try CockpitRun.network(Double.self)
    var sgd = SGD<Double>(learningRate: 0.1)
    var indices = [[Int]]()
    try train(&model, loss: Loss(.crossEntropy), data: data, optimizer: &sgd, epochs: 2, batchSize: 4, order: .sequential) {
      indices.append($0.indices)
      #expect($0.hyperparameters.isPlainSGD)
      let expected = try data.batch($0.indices.first!..<($0.indices.last! + 1))
      #expect($0.batch.inputs == expected.inputs)
    }
    #expect(indices == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
  }

  @Test func observerErrorsStopTraining() throws {
    let data = try CockpitRun.blobs(Double.self, count: 10, seed: 2)
    var model = try CockpitRun.network(Double.self)
    var sgd = SGD<Double>(learningRate: 0.1)
    var calls = 0
    #expect(throws: CurvatureError.self) {
      try train(&model, loss: Loss(.crossEntropy), data: data, optimizer: &sgd, epochs: 1, batchSize: 4, order: .sequential) { _ in
        calls += 1
        if calls == 2 { throw CurvatureError.invalidArgument("stop") }
      }
    }
    #expect(calls == 2)
  }

  /// Every instrument, twice with the same seed: equal records (time aside).
  @Test(arguments: [1, 2]) func runsAreDeterministic(every: Int) throws {
    func run() throws -> [CockpitRecord] {
      try CockpitRun.records(
        try Cockpit<Double>(instruments: CockpitInstrument.allCases.filter { $0 != .time }, every: every, seed: 3),
        model: try CockpitRun.network(Double.self), data: try CockpitRun.blobs(Double.self, count: 24, seed: 4),
        optimizer: SGD<Double>(learningRate: 0.5), batchSize: 6, order: .shuffled(seed: 1))
    }
    let first = try run(), second = try run()
    #expect(first == second)
    #expect(first.map(\.step) == (every == 1 ? [0, 1, 2, 3] : [0, 2]))
    // α of a tracked step comes from the next step, even when that one is not tracked; the
    // last step (3) has no next one.
    #expect(first.allSatisfy { ($0.alpha != nil) == ($0.step != 3) })
    #expect(first.allSatisfy { $0.cabs != nil && $0.earlyStopping != nil && $0.hessMaxEV != nil })
  }

  /// CABS and EarlyStopping are defined for plain SGD only; α falls back to the actual update.
  @Test func otherOptimizersGiveNoCABSOrEarlyStopping() throws {
    var cockpit = try Cockpit<Double>(instruments: [.alpha, .cabs, .earlyStopping, .updateSize])
    var model = try CockpitRun.network(Double.self)
    var momentum = SGD<Double>(learningRate: 0.1, momentum: 0.9)
    try train(&model, loss: Loss(.crossEntropy), data: try CockpitRun.blobs(Double.self, count: 12, seed: 4), optimizer: &momentum,
              epochs: 1, batchSize: 4, order: .sequential) { try cockpit.observe($0) }
    #expect(cockpit.records.allSatisfy { $0.cabs == nil && $0.earlyStopping == nil })
    #expect(cockpit.records.dropLast().allSatisfy { $0.alpha != nil })
    let json = cockpit.records[0].jsonObject
    guard case let .object(object) = json else { Issue.record("not an object"); return }
    #expect(Set(object.keys) == ["step", "alpha", "cabs", "early_stopping", "update_size"])
    #expect(object["cabs"] == .null)
  }

  /// The α fit on an exact parabola: f(τ) = (τ − 1)², a step to τ = t.
  @Test func alphaOfAnExactParabola() throws {
    func observation(_ tau: Double) -> AlphaObservation {
      AlphaObservation(loss: (tau - 1) * (tau - 1), lossVariance: 1e-3, slope: 2 * (tau - 1), slopeVariance: 1e-3)
    }
    // Stepping to the minimum gives 0, to the far side at the same height 1, half way −0.5.
    for (t, expected) in [(1.0, 0.0), (2.0, 1.0), (0.5, -0.5)] {
      let alpha = try #require(CockpitQuantities.alpha(stepLength: t, start: observation(0), end: observation(t)))
      #expect(abs(alpha - expected) < 1e-9, "t = \(t): \(alpha)")
    }
    // A concave fit is −1.
    let concave = CockpitQuantities.alpha(
      stepLength: 1, start: AlphaObservation(loss: 0, lossVariance: 1, slope: 1, slopeVariance: 1),
      end: AlphaObservation(loss: 0, lossVariance: 1, slope: -1, slopeVariance: 1))
    #expect(concave == -1)
  }

  @Test func histogramEdgeRules() throws {
    // 1d: the upper edge falls in the last bin, values beyond the range are clipped.
    let values = NDArray<Double>(shape: [1, 6], scalars: [-5, -2, -1.96, 0, 2, 7])
    let h = GradientHistogram1d(individualGradients: values)
    #expect(h.counts.reduce(0, +) == 6)
    #expect(h.counts[0] == 2 && h.counts[1] == 1 && h.counts[50] == 1 && h.counts[99] == 2)
    #expect(h.edges.first == -2 && h.edges.last == 2 && h.edges.count == 101)
    // 2d: clipped to the bin centres of the outer bins.
    let h2 = GradientHistogram2d(
      individualGradients: NDArray<Double>(shape: [2, 2], scalars: [-3, 0.99, 3, 0]), parameters: NDArray([5, -5]))
    #expect(h2.counts.count == 40 && h2.counts[0].count == 50)
    #expect(h2.counts[0][49] == 1 && h2.counts[39][0] == 1 && h2.counts[39][49] == 1 && h2.counts[20][0] == 1)
  }

  @Test func instrumentNames() throws {
    #expect(try CockpitInstrument(named: "HessMaxEV") == .hessMaxEV)
    #expect(try CockpitInstrument(named: "grad-hist-1d") == .gradHist1d)
    #expect(try CockpitInstrument(named: "mean_gsnr") == .meanGSNR)
    #expect(throws: CurvatureError.self) { try CockpitInstrument(named: "curvature") }
    #expect(throws: CurvatureError.self) { try Cockpit<Double>(instruments: []) }
    #expect(throws: CurvatureError.self) { try Cockpit<Double>(preset: .economy, every: 0) }
    let keys = Set(CockpitInstrument.allCases.map(\.rawValue))
    #expect(keys.isSuperset(of: [
      "loss", "grad_norm", "distance", "update_size", "alpha", "hess_max_ev", "hess_trace", "tic_diag", "tic_trace",
      "mean_gsnr", "norm_test", "inner_test", "ortho_test", "cabs", "early_stopping", "grad_hist_1d", "grad_hist_2d",
    ]))
  }

  /// Float runs the same instruments as Double, to single precision.
  @Test func floatAgreesWithDouble() throws {
    func run<T: BLASScalar>(_: T.Type) throws -> [CockpitRecord] {
      try CockpitRun.records(
        try Cockpit<T>(preset: .business, adding: [.meanGSNR]), model: try CockpitRun.network(T.self),
        data: try CockpitRun.blobs(T.self, count: 16, seed: 6), optimizer: SGD<T>(learningRate: 0.3), batchSize: 8, order: .sequential)
    }
    let single = try run(Float.self), double = try run(Double.self)
    for (s, d) in zip(single, double) {
      for (a, b) in [(s.loss, d.loss), (s.normTest, d.normTest), (s.innerTest, d.innerTest), (s.orthoTest, d.orthoTest),
                     (s.ticDiag, d.ticDiag), (s.meanGSNR, d.meanGSNR)] {
        // The tests' variances cancel (Σ|gᵢ|² − B|g|²): single precision keeps ~1e-3 of them.
        #expect(abs(a! - b!) <= 1e-2 * abs(b!), "\(a!) vs \(b!)")
      }
      #expect(zip(s.hessTrace!, d.hessTrace!).allSatisfy { abs($0 - $1) <= 1e-3 * abs($1) + 1e-6 })
    }
  }
}
