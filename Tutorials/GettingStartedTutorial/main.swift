// GettingStartedTutorial: build a model, wrap its GGN and Hessian as operators, multiply,
// compose, take sub-blocks and materialize a small one. See Tutorials/GettingStarted.md.
//
//   swift run -c release GettingStartedTutorial           # 400 points
//   swift run -c release GettingStartedTutorial --fast    # 200 points, a few seconds, checks its claims

import Curvature
import Foundation

let fast = CommandLine.arguments.contains("--fast")
let pointCount = fast ? 200 : 400

/// Stops the tutorial when a fact it states does not hold.
func claim(_ condition: Bool, _ message: String) {
  if !condition {
    FileHandle.standardError.write(Data("GettingStartedTutorial: claim failed: \(message)\n".utf8))
    exit(1)
  }
}

/// `‖a − b‖ / ‖b‖`.
func relativeError(_ a: NDArray<Double>, _ b: NDArray<Double>) -> Double { (a - b).norm() / b.norm() }

func format(_ x: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)g", x) }

// MARK: 1. Data and model

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

let data = try twoMoons(count: pointCount, noise: 0.1, seed: 1)
var model = try Sequential<Double>(
  [Linear(inFeatures: 2, outFeatures: 16), Tanh(), Linear(inFeatures: 16, outFeatures: 16), Tanh(),
   Linear(inFeatures: 16, outFeatures: 2)], seed: 0)
let loss = Loss<Double>(.crossEntropy)
var adam = Adam<Double>(learningRate: 0.01)
let epochLosses = try train(&model, loss: loss, data: data, optimizer: &adam, epochs: 40, batchSize: 32, seed: 2)
print("Two moons, N = \(data.count); \(model.parameterCount) parameters in blocks \(model.parameterNames)")
print("Adam, 40 epochs: training loss \(format(Double(epochLosses[0]))) → \(format(Double(epochLosses.last!)))\n")

// MARK: 2. The curvature problem and its operators

let problem = try CurvatureProblem(model: model, loss: loss, data: data)
let ggn = GGNOperator(problem)          // G = (1/N) Σ Jₙᵀ Hₙ Jₙ
let hessian = HessianOperator(problem)  // H = ∇²L(θ)
let p = ggn.rowCount
print("GGN and Hessian: \(p)×\(p) operators, nothing formed")

// MARK: 3. Multiply

var rng = RandomGenerator(seed: 3)
let v: NDArray<Double> = rng.normalArray(shape: [p])
let u: NDArray<Double> = rng.normalArray(shape: [p])
let gv = try ggn.apply(v)
let hv = try hessian.apply(v)

// A Hessian-vector product is the directional derivative of the gradient: compare with a
// central difference of two full gradients.
func gradient(_ model: Sequential<Double>, at theta: NDArray<Double>) throws -> NDArray<Double> {
  var shifted = model
  try shifted.setParameters(try model.unflatten(theta))
  return try CurvatureProblem(model: shifted, loss: loss, data: data, checkDeterminism: false).lossAndGradient().gradient
}
let theta = model.flatParameters(), epsilon = 1e-5
let differenced = (try gradient(model, at: theta + epsilon * v) - (try gradient(model, at: theta - epsilon * v))) * (1 / (2 * epsilon))
let hvpError = relativeError(hv, differenced)
print("‖Hv − (∇L(θ+εv) − ∇L(θ−εv))/2ε‖ / ‖Hv‖ = \(format(hvpError, 2))")

let asymmetry = abs(u.dot(gv) - v.dot(try ggn.apply(u))) / abs(u.dot(gv))
print("uᵀ(Gv) vs vᵀ(Gu): relative difference \(format(asymmetry, 2))")

// A block of vectors [P, k] is one call (the operator batches what it can).
let block: NDArray<Double> = rng.normalArray(shape: [p, 4])
let gBlock = try ggn.apply(block)
print("G applied to a [\(p), 4] block gives \(gBlock.shape)")

