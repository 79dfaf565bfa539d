import CurvatureNumerics
import CurvatureLinearAlgebra
import CurvatureNN

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Curvature and gradient-noise instruments recorded while a network trains: cockpit
/// (Schneider, Dangel & Hennig 2021, "Cockpit: A Practical Debugging Tool for the Training
/// of Deep Neural Networks", NeurIPS) with cockpit-for-pytorch's definitions.
///
/// A cockpit observes every step of `train(_:loss:data:optimizer:epochs:batchSize:order:progress:observe:)`
/// of any `TrainableModel` (a `Sequential`, a `GraphModel`, a `FunctionModel`: its
/// `TrainingStep.network`) and, every `every` steps (cockpit's `schedules.linear(every)`: steps 0, n, 2n, …),
/// evaluates its instruments on that step's minibatch at the parameters before the update.
/// Two instruments need a second point, as in cockpit: `updateSize` compares the parameters
/// before and after the step, and `alpha` fits its parabola to the loss and slope at the
/// start (this minibatch) and at the end (the next step's minibatch, after the update), so
/// a step's α is filled in when the next step is observed; the last step has none.
///
/// ```swift
/// var cockpit = try Cockpit<Double>(preset: .full, adding: [.meanGSNR], seed: 0)
/// var sgd = SGD<Double>(learningRate: 0.1)
/// try train(&model, loss: loss, data: data, optimizer: &sgd, epochs: 1, batchSize: 32,
///           order: .sequential) { try cockpit.observe($0) }
/// for record in cockpit.records { print(record.jsonObject) }
/// ```
///
/// Instruments and their sources: loss, parameters, distance, update size, gradient norm
/// and time are read off the step; the histograms, gradient tests (norm, inner product,
/// orthogonality), mean GSNR, CABS, early stopping, TIC and α need the minibatch's
/// individual gradients (`CurvatureProblem.perSampleGradients()`, BackPACK's BatchGrad);
/// HessMaxEV takes Lanczos (`lanczosEigenpairs`, relative residual `hessMaxEVTolerance`,
/// seeded) on the minibatch Hessian, HessTrace and TIC its exact diagonal (`HessianOperator.diagonal()`, BackPACK's DiagHessian).
///
/// Optimizers: α uses the update direction `d = −η∇L` for plain SGD (as cockpit, which
/// computes it from the gradients) and `d = θ_{t+1} − θ_t` for any other optimizer
/// (cockpit's fallback, which caches parameters). CABS and EarlyStopping are derived for
/// SGD without momentum or weight decay (Balles et al. 2017; Mahsereci et al. 2017);
/// cockpit raises an error for other optimizers, this cockpit records nil (JSON null) for
/// them at such steps, since the criteria's assumptions (update `−η ĝ`, a step size that
/// couples to the gradient noise) do not hold for momentum or adaptive methods.
///
/// The run is deterministic: the same steps and seed give the same records, bit for bit,
/// except `time`.
public struct Cockpit<Scalar: BLASScalar>: Sendable {
  /// The recorded instruments, in `CockpitInstrument` order.
  public let instruments: [CockpitInstrument]
  /// The tracking interval: instruments are evaluated at steps divisible by it.
  public let every: Int
  /// Seeds HessMaxEV's Lanczos start vector (with the step index).
  public let seed: UInt64
  /// HessMaxEV's Lanczos tolerance (relative residual); the eigenvalue's relative error is
  /// at most about this, usually far less.
  public var hessMaxEVTolerance: Double = 1e-9
  /// One record per tracked step, in order.
  public private(set) var records: [CockpitRecord] = []

  /// The parameters of the first observed step, for `distance`.
  var initialParameters: [NDArray<Scalar>]? = nil
  /// α's start point, waiting for the next step.
  var alphaStart: AlphaStart? = nil

  /// What α keeps of its start point.
  struct AlphaStart: Sendable {
    var step: Int
    var direction: [Double]
    var length: Double
    var plainSGD: Bool
    var observation: AlphaObservation
  }

  /// A cockpit with the given instruments.
  /// - Parameters:
  ///   - instruments: The instruments (duplicates are ignored).
  ///   - every: Evaluate every `every` steps (positive).
  ///   - seed: Seeds HessMaxEV's Lanczos.
  /// - Throws: `CurvatureError.invalidArgument` for an empty instrument list or `every < 1`.
  public init(instruments: some Sequence<CockpitInstrument>, every: Int = 1, seed: UInt64 = 0) throws {
    let chosen = Set(instruments)
    guard !chosen.isEmpty else { throw CurvatureError.invalidArgument("the cockpit needs at least one instrument") }
    guard every >= 1 else { throw CurvatureError.invalidArgument("the cockpit's interval 'every' must be at least 1, got \(every)") }
    self.instruments = CockpitInstrument.allCases.filter(chosen.contains)
    self.every = every
    self.seed = seed
  }

