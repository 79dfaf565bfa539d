import Foundation

/// A line plot of a spectral density as a self-contained SVG document: axes with ticks
/// and tick labels, axis labels, a title, and the density drawn as a filled curve, on a
/// linear or logarithmic density axis.
///
/// ```swift
/// let svg = DensityPlot(grid: density.grid, density: density.density,
///                       title: "Hessian spectral density", xLabel: "eigenvalue λ",
///                       logScale: true).svg
/// ```
struct DensityPlot {
  var grid: [Double]
  var density: [Double]
  var title: String
  var xLabel: String = "eigenvalue λ"
  var yLabel: String = "density"
  /// A logarithmic density axis (for spectra with a spike at 0 and small outliers).
  var logScale = false
  /// A note under the title (method and settings).
  var subtitle: String = ""

  let width = 760.0, height = 460.0
  let left = 86.0, right = 28.0, top = 62.0, bottom = 66.0

  var plotWidth: Double { width - left - right }
  var plotHeight: Double { height - top - bottom }

  /// The SVG text.
  var svg: String {
    let points = downsampled(maxPoints: Int(plotWidth))
    let xRange = (grid.first ?? 0, grid.last ?? 1)
    let (x0, x1) = xRange.0 < xRange.1 ? xRange : (xRange.0 - 0.5, xRange.0 + 0.5)
    let peak = density.filter(\.isFinite).max() ?? 1
    let (y0, y1): (Double, Double)
    let floor: Double
    if logScale {
      let positive = density.filter { $0 > 0 && $0.isFinite }
      let top = Swift.max(peak, .leastNormalMagnitude)
      floor = Swift.max(positive.min() ?? top * 1e-6, top * 1e-8)
      y0 = Foundation.floor(log10(floor))
      y1 = Swift.max(ceil(log10(top)), y0 + 1)
    } else {
      floor = 0
      y0 = 0
      y1 = peak > 0 ? peak * 1.05 : 1
    }
    func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * plotWidth }
    func py(_ y: Double) -> Double {
      let value = logScale ? log10(Swift.max(y, floor)) : y
      return top + plotHeight - (value - y0) / (y1 - y0) * plotHeight
    }

    var out = """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" viewBox="0 0 \(f(width)) \(f(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
      <rect x="0" y="0" width="\(f(width))" height="\(f(height))" fill="white"/>
      <text x="\(f(width / 2))" y="24" text-anchor="middle" font-size="16" font-weight="bold">\(escape(title))</text>

      """
    if !subtitle.isEmpty {
      out += "<text x=\"\(f(width / 2))\" y=\"44\" text-anchor=\"middle\" fill=\"#555\">\(escape(subtitle))</text>\n"
    }
    // Grid lines and ticks.
    out += "<g stroke=\"#e4e4e4\" stroke-width=\"1\">\n"
    let xTicks = niceTicks(x0, x1, count: 7)
    let yTicks: [Double] = logScale ? Array(stride(from: y0, through: y1, by: Swift.max(1, ((y1 - y0) / 8).rounded(.up)))) : niceTicks(y0, y1, count: 6)
    for t in xTicks { out += "<line x1=\"\(f(px(t)))\" y1=\"\(f(top))\" x2=\"\(f(px(t)))\" y2=\"\(f(top + plotHeight))\"/>\n" }
    for t in yTicks {
      let y = logScale ? top + plotHeight - (t - y0) / (y1 - y0) * plotHeight : py(t)
      out += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(y))\"/>\n"
    }
    out += "</g>\n"
    // The curve: a filled area and its outline.
    if !points.isEmpty {
      let baseline = top + plotHeight
      var line = "M\(f(px(points[0].0))),\(f(py(points[0].1)))"
      for (x, y) in points.dropFirst() { line += " L\(f(px(x))),\(f(py(y)))" }
      let area = "M\(f(px(points[0].0))),\(f(baseline)) L" + String(line.dropFirst())
        + " L\(f(px(points[points.count - 1].0))),\(f(baseline)) Z"
      out += "<path d=\"\(area)\" fill=\"#9ecae1\" fill-opacity=\"0.55\" stroke=\"none\"/>\n"
      out += "<path d=\"\(line)\" fill=\"none\" stroke=\"#08519c\" stroke-width=\"1.4\" stroke-linejoin=\"round\"/>\n"
    }
    // Axes, tick marks and labels.
    out += "<g stroke=\"black\" stroke-width=\"1\">\n"
    out += "<line x1=\"\(f(left))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(top + plotHeight))\"/>\n"
    out += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + plotHeight))\"/>\n"
    for t in xTicks { out += "<line x1=\"\(f(px(t)))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(px(t)))\" y2=\"\(f(top + plotHeight + 5))\"/>\n" }
    for t in yTicks {
      let y = logScale ? top + plotHeight - (t - y0) / (y1 - y0) * plotHeight : py(t)
      out += "<line x1=\"\(f(left - 5))\" y1=\"\(f(y))\" x2=\"\(f(left))\" y2=\"\(f(y))\"/>\n"
    }
    out += "</g>\n"
    for t in xTicks {
      out += "<text x=\"\(f(px(t)))\" y=\"\(f(top + plotHeight + 19))\" text-anchor=\"middle\">\(escape(tickLabel(t)))</text>\n"
    }
    for t in yTicks {
      let y = logScale ? top + plotHeight - (t - y0) / (y1 - y0) * plotHeight : py(t)
      let label = logScale ? "1e\(Int(t))" : tickLabel(t)
      out += "<text x=\"\(f(left - 9))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(escape(label))</text>\n"
    }
    out += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 18))\" text-anchor=\"middle\" font-size=\"13\">\(escape(xLabel))</text>\n"
    let yText = logScale ? "\(yLabel) (log scale)" : yLabel
    out += "<text transform=\"translate(22,\(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">\(escape(yText))</text>\n"
    out += "</svg>\n"
    return out
  }

  /// At most `maxPoints` points: the grid split into equal runs, each drawn at its largest
  /// density (so narrow spikes survive).
  func downsampled(maxPoints: Int) -> [(Double, Double)] {
    let n = Swift.min(grid.count, density.count)
    guard n > maxPoints, maxPoints > 1 else { return (0..<n).map { (grid[$0], density[$0]) } }
    return (0..<maxPoints).map { bin in
      let start = bin * n / maxPoints, end = Swift.max(start + 1, (bin + 1) * n / maxPoints)
      var best = start
      for i in start..<end where density[i] > density[best] { best = i }
      return (grid[best], density[best])
    }
  }

  /// Rounds a coordinate to 0.01 px.
  func f(_ value: Double) -> String { String(format: "%.2f", value) }

  func tickLabel(_ value: Double) -> String {
    if value == 0 { return "0" }
    return String(format: "%g", Double(String(format: "%.4g", value)) ?? value)
  }

  func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;")
  }
}

/// About `count` round tick values (multiples of 1, 2 or 5 times a power of ten) in `[low, high]`.
func niceTicks(_ low: Double, _ high: Double, count: Int) -> [Double] {
  guard high > low, low.isFinite, high.isFinite else { return [low] }
  let raw = (high - low) / Double(Swift.max(count - 1, 1))
  let magnitude = pow(10, floor(log10(raw)))
  // The round step closest to the raw one (on a log scale).
  let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.min { Swift.abs(log($0 / raw)) < Swift.abs(log($1 / raw)) }!
  var ticks = [Double]()
  var t = ceil(low / step) * step
  while t <= high + step * 1e-9 {
    ticks.append(Swift.abs(t) < step * 1e-9 ? 0 : t)
    t += step
  }
  return ticks
}
