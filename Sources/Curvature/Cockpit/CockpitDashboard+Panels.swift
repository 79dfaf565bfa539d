/// What each panel draws, after cockpit-for-pytorch's gauges (`cockpit/instruments/`).
extension CockpitDashboard {
  /// The panel's SVG content in its `Layout.width × Layout.height` box.
  static func draw(_ panel: Panel, records: [CockpitRecord]) -> String {
    var canvas = DashboardCanvas(title: panel.title)
    typealias Series = DashboardCanvas.Series
    func trace(_ name: String, _ color: String, _ value: (CockpitRecord) -> Double?) -> Series {
      Series(name: name, color: color, points: records.compactMap { r in value(r).map { (x: Double(r.step), y: $0) } })
    }
    switch panel {
    case .alpha:
      drawAlphaDistribution(&canvas, records.compactMap(\.alpha))
    case .alphaTrace:
      canvas.traces(
        [trace("α", Palette.primary, \.alpha)], yLabel: "Local step length α", horizontal: [0],
        empty: records.count < 2 ? "α needs two steps" : "no finite α recorded")
    case .distance:
      canvas.traces(
        [trace("distance", Palette.primary) { $0.distance.map(rootSumOfSquares) }], yLabel: "Distance from start",
        right: [trace("update size", Palette.secondary) { $0.updateSize.map(rootSumOfSquares) }], rightLabel: "Update size")
    case .gradNorm:
      canvas.traces([trace("‖g‖", Palette.primary) { $0.gradNorm.map(rootSumOfSquares) }], yLabel: "Gradient norm")
    case .gradientTests:
      canvas.traces(
        [
          trace("norm θ", Palette.primary, \.normTest), trace("inner θ", Palette.secondary, \.innerTest),
          trace("ortho ν", Palette.tertiary, \.orthoTest),
        ], yLabel: "Test value (log)", log: true, horizontal: [1])
    case .gradHist1d:
      drawHistogram1d(&canvas, records.last(where: { $0.gradHist1d != nil }))
    case .gradHist2d:
      drawHistogram2d(&canvas, records.last(where: { $0.gradHist2d != nil }))
    case .hessMaxEV:
      canvas.traces([trace("λmax", Palette.primary, \.hessMaxEV)], yLabel: "Max eigenvalue")
    case .hessTrace:
      canvas.traces([trace("trace", Palette.primary) { $0.hessTrace.map { $0.reduce(0, +) } }], yLabel: "Hessian trace")
    case .tic:
      canvas.traces([trace("TIC diag", Palette.primary, \.ticDiag), trace("TIC trace", Palette.secondary, \.ticTrace)], yLabel: "TIC")
    case .hyperparameters:
      canvas.traces(
        [trace("learning rate", Palette.secondary, \.learningRate)], yLabel: "Learning rate", empty: "no learning rate recorded")
    case .performance:
      canvas.traces([trace("loss", Palette.primary, \.loss)], yLabel: "Mini-batch loss")
    case .meanGSNR:
      canvas.traces([trace("GSNR", Palette.primary, \.meanGSNR)], yLabel: "Mean GSNR")
    case .cabs:
      canvas.traces([trace("batch size", Palette.primary, \.cabs)], yLabel: "CABS batch size", empty: "no values (CABS needs plain SGD)")
    case .earlyStopping:
      canvas.traces(
        [trace("criterion", Palette.primary, \.earlyStopping)], yLabel: "Stop when > 0", horizontal: [0],
        empty: "no values (needs plain SGD)")
    }
    return canvas.body
  }

  /// `√(Σ xᵢ²)`, cockpit's `_root_sum_of_squares` of per-block norms.
  static func rootSumOfSquares(_ values: [Double]) -> Double { values.reduce(0) { $0 + $1 * $1 }.squareRoot() }