  /// A cockpit with one of cockpit's presets and further instruments.
  /// - Parameters:
  ///   - preset: `economy`, `business` or `full`.
  ///   - adding: Further instruments (e.g. `ticTrace`, `meanGSNR`, `cabs`, `earlyStopping`).
  ///   - every: Evaluate every `every` steps (positive).
  ///   - seed: Seeds HessMaxEV's Lanczos.
  /// - Throws: `CurvatureError.invalidArgument` for `every < 1`.
  public init(preset: CockpitPreset, adding: [CockpitInstrument] = [], every: Int = 1, seed: UInt64 = 0) throws {
    try self.init(instruments: preset.instruments + adding, every: every, seed: seed)
  }

  /// Whether instruments are evaluated at `step`.
  public func isTracked(_ step: Int) -> Bool { step >= 0 && step % every == 0 }

  /// Records one training step: fills in the previous step's α when it was tracked, and
  /// evaluates every instrument when this step is tracked.
  /// - Parameter step: The step, as `train(…observe:)` reports it.
  /// - Throws: `CurvatureError` from the curvature computations (e.g. models whose Hessian
  ///   diagonal is not supported), `SolverError` from Lanczos.
  /// - Complexity: Per tracked step with individual-gradient instruments, one forward and
  ///   reverse pass for the individual gradients (`CurvatureProblem.perSampleGradients()`);
  ///   HessMaxEV a few dozen Hessian-vector products; HessTrace/TIC the exact Hessian
  ///   diagonal (`C` reverse passes plus one per smooth activation feature).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public mutating func observe(_ step: TrainingStep<Scalar>) throws {
    // Called from other modules (`curv train`), the generic body would run unspecialized:
    // every element of the B × P individual gradients converted through witness tables,
    // many times slower than the loops themselves. The specializations make it, and the
    // module's quantities it calls, concrete.
    let t = step.step
    if initialParameters == nil { initialParameters = step.parametersBefore }
    let tracked = isTracked(t)
    let endsAlpha = alphaStart.map { $0.step == t - 1 } ?? false
    let needsIndividual = (tracked && instruments.contains { $0.needsIndividualGradients }) || endsAlpha
    let needsCurvature = tracked && instruments.contains { $0 == .hessMaxEV || $0.needsHessianDiagonal }
    let problem = needsIndividual || needsCurvature ? try minibatchProblem(step) : nil
    let individual = try problem.map {
      try IndividualGradients(problem: $0, model: step.network, loss: step.lossFunction, batch: step.batch)
    }
    let gradient = NDArray(step.gradients.flatMap(\.scalars))

    if let start = alphaStart, endsAlpha, let individual {
      let end = alphaObservation(step, individual, gradient, direction: start.direction, length: start.length, plainSGD: start.plainSGD)
      if let index = records.lastIndex(where: { $0.step == start.step }) {
        records[index].alpha = CockpitQuantities.alpha(stepLength: start.length, start: start.observation, end: end)
      }
    }
    alphaStart = nil
    guard tracked else { return }

    var record = CockpitRecord(step: t, instruments: instruments)
    let chosen = Set(instruments)
    let loss = Double(step.loss)
    let before = step.parametersBefore
    if chosen.contains(.time) { record.time = Date().timeIntervalSince1970 }
    record.learningRate = step.hyperparameters.learningRate.map(Double.init)
    if chosen.contains(.loss) { record.loss = loss }
    if chosen.contains(.parameters) { record.parameters = before.map { $0.scalars.map(Double.init) } }
    if chosen.contains(.distance) { record.distance = zip(before, initialParameters!).map { Self.distance($0, $1) } }
    if chosen.contains(.updateSize) { record.updateSize = zip(step.parametersAfter, before).map { Self.distance($0, $1) } }
    if chosen.contains(.gradNorm) { record.gradNorm = step.gradients.map { Self.norm($0.scalars) } }

