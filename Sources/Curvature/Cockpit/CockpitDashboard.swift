/// cockpit's dashboard (Schneider, Dangel & Hennig 2021, "Cockpit: A Practical Debugging
/// Tool for the Training of Deep Neural Networks", NeurIPS, figure 1) drawn from
/// `CockpitRecord`s: one self-contained HTML page (`html(records:title:)`, what
/// `curv train --plot cockpit.html` writes) or one SVG image (`svg(records:title:)`).
///
/// The panels follow cockpit-for-pytorch's `CockpitPlotter` and its `instruments/` gauges,
/// grouped as there: *step size* (α distribution, α per step, distances, gradient norm),
/// *gradients* (gradient tests, 1d and 2d gradient element histograms), *curvature*
/// (largest Hessian eigenvalue, Hessian trace, TIC), *performance* (minibatch loss, and the
/// learning rate per step when asked for: `html(records:title:hyperparameters:)`), and
/// the *auxiliary* screen (mean GSNR, CABS, early stopping). A panel is shown exactly when
/// one of its instruments is among the records' instruments (`panelIDs(for:)`); a panel
/// whose values were never computed (α of a one-step run) says so instead of plotting.
///
/// Traces plot every recorded step (thinned evenly beyond 1500 points) with cockpit's
/// exponential moving average (α = 0.2); vector instruments (per block distance, update
/// size, gradient norm) are combined as cockpit does (root sum of squares; traces add).
/// Non-finite values are left out. The histograms show the last step that recorded one.
///
/// Both outputs are pure functions of their arguments: the same records give the same
/// bytes (numbers are printed with Swift's shortest round-trip representation, rounded).
/// Each panel is an element with `id` and `data-panel` equal to its panel id. The page has
/// no external resources; its few lines of script set `<body data-status>` to `ok` once
/// every panel is laid out with a non-empty box, or to `error: …` on any script error, so a
/// headless browser can check it (`scripts/browser-check.sh`).
public enum CockpitDashboard {
  /// One self-contained HTML page (inline SVG and a few lines of inline CSS and script, no
  /// external resources), which opens offline in any browser.
  /// - Parameters:
  ///   - records: A cockpit's records (`Cockpit.records`), in step order; may be empty.
  ///   - title: The page's heading (escaped; any text).
  /// - Returns: The page, UTF-8 text.
  /// - Complexity: O(records × instruments), plus the histograms' bins.
  public static func html(records: [CockpitRecord], title: String) -> String {
    renderHTML(records: records, title: title)
  }

  /// The same panels as `html(records:title:)`, as one standalone SVG image (for documents
  /// and tutorials).
  /// - Parameters:
  ///   - records: A cockpit's records, in step order; may be empty.
  ///   - title: The image's heading (escaped; any text).
  /// - Returns: The SVG document, UTF-8 text, well-formed XML.
  /// - Complexity: O(records × instruments), plus the histograms' bins.
  public static func svg(records: [CockpitRecord], title: String) -> String {
    renderSVG(records: records, title: title)
  }

  /// The ids of the panels a page shows for these instruments, in page order (e.g.
  /// `"alpha"`, `"alpha-trace"`, `"distance"`, `"grad-norm"`, `"gradient-tests"`,
  /// `"grad-hist-1d"`, `"grad-hist-2d"`, `"hess-max-ev"`, `"hess-trace"`, `"tic"`,
  /// `"performance"`, `"mean-gsnr"`, `"cabs"`, `"early-stopping"`).
  /// - Parameter instruments: The recorded instruments (any order, duplicates allowed).
  /// - Returns: The panel ids, in page order.
  public static func panelIDs(for instruments: [CockpitInstrument]) -> [String] {
    panels(for: instruments).map(\.id)
  }

  /// The page of `html(records:title:)`, optionally with cockpit's hyperparameter panel
  /// (its `HyperparameterGauge`, id `"hyperparameters"`, in the performance group): the
  /// learning rate per recorded step (`CockpitRecord.learningRate`), which cockpit's
  /// plotter shows whenever its log holds learning rates.
  /// - Parameters:
  ///   - records: A cockpit's records (`Cockpit.records`), in step order; may be empty.
  ///   - title: The page's heading (escaped; any text).
  ///   - hyperparameters: Show the hyperparameter panel (it says so when no record holds a
  ///     learning rate).
  /// - Returns: The page, UTF-8 text.
  /// - Complexity: O(records × instruments), plus the histograms' bins.
  public static func html(records: [CockpitRecord], title: String, hyperparameters: Bool) -> String {
    renderHTML(records: records, title: title, hyperparameters: hyperparameters)
  }

  /// The image of `svg(records:title:)`, optionally with the hyperparameter panel (as
  /// `html(records:title:hyperparameters:)`).
  /// - Parameters:
  ///   - records: A cockpit's records, in step order; may be empty.
  ///   - title: The image's heading (escaped; any text).
  ///   - hyperparameters: Show the hyperparameter panel.
  /// - Returns: The SVG document, UTF-8 text, well-formed XML.
  /// - Complexity: O(records × instruments), plus the histograms' bins.
  public static func svg(records: [CockpitRecord], title: String, hyperparameters: Bool) -> String {
    renderSVG(records: records, title: title, hyperparameters: hyperparameters)
  }