// MARK: 4. Compose

let delta = 1e-3
let damped = ggn.damped(by: delta)       // G + δI, still an operator
let dampingError = relativeError(try damped.apply(v), gv + delta * v)
let residual = hessian - ggn             // H − G: the part of the Hessian the GGN drops
print("‖(G + δI)v − (Gv + δv)‖ / ‖Gv + δv‖ = \(format(dampingError, 2)); ‖(H − G)v‖ / ‖Hv‖ = \(format(try residual.apply(v).norm() / hv.norm()))")

// KFAC's damped inverse K⁻¹ ≈ (G + δI)⁻¹ as a preconditioner for conjugate gradients:
let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .type2))
let kInverse = try kfac.inverse(damping: delta)
let preconditioned = kInverse * damped   // K⁻¹(G + δI): a product of two operators
let b = u                                // a random right-hand side
let options = ConjugateGradientOptions(relativeTolerance: 1e-6, maxIterations: 2000)
let plain = try conjugateGradient(damped, b, options: options)
let withKFAC = try conjugateGradient(damped, b, preconditioner: kInverse, options: options)
print("CG on (G + δI) x = b, δ = \(delta): \(plain.iterations) iterations plain, \(withKFAC.iterations) with K⁻¹ as preconditioner")
let preconditionedError = relativeError(try preconditioned.apply(withKFAC.solution), try kInverse.apply(b))
print("K⁻¹(G + δI) x = K⁻¹ b at the solution: relative difference \(format(preconditionedError, 2))\n")

// MARK: 5. Sub-blocks

// The flat parameter vector concatenates the blocks in order; the last layer is 4.weight, 4.bias.
let blockSizes = model.parameterSpecs.map(\.count)
let lastLayerStart = blockSizes[0..<4].reduce(0, +)
let lastLayer = Array(lastLayerStart..<p)
let ggnLastLayer = try ggn.principalSubmatrix(lastLayer)                     // G[S, S]
let restrictedProblem = try problem.restricted(to: [4, 5])
let ggnOfLastLayer = GGNOperator(restrictedProblem)                          // the GGN of the last layer alone
let submatrixError = relativeError(try ggnLastLayer.dense(), try ggnOfLastLayer.dense())
let hessianLastLayer = try HessianOperator(restrictedProblem).dense()
let lastLayerGap = relativeError(hessianLastLayer, try ggnOfLastLayer.dense())
print("Last layer (\(lastLayer.count) parameters): G[S, S] vs the GGN of the restricted problem: \(format(submatrixError, 2))")
print("Last layer: ‖H_SS − G_SS‖ / ‖G_SS‖ = \(format(lastLayerGap, 2)) (the output is linear in these parameters)")

// KFAC's block of the first weight is a Kronecker product B ⊗ A of two small matrices.
let factors = try kfac.computeFactors()
let first = factors[0]
let bKronA = kronecker(DenseOperator(first.gradientCovariance), DenseOperator(first.inputCovariance!))
let weightIndices = Array(0..<blockSizes[0])
let kroneckerError = relativeError(try kfac.principalSubmatrix(weightIndices).dense(), try bKronA.dense())
print("KFAC block of 0.weight = B ⊗ A with B \(first.gradientCovariance.shape), A \(first.inputCovariance!.shape): difference \(format(kroneckerError, 2))")

// Per-layer GGN blocks as one block-diagonal operator (KFAC approximates each block).
let blockDiagonalGGN = try problem.blockDiagonal(.perLayer) { GGNOperator($0) }
print("Block-diagonal GGN: \(blockDiagonalGGN.blocks.map { "\($0.rowCount)" }.joined(separator: " + ")) = \(blockDiagonalGGN.rowCount) rows\n")

// MARK: 6. Materialize

