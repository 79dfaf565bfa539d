// TransformerCurvatureTutorial: the Hessian of a small GPT exported from PyTorch — its top
// eigenvalues (Lanczos), its trace (Hutchinson, Hutch++, XTrace) and its spectral density
// (stochastic Lanczos quadrature), each checked against the dense Hessian; the GGN beside
// it; and where in the network the curvature sits. See Tutorials/TransformerCurvature.md.
//
//   swift run -c release TransformerCurvatureTutorial            # writes Tutorials/images/transformer-density.svg
//   swift run -c release TransformerCurvatureTutorial --fast     # checks every claim, SVG to a temporary file
//   swift run -c release TransformerCurvatureTutorial --gpt DIR  # a directory written by export_gpt.py
//
// The GPT is committed in Tutorials/TransformerCurvatureTutorial/gpt/, written by
// export_gpt.py (PyTorch and the exporter), so running this needs no Python.

import Curvature
import Foundation
import TutorialSupport

let arguments = CommandLine.arguments
let fast = arguments.contains("--fast")

/// Stops the tutorial when a fact it states does not hold.
func claim(_ condition: Bool, _ message: String) {
  if !condition {
    FileHandle.standardError.write(Data("TransformerCurvatureTutorial: claim failed: \(message)\n".utf8))
    exit(1)
  }
}

func format(_ x: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)g", x) }

let clock = ContinuousClock()
func seconds(since start: ContinuousClock.Instant) -> String {
  let d = (clock.now - start).components
  return format(Double(d.seconds) + Double(d.attoseconds) / 1e18, 2)
}

// MARK: 1. The exported GPT and its data

let directory: URL
if let index = arguments.firstIndex(of: "--gpt"), index + 1 < arguments.count {
  directory = URL(fileURLWithPath: arguments[index + 1])
} else {
  directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("gpt")
}
let file = try ModelFile<Double>(
  description: directory.appendingPathComponent("model.json"), weights: directory.appendingPathComponent("weights.safetensors"))
let model = file.network
let tokens = try NPYArray(contentsOf: directory.appendingPathComponent("tokens.npy")).floats(as: Double.self)
let targets = try NPYArray(contentsOf: directory.appendingPathComponent("targets.npy")).integers()
let data = try ArrayDataset(inputs: tokens, targets: .classes(targets))
let exported = try CurvatureProblem(model: model, loss: file.loss, data: data)

// The translation is faithful: the loss and gradient equal PyTorch's (reference.npz).
let reference = try NPZFile(contentsOf: directory.appendingPathComponent("reference.npz"))
let (loss, gradient) = try exported.lossAndGradient()
let torchLoss = try reference.reader(named: "loss").readAll().floats(as: Double.self).scalars[0]
let torchGradient = try reference.reader(named: "gradient").readAll().floats(as: Double.self).scalars
let gradientScale = torchGradient.map(abs).max()!
let gradientDifference = zip(gradient.scalars, torchGradient).map { abs($0 - $1) }.max()! / gradientScale
print("GPT from \(directory.lastPathComponent)/: P = \(exported.dimension) parameters in \(exported.selectedSpecs.count) tensors, N = \(data.count) sequences of \(tokens.shape[1]) tokens")
print("loss \(format(loss, 6)) (PyTorch \(format(torchLoss, 6))); gradient max relative difference \(format(gradientDifference, 2)) to PyTorch's")

let problem = exported
let p = problem.dimension
let names = problem.selectedSpecs.map(\.name)
print("")

// MARK: 2. The Hessian: top eigenvalues, trace, spectral density

let hessian = HessianOperator(problem)

var start = clock.now
let top = try lanczosEigenpairs(hessian, options: LanczosOptions(count: 5, which: .largest, tolerance: 1e-10, seed: 1))
let bottom = try lanczosEigenpairs(hessian, options: LanczosOptions(count: 2, which: .smallest, tolerance: 1e-10, seed: 1))
let lanczosTime = seconds(since: start)

// --fast spends fewer products on SLQ (the dense reference costs P products either way).
let budget = 90
let (slqProbes, slqSteps) = fast ? (6, 30) : (8, 40)
start = clock.now
let hutchinson = try hutchinsonTrace(hessian, matvecs: budget, seed: 2)
let hutchPlusPlus = try hutchPlusPlusTrace(hessian, matvecs: budget, seed: 2)
let xt = try xTrace(hessian, matvecs: budget, seed: 2)
let traceTime = seconds(since: start)

