// LaplaceApproximationTutorial: Laplace posteriors for a trained classifier with the
// library's `LaplaceApproximation` (full GGN, KFAC and last layer), the marginal likelihood
// that chooses the prior precision, the linearized predictive away from the data against
// the MAP point estimate, and its calibration on held-out data (Daxberger et al. 2021,
// "Laplace Redux"). See Tutorials/LaplaceApproximation.md.
//
//   swift run -c release LaplaceApproximationTutorial          # writes Tutorials/images/laplace-*.svg
//   swift run -c release LaplaceApproximationTutorial --fast   # smaller data set, checks its claims, SVGs to a temporary directory

import Curvature
import Foundation

let fast = CommandLine.arguments.contains("--fast")
let pointCount = fast ? 200 : 400

/// Stops the tutorial when a fact it states does not hold.
func claim(_ condition: Bool, _ message: String) {
  if !condition {
    FileHandle.standardError.write(Data("LaplaceApproximationTutorial: claim failed: \(message)\n".utf8))
    exit(1)
  }
}

func format(_ x: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)g", x) }

// MARK: 1. Data and the MAP estimate

/// Two interleaved half circles with Gaussian noise, labels 0 and 1.
func twoMoons(count: Int, noise: Double, seed: UInt64) throws -> ArrayDataset<Double> {
  var rng = RandomGenerator(seed: seed)
  var x = [Double](), labels = [Int]()
  for i in 0..<count {
    let label = i % 2, t = Double.pi * rng.uniform()
    let (px, py) = label == 0 ? (cos(t), sin(t)) : (1 - cos(t), 0.5 - sin(t))
    x += [px + noise * rng.normal(), py + noise * rng.normal()]
    labels.append(label)
  }
  return try ArrayDataset(inputs: NDArray(shape: [count, 2], scalars: x), targets: .classes(labels))
}

extension Targets {
  var classIndices: [Int] { if case let .classes(c) = self { return c } else { return [] } }
}

let data = try twoMoons(count: pointCount, noise: 0.15, seed: 1)
let test = try twoMoons(count: 1000, noise: 0.15, seed: 7)
let n = Double(data.count)
let trainingPrior = 1.0  // τ₀ of the prior N(0, τ₀⁻¹ I) used for training
var network = try Sequential<Double>(
  [Linear(inFeatures: 2, outFeatures: 20), ReLU(), Linear(inFeatures: 20, outFeatures: 20), ReLU(),
   Linear(inFeatures: 20, outFeatures: 2)], seed: 0)
// MAP: minimize the mean cross-entropy + (τ₀ / 2N) ‖θ‖², i.e. weight decay τ₀ / N.
var adam = Adam<Double>(learningRate: 0.01, weightDecay: trainingPrior / n)
let losses = try train(&network, loss: Loss(.crossEntropy), data: data, optimizer: &adam, epochs: 150, batchSize: 32, seed: 2)
let model = network   // θ*, the MAP estimate
print("Two moons, N = \(data.count); MLP 2-20-20-2 (ReLU), P = \(model.parameterCount); MAP by Adam with weight decay τ₀/N (τ₀ = \(trainingPrior))")
print("training loss \(format(Double(losses[0]))) → \(format(Double(losses.last!)))\n")

// MARK: 2. Three Laplace approximations

// The likelihood comes from the loss (cross-entropy: classification) and the curvature is
// the GGN of the *summed* log-likelihood, whatever the loss's reduction.
let problem = try CurvatureProblem(model: model, loss: Loss(.crossEntropy), data: data)
var posteriors: [(name: String, la: LaplaceApproximation<Double>)] = [
  ("full GGN", try LaplaceApproximation(problem, structure: .full)),
  ("KFAC", try LaplaceApproximation(problem, structure: .kron)),
  ("last layer", try LaplaceApproximation(problem, structure: .full, subset: .lastLayer)),
]
for (name, la) in posteriors { print("  \(name): \(la.parameterCount) parameters") }