    if let individual {
      let g = individual.gradients
      if chosen.contains(.gradHist1d) { record.gradHist1d = GradientHistogram1d(individualGradients: g) }
      if chosen.contains(.gradHist2d) {
        record.gradHist2d = GradientHistogram2d(individualGradients: g, parameters: NDArray(before.flatMap(\.scalars)))
      }
      if chosen.contains(.normTest) { record.normTest = CockpitQuantities.normTest(individualGradients: g, gradient: gradient) }
      if chosen.contains(.innerTest) { record.innerTest = CockpitQuantities.innerTest(individualGradients: g, gradient: gradient) }
      if chosen.contains(.orthoTest) { record.orthoTest = CockpitQuantities.orthoTest(individualGradients: g, gradient: gradient) }
      if chosen.contains(.meanGSNR) { record.meanGSNR = CockpitQuantities.meanGSNR(individualGradients: g, gradient: gradient) }
      let hyper = step.hyperparameters
      if hyper.isPlainSGD, let lr = hyper.learningRate {
        if chosen.contains(.cabs) {
          record.cabs = CockpitQuantities.cabs(individualGradients: g, gradient: gradient, learningRate: Double(lr), loss: loss)
        }
        if chosen.contains(.earlyStopping) { record.earlyStopping = CockpitQuantities.earlyStopping(individualGradients: g, gradient: gradient) }
      }
      if chosen.contains(.alpha) {
        let direction: [Double]
        if hyper.isPlainSGD, let lr = hyper.learningRate {
          direction = gradient.scalars.map { -Double(lr) * Double($0) }
        } else {
          direction = zip(step.parametersAfter.flatMap(\.scalars), before.flatMap(\.scalars)).map { Double($0) - Double($1) }
        }
        let length = direction.reduce(0) { $0 + $1 * $1 }.squareRoot()
        alphaStart = AlphaStart(
          step: t, direction: direction, length: length, plainSGD: hyper.isPlainSGD,
          observation: alphaObservation(step, individual, gradient, direction: direction, length: length, plainSGD: hyper.isPlainSGD))
      }
    }

    let needsDiagonal = instruments.contains { $0.needsHessianDiagonal }
    if let problem, needsCurvature {
      let hessian = HessianOperator(problem)
      if chosen.contains(.hessMaxEV) {
        let options = LanczosOptions(
          count: 1, which: .largest, tolerance: hessMaxEVTolerance, seed: seed &+ UInt64(t), verifiesMultiplicity: false)
        record.hessMaxEV = Double(try lanczosEigenpairs(hessian, options: options).eigenvalues.scalars[0])
      }
      if needsDiagonal {
        let diagonal = try hessian.diagonal()
        if chosen.contains(.hessTrace) {
          var offset = 0
          record.hessTrace = step.network.parameterSpecs.map { spec in
            defer { offset += spec.count }
            return diagonal.scalars[offset..<(offset + spec.count)].reduce(0.0) { $0 + Double($1) }
          }
        }
        if let individual {
          if chosen.contains(.ticDiag) {
            record.ticDiag = CockpitQuantities.ticDiag(individualGradients: individual.gradients, hessianDiagonal: diagonal)
          }
          if chosen.contains(.ticTrace) {
            record.ticTrace = CockpitQuantities.ticTrace(individualGradients: individual.gradients, hessianDiagonal: diagonal)
          }
        }
      }
    }
    records.append(record)
  }

  /// The step's minibatch as a curvature problem at the parameters before the step.
  func minibatchProblem(_ step: TrainingStep<Scalar>) throws -> CurvatureProblem<Scalar> {
    let data = try ArrayDataset(inputs: step.batch.inputs, targets: step.batch.targets, extraInputs: step.batch.extraInputs)
    return try CurvatureProblem(
      model: step.network, loss: step.lossFunction, data: data, batchSize: step.batchSize, checkDeterminism: false)
  }

  /// α's observation at a step along `direction`: cockpit projects the individual
  /// gradients onto `d/‖d‖`; the slope is their mean for plain SGD (cockpit's BackPACK
  /// path) and the minibatch gradient's projection otherwise (its fallback path).
  func alphaObservation(
    _ step: TrainingStep<Scalar>, _ individual: IndividualGradients<Scalar>, _ gradient: NDArray<Scalar>,
    direction: [Double], length: Double, plainSGD: Bool
  ) -> AlphaObservation {
    let (b, p) = (individual.gradients.shape[0], individual.gradients.shape[1])
    var projections = [Double](repeating: 0, count: b)
    individual.gradients.scalars.withUnsafeBufferPointer { rows in
      for i in 0..<b {
        var s = 0.0
        for j in 0..<p { s += Double(rows[i * p + j]) * direction[j] }
        projections[i] = s / length
      }
    }
    let (mean, variance) = CockpitQuantities.meanAndSampleVariance(projections)
    let slope = plainSGD ? mean : zip(gradient.scalars, direction).reduce(0.0) { $0 + Double($1.0) * $1.1 } / length
    let lossVariance = CockpitQuantities.meanAndSampleVariance(individual.losses).variance
    return AlphaObservation(loss: Double(step.loss), lossVariance: lossVariance, slope: slope, slopeVariance: variance)
  }

  /// `‖a − b‖₂`.
  static func distance(_ a: NDArray<Scalar>, _ b: NDArray<Scalar>) -> Double {
    zip(a.scalars, b.scalars).reduce(0.0) { $0 + (Double($1.0) - Double($1.1)) * (Double($1.0) - Double($1.1)) }.squareRoot()
  }

  /// `‖x‖₂`.
  static func norm(_ x: [Scalar]) -> Double { x.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
}