start = clock.now
let quadrature = try stochasticLanczosQuadrature(hessian, options: SLQOptions(steps: slqSteps, probes: slqProbes, seed: 3))
let smoothing = SpectralDensityOptions(gridPoints: 4000, variance: 4e-4)
let density = quadrature.density(options: smoothing)
let slqTime = seconds(since: start)

// The reference: the dense Hessian (P products) and LAPACK's eigenvalues.
start = clock.now
let denseHessian = try hessian.dense()
let exact = try denseHessian.symmetricEigenvalues().scalars  // ascending
let exactTrace = denseHessian.trace()
let denseTime = seconds(since: start)

let exactTop = Array(exact.reversed().prefix(5)), exactBottom = Array(exact.prefix(2))
print("Hessian")
print("  top eigenvalues, Lanczos (\(top.matvecs) products, \(lanczosTime) s with the 2 smallest):")
print("      \(top.eigenvalues.scalars.map { format($0, 6) }.joined(separator: ", "))")
print("  dense (\(p) products + syevd, \(denseTime) s):  \(exactTop.map { format($0, 6) }.joined(separator: ", "))")
print("  smallest, Lanczos (\(bottom.matvecs) products): \(bottom.eigenvalues.scalars.map { format($0, 4) }.joined(separator: ", "));"
  + " dense: \(exactBottom.map { format($0, 4) }.joined(separator: ", ")); \(exact.filter { $0 < 0 }.count) of \(p) negative")

func estimate(_ e: StochasticEstimate) -> String {
  "\(format(e.value, 4)) ± \(format(e.standardError ?? 0, 2))  (\(format(abs(e.value - exactTrace) / (e.standardError ?? 1), 2)) SE off)"
}
let slqTrace = quadrature.traceEstimate { $0 }
print("  trace: exact \(format(exactTrace, 6))  (\(traceTime) s for the three estimates)")
print("    Hutchinson (\(budget) products): \(estimate(hutchinson))")
print("    Hutch++    (\(budget) products): \(estimate(hutchPlusPlus))")
print("    XTrace     (\(budget) products): \(estimate(xt))")
print("    SLQ, f(λ) = λ (\(slqProbes) × \(slqSteps) products): \(estimate(slqTrace))")

/// Linear interpolation of a density at `t` (0 outside its grid).
func interpolate(_ d: SpectralDensity, at t: Double) -> Double {
  let h = d.grid[1] - d.grid[0]
  let position = (t - d.grid[0]) / h
  guard position >= 0, position <= Double(d.grid.count - 1) else { return 0 }
  let i = min(Int(position), d.grid.count - 2), fraction = position - Double(i)
  return (1 - fraction) * d.density[i] + fraction * d.density[i + 1]
}
let exactDensity = SpectralQuadrature(
  dimension: p, nodes: [exact], weights: [Array(repeating: 1 / Double(p), count: p)], matvecs: 0).density(options: smoothing)
let densityDistance = zip(density.grid, density.density).reduce(0.0) { total, point in
  total + abs(point.1 - interpolate(exactDensity, at: point.0))
} * (density.grid[1] - density.grid[0])
let nodeRange = (quadrature.nodes.map { $0.first! }.min()!, quadrature.nodes.map { $0.last! }.max()!)
let nearZero = exact.filter { abs($0) <= 1e-3 * exact.last! }.count
print("  density (SLQ, \(slqProbes) probes × \(slqSteps) steps, \(slqTime) s): ∫ρ = \(format(density.integral, 6)) before normalization;"
  + " nodes span [\(format(nodeRange.0, 4)), \(format(nodeRange.1, 4))]; ∫|ρ_SLQ − ρ_exact| = \(format(densityDistance, 2))")
print("  \(nearZero) of \(p) eigenvalues within 1e-3·λ_max of zero\n")

// MARK: 3. The GGN beside it