// MARK: 3. The marginal likelihood chooses the prior precision

let taus = stride(from: -2.0, through: 3.0, by: 0.25).map { pow(10, $0) }
let curves = try posteriors.map { _, la in try taus.map { try la.logMarginalLikelihood(priorPrecision: [$0]).logMarginalLikelihood } }
print("\nlog marginal likelihood log p(D | τ):")
print("  τ         " + posteriors.map { $0.name.padding(toLength: 12, withPad: " ", startingAt: 0) }.joined())
for (index, tau) in taus.enumerated() where index % 2 == 0 {
  print("  " + format(tau, 3).padding(toLength: 10, withPad: " ", startingAt: 0) + curves.map { String(format: "%-12.2f", $0[index]) }.joined())
}
let gridBest = curves.map { values in values.indices.max { values[$0] < values[$1] }! }
// The optimizer: a root of the evidence's derivative in log τ, to 1e-9.
var optimum = [LaplaceEvidence<Double>]()
for index in posteriors.indices { optimum.append(try posteriors[index].la.optimizePriorPrecision()) }
let fitted = posteriors   // the approximations at the optimized prior precisions
print("  grid maximum: " + zip(fitted, gridBest).map { "\($0.name) τ = \(format(taus[$1]))" }.joined(separator: ", "))
print("  optimized:    " + zip(fitted, optimum).map { "\($0.name) τ = \(format($0.la.priorPrecision[0], 4)) (\(String(format: "%.2f", $1.logMarginalLikelihood)))" }.joined(separator: ", "))

// MARK: 4. The linearized predictive on and off the data

/// Inputs on rings of radius 8 and 100 around the data, far from it.
let center = (0.5, 0.25)
func ring(radius: Double) -> NDArray<Double> {
  NDArray(shape: [64, 2], scalars: (0..<64).flatMap { i -> [Double] in
    let angle = 2 * Double.pi * Double(i) / 64
    return [center.0 + radius * cos(angle), center.1 + radius * sin(angle)]
  })
}
/// A grid over the data for the confidence map.
let (gridX, gridY) = (stride(from: -2.25, through: 3.25, by: 0.2).map { $0 }, stride(from: -1.85, through: 2.35, by: 0.2).map { $0 })
let grid = NDArray<Double>(shape: [gridX.count * gridY.count, 2], scalars: gridY.reversed().flatMap { y in gridX.flatMap { [$0, y] } })
let trainingInputs = try data.all().inputs, testInputs = try test.all().inputs
let testLabels = try test.all().targets.classIndices

func rows(_ p: NDArray<Double>) -> [[Double]] { (0..<p.shape[0]).map { Array(p.scalars[($0 * 2)..<($0 * 2 + 2)]) } }
func softmaxRows(_ f: NDArray<Double>) -> [[Double]] {
  rows(f).map { f in let e = f.map { exp($0 - f.max()!) }; return e.map { $0 / e.reduce(0, +) } }
}
func entropy(_ probabilities: [[Double]]) -> Double {
  probabilities.reduce(0) { $0 - $1.reduce(0) { $0 + ($1 > 0 ? $1 * log($1) : 0) } } / Double(probabilities.count)
}

/// The MAP's probabilities and each posterior's probit predictive (MacKay 1992) at the
/// optimized prior precision.
struct Predictions { var map: [[Double]]; var laplace: [[[Double]]] }
func predictions(_ x: NDArray<Double>) throws -> Predictions {
  Predictions(
    map: softmaxRows(model.predict(x)),
    laplace: try fitted.map { try rows($0.la.predictiveProbabilities(inputs: x, link: .probit)) })
}
let onData = try predictions(trainingInputs)
let offData = try predictions(ring(radius: 8))
let veryFar = try predictions(ring(radius: 100))
print("\nMean predictive entropy (nats; log 2 = \(format(log(2.0))) is total uncertainty)")
print("  predictive              training inputs   ring of radius 8   ring of radius 100")
let table = [("MAP (point estimate)", onData.map, offData.map, veryFar.map)]
  + fitted.indices.map { ("Laplace, \(fitted[$0].name)", onData.laplace[$0], offData.laplace[$0], veryFar.laplace[$0]) }
