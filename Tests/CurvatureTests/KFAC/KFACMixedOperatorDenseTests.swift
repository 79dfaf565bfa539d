import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// The mixed KFAC and EKFAC operators (Kronecker blocks plus the exact curvature of the
/// other parameters) against a dense reference assembled independently: each node's
/// Kronecker product written out entry by entry from its factors (EKFAC: from its
/// eigenbases and corrected eigenvalues), and the exact GGN (or MC Fisher) block, its
/// diagonal or zero for every other block. Products, closed forms (trace, log-determinant,
/// Frobenius norm, diagonal), exact and π-damped inverses, and save/load, in Float and Double.
@Suite struct KFACMixedOperatorDenseTests {
  typealias G = GraphSupport

  /// `x → linear → + pos → tanh → · norm.weight → linear → mean over positions` with MSE:
  /// the free parameters `pos` and `norm.weight` (initialized to ones) are other blocks. (A
  /// shift after the tanh would have a singular GGN block, `J = W₂` of rank 2.) (A LayerNorm
  /// would make the first node's `B` singular — its Jacobian ignores a shift of all
  /// features — and so the undamped inverse and log-determinant of the reference.)
  static func problem<T: BLASScalar>(_: T.Type, n: Int = 12, seed: UInt64 = 21) throws -> CurvatureProblem<T> {
    let nodes = [
      G.node("l1", "linear", ["x", "l1.weight", "l1.bias"], [-1, 4, 5]),
      G.node("h", "add", ["l1", "pos"], [-1, 4, 5]),
      G.node("t", "tanh", ["h"], [-1, 4, 5]),
      G.node("s", "mul", ["t", "norm.weight"], [-1, 4, 5]),
      G.node("l2", "linear", ["s", "l2.weight", "l2.bias"], [-1, 4, 2]),
      G.node("out", "mean", ["l2"], [-1, 2], #"{"dim": [1], "keepdim": false}"#),
    ]
    let parameters = [
      G.value("l1.weight", [5, 3]), G.value("l1.bias", [5]), G.value("pos", [4, 5]), G.value("norm.weight", [5]),
      G.value("l2.weight", [2, 5]), G.value("l2.bias", [2]),
    ]
    let text = G.document(
      inputs: [G.value("x", [-1, 4, 3])], parameters: parameters, nodes: nodes, output: "out",
      loss: #"{"type": "mse", "reduction": "mean"}"#)
    let model = try G.graph(text, as: T.self, seed: seed)
    var rng = RandomGenerator(seed: seed, stream: 3)
    let data = try ArrayDataset<T>(
      inputs: rng.normalArray(shape: [n, 4, 3], T.self), targets: .values(rng.normalArray(shape: [n, 2], T.self)))
    return try CurvatureProblem(model: model, loss: Loss(.mse), data: data, batchSize: 5, checkDeterminism: false)
  }

  /// The flat offset of every selected block.
  static func offsets<T: BLASScalar>(_ problem: CurvatureProblem<T>) -> [Int: Int] {
    var offsets = [Int: Int](), offset = 0
    for block in problem.blocks {
      offsets[block] = offset
      offset += problem.model.parameterSpecs[block].count
    }
    return offsets
  }

  /// The flat index of entry `(o, j)` of a node's weight (or joint) block.
  static func index(_ o: Int, _ j: Int, inputs: Int, weight: Int, bias: Int?) -> Int {
    j < inputs ? weight + o * inputs + j : bias! + o
  }

  /// The dense Kronecker part of KFAC, `B[o,o']·A[j,j']` entry by entry.
  static func kroneckerPart<T: BLASScalar>(_ problem: CurvatureProblem<T>, _ factors: [KFACLayerFactors<T>]) -> NDArray<T> {
    let o = offsets(problem)
    var m = NDArray<T>(zeros: [problem.dimension, problem.dimension])
    for f in factors {
      let (out, inputs, b) = (f.weightShape[0], f.weightShape[1], f.gradientCovariance)
      if let a = f.inputCovariance, let w = f.weightBlock.flatMap({ o[$0] }) {
        let order = a.shape[0], bias = f.biasBlock.flatMap { o[$0] }
        for r in 0..<out { for r2 in 0..<out { for j in 0..<order { for j2 in 0..<order {
          m[index(r, j, inputs: inputs, weight: w, bias: bias), index(r2, j2, inputs: inputs, weight: w, bias: bias)] = b[r, r2] * a[j, j2]
        } } } }
      }
      if !f.joint, let bias = f.biasBlock.flatMap({ o[$0] }) {
        for r in 0..<out { for r2 in 0..<out { m[bias + r, bias + r2] = b[r, r2] } }
      }
    }
    return m
  }

  /// The dense EKFAC part, `Σ_pq Q_B[o,p] Q_A[j,q] Λ[p,q] Q_B[o',p] Q_A[j',q]`.
  static func eigenPart<T: BLASScalar>(_ problem: CurvatureProblem<T>, _ factors: [EKFACLayerFactors<T>]) -> NDArray<T> {
    let o = offsets(problem)
    var m = NDArray<T>(zeros: [problem.dimension, problem.dimension])
    for f in factors {
      let (out, inputs, qb) = (f.weightShape[0], f.weightShape[1], f.gradientBasis)
      if let qa = f.inputBasis, let values = f.eigenvalues, let w = f.weightBlock.flatMap({ o[$0] }) {
        let order = qa.shape[0], bias = f.biasBlock.flatMap { o[$0] }
        // The columns of Q_B ⊗ Q_A scaled by √Λ, as a dense [out·order, out·order] matrix.
        var k = NDArray<T>(zeros: [out * order, out * order]), scaled = k
        for r in 0..<out { for p in 0..<out { for j in 0..<order { for q in 0..<order {
          k[r * order + j, p * order + q] = qb[r, p] * qa[j, q]
          scaled[r * order + j, p * order + q] = qb[r, p] * qa[j, q] * values[p, q]
        } } } }
        let block = matmul(scaled, k, transposeB: true)
        for r in 0..<out { for r2 in 0..<out { for j in 0..<order { for j2 in 0..<order {
          m[index(r, j, inputs: inputs, weight: w, bias: bias), index(r2, j2, inputs: inputs, weight: w, bias: bias)] =
            block[r * order + j, r2 * order + j2]
        } } } }
      }
      if !f.joint, let bias = f.biasBlock.flatMap({ o[$0] }), let values = f.biasEigenvalues {
        for r in 0..<out { for r2 in 0..<out {
          m[bias + r, bias + r2] = (0..<out).reduce(T(0)) { $0 + qb[r, $1] * values[$1] * qb[r2, $1] }
        } }
      }
    }
    return m
  }

  /// Adds the other blocks' part of `exact` (the full exact matrix) as the treatment says.
  static func addOthers<T: BLASScalar>(
    _ m: inout NDArray<T>, exact: NDArray<T>, problem: CurvatureProblem<T>, others: [Int], _ treatment: OtherParameters
  ) {
    let o = offsets(problem)
    for block in others {
      let range = o[block]!..<(o[block]! + problem.model.parameterSpecs[block].count)
      for i in range { for j in range where treatment == .exactBlock || (treatment == .diagonal && i == j) { m[i, j] = exact[i, j] } }
    }
  }

  /// The other blocks of a problem (outside every Kronecker node).
  static func others<T: BLASScalar>(_ problem: CurvatureProblem<T>) throws -> [Int] {
    let graph = try #require(problem.model as? GraphModel<T>)
    let owned = Set(graph.kroneckerNodes.flatMap { [$0.weightBlock] + ($0.biasBlock.map { [$0] } ?? []) })
    return problem.blocks.filter { !owned.contains($0) }
  }

  static func plusIdentity<T: BLASScalar>(_ m: NDArray<T>, _ d: T) -> NDArray<T> {
    var result = m
    for i in 0..<m.shape[0] { result[i, i] += d }
    return result
  }

  static func checkEverything<T: BLASScalar>(_: T.Type) throws {
    let problem = try problem(T.self)
    let others = try others(problem)
    let names = others.map { problem.model.parameterSpecs[$0].name }
    #expect(names == ["pos", "norm.weight"], "\(names)")
    let exact = try GGNOperator(problem).dense()
    let rtol: T = T.self == Float.self ? 2e-3 : 1e-9
    let damping: T = 1e-2
    for treatment in OtherParameters.allCases {
      for joint in [false, true] {
        let label = "\(T.self) \(treatment) joint=\(joint)"
        let options = KFACOptions(fisherType: .type2, jointBias: joint, otherParameters: treatment)
        let kfac = try KFACOperator(problem, options: options)
        var reference = kroneckerPart(problem, try kfac.computeFactors())
        addOthers(&reference, exact: exact, problem: problem, others: others, treatment)
        let scale = reference.scalars.map { Swift.abs($0) }.max()!
        assertClose(try kfac.dense(), reference, rtol: rtol, atol: rtol * scale, "\(label) KFAC dense")
        try checkClosedForms(kfac, reference, rtol: rtol, treatment: treatment, label: "\(label) KFAC")

        // Inverses: exact, and the factored Tikhonov form with π (other blocks: (M + δI)⁻¹).
        let exactInverse = try plusIdentity(reference, damping).inverse()
        let inverseScale = exactInverse.scalars.map { Swift.abs($0) }.max()!
        assertClose(
          try kfac.inverse(damping: damping).dense(), exactInverse, rtol: rtol, atol: rtol * inverseScale, "\(label) KFAC exact inverse")
        assertClose(
          try kfac.inverse(damping: damping, inDoublePrecision: true).dense(), exactInverse, rtol: rtol, atol: rtol * inverseScale,
          "\(label) KFAC exact inverse in double")
        var tikhonov = try piDampedInverse(problem, try kfac.computeFactors(), damping: damping)
        let otherInverse = try plusIdentity(reference, damping).inverse()
        addOthers(&tikhonov, exact: otherInverse, problem: problem, others: others, .exactBlock)
        assertClose(
          try kfac.inverse(damping: damping, method: .tikhonov(piDamping: true)).dense(), tikhonov, rtol: rtol,
          atol: rtol * inverseScale, "\(label) KFAC π-damped inverse")
        if treatment == .exclude {
          #expect(throws: LinearOperatorError.self) { _ = try kfac.inverse() }
        } else if T.self == Double.self {
          // Undamped, in Double only: Float's rounding of the smallest eigenvalues dominates.
          let undamped = try reference.inverse()
          let undampedScale = undamped.scalars.map { Swift.abs($0) }.max()!
          assertClose(try kfac.inverse().dense(), undamped, rtol: 50 * rtol, atol: 50 * rtol * undampedScale, "\(label) KFAC inverse")
        }

        // EKFAC holds the same other blocks; its Kronecker part from its own eigenbases.
        let ekfac = try EKFACOperator(correcting: kfac)
        var eigenReference = eigenPart(problem, try ekfac.computeFactors())
        addOthers(&eigenReference, exact: exact, problem: problem, others: others, treatment)
        assertClose(try ekfac.dense(), eigenReference, rtol: rtol, atol: rtol * scale, "\(label) EKFAC dense")
        try checkClosedForms(ekfac, eigenReference, rtol: rtol, treatment: treatment, label: "\(label) EKFAC")
        let eigenInverse = try plusIdentity(eigenReference, damping).inverse()
        assertClose(
          try ekfac.inverse(damping: damping).dense(), eigenInverse, rtol: rtol,
          atol: rtol * eigenInverse.scalars.map { Swift.abs($0) }.max()!, "\(label) EKFAC inverse")
        if treatment == .exclude { #expect(throws: LinearOperatorError.self) { _ = try ekfac.inverse() } }
      }
    }
  }

  /// `(B + √δ/π I)⁻¹ ⊗ (A + π√δ I)⁻¹` per weight block (π from the factors' traces),
  /// `(B + δI)⁻¹` per separate bias, written out densely.
  static func piDampedInverse<T: BLASScalar>(_ problem: CurvatureProblem<T>, _ factors: [KFACLayerFactors<T>], damping: T) throws
    -> NDArray<T>
  {
    let damped = try factors.map { f -> KFACLayerFactors<T> in
      var g = f
      let (a, b) = (f.inputCovariance!, f.gradientCovariance)
      let pi = ((a.trace() / T(a.shape[0])) / (b.trace() / T(b.shape[0]))).squareRoot()
      g.inputCovariance = try plusIdentity(a, pi * damping.squareRoot()).inverse()
      g.gradientCovariance = try plusIdentity(b, damping.squareRoot() / pi).inverse()
      return g
    }
    var m = kroneckerPart(problem, damped)
    let o = offsets(problem)
    for f in factors where !f.joint {
      guard let bias = f.biasBlock.flatMap({ o[$0] }) else { continue }
      let inverse = try plusIdentity(f.gradientCovariance, damping).inverse()
      let out = f.weightShape[0]
      for r in 0..<out { for r2 in 0..<out { m[bias + r, bias + r2] = inverse[r, r2] } }
    }
    return m
  }

  static func checkClosedForms<T: BLASScalar>(
    _ op: some LinearOperator<T>, _ reference: NDArray<T>, rtol: T, treatment: OtherParameters, label: String
  ) throws {
    let trace = reference.trace()
    assertClose(try op.trace(), trace, rtol: rtol, "\(label) trace")
    assertClose(try op.frobeniusNorm(), reference.norm(), rtol: rtol, "\(label) Frobenius norm")
    assertClose(try op.diagonal(), reference.diagonal(), rtol: rtol, atol: rtol * trace, "\(label) diagonal")
    let (sign, log) = try op.logDeterminant()
    if treatment == .exclude {
      #expect(sign == 0 && log == -.infinity, "\(label) log-determinant of a matrix with zero blocks: \(sign), \(log)")
    } else {
      let (expectedSign, expectedLog) = try reference.signAndLogDeterminant()
      #expect(expectedSign == 1 && sign == 1, "\(label) determinant signs \(sign), expected \(expectedSign)")
      assertClose(log, expectedLog, rtol: 20 * rtol, atol: 20 * rtol, "\(label) log-determinant")
    }
  }

  @Test func mixedOperatorsMatchTheDenseReferenceInDouble() throws { try Self.checkEverything(Double.self) }
  @Test func mixedOperatorsMatchTheDenseReferenceInFloat() throws { try Self.checkEverything(Float.self) }

  /// The mc Fisher type: the other blocks are the Monte Carlo Fisher's with the same seed
  /// and number of samples as the Kronecker part (neither the GGN nor other samples).
  @Test func mcOtherBlocksUseTheSameSamples() throws {
    let problem = try Self.problem(Double.self)
    let others = try Self.others(problem)
    let options = KFACOptions(fisherType: .mc, mcSamples: 3, seed: 77, otherParameters: .exactBlock)
    let mixed = try KFACOperator(problem, options: options).dense()
    let same = try MonteCarloFisherOperator(problem, mcSamples: 3, seed: 77).dense()
    let otherSeed = try MonteCarloFisherOperator(problem, mcSamples: 3, seed: 78).dense()
    let ggn = try GGNOperator(problem).dense()
    let o = Self.offsets(problem)
    for block in others {
      let indices = Array(o[block]!..<(o[block]! + problem.model.parameterSpecs[block].count))
      let sub = { (m: NDArray<Double>) in NDArray(shape: [indices.count, indices.count], scalars: indices.flatMap { i in indices.map { m[i, $0] } }) }
      assertClose(sub(mixed), sub(same), rtol: 1e-10, atol: 1e-12 * sub(same).norm(), "block \(block)")
      #expect((sub(mixed) - sub(ggn)).norm() > 1e-3 * sub(ggn).norm(), "block \(block) is the GGN's")
      #expect((sub(mixed) - sub(otherSeed)).norm() > 1e-3 * sub(same).norm(), "block \(block) does not depend on the seed")
    }
    // EKFAC's other blocks are the same Monte Carlo blocks.
    let ekfac = try EKFACOperator(problem, options: options).otherParameterBlocks()
    #expect(ekfac == (try KFACOperator(problem, options: options).otherParameterBlocks()))
  }

  /// Save/load keeps the other blocks: the loaded operator reproduces the saved one bit
  /// for bit even for a problem with other data (nothing is recomputed).
  @Test(arguments: OtherParameters.allCases)
  func saveAndLoadKeepTheOtherBlocks(_ treatment: OtherParameters) throws {
    let problem = try Self.problem(Double.self)
    let otherData = try Self.problem(Double.self, seed: 22)
    let options = KFACOptions(fisherType: .type2, otherParameters: treatment)
    try G.withScratchDirectory { directory in
      let kfac = try KFACOperator(problem, options: options)
      let url = directory.appendingPathComponent("kfac.safetensors")
      try kfac.save(to: url)
      let loaded = try KFACOperator(otherData, contentsOf: url)
      #expect(loaded.options == options)
      #expect(try loaded.dense().scalars == (try kfac.dense()).scalars, "\(treatment) KFAC")
      #expect(try loaded.otherParameterBlocks() == (try kfac.otherParameterBlocks()))

      let ekfac = try EKFACOperator(problem, options: options)
      let eurl = directory.appendingPathComponent("ekfac.safetensors")
      try ekfac.save(to: eurl)
      let eloaded = try EKFACOperator(otherData, contentsOf: eurl)
      #expect(try eloaded.dense().scalars == (try ekfac.dense()).scalars, "\(treatment) EKFAC")

      // A plain operator's file does not load as a mixed one's problem of other blocks.
      let others = try Self.others(problem)
      let plain = try problem.restricted(to: problem.blocks.filter { !others.contains($0) })
      let purl = directory.appendingPathComponent("plain.safetensors")
      try KFACOperator(plain, options: KFACOptions(fisherType: .type2)).save(to: purl)
      #expect(throws: CurvatureError.self) { _ = try KFACOperator(problem, contentsOf: purl) }
    }
    // Other blocks of the wrong shape are refused.
    let kfac = try KFACOperator(problem, options: options)
    var blocks = try kfac.otherParameterBlocks()
    blocks[0].curvature = treatment == .exclude ? NDArray(zeros: [20]) : NDArray(zeros: [3])
    #expect(throws: CurvatureError.self) {
      _ = try KFACOperator(problem, options: options, factors: try kfac.computeFactors(), otherBlocks: blocks)
    }
  }
}
