// TrainingWithCockpitTutorial: the same small network trained twice with plain SGD, once
// with a learning rate that is too large and once with one that is fine, each observed by
// a Cockpit with cockpit's `full` preset (Schneider, Dangel & Hennig 2021, NeurIPS); the
// dashboards side by side. See Tutorials/TrainingWithCockpit.md.
//
//   swift run -c release TrainingWithCockpitTutorial          # writes Tutorials/images/cockpit-lr-*.svg
//   swift run -c release TrainingWithCockpitTutorial --fast   # the same runs, checks the page's claims, SVGs to a temporary directory

import Curvature
import Foundation

let fast = CommandLine.arguments.contains("--fast")

/// Stops the tutorial when a fact it states does not hold.
func claim(_ condition: Bool, _ message: String) {
  if !condition {
    FileHandle.standardError.write(Data("TrainingWithCockpitTutorial: claim failed: \(message)\n".utf8))
    exit(1)
  }
}

func format(_ x: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)g", x) }

// MARK: 1. Data and network

// y = sin(1.5x₁) + x₂/2 + noise on [-2, 2]², regressed by a 2-16-16-1 tanh MLP.
let pointCount = 256
var rng = RandomGenerator(seed: 11)
let x: NDArray<Double> = rng.uniformArray(shape: [pointCount, 2], in: -2..<2)
let y = NDArray<Double>(shape: [pointCount, 1]) { index in
  sin(1.5 * x[index[0], 0]) + 0.5 * x[index[0], 1] + 0.1 * rng.normal()
}
let data = try ArrayDataset(inputs: x, targets: .values(y))
let loss = Loss<Double>(.mse)
let initial = try Sequential<Double>(
  [Linear(inFeatures: 2, outFeatures: 16), Tanh(), Linear(inFeatures: 16, outFeatures: 16), Tanh(),
   Linear(inFeatures: 16, outFeatures: 1)], seed: 3)
let epochs = 8
let batchSize = 32
print("y = sin(1.5x₁) + x₂/2 + noise, N = \(pointCount); MLP 2-16-16-1 (tanh), P = \(initial.parameterCount)")
print("SGD, batch size \(batchSize), \(epochs) epochs (\(epochs * pointCount / batchSize) steps), cockpit preset 'full'\n")

// MARK: 2. Two runs with a cockpit

/// One training run observed by a cockpit with the `full` preset: every step's records.
func run(learningRate: Double) throws -> (records: [CockpitRecord], seconds: Double) {
  var model = initial
  var sgd = SGD<Double>(learningRate: learningRate)
  var cockpit = try Cockpit<Double>(preset: .full, seed: 0)
  let clock = ContinuousClock()
  let began = clock.now
  try train(&model, loss: loss, data: data, optimizer: &sgd, epochs: epochs, batchSize: batchSize, order: .shuffled(seed: 5)) {
    try cockpit.observe($0)
  }
  let elapsed = clock.now - began
  return (cockpit.records, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

/// A run's summary: what the page quotes.
struct Summary {
  var learningRate: Double
  var firstLoss: Double, lastLoss: Double, lastEpochLoss: Double
  var meanAlpha: Double, positiveAlphaShare: Double
  var maxEV: (first: Double, max: Double, last: Double), stepsAboveEdge: Int
  var trace: (first: Double, last: Double)
  var normTest: Double, innerTest: Double, orthoTest: Double
  var distance: Double
}

func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(xs.count) }
func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }

func summarize(_ records: [CockpitRecord], learningRate: Double) -> Summary {
  let alphas = records.compactMap(\.alpha)
  let maxEV = records.compactMap(\.hessMaxEV)
  let stepsPerEpoch = pointCount / batchSize
  return Summary(
    learningRate: learningRate,
    firstLoss: records.first!.loss!, lastLoss: records.last!.loss!,
    lastEpochLoss: mean(records.suffix(stepsPerEpoch).compactMap(\.loss)),
    meanAlpha: mean(alphas), positiveAlphaShare: Double(alphas.filter { $0 > 0 }.count) / Double(alphas.count),
    maxEV: (maxEV.first!, maxEV.max()!, maxEV.last!), stepsAboveEdge: maxEV.filter { $0 > 2 / learningRate }.count,
    trace: (records.first!.hessTrace!.reduce(0, +), records.last!.hessTrace!.reduce(0, +)),
    normTest: median(records.compactMap(\.normTest)), innerTest: median(records.compactMap(\.innerTest)),
    orthoTest: median(records.compactMap(\.orthoTest)),
    distance: records.last!.distance!.reduce(0) { $0 + $1 * $1 }.squareRoot())
}

