// LaplaceApproximationTutorial: a Laplace posterior for a trained classifier (full GGN,
// KFAC and last-layer), its linearized predictive away from the data against the MAP
// point estimate, and the marginal likelihood that chooses the prior precision
// (Daxberger et al. 2021, "Laplace Redux"). See Tutorials/LaplaceApproximation.md.
//
//   swift run -c release LaplaceApproximationTutorial          # writes Tutorials/images/laplace-confidence.svg
//   swift run -c release LaplaceApproximationTutorial --fast   # smaller data set, checks its claims, SVG to a temporary file

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

let data = try twoMoons(count: pointCount, noise: 0.15, seed: 1)
let n = Double(data.count)
let priorPrecision = 1.0  // τ₀ of the prior N(0, τ₀⁻¹ I) used for training
var network = try Sequential<Double>(
  [Linear(inFeatures: 2, outFeatures: 20), ReLU(), Linear(inFeatures: 20, outFeatures: 20), ReLU(),
   Linear(inFeatures: 20, outFeatures: 2)], seed: 0)
// MAP: minimize the mean cross-entropy + (τ₀ / 2N) ‖θ‖², i.e. weight decay τ₀ / N.
var adam = Adam<Double>(learningRate: 0.01, weightDecay: priorPrecision / n)
let losses = try train(&network, loss: Loss(.crossEntropy), data: data, optimizer: &adam, epochs: 150, batchSize: 32, seed: 2)
let model = network   // θ*, the MAP estimate
let p = model.parameterCount
print("Two moons, N = \(data.count); MLP 2-20-20-2 (ReLU), P = \(p); MAP by Adam with weight decay τ₀/N (τ₀ = \(priorPrecision))")
print("training loss \(format(Double(losses[0]))) → \(format(Double(losses.last!)))\n")

// MARK: 2. The posterior precision: GGN of the summed loss plus the prior

// The Laplace posterior is N(θ*, (G + τI)⁻¹) with G the GGN of the *summed* negative
// log-likelihood, so the problem uses reduction .sum.
let sumLoss = Loss<Double>(.crossEntropy, reduction: .sum)
let problem = try CurvatureProblem(model: model, loss: sumLoss, data: data)
let (negativeLogLikelihood, _) = try problem.lossAndGradient()
let thetaNormSquared = model.flatParameters().dot(model.flatParameters())

// Full GGN: dense (P products) and its eigendecomposition G = Q Λ Qᵀ, which gives
// (G + τI)⁻¹ and log det(G + τI) for every τ at once.
let (ggnValues, ggnVectors) = try GGNOperator(problem).dense().symmetricEigen()
let lambda = ggnValues.scalars.map { max($0, 0) }

// KFAC: per layer B ⊗ A (+ B for the bias); the eigenvalues of the factors give the
// log-determinant of K + τI without forming it.
let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .type2))
let factorSpectra = try kfac.computeFactors().map { layer in
  (b: try layer.gradientCovariance.symmetricEigenvalues().scalars.map { max($0, 0) },
   a: try layer.inputCovariance!.symmetricEigenvalues().scalars.map { max($0, 0) })
}
func kfacLogDeterminant(_ tau: Double) -> Double {
  factorSpectra.reduce(0) { total, layer in
    total + layer.b.reduce(0) { sum, b in sum + layer.a.reduce(0) { $0 + log(b * $1 + tau) } + log(b + tau) }
  }
}

// Last layer only (Daxberger et al.'s default): the GGN block of 4.weight and 4.bias.
let lastLayerBlocks = [4, 5]
let lastLayerProblem = try problem.restricted(to: lastLayerBlocks)
let lastLayerGGN = try GGNOperator(lastLayerProblem).dense()
let lastLayerCount = lastLayerGGN.shape[0]
let lastLayerValues = try lastLayerGGN.symmetricEigenvalues().scalars.map { max($0, 0) }
let lastLayerNormSquared = model.parameters[4].dot(model.parameters[4]) + model.parameters[5].dot(model.parameters[5])

// MARK: 3. The marginal likelihood chooses the prior precision

