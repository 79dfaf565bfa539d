// LossLandscapeTutorial: the Hessian spectrum of a small classifier before and after
// training — top eigenvalues by Lanczos, the trace by Hutch++ and XTrace against the exact
// value, and the spectral density by stochastic Lanczos quadrature, drawn as an SVG.
// See Tutorials/LossLandscape.md.
//
//   swift run -c release LossLandscapeTutorial          # writes Tutorials/images/loss-landscape-density.svg
//   swift run -c release LossLandscapeTutorial --fast   # smaller network, checks its claims, SVG to a temporary file

import Curvature
import Foundation
import TutorialSupport

let fast = CommandLine.arguments.contains("--fast")
let (pointCount, width) = fast ? (256, 16) : (512, 24)
let classCount = 4, inputDimension = 8

/// Stops the tutorial when a fact it states does not hold.
func claim(_ condition: Bool, _ message: String) {
  if !condition {
    FileHandle.standardError.write(Data("LossLandscapeTutorial: claim failed: \(message)\n".utf8))
    exit(1)
  }
}

func format(_ x: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)g", x) }

// MARK: 1. Data and model

/// `count` points in `classCount` Gaussian blobs in `dimension` dimensions.
func blobs(count: Int, classes: Int, dimension: Int, spread: Double, seed: UInt64) throws -> ArrayDataset<Double> {
  var rng = RandomGenerator(seed: seed)
  let centers: NDArray<Double> = rng.normalArray(shape: [classes, dimension])
  var x = [Double](), labels = [Int]()
  for i in 0..<count {
    let label = i % classes
    for d in 0..<dimension { x.append(2 * centers[label, d] + spread * rng.normal()) }
    labels.append(label)
  }
  return try ArrayDataset(inputs: NDArray(shape: [count, dimension], scalars: x), targets: .classes(labels))
}

let data = try blobs(count: pointCount, classes: classCount, dimension: inputDimension, spread: 1.5, seed: 11)
let loss = Loss<Double>(.crossEntropy)
let initial = try Sequential<Double>(
  [Linear(inFeatures: inputDimension, outFeatures: width), Tanh(), Linear(inFeatures: width, outFeatures: width), Tanh(),
   Linear(inFeatures: width, outFeatures: classCount)], seed: 5)
var trained = initial
var adam = Adam<Double>(learningRate: 0.01)
let epochLosses = try train(&trained, loss: loss, data: data, optimizer: &adam, epochs: 60, batchSize: 32, seed: 6)
let p = initial.parameterCount
print("\(classCount) Gaussian blobs in \(inputDimension)-D, N = \(data.count); MLP \(inputDimension)-\(width)-\(width)-\(classCount) (tanh), P = \(p)")
print("Adam, 60 epochs: training loss \(format(Double(epochLosses[0]))) → \(format(Double(epochLosses.last!)))\n")

// MARK: 2. The spectrum at one point of the landscape

struct Landscape {
  var name: String
  var exactEigenvalues: [Double]       // ascending, from the dense Hessian
  var lanczos: EigenpairResult<Double>
  var exactTrace: Double
  var hutchinson: StochasticEstimate
  var hutchPlusPlus: StochasticEstimate
  var xtrace: StochasticEstimate
  var quadrature: SpectralQuadrature
  var density: SpectralDensity
  var exactDensity: SpectralDensity    // the same smoothing applied to the exact eigenvalues
  var densityDistance: Double          // ∫ |ρ_SLQ − ρ_exact|
}

/// PyHessian's Gaussian smoothing, wider than its default so that 8 probes give a readable curve.
let smoothing = SpectralDensityOptions(gridPoints: 4000, variance: 4e-4)

/// Linear interpolation of a density at `t` (0 outside its grid).
func interpolate(_ d: SpectralDensity, at t: Double) -> Double {
  let h = d.grid[1] - d.grid[0]
  let position = (t - d.grid[0]) / h
  guard position >= 0, position <= Double(d.grid.count - 1) else { return 0 }
  let i = min(Int(position), d.grid.count - 2), fraction = position - Double(i)
  return (1 - fraction) * d.density[i] + fraction * d.density[i + 1]
}

func analyze(_ name: String, _ model: Sequential<Double>) throws -> Landscape {
  let problem = try CurvatureProblem(model: model, loss: loss, data: data)
  let hessian = HessianOperator(problem)

  // Reference: the dense Hessian (P Hessian-vector products) and LAPACK's eigenvalues.
  let dense = try hessian.dense()
  let exact = try dense.symmetricEigenvalues().scalars

  // The top eigenpairs by Lanczos: a few dozen Hessian-vector products.
  let top = try lanczosEigenpairs(hessian, options: LanczosOptions(count: 5, which: .largest, tolerance: 1e-10, seed: 1))

  // The trace three ways, on one budget of matrix-vector products.
  let budget = 60
  let hutchinson = try hutchinsonTrace(hessian, matvecs: budget, seed: 2)
  let hutchPlusPlus = try hutchPlusPlusTrace(hessian, matvecs: budget, seed: 2)
  let xt = try xTrace(hessian, matvecs: budget, seed: 2)

  // The spectral density: SLQ with 8 probes of 40 Lanczos steps each (PyHessian's default
  // is one probe of 100 steps; several probes give error bars and a smoother estimate).
  let quadrature = try stochasticLanczosQuadrature(hessian, options: SLQOptions(steps: 40, probes: 8, seed: 3))
  let density = quadrature.density(options: smoothing)
  // The exact density: every eigenvalue a node of weight 1/P, smoothed alike.
  let exactDensity = SpectralQuadrature(
    dimension: p, nodes: [exact], weights: [Array(repeating: 1 / Double(p), count: p)], matvecs: 0).density(options: smoothing)
  let distance = zip(density.grid, density.density).reduce(0.0) { total, point in
    total + abs(point.1 - interpolate(exactDensity, at: point.0))
  } * (density.grid[1] - density.grid[0])

  return Landscape(
    name: name, exactEigenvalues: exact, lanczos: top, exactTrace: dense.trace(), hutchinson: hutchinson,
    hutchPlusPlus: hutchPlusPlus, xtrace: xt, quadrature: quadrature, density: density,
    exactDensity: exactDensity, densityDistance: distance)
}

