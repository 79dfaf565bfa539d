// ToeplitzTutorial: a Gaussian process on a grid, solved by preconditioned conjugate
// gradients with every BTTB preconditioner Curvature has. See
// Tutorials/ToeplitzPreconditioning.md.
//
//   swift run -c release ToeplitzTutorial           # 128×96 grid
//   swift run -c release ToeplitzTutorial --fast    # 48×40 grid, a few seconds, checks its claims

import Curvature
import Foundation

let fast = CommandLine.arguments.contains("--fast")
let (n1, n2) = fast ? (48, 40) : (128, 96)
let nugget = 0.01  // noise variance σ²

/// Stops the tutorial when a fact it states does not hold.
func claim(_ condition: Bool, _ message: String) {
  if !condition {
    FileHandle.standardError.write(Data("ToeplitzTutorial: claim failed: \(message)\n".utf8))
    exit(1)
  }
}

func milliseconds(_ duration: Duration) -> Double {
  Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
}

// MARK: 1. Data: a smooth field observed with noise on an n₁×n₂ grid

var rng = RandomGenerator(seed: 7)
let field = NDArray<Double>(shape: [n1 * n2]) { i in
  let (x, y) = (Double(i[0] / n2) / Double(n1), Double(i[0] % n2) / Double(n2))
  return sin(2 * .pi * x) * cos(3 * .pi * y) + 0.5 * sin(5 * .pi * x * y)
}
let observations = field + nugget.squareRoot() * rng.normalArray(shape: [n1 * n2])

// MARK: 2. The kernel matrix K + σ²I is BTTB

/// The covariance of a stationary kernel `k(Δ₁, Δ₂)` on the grid plus the nugget, as a BTTB
/// operator: `t_{p,q} = k(p, q) + σ² δ_{p0} δ_{q0}`.
func covariance(_ kernel: @escaping (Double, Double) -> Double) throws -> BTTBOperator<Double> {
  try BTTBOperator(blockCount: n1, blockSize: n2) { p, q in kernel(Double(p), Double(q)) + (p == 0 && q == 0 ? nugget : 0) }
}

let lengthScale = 4.0  // grid steps
let kernels: [(name: String, kernel: (Double, Double) -> Double)] = [
  ("RBF", { p, q in exp(-(p * p + q * q) / (2 * lengthScale * lengthScale)) }),
  ("Matérn-1/2", { p, q in exp(-(p * p + q * q).squareRoot() / lengthScale) }),
]

// MARK: 3. PCG with each preconditioner

struct Outcome {
  var name: String
  var setUp: Double
  var solve: Double
  var iterations: Int
  var residual: Double
  var solution: NDArray<Double>?
}

func run(_ name: String, _ a: BTTBOperator<Double>, _ make: () throws -> (any LinearOperator<Double>)?) -> Outcome {
  let clock = ContinuousClock()
  let start = clock.now
  let preconditioner: (any LinearOperator<Double>)?
  do {
    preconditioner = try make()
  } catch {
    return Outcome(name: "\(name) (\(error))", setUp: 0, solve: 0, iterations: -1, residual: .nan, solution: nil)
  }
  let built = clock.now
  let result = try! conjugateGradient(a, observations, preconditioner: preconditioner, options: .init(relativeTolerance: 1e-8, maxIterations: 2000))
  let done = clock.now
  let residual = (observations - (try! a.apply(result.solution))).norm() / observations.norm()
  return Outcome(
    name: name, setUp: milliseconds(built - start), solve: milliseconds(done - built),
    iterations: result.outcome == .converged ? result.iterations : -result.iterations, residual: residual, solution: result.solution)
}

print("Gaussian process on a \(n1)×\(n2) grid (N = \(n1 * n2)), length scale \(lengthScale) grid steps, nugget σ² = \(nugget)")
print("PCG on (K + σ²I) α = y, x₀ = 0, relative residual 1e-8\n")

var results = [String: [String: Outcome]]()
for (kernelName, kernel) in kernels {
  let a = try covariance(kernel)
  let kronecker1 = try KroneckerApproximation(approximating: a, rank: 1)
  let kronecker2 = try KroneckerApproximation(approximating: a, rank: 2)
  let outcomes = [
    run("none", a) { nil },
    run("BCCB Strang", a) { try BCCBOperator.preconditioner(for: a, .strang) },
    run("BCCB T. Chan", a) { try BCCBOperator.preconditioner(for: a, .tChan) },
    run("level-1 T. Chan", a) { try LevelOnePreconditioner(for: a, .tChan) },
    run("T[1/f], f estimated", a) { try BTTBInverseSymbolPreconditioner(estimatingFrom: a) },
    run("Kronecker rank 1", a) { try kronecker1.inverted() },
    run("Kronecker rank 2", a) { try kronecker2.inverted() },
  ]
  print("\(kernelName) kernel + nugget  (Kronecker relative error: rank 1 \(String(format: "%.1e", kronecker1.relativeError)), rank 2 \(String(format: "%.1e", kronecker2.relativeError)))")
  print("  preconditioner          iterations   set-up ms   solve ms   ‖b − Ax‖/‖b‖")
  for o in outcomes {
    let iterations = o.iterations >= 0 ? "\(o.iterations)" : (o.residual.isNaN ? "—" : ">\(-o.iterations)")
    print("  " + o.name.padding(toLength: 22, withPad: " ", startingAt: 0)
      + iterations.leftPadded(12) + String(format: "%12.1f%11.1f", o.setUp, o.solve)
      + (o.residual.isNaN ? "" : String(format: "%15.1e", o.residual)))
  }
  print("")
  results[kernelName] = Dictionary(uniqueKeysWithValues: outcomes.map { ($0.name, $0) })
}

extension String {
  func leftPadded(_ width: Int) -> String { String(repeating: " ", count: Swift.max(0, width - count)) + self }
}

// MARK: 4. The posterior mean

// On the grid the posterior mean is K_f α = y − σ² α (K_f = K without the nugget).
let alpha = results["RBF"]!["Kronecker rank 2"]!.solution!
let mean = observations - nugget * alpha
let rms = { (v: NDArray<Double>) in v.norm() / Double(v.count).squareRoot() }
print("RBF posterior mean on the grid: RMS error \(String(format: "%.4f", rms(mean - field))) against the noiseless field (noise RMS \(String(format: "%.4f", rms(observations - field))))")

// MARK: 5. The claims above, checked

for (kernelName, outcomes) in results {
  let plain = outcomes["none"]!.iterations
  claim(plain > 0, "\(kernelName): unpreconditioned CG converges")
  for name in ["BCCB T. Chan", "level-1 T. Chan", "T[1/f], f estimated", "Kronecker rank 2"] {
    let o = outcomes[name]!
    claim(o.iterations > 0 && o.iterations < plain, "\(kernelName): \(name) needs fewer iterations than none (\(o.iterations) vs \(plain))")
    claim(o.residual < 1e-7, "\(kernelName): \(name) reaches the tolerance")
    claim((o.solution! - outcomes["none"]!.solution!).norm() <= 1e-5 * alpha.norm(), "\(kernelName): \(name) finds the same solution")
  }
  claim(outcomes["T[1/f], f estimated"]!.iterations < outcomes["BCCB T. Chan"]!.iterations, "\(kernelName): T[1/f] beats the BCCB T. Chan preconditioner")
}
claim(results["RBF"]!["Kronecker rank 2"]!.iterations <= 2, "RBF + nugget is a rank-2 Kronecker sum, so its preconditioner is exact")
claim(rms(mean - field) < rms(observations - field), "the posterior mean is closer to the field than the observations")
print("All claims checked.")