for (name, on, off, far) in table {
  print("  " + name.padding(toLength: 24, withPad: " ", startingAt: 0) + String(format: "%-18.3f%-19.3f%.3g", entropy(on), entropy(off), entropy(far)))
}
let accuracy = zip(onData.map, try data.all().targets.classIndices).filter { $0.0[$0.1] > 0.5 }.count
print("  MAP training accuracy \(accuracy)/\(data.count)")

// MARK: 5. Calibration on held-out data

/// Reliability: the test points binned by confidence `max p` into 10 bins of [0.5, 1];
/// per non-empty bin the mean confidence and the accuracy, and the expected calibration
/// error `Σ_b (n_b/N) |accuracy_b − confidence_b|`.
struct Reliability { var bins: [(confidence: Double, accuracy: Double, count: Int)]; var ece: Double; var nll: Double; var meanConfidence: Double }
func reliability(_ probabilities: [[Double]]) -> Reliability {
  var sums = [(confidence: Double, correct: Double, count: Int)](repeating: (0, 0, 0), count: 10)
  var nll = 0.0
  for (p, label) in zip(probabilities, testLabels) {
    let confidence = p.max()!, predicted = p[0] >= p[1] ? 0 : 1
    let bin = min(9, Int((confidence - 0.5) / 0.05))
    sums[bin].confidence += confidence
    sums[bin].correct += predicted == label ? 1 : 0
    sums[bin].count += 1
    nll -= log(max(p[label], 1e-300))
  }
  let total = Double(probabilities.count)
  let bins = sums.filter { $0.count > 0 }.map { (confidence: $0.confidence / Double($0.count), accuracy: $0.correct / Double($0.count), count: $0.count) }
  let ece = bins.reduce(0) { $0 + Double($1.count) / total * abs($1.accuracy - $1.confidence) }
  return Reliability(bins: bins, ece: ece, nll: nll / total, meanConfidence: probabilities.reduce(0) { $0 + $1.max()! } / total)
}
let onTest = try predictions(testInputs)
let calibration = [("MAP", reliability(onTest.map))] + fitted.indices.map { ("Laplace, \(fitted[$0].name)", reliability(onTest.laplace[$0])) }
print("\nHeld-out two moons (\(test.count) points): calibration")
print("  predictive              accuracy   mean confidence   ECE      NLL")
for (name, r) in calibration {
  let accuracy = zip(name == "MAP" ? onTest.map : onTest.laplace[calibration.firstIndex { $0.0 == name }! - 1], testLabels)
    .filter { ($0.0[0] >= $0.0[1] ? 0 : 1) == $0.1 }.count
  print("  " + name.padding(toLength: 24, withPad: " ", startingAt: 0)
    + String(format: "%-11.3f%-18.3f%-9.4f%.4f", Double(accuracy) / Double(test.count), r.meanConfidence, r.ece, r.nll))
}

// MARK: 6. The figures

/// One curve of a line chart: points joined by a polyline, optionally with dots.
struct Series {
  var label: String
  var color: String
  var points: [(x: Double, y: Double)]
  var dashed = false
  var dots = false
}

