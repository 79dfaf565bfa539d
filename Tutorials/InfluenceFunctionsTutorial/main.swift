// InfluenceFunctionsTutorial: which training points most affect a test prediction, with
// the damped GGN inverse applied by conjugate gradients and by KFAC, how their rankings
// compare, and self-influence for finding mislabeled points (Koh & Liang 2017; Bae et al.
// 2022; Grosse et al. 2023). See Tutorials/InfluenceFunctions.md.
//
//   swift run -c release InfluenceFunctionsTutorial          # 400 training points
//   swift run -c release InfluenceFunctionsTutorial --fast   # 200 training points, checks its claims

import Curvature
import Foundation

let fast = CommandLine.arguments.contains("--fast")
let pointCount = fast ? 200 : 400

/// Stops the tutorial when a fact it states does not hold.
func claim(_ condition: Bool, _ message: String) {
  if !condition {
    FileHandle.standardError.write(Data("InfluenceFunctionsTutorial: claim failed: \(message)\n".utf8))
    exit(1)
  }
}

func format(_ x: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)g", x) }

// MARK: 1. Data with some flipped labels, and a trained classifier

let classCount = 3
var rng = RandomGenerator(seed: 31)
let centers = [(-1.5, 0.0), (1.5, 0.0), (0.0, 2.0)]
@MainActor func sample(_ label: Int) -> [Double] { [centers[label].0 + 0.7 * rng.normal(), centers[label].1 + 0.7 * rng.normal()] }
var points = [Double](), trueLabels = [Int]()
for i in 0..<pointCount {
  points += sample(i % classCount)
  trueLabels.append(i % classCount)
}
// Flip 5% of the labels to another class.
let flipped = Array(rng.permutation(pointCount).prefix(pointCount / 20)).sorted()
for i in flipped { trueLabels[i] = (trueLabels[i] + 1 + rng.integer(below: classCount - 1)) % classCount }
let labels = trueLabels   // the training labels, flipped ones included
let inputs = points
let data = try ArrayDataset(inputs: NDArray(shape: [pointCount, 2], scalars: inputs), targets: .classes(labels))

let loss = Loss<Double>(.crossEntropy)
var network = try Sequential<Double>(
  [Linear(inFeatures: 2, outFeatures: 16), Tanh(), Linear(inFeatures: 16, outFeatures: 16), Tanh(),
   Linear(inFeatures: 16, outFeatures: classCount)], seed: 3)
var adam = Adam<Double>(learningRate: 0.01, weightDecay: 1e-3)
let losses = try train(&network, loss: loss, data: data, optimizer: &adam, epochs: 200, batchSize: 32, seed: 4)
let model = network
let p = model.parameterCount
print("3 Gaussian blobs, N = \(pointCount), \(flipped.count) labels flipped; MLP 2-16-16-3 (tanh), P = \(p)")
print("training loss \(format(Double(losses[0]))) → \(format(Double(losses.last!)))\n")

// MARK: 2. Per-example gradients

/// `∇_θ ℓ(f(x; θ), y)` of one example, flattened: one backward pass.
func exampleGradient(_ x: [Double], _ y: Int) -> NDArray<Double> {
  let input = Tensor(NDArray(shape: [1, 2], scalars: x))
  let (_, gradients) = valueAndGradient(at: model.parameterTensors) { parameters in
    loss(model(input, parameters: parameters), .classes([y]))
  }
  return NDArray(gradients.flatMap(\.value.scalars))
}
let trainingGradients = (0..<pointCount).map { exampleGradient(Array(inputs[(2 * $0)..<(2 * $0 + 2)]), labels[$0]) }
let gradientMatrix = NDArray<Double>(shape: [p, pointCount]) { trainingGradients[$0[1]].scalars[$0[0]] }   // [P, N]

// MARK: 3. The damped GGN inverse: by conjugate gradients, and by KFAC

// Influence of up-weighting training point z on the loss at z_test (Koh & Liang 2017):
//   I(z, z_test) = −∇ℓ(z_test)ᵀ (G + λI)⁻¹ ∇ℓ(z),
// with the GGN G of the training loss standing in for the Hessian (positive definite
// once damped; Bae et al. 2022). The damping is set relative to the mean eigenvalue
// tr(G)/P, from the exact GGN diagonal.
let problem = try CurvatureProblem(model: model, loss: loss, data: data)
let ggn = GGNOperator(problem)
let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .type2))
let meanEigenvalue = try ggn.trace() / Double(p)
let dampings = [0.1, 1, 10].map { $0 * meanEigenvalue }
let denseGGN = try ggn.dense()   // a reference for this small model: Cholesky solves
print("GGN: mean eigenvalue tr(G)/P = \(format(meanEigenvalue)); dampings λ = 0.1, 1 and 10 × that\n")

let tests: [(x: [Double], y: Int)] = [([-0.4, 0.9], 0), ([1.0, 1.3], 1), ([0.0, 2.6], 2)]
let testGradients = NDArray<Double>(shape: [p, tests.count]) { exampleGradient(tests[$0[1]].x, tests[$0[1]].y).scalars[$0[0]] }

