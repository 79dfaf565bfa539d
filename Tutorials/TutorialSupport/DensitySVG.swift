import Curvature
import Foundation

/// Spectral densities on a log scale as a standalone SVG (640 × 360): one polyline per
/// curve (every fourth grid point), dashed where asked, with a legend, x ticks at
/// multiples of 1, 2 or 5 × 10ᵏ (at most 8) and a decade grid down to 10⁻⁴.
///
/// Shared by the tutorials that draw spectral densities (LossLandscape,
/// TransformerCurvature), so their figures come from one drawing routine.
/// - Parameters:
///   - curves: The densities with their legend labels, stroke colors and dashing.
///   - xLabel: The caption of the x axis.
/// - Returns: The SVG document.
public func densitySVG(
  _ curves: [(label: String, color: String, dashed: Bool, density: SpectralDensity)], xLabel: String
) -> String {
  let (w, h, left, right, top, bottom) = (640.0, 360.0, 60.0, 20.0, 20.0, 45.0)
  let floor = 1e-4
  let xMin = curves.map { $0.density.grid.first! }.min()!, xMax = curves.map { $0.density.grid.last! }.max()!
  let yMax = log10(curves.flatMap(\.density.density).max()!).rounded(.up), yMin = log10(floor)
  func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * (w - left - right) }
  func py(_ y: Double) -> Double { top + (yMax - log10(max(y, floor))) / (yMax - yMin) * (h - top - bottom) }
  var svg = """
  <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))" font-family="sans-serif" font-size="12">
  <rect width="100%" height="100%" fill="white"/>
  <line x1="\(left)" y1="\(h - bottom)" x2="\(w - right)" y2="\(h - bottom)" stroke="black"/>
  <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(h - bottom)" stroke="black"/>

  """
  for e in stride(from: Int(yMin), through: Int(yMax), by: 1) {
    let y = py(pow(10, Double(e)))
    svg += "<line x1=\"\(left - 4)\" y1=\"\(y)\" x2=\"\(w - right)\" y2=\"\(y)\" stroke=\"#ddd\"/><text x=\"\(left - 8)\" y=\"\(y + 4)\" text-anchor=\"end\">1e\(e)</text>\n"
  }
  // Ticks at multiples of 1, 2 or 5 × 10ᵏ, at most 8 of them.
  let magnitude = pow(10, log10(xMax - xMin).rounded(.down) - 1)
  let step = [1.0, 2, 5, 10, 20, 50].map { $0 * magnitude }.first { (xMax - xMin) / $0 <= 8 }!
  for index in Int((xMin / step).rounded(.up))...Int((xMax / step).rounded(.down)) {
    let tick = Double(index) * step, x = px(tick)
    svg += "<line x1=\"\(x)\" y1=\"\(h - bottom)\" x2=\"\(x)\" y2=\"\(h - bottom + 4)\" stroke=\"black\"/><text x=\"\(x)\" y=\"\(h - bottom + 17)\" text-anchor=\"middle\">\(String(format: "%.2g", tick))</text>\n"
  }
  svg += "<text x=\"\((left + w - right) / 2)\" y=\"\(h - 8)\" text-anchor=\"middle\">\(xLabel)</text>\n"
  svg += "<text x=\"14\" y=\"\((top + h - bottom) / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 14 \((top + h - bottom) / 2))\">density (log scale)</text>\n"
  for (index, curve) in curves.enumerated() {
    let points = zip(curve.density.grid, curve.density.density).enumerated()
      .filter { $0.offset % 4 == 0 }.map { String(format: "%.1f,%.1f", px($0.element.0), py($0.element.1)) }
    let dash = curve.dashed ? " stroke-dasharray=\"4 3\"" : ""
    svg += "<polyline fill=\"none\" stroke=\"\(curve.color)\" stroke-width=\"1.5\"\(dash) points=\"\(points.joined(separator: " "))\"/>\n"
    svg += "<line x1=\"\(w - right - 230)\" y1=\"\(top + 12 + 18 * Double(index))\" x2=\"\(w - right - 205)\" y2=\"\(top + 12 + 18 * Double(index))\" stroke=\"\(curve.color)\" stroke-width=\"2\"\(dash)/>"
    svg += "<text x=\"\(w - right - 200)\" y=\"\(top + 16 + 18 * Double(index))\">\(curve.label)</text>\n"
  }
  return svg + "</svg>\n"
}