let ggn = GGNOperator(problem)
start = clock.now
let ggnTop = try lanczosEigenpairs(ggn, options: LanczosOptions(count: 5, which: .largest, tolerance: 1e-10, seed: 1))
let ggnLanczosTime = seconds(since: start)
start = clock.now
let denseGGN = try ggn.dense()
let ggnDenseTime = seconds(since: start)
let ggnExact = try denseGGN.symmetricEigenvalues().scalars
let ggnTrace = denseGGN.trace()
print("GGN")
print("  top eigenvalues, Lanczos (\(ggnTop.matvecs) products, \(ggnLanczosTime) s; dense \(ggnDenseTime) s): \(ggnTop.eigenvalues.scalars.map { format($0, 6) }.joined(separator: ", "))")
print("  smallest eigenvalue \(format(ggnExact.first!, 2)) (positive semidefinite); trace \(format(ggnTrace, 6)) (Hessian: \(format(exactTrace, 6)))")
let difference = zip(denseHessian.scalars, denseGGN.scalars).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
let hessianNorm = denseHessian.scalars.map { $0 * $0 }.reduce(0, +).squareRoot()
print("  ‖H − G‖_F / ‖H‖_F = \(format(difference / hessianNorm, 3))\n")

// MARK: 4. Where the curvature sits: the trace by parameter group

/// Groups of parameter tensors by their state_dict names, as `curv --parameters` selects them.
let blockCount = names.filter { $0.hasSuffix(".ln_1.weight") }.count
let groups: [(label: String, prefixes: [String])] =
  [("embeddings: transformer.wte/wpe.*", ["transformer.wte.", "transformer.wpe."])]
  + (0..<blockCount).flatMap { b in
    [("attention: transformer.h.\(b).{ln_1,attn}.*", ["transformer.h.\(b).ln_1.", "transformer.h.\(b).attn."]),
     ("MLP: transformer.h.\(b).{ln_2,mlp}.*", ["transformer.h.\(b).ln_2.", "transformer.h.\(b).mlp."])]
  }
  + [("final LayerNorm: transformer.ln_f.*", ["transformer.ln_f."])]
var offsets = [0]
for spec in problem.selectedSpecs { offsets.append(offsets.last! + spec.count) }
var groupTraces = [(label: String, dimension: Int, trace: Double, productDifference: Double)]()
var rng = RandomGenerator(seed: 4)
print("Hessian trace by parameter group (diagonal sub-blocks of the dense Hessian; share of the total)")
for (label, prefixes) in groups {
  let blocks = names.indices.filter { index in prefixes.contains { names[index].hasPrefix($0) } }
  let indices = blocks.flatMap { offsets[$0]..<offsets[$0 + 1] }
  let value = indices.reduce(0.0) { $0 + denseHessian[$1, $1] }
  // The restricted problem's Hessian is that sub-block: one product checks it.
  let restricted = try problem.restricted(to: blocks)
  let v: NDArray<Double> = rng.normalArray(shape: [indices.count])
  let product = try HessianOperator(restricted).apply(v).scalars
  let expected = indices.map { i in zip(indices, v.scalars).reduce(0.0) { $0 + denseHessian[i, $1.0] * $1.1 } }
  let productDifference = zip(product, expected).map { abs($0 - $1) }.max()! / expected.map(abs).max()!
  groupTraces.append((label, restricted.dimension, value, productDifference))
  print("  \(label.padding(toLength: 40, withPad: " ", startingAt: 0)) P = \(String(restricted.dimension).padding(toLength: 5, withPad: " ", startingAt: 0)) trace \(format(value, 5))  (\(format(100 * value / exactTrace, 3)) %)")
}

// MARK: 5. The figure

let figure = fast
  ? URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("transformer-density.svg")
  : URL(fileURLWithPath: "Tutorials/images/transformer-density.svg")
try FileManager.default.createDirectory(at: figure.deletingLastPathComponent(), withIntermediateDirectories: true)
try densitySVG(
  [("SLQ (\(slqProbes) probes × \(slqSteps) steps)", "#1f77b4", false, density), ("exact eigenvalues, smoothed", "#d62728", true, exactDensity)],
  xLabel: "eigenvalue λ of the GPT's Hessian")
  .write(to: figure, atomically: true, encoding: .utf8)
print("\nSpectral density written to \(fast ? "a temporary file" : figure.relativePath)")

// MARK: 6. The claims above, checked

let scale = abs(exact.last!)
claim(abs(loss - torchLoss) <= 1e-10 * max(1, abs(torchLoss)) && gradientDifference <= 1e-9,
      "the loss and gradient equal PyTorch's (loss \(loss) vs \(torchLoss), gradient \(gradientDifference))")