/// A line chart as a standalone SVG, the one plotting helper of this tutorial (the
/// evidence curves and the reliability diagram): axes with ticks (powers of ten on a
/// logarithmic x axis), the curves clipped to the y range, and a legend whose top left
/// corner is at `legend` (fractions of the plot area's width and height).
func lineChartSVG(_ series: [Series], title: String, xLabel: String, yLabel: String, logX: Bool = false,
                  xRange: ClosedRange<Double>, yRange: ClosedRange<Double>, xTicks: [Double], yTicks: [Double],
                  legend: (x: Double, y: Double) = (0.02, 0.02)) -> String {
  let (w, h, left, right, top, bottom) = (600.0, 380.0, 70.0, 20.0, 34.0, 48.0)
  func px(_ x: Double) -> Double {
    let t = logX ? (log10(x) - log10(xRange.lowerBound)) / (log10(xRange.upperBound) - log10(xRange.lowerBound))
      : (x - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound)
    return left + t * (w - left - right)
  }
  func py(_ y: Double) -> Double { h - bottom - (min(max(y, yRange.lowerBound), yRange.upperBound) - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound) * (h - top - bottom) }
  var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"\(w / 2)\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">\(title)</text>\n"
  for y in yTicks {
    svg += "<line x1=\"\(left - 4)\" y1=\"\(py(y))\" x2=\"\(w - right)\" y2=\"\(py(y))\" stroke=\"#ddd\"/><text x=\"\(left - 8)\" y=\"\(py(y) + 4)\" text-anchor=\"end\">\(format(y, 4))</text>\n"
  }
  for x in xTicks {
    svg += "<line x1=\"\(px(x))\" y1=\"\(h - bottom)\" x2=\"\(px(x))\" y2=\"\(h - bottom + 4)\" stroke=\"black\"/><text x=\"\(px(x))\" y=\"\(h - bottom + 17)\" text-anchor=\"middle\">\(format(x, 3))</text>\n"
  }
  svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(w - left - right)\" height=\"\(h - top - bottom)\" fill=\"none\" stroke=\"black\"/>\n"
  svg += "<text x=\"\((left + w - right) / 2)\" y=\"\(h - 10)\" text-anchor=\"middle\">\(xLabel)</text>\n"
  svg += "<text x=\"16\" y=\"\((top + h - bottom) / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 16 \((top + h - bottom) / 2))\">\(yLabel)</text>\n"
  for (index, curve) in series.enumerated() {
    let dash = curve.dashed ? " stroke-dasharray=\"5 4\"" : ""
    let points = curve.points.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }
    svg += "<polyline fill=\"none\" stroke=\"\(curve.color)\" stroke-width=\"1.8\"\(dash) points=\"\(points.joined(separator: " "))\"/>\n"
    if curve.dots {
      for p in curve.points { svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\"", px(p.x), py(p.y)) + " fill=\"\(curve.color)\"/>" }
      svg += "\n"
    }
    let lx = left + legend.x * (w - left - right), ly = top + legend.y * (h - top - bottom) + 14 + 18 * Double(index)
    svg += "<line x1=\"\(lx)\" y1=\"\(ly - 4)\" x2=\"\(lx + 25)\" y2=\"\(ly - 4)\" stroke=\"\(curve.color)\" stroke-width=\"2\"\(dash)/><text x=\"\(lx + 30)\" y=\"\(ly)\">\(curve.label)</text>\n"
  }
  return svg + "</svg>\n"
}

let colors = ["#1f77b4", "#d62728", "#2ca02c"]
let evidenceLow = curves.flatMap { $0 }.filter { $0.isFinite }.max()! - 150
let evidenceHigh = curves.flatMap { $0 }.max()! + 10
let evidenceFigure = lineChartSVG(
  fitted.indices.map { i in Series(label: fitted[i].name, color: colors[i], points: zip(taus, curves[i]).map { ($0, $1) }) }
    + fitted.indices.map { i in
      Series(label: "\(fitted[i].name): optimized τ = \(format(fitted[i].la.priorPrecision[0]))", color: colors[i],
             points: [(fitted[i].la.priorPrecision[0], optimum[i].logMarginalLikelihood)], dots: true)
    },
  title: "Laplace evidence over the prior precision", xLabel: "prior precision τ", yLabel: "log marginal likelihood",
  logX: true, xRange: taus.first!...taus.last!, yRange: evidenceLow...evidenceHigh, xTicks: [0.01, 0.1, 1, 10, 100, 1000],
  yTicks: stride(from: (evidenceLow / 50).rounded(.up) * 50, through: evidenceHigh, by: 50).map { $0 }, legend: (0.55, 0.03))