let learningRates = (large: 0.7, fine: 0.2)
let large = try run(learningRate: learningRates.large)
let fine = try run(learningRate: learningRates.fine)
let summaries = [summarize(large.records, learningRate: learningRates.large), summarize(fine.records, learningRate: learningRates.fine)]

for (s, seconds) in zip(summaries, [large.seconds, fine.seconds]) {
  print("lr \(s.learningRate)   (\(format(seconds, 2)) s for \(large.records.count) steps with every instrument of 'full')")
  print("  loss                 \(format(s.firstLoss)) → \(format(s.lastLoss)) (mean of the last epoch \(format(s.lastEpochLoss)))")
  print("  α                    mean \(format(s.meanAlpha)), \(Int((100 * s.positiveAlphaShare).rounded())) % of the steps > 0")
  print("  HessMaxEV            \(format(s.maxEV.first)) → \(format(s.maxEV.last)) (max \(format(s.maxEV.max))); 2/lr = \(format(2 / s.learningRate)), above it at \(s.stepsAboveEdge) steps")
  print("  HessTrace            \(format(s.trace.first)) → \(format(s.trace.last))")
  print("  tests (median)       norm θ \(format(s.normTest)), inner θ \(format(s.innerTest)), ortho ν \(format(s.orthoTest))")
  print("  distance from start  \(format(s.distance))\n")
}

// MARK: 3. The dashboards

let directory: URL
if fast {
  directory = FileManager.default.temporaryDirectory.appendingPathComponent("TrainingWithCockpitTutorial-\(ProcessInfo.processInfo.processIdentifier)")
  try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
} else {
  directory = URL(fileURLWithPath: "Tutorials/images")
}
for (name, records, lr) in [("cockpit-lr-large", large.records, learningRates.large), ("cockpit-lr-fine", fine.records, learningRates.fine)] {
  let svg = CockpitDashboard.svg(records: records, title: "Cockpit (full): SGD, learning rate \(lr)")
  let file = directory.appendingPathComponent(name + ".svg")
  try svg.write(to: file, atomically: true, encoding: .utf8)
  print("wrote \(fast ? file.path : "Tutorials/images/\(name).svg") (\(svg.utf8.count / 1024) KiB)")
  claim(
    CockpitDashboard.panelIDs(for: CockpitPreset.full.instruments).allSatisfy { svg.contains("data-panel=\"\($0)\"") },
    "the \(name) dashboard shows every panel of the full preset")
}
if fast { try? FileManager.default.removeItem(at: directory) }

// MARK: 4. The page's claims

let (l, f) = (summaries[0], summaries[1])
claim(l.lastEpochLoss > 1e6 * l.firstLoss, "lr \(l.learningRate) diverges")
claim(l.meanAlpha > 1 && l.positiveAlphaShare > 0.9, "lr \(l.learningRate): α > 1 at most steps (overshooting): mean \(l.meanAlpha)")
claim(l.maxEV.first > 2 / l.learningRate, "lr \(l.learningRate): HessMaxEV is above 2/lr from the first step")
claim(l.stepsAboveEdge == large.records.count, "lr \(l.learningRate): HessMaxEV stays above 2/lr")
claim(Swift.abs(f.meanAlpha) < 0.5 && f.meanAlpha < l.meanAlpha, "lr \(f.learningRate): α is near 0: mean \(f.meanAlpha)")
claim(f.stepsAboveEdge == 0, "lr \(f.learningRate): HessMaxEV stays below 2/lr")
claim(f.lastEpochLoss < 0.2 * f.firstLoss, "lr \(f.learningRate) reduces the loss at least fivefold")
claim(l.normTest < f.normTest && l.innerTest < f.innerTest && l.orthoTest < f.orthoTest, "the diverging run's gradient tests are smaller")
print("\nall claims checked")