/// Influence scores `−∇ℓ(z_i)ᵀ s` of every training point, for each column `s` of `[P, k]`.
func influences(_ s: NDArray<Double>) -> [[Double]] {
  let scores = matmul(gradientMatrix, s, transposeA: true)   // [N, k]
  return (0..<s.shape[1]).map { t in (0..<pointCount).map { -scores[$0, t] } }
}

/// Ranks (average ranks for ties), then the Pearson correlation of the ranks.
func spearman(_ a: [Double], _ b: [Double]) -> Double {
  func ranks(_ x: [Double]) -> [Double] {
    let order = x.indices.sorted { x[$0] < x[$1] }
    var r = [Double](repeating: 0, count: x.count), i = 0
    while i < order.count {
      var j = i
      while j + 1 < order.count && x[order[j + 1]] == x[order[i]] { j += 1 }
      for k in i...j { r[order[k]] = Double(i + j) / 2 }
      i = j + 1
    }
    return r
  }
  return pearson(ranks(a), ranks(b))
}
func pearson(_ a: [Double], _ b: [Double]) -> Double {
  let (ma, mb) = (a.reduce(0, +) / Double(a.count), b.reduce(0, +) / Double(b.count))
  var (sab, saa, sbb) = (0.0, 0.0, 0.0)
  for (x, y) in zip(a, b) { sab += (x - ma) * (y - mb); saa += (x - ma) * (x - ma); sbb += (y - mb) * (y - mb) }
  return sab / (saa * sbb).squareRoot()
}
/// The indices of the `k` largest values.
func top(_ values: [Double], _ k: Int) -> [Int] { Array(values.indices.sorted { values[$0] > values[$1] }.prefix(k)) }
/// Up-weighting a point with negative influence lowers the test loss: the top proponents.
func proponents(_ scores: [Double], _ k: Int) -> [Int] { top(scores.map { -$0 }, k) }

// MARK: 4. Which training points most affect a test prediction?

struct Agreement { var spearman: [Double]; var pearson: [Double]; var shared: [Int] }
var agreements = ["KFAC": [Agreement](), "EKFAC": [Agreement]()], cgErrors = [Double]()
var exactScores = [[[Double]]]()
let clock = ContinuousClock()
func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
let list = { (values: [Double]) in values.map { String(format: "%.2f", $0) }.joined(separator: " ") }
// EKFAC: KFAC's eigenbasis with the eigenvalues refitted to the per-example gradients.
let ekfac = try EKFACOperator(correcting: kfac)
print("influences of all \(pointCount) training points on \(tests.count) test losses, approximate inverses against CG:")
print("  λ/mean eig.   inverse   solve                  Spearman ρ (per test point)   Pearson r           top-10 proponents shared")
for (index, damping) in dampings.enumerated() {
  // s_test = (G + λI)⁻¹ ∇ℓ(z_test) for all test points: one batched CG solve, or an approximate inverse.
  var start = clock.now
  let cg = try conjugateGradient(ggn.damped(by: damping), testGradients, options: ConjugateGradientOptions(relativeTolerance: 1e-8, maxIterations: 2000))
  let sCG = try cg.requireConverged()
  let cgTime = clock.now - start
  let sDense = try (denseGGN + damping * NDArray<Double>.identity(p)).cholesky().choleskySolve(testGradients)
  cgErrors.append((sCG - sDense).norm() / sDense.norm())
  let exact = influences(sCG)
  exactScores.append(exact)
  print("  " + "\([0.1, 1, 10][index])".padding(toLength: 14, withPad: " ", startingAt: 0) + "CG        "
    + String(format: "%d iterations, %.3f s", cg.iterations, seconds(cgTime)).padding(toLength: 23, withPad: " ", startingAt: 0) + "(the reference)")

  for (name, inverse) in [("KFAC", try kfac.inverse(damping: damping) as any LinearOperator<Double>), ("EKFAC", try ekfac.inverse(damping: damping))] {
    start = clock.now
    let approximate = influences(try inverse.apply(testGradients))
    let time = clock.now - start
    let agreement = Agreement(
      spearman: zip(exact, approximate).map { spearman($0, $1) }, pearson: zip(exact, approximate).map { pearson($0, $1) },
      shared: zip(exact, approximate).map { Set(proponents($0, 10)).intersection(proponents($1, 10)).count })
    agreements[name]!.append(agreement)
    print("                " + name.padding(toLength: 10, withPad: " ", startingAt: 0)
      + String(format: "%.4f s", seconds(time)).padding(toLength: 23, withPad: " ", startingAt: 0)
      + list(agreement.spearman).padding(toLength: 30, withPad: " ", startingAt: 0)
      + list(agreement.pearson).padding(toLength: 20, withPad: " ", startingAt: 0)
      + agreement.shared.map { "\($0)" }.joined(separator: " "))
  }
}

