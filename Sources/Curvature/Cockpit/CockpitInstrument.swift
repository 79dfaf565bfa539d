import CurvatureNumerics

/// One of cockpit's instruments (Schneider, Dangel & Hennig 2021, "Cockpit: A Practical
/// Debugging Tool for the Training of Deep Neural Networks", NeurIPS), with
/// cockpit-for-pytorch's definition (`cockpit/quantities/`).
///
/// The raw value is the instrument's key in a `CockpitRecord`'s `jsonObject` (snake_case:
/// `"grad_hist_1d"`, `"hess_max_ev"`); `cockpitName` is cockpit's class name
/// (`"GradHist1d"`, `"HessMaxEV"`). Instruments that hold one value per parameter block
/// (`distance`, `updateSize`, `gradNorm`, `hessTrace`, `parameters`) list them in the
/// model's block order, as cockpit lists `model.parameters()`.
public enum CockpitInstrument: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  /// The minibatch loss.
  case loss
  /// The parameter values (every block, flattened row-major).
  case parameters
  /// Per block, `‖θ_t − θ_0‖₂`, the distance from the initial parameters.
  case distance
  /// Per block, `‖θ_{t+1} − θ_t‖₂`, the length of this step's update.
  case updateSize = "update_size"
  /// Per block, `‖∇L‖₂` of the minibatch gradient.
  case gradNorm = "grad_norm"
  /// A histogram of the individual gradients' elements (100 bins on [−2, 2], clipped).
  case gradHist1d = "grad_hist_1d"
  /// A 2d histogram of individual gradient elements (40 bins on [−1, 1]) against the
  /// parameter values (50 bins on [−2, 2]), clipped.
  case gradHist2d = "grad_hist_2d"
  /// The norm test's largest passing θ (Byrd, Chin, Nocedal & Wu 2012, "Sample size
  /// selection in optimization methods for machine learning", Math. Program. 134, eq. 3.9).
  case normTest = "norm_test"
  /// The inner product test's largest passing θ (Bollapragada, Byrd & Nocedal 2018,
  /// "Adaptive sampling strategies for stochastic optimization", SIAM J. Optim. 28, eq. 2.6).
  case innerTest = "inner_test"
  /// The orthogonality test's largest passing ν (Bollapragada, Byrd & Nocedal 2018, eq. 3.3).
  case orthoTest = "ortho_test"
  /// The mean gradient signal-to-noise ratio (Liu et al. 2020, "Understanding why neural
  /// networks generalize well through GSNR of parameters", ICLR).
  case meanGSNR = "mean_gsnr"
  /// The batch size suggested by CABS (Balles, Romero & Hennig 2017, "Coupling adaptive
  /// batch sizes with learning rates", UAI, eq. 22). Defined for plain SGD.
  case cabs
  /// The evidence-based early-stopping criterion (Mahsereci, Balles, Lassner & Hennig 2017,
  /// "Early stopping without a validation set", arXiv:1703.09580, eq. 7); stop when it
  /// exceeds 0. Defined for plain SGD.
  case earlyStopping = "early_stopping"
  /// The normalized step size α of a noise-aware quadratic fit along the update (cockpit's
  /// paper, section 3): 0 steps to the fit's minimum, 1 to the other side, −1 marks a
  /// concave fit. The fit's end point is the next step's minibatch.
  case alpha
  /// The minibatch Hessian's largest eigenvalue (by Lanczos).
  case hessMaxEV = "hess_max_ev"
  /// Per block, the trace of the minibatch Hessian (from its exact diagonal).
  case hessTrace = "hess_trace"
  /// The Takeuchi information criterion with the Hessian diagonal (Thomas et al. 2020, "On
  /// the interplay between noise and curvature and its effect on optimization and
  /// generalization", AISTATS).
  case ticDiag = "tic_diag"
  /// The Takeuchi information criterion with traces (Thomas et al. 2020).
  case ticTrace = "tic_trace"
  /// The wall-clock time (seconds since 1970) when the step was observed; not deterministic.
  case time

  /// cockpit-for-pytorch's class name for this instrument.
  public var cockpitName: String {
    switch self {
    case .loss: return "Loss"
    case .parameters: return "Parameters"
    case .distance: return "Distance"
    case .updateSize: return "UpdateSize"
    case .gradNorm: return "GradNorm"
    case .gradHist1d: return "GradHist1d"
    case .gradHist2d: return "GradHist2d"
    case .normTest: return "NormTest"
    case .innerTest: return "InnerTest"
    case .orthoTest: return "OrthoTest"
    case .meanGSNR: return "MeanGSNR"
    case .cabs: return "CABS"
    case .earlyStopping: return "EarlyStopping"
    case .alpha: return "Alpha"
    case .hessMaxEV: return "HessMaxEV"
    case .hessTrace: return "HessTrace"
    case .ticDiag: return "TICDiag"
    case .ticTrace: return "TICTrace"
    case .time: return "Time"
    }
  }

  /// The JSON key (the raw value).
  public var description: String { rawValue }

  /// The instrument named by its JSON key (`"hess_max_ev"`) or cockpit's class name
  /// (`"HessMaxEV"`), case-insensitively; `-` counts as `_`.
  /// - Throws: `CurvatureError.invalidArgument` naming the unknown instrument and the known ones.
  public init(named name: String) throws {
    let key = name.trimmingCharacters(in: .whitespaces).lowercased().replacingOccurrences(of: "-", with: "_")
    guard let match = CockpitInstrument.allCases.first(where: { $0.rawValue == key || $0.cockpitName.lowercased() == key }) else {
      throw CurvatureError.invalidArgument(
        "unknown cockpit instrument '\(name)'; known: \(CockpitInstrument.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    self = match
  }

  /// Whether the instrument needs the individual gradients of the minibatch.
  var needsIndividualGradients: Bool {
    switch self {
    case .gradHist1d, .gradHist2d, .normTest, .innerTest, .orthoTest, .meanGSNR, .cabs, .earlyStopping, .alpha,
      .ticDiag, .ticTrace:
      return true
    case .loss, .parameters, .distance, .updateSize, .gradNorm, .hessMaxEV, .hessTrace, .time:
      return false
    }
  }

  /// Whether the instrument needs the exact Hessian diagonal of the minibatch loss.
  var needsHessianDiagonal: Bool { self == .hessTrace || self == .ticDiag || self == .ticTrace }
}

/// cockpit-for-pytorch's instrument configurations (`cockpit.utils.configuration`).
///
/// `economy` ⊂ `business` ⊂ `full`; `meanGSNR`, `cabs`, `earlyStopping`, `ticTrace`,
/// `parameters` and `time` belong to none and are added by name.
public enum CockpitPreset: String, Sendable, Hashable, CaseIterable {
  /// Alpha, Distance, GradHist1d, GradNorm, InnerTest, Loss, NormTest, OrthoTest, UpdateSize.
  case economy
  /// `economy` with TICDiag and HessTrace.
  case business
  /// `business` with HessMaxEV and GradHist2d.
  case full

  /// The preset's instruments, in cockpit's order.
  public var instruments: [CockpitInstrument] {
    let economy: [CockpitInstrument] = [.alpha, .distance, .gradHist1d, .gradNorm, .innerTest, .loss, .normTest, .orthoTest, .updateSize]
    switch self {
    case .economy: return economy
    case .business: return economy + [.ticDiag, .hessTrace]
    case .full: return economy + [.ticDiag, .hessTrace, .hessMaxEV, .gradHist2d]
    }
  }
}