let g = try ggn.dense(), h = try hessian.dense()      // P products each
let gEigenvalues = try g.symmetricEigenvalues().scalars, hEigenvalues = try h.symmetricEigenvalues().scalars
let diagonal = try ggn.diagonal()                     // exact, from C backward passes, no dense matrix
let diagonalError = relativeError(diagonal, g.diagonal())
let blockDiagonalError = relativeError(try blockDiagonalGGN.dense(), {
  var m = NDArray<Double>(zeros: [p, p])
  var start = 0
  for size in [blockSizes[0] + blockSizes[1], blockSizes[2] + blockSizes[3], blockSizes[4] + blockSizes[5]] {
    for i in start..<(start + size) { for j in start..<(start + size) { m[i, j] = g[i, j] } }
    start += size
  }
  return m
}())
print("Dense G and H (\(p)×\(p)):")
print("  G: eigenvalues in [\(format(gEigenvalues.first!, 2)), \(format(gEigenvalues.last!))], trace \(format(g.trace())); rank ≤ N·(C−1) = \(data.count)")
print("  H: eigenvalues in [\(format(hEigenvalues.first!)), \(format(hEigenvalues.last!))], trace \(format(h.trace())); \(hEigenvalues.filter { $0 < -1e-8 }.count) negative")
print("  G: \(gEigenvalues.filter { $0 > delta }.count) eigenvalues above δ = \(delta), \(gEigenvalues.filter { $0 > 100 * delta }.count) above 100δ")
print("  exact GGN diagonal vs diag(dense G): \(format(diagonalError, 2)); block-diagonal GGN vs blocks of G: \(format(blockDiagonalError, 2))")
print("  ‖Gv − dense(G)v‖ / ‖Gv‖ = \(format(relativeError(matvec(g, v), gv), 2))")

// MARK: 7. The claims above, checked

claim(hvpError < 1e-6, "Hv equals the central difference of gradients (\(hvpError))")
claim(asymmetry < 1e-12, "the GGN operator is symmetric (\(asymmetry))")
let blockColumnError = relativeError(column(gBlock, 2), try ggn.apply(column(block, 2)))
claim(gBlock.shape == [p, 4] && blockColumnError < 1e-12, "a block product equals column-by-column products")
claim(dampingError < 1e-14, "(G + δI)v = Gv + δv")
claim(withKFAC.outcome == .converged && plain.outcome == .converged, "both CG runs converge")
let outliers = gEigenvalues.filter { $0 > delta }.count
claim(outliers < p / 20 && plain.iterations < p / 10, "G has a handful of eigenvalues above δ (\(outliers)) and plain CG needs few iterations (\(plain.iterations))")
claim(withKFAC.iterations > plain.iterations, "for this spectrum KFAC preconditioning does not pay (\(withKFAC.iterations) vs \(plain.iterations) iterations)")
claim(relativeError(withKFAC.solution, plain.solution) < 1e-4, "both CG runs find the same solution")
claim(preconditionedError < 1e-4, "the product operator K⁻¹(G + δI) maps the solution to K⁻¹b")
claim(submatrixError < 1e-12, "the principal submatrix of G equals the GGN of the restricted problem")
claim(lastLayerGap < 1e-10, "the last layer's Hessian block equals its GGN block")
claim(kroneckerError < 1e-12, "KFAC's weight block is B ⊗ A")
claim(gEigenvalues.first! > -1e-10 * gEigenvalues.last!, "the GGN is positive semidefinite")
claim(hEigenvalues.first! < -1e-6, "the Hessian is indefinite here (smallest eigenvalue \(hEigenvalues.first!))")
claim(relativeError(h, h.transposed()) < 1e-10, "the dense Hessian is symmetric")
claim(diagonalError < 1e-12, "the exact GGN diagonal equals the dense one")
claim(blockDiagonalError < 1e-12, "the block-diagonal GGN equals the diagonal blocks of G")
print("\nAll claims checked.")

/// Column `j` of an `[n, k]` array.
func column(_ x: NDArray<Double>, _ j: Int) -> NDArray<Double> {
  NDArray((0..<x.shape[0]).map { x[$0, j] })
}