// The most influential training points for each test point (CG, λ = 0.1 × mean eigenvalue).
func describe(_ i: Int) -> String { "#\(i) (class \(labels[i])\(flipped.contains(i) ? ", flipped" : ""))" }
for (t, test) in tests.enumerated() {
  let scores = exactScores[0][t]
  print("\ntest point (\(test.x.map { format($0, 2) }.joined(separator: ", "))), class \(test.y), λ = 0.1 × mean eigenvalue:")
  print("  proponents: " + proponents(scores, 4).map(describe).joined(separator: ", "))
  print("  opponents:  " + top(scores, 4).map(describe).joined(separator: ", "))
}

// MARK: 5. Self-influence finds mislabeled points

// Self-influence ∇ℓ(z)ᵀ (G + λI)⁻¹ ∇ℓ(z): how much a point's own loss depends on its
// weight in training. Mislabeled points are fitted against their neighbours and score high.
// It needs (G + λI)⁻¹ applied to every training gradient: N solves with CG, one
// application of KFAC's inverse (here the dense Cholesky factor stands in for CG).
let damping = dampings[0]
let exactSolves = try (denseGGN + damping * NDArray<Double>.identity(p)).cholesky().choleskySolve(gradientMatrix)
let kfacSolves = try kfac.inverse(damping: damping).apply(gradientMatrix)
func columnDots(_ a: NDArray<Double>, _ b: NDArray<Double>) -> [Double] {
  let product = NDArray.binary(.multiply, a, b).reduced(.sum, axes: [0])
  return product.scalars
}
let selfExact = columnDots(gradientMatrix, exactSolves), selfKFAC = columnDots(gradientMatrix, kfacSolves)
let selfEKFAC = columnDots(gradientMatrix, try ekfac.inverse(damping: damping).apply(gradientMatrix))
let trainingLosses = (0..<pointCount).map { i -> Double in
  let f = model.predict(NDArray(shape: [1, 2], scalars: Array(inputs[(2 * i)..<(2 * i + 2)])))
  let m = f.scalars.max()!
  return log(f.scalars.reduce(0) { $0 + exp($1 - m) }) + m - f.scalars[labels[i]]
}
let k = 2 * flipped.count
func found(_ scores: [Double]) -> Int { Set(top(scores, k)).intersection(flipped).count }
print("\nflipped labels among the \(k) highest-scoring of \(pointCount) points (\(flipped.count) flipped; a random ranking finds \(format(Double(k * flipped.count) / Double(pointCount), 2)) on average):")
print("  self-influence, exact inverse: \(found(selfExact))")
print("  self-influence, KFAC inverse:  \(found(selfKFAC))")
print("  self-influence, EKFAC inverse: \(found(selfEKFAC))")
print("  training loss:                 \(found(trainingLosses))")
let selfAgreement = spearman(selfExact, selfKFAC), selfAgreementEKFAC = spearman(selfExact, selfEKFAC)
print("  Spearman ρ of the self-influences with the exact ones: KFAC \(format(selfAgreement)), EKFAC \(format(selfAgreementEKFAC))")

// MARK: 6. The claims above, checked

claim(cgErrors.allSatisfy { $0 < 1e-6 }, "CG solves the damped GGN systems (relative errors \(cgErrors) against dense solves)")
claim(agreements["KFAC"]!.allSatisfy { $0.pearson.allSatisfy { $0 > 0.7 } }, "CG and KFAC influences correlate with Pearson r > 0.7 for every test point and damping")
let meanSpearman = agreements["KFAC"]!.map { $0.spearman.reduce(0, +) / Double(tests.count) }
claim(zip(meanSpearman, meanSpearman.dropFirst()).allSatisfy { $0 < $1 }, "the rank agreement of CG and KFAC grows with the damping (\(meanSpearman))")
claim(meanSpearman.last! > 0.6, "at λ = 10 × mean eigenvalue the mean Spearman ρ exceeds 0.6 (\(meanSpearman.last!))")
let meanSpearmanEKFAC = agreements["EKFAC"]!.map { $0.spearman.reduce(0, +) / Double(tests.count) }
claim(agreements["EKFAC"]!.allSatisfy { $0.pearson.allSatisfy { $0 > 0.7 } }, "CG and EKFAC influences correlate with Pearson r > 0.7 for every test point and damping")
claim(zip(meanSpearman, meanSpearmanEKFAC).allSatisfy { abs($0 - $1) < 0.1 },
      "EKFAC ranks about as well as KFAC here: mean Spearman ρ within 0.1 at every damping (\(meanSpearmanEKFAC) vs \(meanSpearman))")
claim(found(selfEKFAC) >= flipped.count / 2, "EKFAC self-influence puts at least half of the flipped labels in its top \(k) (\(found(selfEKFAC)))")
claim(selfAgreementEKFAC > 0.95, "exact and EKFAC self-influences rank the training points alike (ρ = \(selfAgreementEKFAC))")
claim(selfAgreement > 0.95, "exact and KFAC self-influences rank the training points alike (ρ = \(selfAgreement))")
claim(found(selfExact) >= flipped.count / 2, "exact self-influence puts at least half of the flipped labels in its top \(k) (\(found(selfExact)))")
claim(found(selfKFAC) >= flipped.count / 2, "KFAC self-influence puts at least half of the flipped labels in its top \(k) (\(found(selfKFAC)))")
print("\nAll claims checked.")