  /// cockpit's alpha gauge: the unit parabola `y = x²` with the start at `x = −1`, and the
  /// α histograms of all steps (gray) and of the last 10 % (blue) on [−1.5, 1.5]; α beyond
  /// the range is counted at the side.
  static func drawAlphaDistribution(_ canvas: inout DashboardCanvas, _ alphas: [Double]) {
    let values = alphas.filter(\.isFinite)
    guard !values.isEmpty else {
      canvas.noData(alphas.isEmpty ? "α needs two steps" : "no finite α recorded")
      return
    }
    let x = DashboardScale(lower: -1.5, upper: 1.5, pixels: (Layout.left, Layout.right))
    let y = DashboardScale(lower: 0, upper: 1.75, pixels: (Layout.bottom, Layout.top))
    canvas.axes(x: x, y: y, xLabel: "Local step length α", yLabel: "Stand. loss")
    for zone in [-1.0, 0, 1] {
      if let px = x(zone) { canvas.line(px, Layout.top, px, Layout.bottom, color: Palette.zone, width: 1.5) }
    }
    if let py = y(1) { canvas.line(Layout.left, py, Layout.right, py, color: Palette.zone, width: 0.5) }
    let bins = 30
    let last = Array(values.suffix(values.count / 10))
    func counts(_ xs: [Double]) -> [Int] {
      var counts = [Int](repeating: 0, count: bins)
      for v in xs where v >= -1.5 && v <= 1.5 { counts[Swift.min(Int((v + 1.5) / 3 * Double(bins)), bins - 1)] += 1 }
      return counts
    }
    // Bars are probabilities per set, scaled so the tallest bar of all steps reaches 1.5.
    let all = counts(values)
    let scale = 1.5 / Double(Swift.max(all.max() ?? 1, 1)) * Double(values.count)
    for (set, color) in [(values, Palette.gray), (last, Palette.primary)] where !set.isEmpty {
      for (i, count) in counts(set).enumerated() where count > 0 {
        let height = Double(count) / Double(set.count) * scale
        guard let x0 = x(-1.5 + 3 * Double(i) / Double(bins)), let x1 = x(-1.5 + 3 * Double(i + 1) / Double(bins)), let top = y(height),
          let bottom = y(0)
        else { continue }
        canvas.rect(x: x0, y: top, width: x1 - x0, height: bottom - top, fill: color, opacity: 0.5)
      }
    }
    // Up to the plot's top, y = 1.75.
    let reach = 1.75.squareRoot()
    let parabola = (0...60).map { i -> (x: Double, y: Double) in
      let t = -reach + 2 * reach * Double(i) / 60
      return (t, t * t)
    }
    canvas.polyline(parabola, x: x, y: y, color: Palette.secondary, width: 2)
    let below = values.filter { $0 < -1.5 }.count
    let above = values.filter { $0 > 1.5 }.count
    if below > 0 { canvas.text("◀ \(below)", x: Layout.left + 4, y: Layout.bottom - 6, size: 10, color: Palette.secondary) }
    if above > 0 { canvas.text("\(above) ▶", x: Layout.right - 4, y: Layout.bottom - 6, size: 10, anchor: "end", color: Palette.secondary) }
    func mean(_ xs: [Double]) -> String { CockpitDashboard.label(xs.reduce(0, +) / Double(xs.count)) }
    var entries = [(label: "all (μ=\(mean(values)))", color: Palette.gray)]
    if !last.isEmpty { entries.append((label: "last 10 % (μ=\(mean(last)))", color: Palette.primary)) }
    canvas.legend(entries)
  }

  /// cockpit's 1d histogram gauge: the last recorded histogram's bars on a log count axis.
  static func drawHistogram1d(_ canvas: inout DashboardCanvas, _ record: CockpitRecord?) {
    guard let record, let histogram = record.gradHist1d, histogram.edges.count == histogram.counts.count + 1,
      let lower = histogram.edges.first, let upper = histogram.edges.last, lower.isFinite, upper.isFinite, lower < upper
    else {
      canvas.noData("no histogram recorded")
      return
    }
    let x = DashboardScale(lower: lower, upper: upper, pixels: (Layout.left, Layout.right))
    let highest = Double(histogram.counts.max() ?? 1)
    guard let y = DashboardScale(values: [1, Swift.max(highest, 10)], log: true, pixels: (Layout.bottom, Layout.top), pad: 0.02) else { return }
    canvas.axes(x: x, y: y, xLabel: "Gradient element value (step \(record.step))", yLabel: "Frequency (log)")
    for (i, count) in histogram.counts.enumerated() where count > 0 {
      guard let x0 = x(histogram.edges[i]), let x1 = x(histogram.edges[i + 1]), let top = y(Double(count)) else { continue }
      canvas.rect(x: x0, y: top, width: Swift.max(x1 - x0, 0.5), height: Layout.bottom - top, fill: Palette.primary, opacity: 0.8)
    }
    canvas.legend([(label: "\(histogram.counts.reduce(0, +)) elements", color: Palette.primary)])
  }

  /// cockpit's 2d histogram gauge: gradient element (x) against parameter value (y) of the
  /// last recorded histogram, shaded by the count's fourth root (a gentle log-like scale).
  static func drawHistogram2d(_ canvas: inout DashboardCanvas, _ record: CockpitRecord?) {
    guard let record, let histogram = record.gradHist2d, let xLower = histogram.xEdges.first, let xUpper = histogram.xEdges.last,
      let yLower = histogram.yEdges.first, let yUpper = histogram.yEdges.last, xLower < xUpper, yLower < yUpper,
      histogram.xEdges.count == histogram.counts.count + 1,
      histogram.counts.allSatisfy({ $0.count + 1 == histogram.yEdges.count })
    else {
      canvas.noData("no histogram recorded")
      return
    }
    let x = DashboardScale(lower: xLower, upper: xUpper, pixels: (Layout.left, Layout.right))
    let y = DashboardScale(lower: yLower, upper: yUpper, pixels: (Layout.bottom, Layout.top))
    canvas.axes(x: x, y: y, xLabel: "Gradient element value (step \(record.step))", yLabel: "Parameter element value")
    let highest = Double(histogram.counts.lazy.flatMap { $0 }.max() ?? 0)
    guard highest > 0 else { return }
    for (i, row) in histogram.counts.enumerated() {
      for (j, count) in row.enumerated() where count > 0 {
        guard let x0 = x(histogram.xEdges[i]), let x1 = x(histogram.xEdges[i + 1]), let y0 = y(histogram.yEdges[j]),
          let y1 = y(histogram.yEdges[j + 1])
        else { continue }
        let shade = (Double(count) + 1).squareRoot().squareRoot() / (highest + 1).squareRoot().squareRoot()
        canvas.rect(x: x0, y: y1, width: x1 - x0, height: y0 - y1, fill: Palette.primary, opacity: 0.1 + 0.9 * shade)
      }
    }
  }
}