let reliabilityFigure = lineChartSVG(
  [Series(label: "perfect calibration", color: "#888", points: [(0.5, 0.5), (1, 1)], dashed: true)]
    + calibration.enumerated().map { index, entry in
      Series(label: "\(entry.0) (ECE \(format(entry.1.ece, 2)))", color: ["#000", colors[0], colors[1], colors[2]][index],
             points: entry.1.bins.map { ($0.confidence, $0.accuracy) }, dots: true)
    },
  title: "Reliability on held-out two moons", xLabel: "confidence max p (binned)", yLabel: "accuracy",
  xRange: 0.5...1, yRange: 0.4...1, xTicks: [0.5, 0.6, 0.7, 0.8, 0.9, 1], yTicks: [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
  legend: (0.5, 0.6))

/// Confidence `max_k p_k` over the plane: MAP and two Laplace predictives.
func confidenceSVG(_ panels: [(title: String, probabilities: [[Double]])]) -> String {
  let cell = 9.0, (cols, rows) = (gridX.count, gridY.count)
  let panelWidth = Double(cols) * cell, panelHeight = Double(rows) * cell
  let (w, h) = (Double(panels.count) * (panelWidth + 20) + 20, panelHeight + 70)
  var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
  let inputs = trainingInputs.scalars, labels = (try? data.all().targets.classIndices) ?? []
  for (index, panel) in panels.enumerated() {
    let left = 20 + Double(index) * (panelWidth + 20), top = 25.0
    svg += "<text x=\"\(left + panelWidth / 2)\" y=\"16\" text-anchor=\"middle\">\(panel.title)</text>\n<g shape-rendering=\"crispEdges\">"
    for (i, probabilities) in panel.probabilities.enumerated() {
      // Confidence 0.5 (white) → 1 (saturated), blue or red by the predicted class.
      let confidence = probabilities.max()!, shade = String(format: "%02x", Int(255 * (1 - 2 * (confidence - 0.5))))
      let color = probabilities[0] > probabilities[1] ? "#\(shade)\(shade)ff" : "#ff\(shade)\(shade)"
      svg += "<rect x=\"\(Int(left) + (i % cols) * Int(cell))\" y=\"\(Int(top) + (i / cols) * Int(cell))\" width=\"\(Int(cell))\" height=\"\(Int(cell))\" fill=\"\(color)\"/>"
    }
    svg += "</g>\n"
    // The training points as round dots: one path per class, white halo below.
    var dots = ["", ""]
    for k in 0..<labels.count {
      let x = left + (inputs[2 * k] - gridX[0] + 0.1) / 0.2 * cell, y = top + (gridY.last! - inputs[2 * k + 1] + 0.1) / 0.2 * cell
      guard x > left, x < left + panelWidth, y > top, y < top + panelHeight else { continue }
      dots[labels[k]] += String(format: "M%.1f %.1fh0", x, y)
    }
    for (label, color) in [(0, "#1f3fbf"), (1, "#bf1f1f")] {
      svg += "<path d=\"\(dots[label])\" stroke=\"white\" stroke-width=\"5\" stroke-linecap=\"round\"/>"
      svg += "<path d=\"\(dots[label])\" stroke=\"\(color)\" stroke-width=\"3.6\" stroke-linecap=\"round\"/>\n"
    }
  }
  svg += "<text x=\"20\" y=\"\(h - 20)\">Shade: confidence max p (white 0.5, saturated 1); blue/red: predicted class; dots: training points.</text>\n"
  return svg + "</svg>\n"
}
let onGrid = try predictions(grid)
let confidenceFigure = confidenceSVG([
  ("MAP", onGrid.map), ("Laplace, KFAC (τ = \(format(fitted[1].la.priorPrecision[0])))", onGrid.laplace[1]),
  ("Laplace, full GGN (τ = \(format(fitted[0].la.priorPrecision[0])))", onGrid.laplace[0]),
])
let figures = fast
  ? URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("laplace-tutorial-\(getpid())")
  : URL(fileURLWithPath: "Tutorials/images")
try FileManager.default.createDirectory(at: figures, withIntermediateDirectories: true)
for (name, svg) in [("laplace-confidence.svg", confidenceFigure), ("laplace-evidence.svg", evidenceFigure), ("laplace-reliability.svg", reliabilityFigure)] {
  try svg.write(to: figures.appendingPathComponent(name), atomically: true, encoding: .utf8)
}
if fast { try? FileManager.default.removeItem(at: figures) }
print("\nFigures written to \(fast ? "a temporary directory" : "Tutorials/images"): laplace-confidence.svg, laplace-evidence.svg, laplace-reliability.svg")

// MARK: 7. The claims above, checked

for (index, (name, la)) in fitted.enumerated() {
  let best = gridBest[index]
  claim(best > 0 && best < taus.count - 1, "\(name): the marginal likelihood peaks inside the τ range (at \(taus[best]))")
  claim(optimum[index].logMarginalLikelihood >= curves[index][best],
        "\(name): the optimized prior's evidence \(optimum[index].logMarginalLikelihood) is at least the grid's best \(curves[index][best])")
  let tau = la.priorPrecision[0]
  claim(tau > taus[best - 1] && tau < taus[best + 1], "\(name): the optimized τ = \(tau) lies between the grid maximum's neighbours")
  claim(abs(try la.logMarginalLikelihoodGradient().logPriorPrecision[0]) < 1e-6, "\(name): the evidence is stationary at the optimized τ")
}
let fullTau = fitted[0].la.priorPrecision[0], kfacTau = fitted[1].la.priorPrecision[0]
claim(max(fullTau / kfacTau, kfacTau / fullTau) < 10, "KFAC and the full GGN choose prior precisions within a factor of 10 (\(kfacTau) vs \(fullTau))")
claim(entropy(offData.map) < 0.1 && entropy(offData.map) < entropy(onData.map),
      "the MAP estimate is overconfident far from the data: more confident there than on the data (\(entropy(offData.map)) vs \(entropy(onData.map)))")
claim(entropy(veryFar.map) < 0.05, "the MAP's confidence approaches 1 far away (entropy \(entropy(veryFar.map)) at radius 100)")
claim(entropy(offData.laplace[0]) > entropy(onData.laplace[0]), "Laplace (full GGN): the predictive entropy is higher off the data than on it")
claim(entropy(offData.laplace[0]) - entropy(offData.map) > entropy(onData.laplace[0]) - entropy(onData.map),
      "Laplace (full GGN): the Laplace predictive adds more entropy off the data than on it")
for (name, _, off, far) in table.dropFirst() {
  claim(entropy(off) > 3 * entropy(offData.map), "\(name): far from the data the predictive is much less confident than the MAP")
  claim(entropy(far) >= 0.95 * entropy(off), "\(name): the entropy does not decay with distance (radius 8 → 100, within 5%)")
}
claim(accuracy > Int(0.95 * n), "the MAP classifier fits the training data")
let testAccuracy = Double(zip(onTest.map, testLabels).filter { ($0.0[0] >= $0.0[1] ? 0 : 1) == $0.1 }.count) / Double(test.count)
for (name, r) in calibration.dropFirst() {
  claim(r.meanConfidence < calibration[0].1.meanConfidence, "\(name): less confident on held-out data than the MAP")
  claim(r.meanConfidence < testAccuracy, "\(name): underconfident on held-out data from the training distribution (confidence \(r.meanConfidence) < accuracy \(testAccuracy))")
}
print("All claims checked.")
