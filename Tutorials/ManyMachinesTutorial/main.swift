// ManyMachinesTutorial: the GGN's spectral density of one model and data set, computed by
// one process and by two MPI ranks that each read half of the data; the two agree to float64
// rounding. See Tutorials/ManyMachines.md.
//
//   swift run -c release ManyMachinesTutorial            # 4001 points; runs itself again under mpiexec -n 2
//   swift run -c release ManyMachinesTutorial --fast     # 1001 points, a few seconds, checks its claims
//   mpiexec -n 4 .build/release/ManyMachinesTutorial     # the data-parallel part alone, on any number of ranks

import Curvature
import Foundation

let fast = CommandLine.arguments.contains("--fast")
let pointCount = fast ? 1001 : 4001

// MARK: 1. One communicator, chosen at start-up

// Under `mpiexec` this is the MPI communicator of every rank it started; otherwise this
// process alone (no MPI library is loaded).
let communicator = DataParallel.communicator
// Ranks on one machine share its cores: one BLAS thread each keeps them from crowding out
// one another (and MPICH's ranks, which busy-poll while they wait, from losing their
// slices). The single process uses one too, so that only the order in which the shards'
// sums are added differs between the runs compared below.
NumericsBackend.threadCount = 1

/// Stops the tutorial when a fact it states does not hold (every rank, under mpiexec).
func claim(_ condition: Bool, _ message: String) {
  if !condition {
    let line = "ManyMachinesTutorial: claim failed: \(message)"
    if communicator.size > 1 { communicator.abort(message: line) }
    FileHandle.standardError.write(Data((line + "\n").utf8))
    exit(1)
  }
}

/// Prints on rank 0 only.
func say(_ line: String = "") { if communicator.isRoot { print(line) } }

// MARK: 2. Data and model: the same description on every rank

/// Three Gaussian blobs in the plane, labels 0, 1, 2 (seeded: every rank describes the same
/// data set; the curvature problem makes each read only its shard).
func blobs(count: Int, seed: UInt64) throws -> ArrayDataset<Double> {
  var rng = RandomGenerator(seed: seed)
  var x = [Double](), labels = [Int]()
  for i in 0..<count {
    let label = i % 3, angle = 2 * Double.pi * Double(label) / 3
    x += [2 * cos(angle) + rng.normal(), 2 * sin(angle) + rng.normal()]
    labels.append(label)
  }
  return try ArrayDataset(inputs: NDArray(shape: [count, 2], scalars: x), targets: .classes(labels))
}

let data = try blobs(count: pointCount, seed: 7)
let model = try Sequential<Double>(
  [Linear(inFeatures: 2, outFeatures: 24), Tanh(), Linear(inFeatures: 24, outFeatures: 24), Tanh(),
   Linear(inFeatures: 24, outFeatures: 3)], seed: 1)
let loss = Loss<Double>(.crossEntropy)

// MARK: 3. The data-parallel problem and the spectrum

// The communicator enters here, and only here: every product of every operator built on
// this problem sums over this rank's shard and all-reduces the sum.
let problem = try communicator.abortingOnError {
  try CurvatureProblem(model: model, loss: loss, data: data, batchSize: 128, communicator: communicator)
}
let ggn = GGNOperator(problem)
let start = ContinuousClock.now
// Lanczos runs on every rank with the same seed; only the products are shared.
let quadrature = try communicator.abortingOnError {
  try stochasticLanczosQuadrature(ggn, options: SLQOptions(steps: 40, probes: 6, seed: 3))
}
let density = quadrature.density(options: SpectralDensityOptions(gridPoints: 400))
let elapsed = ContinuousClock.now - start
let trace = try communicator.abortingOnError { try ggn.trace() }

let plan = try ShardPlan(count: data.count, parts: communicator.size)
say("GGN of a 2-24-24-3 tanh MLP (P = \(problem.dimension)) on N = \(data.count) points, \(communicator.size) rank\(communicator.size == 1 ? "" : "s")")
say("shards: " + plan.ranges.enumerated().map { "rank \($0.offset) reads \($0.element)" }.joined(separator: ", "))
say("this rank: \(problem.shard), batches \(problem.localBatchRanges.count)")
say(String(format: "SLQ: %d matvecs in %.2f s; exact trace %.15g", quadrature.matvecs, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18, trace))
claim(problem.shard == plan.range(of: communicator.rank), "the problem's shard is the plan's range")
claim(abs(density.integral - 1) < 1e-3, "the density integrates to 1 (\(density.integral))")