  /// The ids of the panels a page shows for these instruments, in page order, with
  /// `"hyperparameters"` (before `"performance"`) when `hyperparameters` is true.
  /// - Parameters:
  ///   - instruments: The recorded instruments (any order, duplicates allowed).
  ///   - hyperparameters: Whether the page shows the hyperparameter panel.
  /// - Returns: The panel ids, in page order.
  public static func panelIDs(for instruments: [CockpitInstrument], hyperparameters: Bool) -> [String] {
    panels(for: instruments, hyperparameters: hyperparameters).map(\.id)
  }
}

extension CockpitDashboard {
  /// One panel of the dashboard: a gauge of cockpit's plotter.
  enum Panel: String, CaseIterable {
    case alpha
    case alphaTrace = "alpha-trace"
    case distance
    case gradNorm = "grad-norm"
    case gradientTests = "gradient-tests"
    case gradHist1d = "grad-hist-1d"
    case gradHist2d = "grad-hist-2d"
    case hessMaxEV = "hess-max-ev"
    case hessTrace = "hess-trace"
    case tic
    case hyperparameters
    case performance
    case meanGSNR = "mean-gsnr"
    case cabs
    case earlyStopping = "early-stopping"

    var id: String { rawValue }

    /// The panel is shown when any of these instruments is recorded.
    var instruments: [CockpitInstrument] {
      switch self {
      case .alpha, .alphaTrace: return [.alpha]
      case .distance: return [.distance, .updateSize]
      case .gradNorm: return [.gradNorm]
      case .gradientTests: return [.normTest, .innerTest, .orthoTest]
      case .gradHist1d: return [.gradHist1d]
      case .gradHist2d: return [.gradHist2d]
      case .hessMaxEV: return [.hessMaxEV]
      case .hessTrace: return [.hessTrace]
      case .tic: return [.ticDiag, .ticTrace]
      // Not an instrument's: shown when asked for (`hyperparameters: true`).
      case .hyperparameters: return []
      case .performance: return [.loss]
      case .meanGSNR: return [.meanGSNR]
      case .cabs: return [.cabs]
      case .earlyStopping: return [.earlyStopping]
      }
    }

    /// The heading, as cockpit's gauge titles.
    var title: String {
      switch self {
      case .alpha: return "Alpha Distribution"
      case .alphaTrace: return "Alpha per Step"
      case .distance: return "Distance"
      case .gradNorm: return "Gradient Norm"
      case .gradientTests: return "Gradient Tests"
      case .gradHist1d: return "Gradient Element Histogram"
      case .gradHist2d: return "Gradient/Parameter Element Histogram"
      case .hessMaxEV: return "Max Eigenvalue"
      case .hessTrace: return "Trace"
      case .tic: return "TIC"
      case .hyperparameters: return "Hyperparameters"
      case .performance: return "Performance Plot"
      case .meanGSNR: return "Mean GSNR"
      case .cabs: return "CABS"
      case .earlyStopping: return "Early stopping"
      }
    }

    var group: Group {
      switch self {
      case .alpha, .alphaTrace, .distance, .gradNorm: return .stepSize
      case .gradientTests, .gradHist1d, .gradHist2d: return .gradients
      case .hessMaxEV, .hessTrace, .tic: return .curvature
      case .hyperparameters, .performance: return .performance
      case .meanGSNR, .cabs, .earlyStopping: return .auxiliary
      }
    }
  }

  /// cockpit's panel groups (its plotter's columns and secondary screen), in page order.
  enum Group: String, CaseIterable {
    case stepSize = "STEP SIZE"
    case gradients = "GRADIENTS"
    case curvature = "CURVATURE"
    case performance = "PERFORMANCE"
    case auxiliary = "AUXILIARY"

    var id: String {
      switch self {
      case .stepSize: return "group-step-size"
      case .gradients: return "group-gradients"
      case .curvature: return "group-curvature"
      case .performance: return "group-performance"
      case .auxiliary: return "group-auxiliary"
      }
    }
  }

  /// The panels for these instruments, in page order, with the hyperparameter panel when
  /// asked for.
  static func panels(for instruments: [CockpitInstrument], hyperparameters: Bool = false) -> [Panel] {
    let chosen = Set(instruments)
    return Panel.allCases.filter { $0.instruments.contains(where: chosen.contains) || ($0 == .hyperparameters && hyperparameters) }
  }

  /// The panels of these records: those of every instrument any record holds.
  static func panels(for records: [CockpitRecord], hyperparameters: Bool = false) -> [Panel] {
    var seen = Set<CockpitInstrument>()
    for record in records { seen.formUnion(record.instruments) }
    return panels(for: CockpitInstrument.allCases.filter(seen.contains), hyperparameters: hyperparameters)
  }

  /// The panels grouped as on the page; groups without panels are left out.
  static func groups(_ panels: [Panel]) -> [(group: Group, panels: [Panel])] {
    Group.allCases.compactMap { group in
      let members = panels.filter { $0.group == group }
      return members.isEmpty ? nil : (group, members)
    }
  }
}
