import CurvatureNumerics
import CurvatureNN

/// The instruments a `Cockpit` recorded at one training step. A value is nil when its
/// instrument was not asked for, or could not be computed at this step (α of the last
/// step, which needs the next minibatch; sample variances of a one-point minibatch; CABS
/// and EarlyStopping for optimizers other than plain SGD).
///
/// `jsonObject` is one line of `curv train --log run.jsonl`: the key `step` and one key per
/// recorded instrument, named by `CockpitInstrument.rawValue` (`loss`, `grad_norm`,
/// `distance`, `update_size`, `alpha`, `hess_max_ev`, `hess_trace`, `tic_diag`,
/// `tic_trace`, `mean_gsnr`, `norm_test`, `inner_test`, `ortho_test`, `cabs`,
/// `early_stopping`, `grad_hist_1d`, `grad_hist_2d`, and `parameters`, `time`); a value
/// that could not be computed is `null`. A record with `loss` also holds `learning_rate`,
/// the optimizer's learning rate at the step (as cockpit's `Cockpit.log` takes the loss
/// and the learning rate together; null for an optimizer without one).
public struct CockpitRecord: Sendable, Hashable {
  /// The training step (cockpit's `global_step`, from 0).
  public var step: Int
  /// The instruments recorded at this step, in `CockpitInstrument` order.
  public var instruments: [CockpitInstrument]
  /// The minibatch loss.
  public var loss: Double?
  /// The parameter blocks, each flattened row-major.
  public var parameters: [[Double]]?
  /// Per block, the distance from the initial parameters.
  public var distance: [Double]?
  /// Per block, the length of this step's update.
  public var updateSize: [Double]?
  /// Per block, the minibatch gradient's norm.
  public var gradNorm: [Double]?
  /// The individual gradient elements' histogram.
  public var gradHist1d: GradientHistogram1d?
  /// The individual gradient elements against parameter values.
  public var gradHist2d: GradientHistogram2d?
  /// The norm test's θ.
  public var normTest: Double?
  /// The inner product test's θ.
  public var innerTest: Double?
  /// The orthogonality test's ν.
  public var orthoTest: Double?
  /// The mean gradient signal-to-noise ratio.
  public var meanGSNR: Double?
  /// CABS's suggested batch size.
  public var cabs: Double?
  /// The early-stopping criterion.
  public var earlyStopping: Double?
  /// The normalized step size α (filled in when the next step is observed).
  public var alpha: Double?
  /// The minibatch Hessian's largest eigenvalue.
  public var hessMaxEV: Double?
  /// Per block, the minibatch Hessian's trace.
  public var hessTrace: [Double]?
  /// TIC with the Hessian diagonal.
  public var ticDiag: Double?
  /// TIC with traces.
  public var ticTrace: Double?
  /// Seconds since 1970 when the step was observed.
  public var time: Double?
  /// The optimizer's learning rate at the step (cockpit's `learning_rate`, which its
  /// hyperparameter gauge plots); nil for an optimizer without a single learning rate.
  /// A `Cockpit` records it at every tracked step; `jsonObject` holds it with `loss`.
  public var learningRate: Double?

  /// An empty record of the given instruments at a step.
  public init(step: Int, instruments: [CockpitInstrument]) {
    self.step = step
    self.instruments = instruments
  }

  /// The instrument's value as JSON (null when not computed).
  public func json(_ instrument: CockpitInstrument) -> JSONValue {
    func number(_ x: Double?) -> JSONValue { x.map { $0.isFinite ? .number($0) : .null } ?? .null }
    func numbers(_ xs: [Double]?) -> JSONValue { xs.map { .array($0.map { number($0) }) } ?? .null }
    switch instrument {
    case .loss: return number(loss)
    case .parameters: return parameters.map { .array($0.map { numbers($0) }) } ?? .null
    case .distance: return numbers(distance)
    case .updateSize: return numbers(updateSize)
    case .gradNorm: return numbers(gradNorm)
    case .gradHist1d: return gradHist1d?.jsonObject ?? .null
    case .gradHist2d: return gradHist2d?.jsonObject ?? .null
    case .normTest: return number(normTest)
    case .innerTest: return number(innerTest)
    case .orthoTest: return number(orthoTest)
    case .meanGSNR: return number(meanGSNR)
    case .cabs: return number(cabs)
    case .earlyStopping: return number(earlyStopping)
    case .alpha: return number(alpha)
    case .hessMaxEV: return number(hessMaxEV)
    case .hessTrace: return numbers(hessTrace)
    case .ticDiag: return number(ticDiag)
    case .ticTrace: return number(ticTrace)
    case .time: return number(time)
    }
  }

  /// `{"step": …, "<instrument>": …}` for every recorded instrument, and
  /// `"learning_rate"` with `"loss"` (non-finite numbers become null, as JSON has no NaN).
  public var jsonObject: JSONValue {
    var object: [String: JSONValue] = ["step": .number(Double(step))]
    for instrument in instruments { object[instrument.rawValue] = json(instrument) }
    if instruments.contains(.loss) { object["learning_rate"] = learningRate.map { $0.isFinite ? .number($0) : .null } ?? .null }
    return .object(object)
  }
}