// log p(D | τ) ≈ log p(D | θ*) + log p(θ* | τ) + (P/2) log 2π − ½ log det(G + τI)
//             = −NLL(θ*) − (τ/2)‖θ*‖² + (P/2) log τ − ½ log det(G + τI).
func logEvidence(_ tau: Double, count: Int, normSquared: Double, logDeterminant: Double) -> Double {
  -Double(negativeLogLikelihood) - tau / 2 * normSquared + Double(count) / 2 * log(tau) - logDeterminant / 2
}
let taus = stride(from: -2.0, through: 3.0, by: 0.25).map { pow(10, $0) }
let evidence: [(name: String, values: [Double])] = [
  ("full GGN", taus.map { tau in logEvidence(tau, count: p, normSquared: thetaNormSquared, logDeterminant: lambda.reduce(0) { $0 + log($1 + tau) }) }),
  ("KFAC", taus.map { tau in logEvidence(tau, count: p, normSquared: thetaNormSquared, logDeterminant: kfacLogDeterminant(tau)) }),
  ("last layer", taus.map { tau in logEvidence(tau, count: lastLayerCount, normSquared: lastLayerNormSquared, logDeterminant: lastLayerValues.reduce(0) { $0 + log($1 + tau) }) }),
]
print("log marginal likelihood log p(D | τ):")
print("  τ         " + evidence.map { $0.name.padding(toLength: 12, withPad: " ", startingAt: 0) }.joined())
for (index, tau) in taus.enumerated() where index % 2 == 0 {
  print("  " + format(tau, 3).padding(toLength: 10, withPad: " ", startingAt: 0)
    + evidence.map { String(format: "%-12.2f", $0.values[index]) }.joined())
}
let bestIndex = evidence.map { e in e.values.indices.max { e.values[$0] < e.values[$1] }! }
let bestTau = bestIndex.map { taus[$0] }
print("  maximum: " + zip(evidence, bestTau).map { "\($0.name) τ = \(format($1))" }.joined(separator: ", "))

// The KFAC log-determinant from the factors equals the dense one.
let denseKFACLogDeterminant = try kfac.damped(by: bestTau[1]).logDeterminant().logMagnitude
print("  KFAC log det(K + τI) at τ = \(format(bestTau[1])): \(format(kfacLogDeterminant(bestTau[1]), 8)) from the factors, \(format(denseKFACLogDeterminant, 8)) dense\n")

// MARK: 4. The linearized predictive

/// Inputs on rings of radius 8 and 100 around the data, far from it.
let center = (0.5, 0.25)
func ring(radius: Double) -> NDArray<Double> {
  NDArray(shape: [64, 2], scalars: (0..<64).flatMap { i -> [Double] in
    let angle = 2 * Double.pi * Double(i) / 64
    return [center.0 + radius * cos(angle), center.1 + radius * sin(angle)]
  })
}
/// A grid over the data for the figure.
let (gridX, gridY) = (stride(from: -2.25, through: 3.25, by: 0.2).map { $0 }, stride(from: -1.85, through: 2.35, by: 0.2).map { $0 })
let grid = NDArray<Double>(shape: [gridX.count * gridY.count, 2], scalars: gridY.reversed().flatMap { y in gridX.flatMap { [$0, y] } })
let trainingInputs = try data.all().inputs

/// The network's outputs and Jacobians `[M·C, P]` at inputs `[M, 2]`, forward mode (one
/// Jacobian-vector product per parameter, each over all inputs at once).
func outputsAndJacobian(_ x: NDArray<Double>) throws -> (f: NDArray<Double>, j: NDArray<Double>) {
  let inputs = try ArrayDataset(inputs: x, targets: .classes(Array(repeating: 0, count: x.shape[0])))
  let jacobian = JacobianOperator(try CurvatureProblem(model: model, loss: sumLoss, data: inputs, checkDeterminism: false))
  return (model.predict(x), try jacobian.apply(NDArray<Double>.identity(p)))
}

/// The probit-approximated predictive of the linearized network (MacKay 1992). With two
/// classes the softmax depends only on the logit difference `d = f₀ − f₁`, so
/// `p₀ ≈ σ(d / √(1 + π/8 · Var d))` with `Var d = (J₀ − J₁) Σ (J₀ − J₁)ᵀ`, computed from the
/// covariance's square root `S` (`Σ = S Sᵀ`, `J S` is `[M·2, r]`). (The per-logit probit
/// would add the prior variance of directions that shift both logits alike — the GGN's
/// null space — although they change no prediction.)
func predictive(f: NDArray<Double>, jS: NDArray<Double>?) -> [[Double]] {
  (0..<f.shape[0]).map { i in
    var d = f[i, 0] - f[i, 1]
    if let jS {
      let r = jS.shape[1]
      var variance = 0.0
      for l in 0..<r {
        let difference = jS.scalars[2 * i * r + l] - jS.scalars[(2 * i + 1) * r + l]
        variance += difference * difference
      }
      d /= (1 + Double.pi / 8 * variance).squareRoot()
    }
    let p0 = 1 / (1 + exp(-d))
    return [p0, 1 - p0]
  }
}
func entropy(_ probabilities: [[Double]]) -> Double {
  probabilities.reduce(0) { $0 - $1.reduce(0) { $0 + ($1 > 0 ? $1 * log($1) : 0) } } / Double(probabilities.count)
}

/// `J S` for each posterior: full GGN `S = Q (Λ + τ)^{-1/2}`; KFAC `S` = Cholesky factor of
/// the dense KFAC inverse; last layer `S` from the eigendecomposition of its block, acting
/// on the last layer's columns of `J`.
let kfacCovariance = try kfac.inverse(damping: bestTau[1]).dense()
let kfacRoot = try ((kfacCovariance + kfacCovariance.transposed()) * 0.5).cholesky()
let (lastValues, lastVectors) = try lastLayerGGN.symmetricEigen()
let lastLayerColumns = Array((p - lastLayerCount)..<p)
func scaleColumns(_ m: NDArray<Double>, _ s: [Double]) -> NDArray<Double> {
  NDArray.binary(.multiply, m, NDArray(s).reshaped([1, s.count]))
}
let fullRoot = scaleColumns(ggnVectors, lambda.map { 1 / ($0 + bestTau[0]).squareRoot() })
let lastRoot = scaleColumns(lastVectors, lastValues.scalars.map { 1 / (max($0, 0) + bestTau[2]).squareRoot() })