// The machine-readable result: every Ritz value and weight, and the exact trace.
let numbers = quadrature.nodes.flatMap { $0 } + quadrature.weights.flatMap { $0 } + [trace]

if DataParallel.isLaunchedByMPI {
  // Under mpiexec: rank 0 hands the numbers to whoever started the run, and every rank ends.
  say("numbers: " + numbers.map { String(format: "%.17g", $0) }.joined(separator: " "))
  communicator.finish()
  exit(0)
}

// MARK: 4. The same computation on two ranks

/// The tutorial's own path, to start it again under `mpiexec -n 2`.
func ownPath() -> String { URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path }

/// Runs this program under `mpiexec -n ranks` and returns its printed lines.
func runUnderMPI(ranks: Int) throws -> [String] {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  process.arguments = ["mpiexec", "-n", "\(ranks)", ownPath()] + (fast ? ["--fast"] : [])
  let pipe = Pipe()
  process.standardOutput = pipe
  try process.run()
  let output = pipe.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  claim(process.terminationStatus == 0, "mpiexec -n \(ranks) ended with status \(process.terminationStatus)")
  return String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
}

say()
say("The same, under mpiexec -n 2:")
let lines = try runUnderMPI(ranks: 2)
for line in lines where !line.hasPrefix("numbers:") { say("  " + line) }
let other = lines.first { $0.hasPrefix("numbers:") }?.split(separator: " ").dropFirst().compactMap { Double($0) } ?? []
claim(other.count == numbers.count, "2 ranks report \(other.count) numbers, 1 process \(numbers.count)")
let nodeCount = quadrature.nodes.flatMap { $0 }.count
let ritz = (Array(numbers[0..<nodeCount]), Array(other[0..<nodeCount]))
let weights = (Array(numbers[nodeCount..<(2 * nodeCount)]), Array(other[nodeCount..<(2 * nodeCount)]))
/// The largest `|a − b|` over two lists.
func largestDifference(_ pair: ([Double], [Double])) -> Double { zip(pair.0, pair.1).map { abs($0 - $1) }.max()! }
let ritzScale = ritz.0.map(abs).max()!
let ritzDifference = largestDifference(ritz) / ritzScale
let weightDifference = largestDifference(weights)
let traceDifference = abs(trace - other.last!) / abs(trace)
// The density of the two ranks' quadrature, probe by probe as this process's.
var offset = 0
var otherNodes = [[Double]](), otherWeights = [[Double]]()
for probe in quadrature.nodes {
  otherNodes.append(Array(ritz.1[offset..<(offset + probe.count)]))
  otherWeights.append(Array(weights.1[offset..<(offset + probe.count)]))
  offset += probe.count
}
let otherDensity = SpectralQuadrature(
  dimension: quadrature.dimension, nodes: otherNodes, weights: otherWeights, matvecs: quadrature.matvecs
).density(options: SpectralDensityOptions(gridPoints: 400))
let densityDifference = zip(density.density, otherDensity.density).map { abs($0 - $1) }.max()! / density.density.max()!
say(String(format: "1 process against 2 ranks: Ritz values %.1e, trace %.1e, density %.1e (relative); weights %.1e (absolute)",
           ritzDifference, traceDifference, densityDifference, weightDifference))
claim(ritzDifference <= 1e-11, "2 ranks give the single-process Ritz values to 1e-11 (\(ritzDifference))")
claim(traceDifference <= 1e-11, "2 ranks give the single-process exact trace to 1e-11 (\(traceDifference))")
claim(densityDifference <= 1e-11, "2 ranks give the single-process density to 1e-11 (\(densityDifference))")
claim(weightDifference <= 1e-9, "2 ranks give the single-process quadrature weights to 1e-9 (\(weightDifference))")
say(String(format: "largest Ritz value %.12g (1 process), %.12g (2 ranks)", ritz.0.max()!, ritz.1.max()!))
