/// One panel's SVG content in its own `Layout.width × Layout.height` box: frame, title,
/// axes, series, legend. Only finite pixels reach the output (scales return nil otherwise).
struct DashboardCanvas {
  typealias Layout = CockpitDashboard.Layout
  /// The SVG elements, in drawing order.
  private(set) var elements: [String] = []

  /// A named series of (x, y) points.
  struct Series {
    var name: String
    var color: String
    var points: [(x: Double, y: Double)]
    /// Whether to overlay cockpit's moving average (and draw the points lighter).
    var average = true
  }

  /// A canvas with the panel's background and title.
  init(title: String) {
    elements.append(
      "<rect class=\"panel-bg\" x=\"0.5\" y=\"0.5\" width=\"\(Layout.width - 1)\" height=\"\(Layout.height - 1)\" rx=\"6\" fill=\"#ffffff\" stroke=\"#d5d8e0\"/>")
    text(title, x: Layout.width / 2, y: 20, size: 13, anchor: "middle", weight: "bold")
  }

  /// The SVG fragment.
  var body: String { elements.joined(separator: "\n") }

  mutating func append(_ element: String) { elements.append(element) }

  mutating func text(
    _ text: String, x: Double, y: Double, size: Double = 10, anchor: String = "start", weight: String? = nil,
    color: String = "#222", rotate: Bool = false
  ) {
    let (cx, cy) = (CockpitDashboard.coordinate(x), CockpitDashboard.coordinate(y))
    let transform = rotate ? " transform=\"rotate(-90 \(cx) \(cy))\"" : ""
    let bold = weight.map { " font-weight=\"\($0)\"" } ?? ""
    elements.append(
      "<text x=\"\(cx)\" y=\"\(cy)\" font-size=\"\(CockpitDashboard.coordinate(size))\" text-anchor=\"\(anchor)\" fill=\"\(color)\"\(bold)\(transform)>\(CockpitDashboard.escape(text))</text>")
  }

  mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, color: String, width: Double = 1, dash: Bool = false) {
    let c = CockpitDashboard.coordinate
    elements.append(
      "<line x1=\"\(c(x1))\" y1=\"\(c(y1))\" x2=\"\(c(x2))\" y2=\"\(c(y2))\" stroke=\"\(color)\" stroke-width=\"\(c(width))\"\(dash ? " stroke-dasharray=\"4 3\"" : "")/>")
  }

  mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, opacity: Double? = nil) {
    let c = CockpitDashboard.coordinate
    let alpha = opacity.map { " fill-opacity=\"\(CockpitDashboard.label($0))\"" } ?? ""
    elements.append("<rect x=\"\(c(x))\" y=\"\(c(y))\" width=\"\(c(Swift.max(width, 0)))\" height=\"\(c(Swift.max(height, 0)))\" fill=\"\(fill)\"\(alpha)/>")
  }

  /// A polyline through the drawable points (non-drawable ones are skipped).
  mutating func polyline(_ points: [(x: Double, y: Double)], x: DashboardScale, y: DashboardScale, color: String, width: Double = 1.5) {
    let pixels = points.compactMap { p -> String? in
      guard let px = x(p.x), let py = y(p.y) else { return nil }
      return CockpitDashboard.coordinate(px) + "," + CockpitDashboard.coordinate(py)
    }
    guard pixels.count > 1 else { return }
    elements.append(
      "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(CockpitDashboard.coordinate(width))\" points=\"\(pixels.joined(separator: " "))\"/>")
  }

  /// Dots at the drawable points, in one path (small output for long runs).
  mutating func dots(_ points: [(x: Double, y: Double)], x: DashboardScale, y: DashboardScale, color: String, opacity: Double) {
    var path = ""
    for p in points {
      guard let px = x(p.x), let py = y(p.y) else { continue }
      path += "M\(CockpitDashboard.coordinate(px - 1.8)) \(CockpitDashboard.coordinate(py))h3.6"
    }
    guard !path.isEmpty else { return }
    elements.append(
      "<path d=\"\(path)\" stroke=\"\(color)\" stroke-opacity=\"\(CockpitDashboard.label(opacity))\" stroke-width=\"3.6\" stroke-linecap=\"round\"/>")
  }

  /// The plot area's frame, ticks and labels; `right` adds a second y axis on the right.
  mutating func axes(x: DashboardScale, y: DashboardScale, xLabel: String, yLabel: String, right: DashboardScale? = nil, rightLabel: String = "") {
    rect(x: Layout.left, y: Layout.top, width: Layout.right - Layout.left, height: Layout.bottom - Layout.top, fill: CockpitDashboard.Palette.background)
    for tick in x.ticks {
      guard let px = x(tick) else { continue }
      line(px, Layout.bottom, px, Layout.bottom + 4, color: "#555")
      text(CockpitDashboard.label(tick), x: px, y: Layout.bottom + 15, size: 9, anchor: "middle", color: "#444")
    }
    for tick in y.ticks {
      guard let py = y(tick) else { continue }
      line(Layout.left - 4, py, Layout.left, py, color: "#555")
      line(Layout.left, py, Layout.right, py, color: "#e3e5ec")
      text(CockpitDashboard.label(tick), x: Layout.left - 6, y: py + 3, size: 9, anchor: "end", color: "#444")
    }
    if let right {
      for tick in right.ticks {
        guard let py = right(tick) else { continue }
        line(Layout.right, py, Layout.right + 4, py, color: "#555")
        text(CockpitDashboard.label(tick), x: Layout.right + 6, y: py + 3, size: 9, color: "#444")
      }
      text(rightLabel, x: Layout.width - 6, y: (Layout.top + Layout.bottom) / 2, size: 10, anchor: "middle", rotate: true)
    }
    let c = CockpitDashboard.coordinate
    elements.append(
      "<rect x=\"\(c(Layout.left))\" y=\"\(c(Layout.top))\" width=\"\(c(Layout.right - Layout.left))\" height=\"\(c(Layout.bottom - Layout.top))\" fill=\"none\" stroke=\"#888\"/>")
    text(xLabel, x: (Layout.left + Layout.right) / 2, y: Layout.height - 10, size: 10, anchor: "middle")
    text(yLabel, x: 14, y: (Layout.top + Layout.bottom) / 2, size: 10, anchor: "middle", rotate: true)
  }

  /// A legend in the plot area's top right corner.
  mutating func legend(_ entries: [(label: String, color: String)]) {
    for (i, entry) in entries.enumerated() {
      let y = Layout.top + 12 + Double(i) * 13
      rect(x: Layout.right - 118, y: y - 7, width: 9, height: 9, fill: entry.color)
      text(entry.label, x: Layout.right - 105, y: y + 1, size: 9)
    }
  }

  /// "No data" in the plot area, for panels whose instruments never produced a value.
  mutating func noData(_ reason: String) {
    rect(x: Layout.left, y: Layout.top, width: Layout.right - Layout.left, height: Layout.bottom - Layout.top, fill: CockpitDashboard.Palette.background)
    text(reason, x: (Layout.left + Layout.right) / 2, y: (Layout.top + Layout.bottom) / 2, size: 11, anchor: "middle", color: "#777")
  }

  /// Whether values are best drawn on a log axis: none negative, and the positive ones
  /// spanning more than three decades (a diverging run); zeros are then left out.
  static func prefersLog(_ values: [Double]) -> Bool {
    let finite = values.filter(\.isFinite)
    guard finite.allSatisfy({ $0 >= 0 }), let low = finite.filter({ $0 > 0 }).min(), let high = finite.max() else { return false }
    return high > 1e3 * low
  }

  /// Traces against the step: points plus their moving average per series, on a shared
  /// y scale, or the right-hand series on a second one. `log: nil` picks a log axis for
  /// values spanning many decades (`prefersLog`).
  mutating func traces(
    _ series: [Series], yLabel: String, log: Bool? = nil, right: [Series] = [], rightLabel: String = "",
    horizontal: [Double] = [], empty: String = "no finite values recorded"
  ) {
    let all = series + right
    let xs = all.flatMap { $0.points.map(\.x) }
    let leftLog = log ?? Self.prefersLog(series.flatMap { $0.points.map(\.y) })
    let rightLog = log ?? Self.prefersLog(right.flatMap { $0.points.map(\.y) })
    let finite: (Series, Bool) -> [Double] = { s, log in s.points.map(\.y).filter { $0.isFinite && (!log || $0 > 0) } }
    guard let xScale = DashboardScale(values: xs, pixels: (Layout.left, Layout.right), pad: 0.02),
      let yScale = DashboardScale(
        values: series.flatMap { finite($0, leftLog) }, log: leftLog, including: horizontal, pixels: (Layout.bottom, Layout.top))
        ?? (right.isEmpty ? nil : DashboardScale(values: [0, 1], pixels: (Layout.bottom, Layout.top)))
    else {
      noData(empty)
      return
    }
    let rightScale =
      right.isEmpty ? nil : DashboardScale(values: right.flatMap { finite($0, rightLog) }, log: rightLog, pixels: (Layout.bottom, Layout.top))
    let logNote = { (isLog: Bool, label: String) in isLog && log == nil ? label + " (log)" : label }
    axes(
      x: xScale, y: yScale, xLabel: "Iteration", yLabel: logNote(yScale.isLog, yLabel), right: rightScale,
      rightLabel: logNote(rightScale?.isLog ?? false, rightLabel))
    for value in horizontal {
      if let py = yScale(value) { line(Layout.left, py, Layout.right, py, color: CockpitDashboard.Palette.zone, width: 1.2, dash: true) }
    }
    for (s, scale) in series.map({ ($0, yScale) }) + right.compactMap({ s in rightScale.map { (s, $0) } }) {
      let points = CockpitDashboard.thinned(s.points.filter { $0.y.isFinite && (!scale.isLog || $0.y > 0) })
      dots(points, x: xScale, y: scale, color: s.color, opacity: s.average ? 0.5 : 0.9)
      if s.average {
        // The average of a log axis is taken of the logarithms, as the eye reads it.
        let values = scale.isLog ? points.map { CockpitDashboard.naturalLog($0.y) } : points.map(\.y)
        let average = CockpitDashboard.movingAverage(values).map { scale.isLog ? CockpitDashboard.naturalExp($0) : $0 }
        polyline(zip(points, average).map { (x: $0.x, y: $1) }, x: xScale, y: scale, color: s.color)
      }
    }
    // Series never recorded (TICTrace outside its preset) stay out of the legend.
    legend(all.filter { !$0.points.isEmpty }.map { s in (label: s.name + (s.points.last(where: { $0.y.isFinite }).map { ": " + CockpitDashboard.label($0.y) } ?? ""), color: s.color) })
  }
}