claim(top.converged && bottom.converged, "Lanczos converges")
claim(zip(top.eigenvalues.scalars, exactTop).allSatisfy { abs($0 - $1) <= 1e-8 * scale },
      "Lanczos's top eigenvalues equal the dense ones (\(top.eigenvalues.scalars) vs \(exactTop))")
claim(zip(bottom.eigenvalues.scalars, exactBottom).allSatisfy { abs($0 - $1) <= 1e-8 * scale },
      "Lanczos's smallest eigenvalues equal the dense ones (\(bottom.eigenvalues.scalars) vs \(exactBottom))")
claim(top.matvecs < p / 3, "Lanczos needs far fewer products than the dense Hessian (\(top.matvecs) vs \(p))")
claim(exact.first! < 0, "the Hessian is indefinite (λ_min = \(exact.first!))")
for (estimator, e) in [("Hutchinson", hutchinson), ("Hutch++", hutchPlusPlus), ("XTrace", xt), ("SLQ", slqTrace)] {
  claim(abs(e.value - exactTrace) <= 3 * e.standardError!,
        "\(estimator) is within 3 standard errors of the exact trace (\(e.value) ± \(e.standardError!) vs \(exactTrace))")
}
claim(hutchPlusPlus.standardError! < hutchinson.standardError! && xt.standardError! < hutchinson.standardError! / 3,
      "Hutch++'s error bar is smaller than Hutchinson's, XTrace's over 3× smaller (\(hutchPlusPlus.standardError!), \(xt.standardError!) vs \(hutchinson.standardError!))")
claim(abs(density.integral - 1) < 1e-3, "the spectral density integrates to 1 (\(density.integral))")
claim(density.grid.first! <= exact.first! && density.grid.last! >= exact.last!,
      "the density's support covers the extreme eigenvalues ([\(density.grid.first!), \(density.grid.last!)] vs [\(exact.first!), \(exact.last!)])")
claim(2 * nearZero > p, "more than half of the eigenvalues are within 1e-3·λ_max of zero (\(nearZero) of \(p))")
claim(abs(nodeRange.1 - exact.last!) <= 1e-6 * scale, "SLQ's largest node is the largest eigenvalue (\(nodeRange.1) vs \(exact.last!))")
claim(densityDistance < 0.15, "the SLQ density is within 0.15 in L1 of the smoothed exact one (\(densityDistance))")
claim(ggnTop.converged && zip(ggnTop.eigenvalues.scalars, ggnExact.reversed()).allSatisfy { abs($0 - $1) <= 1e-8 * abs(ggnExact.last!) },
      "Lanczos's top GGN eigenvalues equal the dense ones")
claim(abs(ggnTop.eigenvalues.scalars[0] - top.eigenvalues.scalars[0]) <= 0.02 * top.eigenvalues.scalars[0],
      "the GGN's largest eigenvalue is within 2 % of the Hessian's (\(ggnTop.eigenvalues.scalars[0]) vs \(top.eigenvalues.scalars[0]))")
claim(ggnExact.first! >= -1e-10 * ggnExact.last!, "the GGN is positive semidefinite (λ_min = \(ggnExact.first!))")
for group in groupTraces {
  claim(group.productDifference <= 1e-10, "\(group.label): the restricted problem's Hessian is the dense Hessian's sub-block (\(group.productDifference))")
}
let groupSum = groupTraces.reduce(0.0) { $0 + $1.trace }
claim(groupTraces.reduce(0) { $0 + $1.dimension } == p && abs(groupSum - exactTrace) <= 1e-9 * max(1, abs(exactTrace)),
      "the groups partition the parameters and their traces add up to the whole trace (\(groupSum) vs \(exactTrace))")
// Per parameter, the curvature sits in the embeddings and normalizations, not in the
// attention and MLP weight matrices.
let perParameter = groupTraces.map { $0.trace / Double($0.dimension) }
let weightGroups = groupTraces.indices.filter { groupTraces[$0].label.hasPrefix("attention") || groupTraces[$0].label.hasPrefix("MLP") }
let weightShare = weightGroups.reduce(0.0) { $0 + groupTraces[$1].trace } / exactTrace
let weightFraction = Double(weightGroups.reduce(0) { $0 + groupTraces[$1].dimension }) / Double(p)
claim(perParameter.last! == perParameter.max()! && weightShare < weightFraction,
      "the final LayerNorm has the largest trace per parameter, and attention and MLP hold a smaller share of the trace than of the parameters (\(weightShare) vs \(weightFraction))")
print("\nAll claims checked.")