let clock = ContinuousClock()
var landscapes = [Landscape]()
for (name, model) in [("at initialization", initial), ("after training", trained)] {
  let start = clock.now
  let l = try analyze(name, model)
  landscapes.append(l)
  let top = l.lanczos.eigenvalues.scalars
  let exactTop = Array(l.exactEigenvalues.reversed().prefix(top.count))
  func estimate(_ e: StochasticEstimate) -> String {
    "\(format(e.value, 4)) ± \(format(e.standardError ?? 0, 2))  (\(format(abs(e.value - l.exactTrace) / (e.standardError ?? 1), 2)) SE off)"
  }
  print("Hessian \(name)  (\(format(Double((clock.now - start).components.seconds) + Double((clock.now - start).components.attoseconds) / 1e18, 2)) s)")
  print("  top eigenvalues, Lanczos (\(l.lanczos.matvecs) products): \(top.map { format($0, 6) }.joined(separator: ", "))")
  print("  top eigenvalues, dense (\(p) products + syevd):    \(exactTop.map { format($0, 6) }.joined(separator: ", "))")
  print("  next dense eigenvalues: \(l.exactEigenvalues.reversed().dropFirst(top.count).prefix(5).map { format($0, 3) }.joined(separator: ", ")), …")
  print("  smallest eigenvalue \(format(l.exactEigenvalues.first!, 4)); \(l.exactEigenvalues.filter { $0 < 0 }.count) of \(p) negative")
  print("  trace: exact \(format(l.exactTrace, 5))")
  print("    Hutchinson (60 products): \(estimate(l.hutchinson))")
  print("    Hutch++    (60 products): \(estimate(l.hutchPlusPlus))")
  print("    XTrace     (60 products): \(estimate(l.xtrace))")
  let slqTrace = l.quadrature.traceEstimate { $0 }
  print("    SLQ, tr f(H) with f(λ) = λ (8 × 40 products): \(estimate(slqTrace))")
  print("  density: ∫ρ = \(format(l.density.integral, 6)) before normalization; ∫|ρ_SLQ − ρ_exact| = \(format(l.densityDistance, 2))")
  print("")
}

// MARK: 3. The figure

let svg = densitySVG([
  ("initialization, SLQ", "#1f77b4", false, landscapes[0].density),
  ("initialization, exact", "#1f77b4", true, landscapes[0].exactDensity),
  ("after training, SLQ", "#d62728", false, landscapes[1].density),
  ("after training, exact", "#d62728", true, landscapes[1].exactDensity),
], xLabel: "eigenvalue λ of the Hessian")
let figure = fast
  ? URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("loss-landscape-density.svg")
  : URL(fileURLWithPath: "Tutorials/images/loss-landscape-density.svg")
try FileManager.default.createDirectory(at: figure.deletingLastPathComponent(), withIntermediateDirectories: true)
try svg.write(to: figure, atomically: true, encoding: .utf8)
print("Spectral densities written to \(fast ? "a temporary file" : figure.relativePath)")

// MARK: 4. The claims above, checked

for l in landscapes {
  let top = l.lanczos.eigenvalues.scalars
  let exactTop = Array(l.exactEigenvalues.reversed().prefix(top.count))
  let scale = abs(l.exactEigenvalues.last!)
  claim(l.lanczos.converged, "\(l.name): Lanczos converges")
  claim(zip(top, exactTop).allSatisfy { abs($0 - $1) <= 1e-8 * scale }, "\(l.name): Lanczos eigenvalues equal the dense ones (\(top) vs \(exactTop))")
  for (estimator, e) in [("Hutchinson", l.hutchinson), ("Hutch++", l.hutchPlusPlus), ("XTrace", l.xtrace), ("SLQ", l.quadrature.traceEstimate { $0 })] {
    claim(abs(e.value - l.exactTrace) <= 3 * e.standardError!, "\(l.name): \(estimator) is within 3 standard errors of the exact trace (\(e.value) ± \(e.standardError!) vs \(l.exactTrace))")
  }
  claim(abs(l.density.integral - 1) < 1e-3, "\(l.name): the spectral density integrates to 1 (\(l.density.integral))")
  claim(l.densityDistance < 0.15, "\(l.name): the SLQ density is within 0.15 in L1 of the smoothed exact one (\(l.densityDistance))")
  let largestNode = l.quadrature.nodes.map { $0.last! }.max()!
  claim(abs(largestNode - l.exactEigenvalues.last!) <= 1e-6 * scale, "\(l.name): SLQ's largest node is the largest eigenvalue")
}
let (before, after) = (landscapes[0], landscapes[1])
claim(after.hutchPlusPlus.standardError! < after.hutchinson.standardError! / 3 && after.xtrace.standardError! < after.hutchinson.standardError! / 3,
      "after training, Hutch++ and XTrace have error bars at least 3× smaller than Hutchinson's on the same budget")
func negativeRatio(_ l: Landscape) -> Double { -l.exactEigenvalues.first! / l.exactEigenvalues.last! }
claim(negativeRatio(before) > 0.3 && negativeRatio(after) < 0.02,
      "training all but removes the negative eigenvalues (|λ_min|/λ_max: \(negativeRatio(before)) → \(negativeRatio(after)))")
print("\nAll claims checked.")