struct Predictions { var map: [[Double]]; var full: [[Double]]; var kfac: [[Double]]; var lastLayer: [[Double]] }
func predictions(_ x: NDArray<Double>) throws -> Predictions {
  let (f, j) = try outputsAndJacobian(x)
  let jLast = NDArray<Double>(shape: [j.shape[0], lastLayerCount]) { j[$0[0], lastLayerColumns[$0[1]]] }
  return Predictions(
    map: predictive(f: f, jS: nil), full: predictive(f: f, jS: matmul(j, fullRoot)),
    kfac: predictive(f: f, jS: matmul(j, kfacRoot)), lastLayer: predictive(f: f, jS: matmul(jLast, lastRoot)))
}
let onData = try predictions(trainingInputs)
let offData = try predictions(ring(radius: 8))
let veryFar = try predictions(ring(radius: 100))
let onGrid = try predictions(grid)
print("Mean predictive entropy (nats; log 2 = \(format(log(2.0))) is total uncertainty)")
print("  predictive              training inputs   ring of radius 8   ring of radius 100")
let rows = [("MAP (point estimate)", onData.map, offData.map, veryFar.map), ("Laplace, full GGN", onData.full, offData.full, veryFar.full),
            ("Laplace, KFAC", onData.kfac, offData.kfac, veryFar.kfac), ("Laplace, last layer", onData.lastLayer, offData.lastLayer, veryFar.lastLayer)]
for (name, on, off, far) in rows {
  print("  " + name.padding(toLength: 24, withPad: " ", startingAt: 0) + String(format: "%-18.3f%-19.3f%.3g", entropy(on), entropy(off), entropy(far)))
}
let accuracy = zip(onData.map, try data.all().targets.classIndices).filter { $0.0[$0.1] > 0.5 }.count
print("  MAP training accuracy \(accuracy)/\(data.count)")

extension Targets {
  var classIndices: [Int] { if case let .classes(c) = self { return c } else { return [] } }
}

// MARK: 5. The figure: confidence max_k p_k over the plane, MAP vs KFAC Laplace

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
let figure = fast
  ? URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("laplace-confidence.svg")
  : URL(fileURLWithPath: "Tutorials/images/laplace-confidence.svg")
try FileManager.default.createDirectory(at: figure.deletingLastPathComponent(), withIntermediateDirectories: true)
try confidenceSVG([("MAP", onGrid.map), ("Laplace, KFAC (τ = \(format(bestTau[1])))", onGrid.kfac), ("Laplace, full GGN (τ = \(format(bestTau[0])))", onGrid.full)])
  .write(to: figure, atomically: true, encoding: .utf8)
print("\nConfidence maps written to \(fast ? "a temporary file" : figure.relativePath)")

// MARK: 6. The claims above, checked

for (e, best) in zip(evidence, bestIndex) {
  claim(best > 0 && best < taus.count - 1, "\(e.name): the marginal likelihood peaks inside the τ range (at \(taus[best]))")
}
claim(abs(bestTau[1] / bestTau[0] - 1) < 9, "KFAC and the full GGN choose prior precisions within a factor of 10 (\(bestTau[1]) vs \(bestTau[0]))")
claim(abs(kfacLogDeterminant(bestTau[1]) - denseKFACLogDeterminant) < 1e-8 * abs(denseKFACLogDeterminant),
      "the KFAC log-determinant from the factors equals the dense one")
claim(entropy(offData.map) < 0.1 && entropy(offData.map) < entropy(onData.map),
      "the MAP estimate is overconfident far from the data: more confident there than on the data (\(entropy(offData.map)) vs \(entropy(onData.map)))")
claim(entropy(veryFar.map) < 0.05, "the MAP's confidence approaches 1 far away (entropy \(entropy(veryFar.map)) at radius 100)")
claim(entropy(offData.full) > entropy(onData.full), "Laplace (full GGN): the predictive entropy is higher off the data than on it")
for (name, on, off, far) in rows.dropFirst() {
  claim(entropy(off) > 3 * entropy(offData.map), "\(name): far from the data the predictive is much less confident than the MAP")
  claim(entropy(off) - entropy(offData.map) > entropy(on) - entropy(onData.map),
        "\(name): the Laplace predictive adds more entropy off the data than on it")
  claim(entropy(far) >= entropy(off), "\(name): the entropy does not decay with distance (radius 8 → 100)")
}
claim(accuracy > Int(0.95 * n), "the MAP classifier fits the training data")
print("All claims checked.")
