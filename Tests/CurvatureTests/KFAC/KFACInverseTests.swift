import Curvature
import CurvatureTestSupport
import Testing

/// KFAC's closed forms and inverses against dense counterparts: the exact damped inverse
/// against `(K + δI)⁻¹`, the Tikhonov form (with and without π-damping) against its
/// definition built densely from the factors, and inversion in Double of Float factors.
@Suite struct KFACInverseTests {
  typealias T = KFACTesting

  static let caseNames = ["mlp_mse", "grouped_cnn_ce", "sequence_mse", "conv_reduce"]

  static func problem(_ name: String) throws -> CurvatureProblem<Double> {
    switch name {
    case "mlp_mse": return try T.mlp(Tanh(), .mse, n: 9, seed: 6)
    case "grouped_cnn_ce": return try T.groupedCNN(.crossEntropy, n: 4)
    case "sequence_mse": return try T.sequence(.mse, n: 3)
    case "conv_reduce": return try T.convolutionReduce(n: 3)
    default: preconditionFailure("unknown case \(name)")
    }
  }

  static let variants: [KFACOptions] = KFACApproximation.allCases.flatMap { approximation in
    [false, true].map { KFACOptions(fisherType: .type2, approximation: approximation, jointBias: $0) }
  }

  /// Trace, diagonal, Frobenius norm and (where the factors are non-singular) the
  /// log-determinant; the exact damped inverse.
  @Test(arguments: caseNames)
  func closedFormsAndExactInverse(_ name: String) throws {
    let problem = try Self.problem(name)
    var (singularSeen, regularSeen) = (false, false)
    for options in Self.variants {
      let kfac = try KFACOperator(problem, options: options)
      let dense = try kfac.dense()
      let label = "\(name) \(options.approximation) joint=\(options.jointBias)"
      assertClose(try kfac.trace(), dense.trace(), rtol: 1e-10, label)
      expectClose(try kfac.diagonal(), dense.diagonal(), rtol: 1e-10, atolFactor: 1e-12, label)
      assertClose(try kfac.frobeniusNorm(), dense.norm(), rtol: 1e-10, label)
      // Rank-deficient factors (fewer rows than inputs, the cross-entropy Hessian's null
      // vector) make KFAC singular: no log-determinant to compare, and no inverse.
      let wellConditioned = try kfac.computeFactors().allSatisfy { f in
        try ([f.gradientCovariance] + (f.inputCovariance.map { [$0] } ?? [])).allSatisfy { m in
          let values = try m.symmetricEigenvalues().scalars
          return values.first! > 1e-8 * values.last!
        }
      }
      if wellConditioned {
        let (sign, logMagnitude) = try kfac.logDeterminant()
        let (denseSign, denseLog) = try dense.signAndLogDeterminant()
        #expect(sign == denseSign, "\(label)")
        assertClose(logMagnitude, denseLog, rtol: 1e-8, label)
        expectClose(try kfac.inverse().dense(), try dense.inverse(), rtol: 1e-7, atolFactor: 1e-9, "\(label) undamped")
      } else {
        #expect(throws: LinearOperatorError.self, "\(label)") { try kfac.inverse() }
      }
      singularSeen = singularSeen || !wellConditioned
      regularSeen = regularSeen || wellConditioned
      for damping in [1e-3, 0.5] {
        let damped = dense + damping * NDArray<Double>.identity(dense.shape[0])
        expectClose(try kfac.inverse(damping: damping).dense(), try damped.inverse(), rtol: 1e-8, atolFactor: 1e-10, "\(label) δ = \(damping)")
      }
    }
    if name == "mlp_mse" { #expect(regularSeen && !singularSeen) }
    if name == "grouped_cnn_ce" { #expect(singularSeen) }
  }

  /// The Tikhonov-damped inverse `(B + (√δ/π) I)⁻¹ ⊗ (A + π√δ I)⁻¹` per weight (or joint)
  /// block and `(B + δI)⁻¹` per separate bias, with `π = √((tr A/dim A)/(tr B/dim B))` or 1,
  /// built densely from the factors.
  @Test(arguments: caseNames)
  func tikhonovMatchesItsDefinition(_ name: String) throws {
    let problem = try Self.problem(name)
    for options in Self.variants {
      let kfac = try KFACOperator(problem, options: options)
      let factors = try kfac.computeFactors()
      for piDamping in [false, true] {
        for damping in [1e-2, 0.3] {
          var expected = NDArray<Double>(zeros: [problem.dimension, problem.dimension])
          for (f, block) in zip(factors, T.layout(problem, factors)) {
            let b = f.gradientCovariance
            var parts = [([Int], NDArray<Double>)]()
            if let indices = block.weightIndices, let a = f.inputCovariance {
              var pi = 1.0
              if piDamping { pi = ((a.trace() / Double(a.shape[0])) / (b.trace() / Double(b.shape[0]))).squareRoot() }
              let left = try (b + (damping.squareRoot() / pi) * NDArray<Double>.identity(b.shape[0])).inverse()
              let right = try (a + (pi * damping.squareRoot()) * NDArray<Double>.identity(a.shape[0])).inverse()
              parts.append((indices, kronecker(left, right)))
            }
            if let indices = block.biasIndices {
              parts.append((indices, try (b + damping * NDArray<Double>.identity(b.shape[0])).inverse()))
            }
            for (indices, m) in parts {
              for (p, i) in indices.enumerated() { for (q, j) in indices.enumerated() { expected[i, j] = m[p, q] } }
            }
          }
          let inverse = try kfac.inverse(damping: damping, method: .tikhonov(piDamping: piDamping))
          #expect(inverse.method == .tikhonov(piDamping: piDamping))
          expectClose(
            try inverse.dense(), expected, rtol: 1e-9, atolFactor: 1e-12,
            "\(name) \(options.approximation) joint=\(options.jointBias) π=\(piDamping) δ=\(damping)")
        }
      }
    }
  }

  /// The same problem in Float.
  static func inFloat(_ problem: CurvatureProblem<Double>) throws -> CurvatureProblem<Float> {
    let batch = try problem.data.batch(0..<problem.data.count)
    let targets: Targets<Float>
    switch batch.targets {
    case let .classes(c): targets = .classes(c)
    case let .values(v): targets = .values(v.converted(to: Float.self))
    }
    return try CurvatureProblem(
      model: try (problem.model as! Sequential<Double>).converted(to: Float.self),
      loss: Loss<Float>(problem.loss.kind, reduction: problem.loss.reduction),
      data: try ArrayDataset(inputs: batch.inputs.converted(to: Float.self), targets: targets),
      blocks: problem.blocks, checkDeterminism: false)
  }

  /// Float factors inverted in Double: equal to the Double inverse of the same factors up to
  /// Float rounding of the result, for both methods; at small damping more accurate than
  /// inverting in Float.
  @Test(arguments: ["mlp_mse", "grouped_cnn_ce"])
  func floatFactorsInvertedInDouble(_ name: String) throws {
    let problem = try Self.problem(name)
    let floatProblem = try Self.inFloat(problem)
    for options in Self.variants {
      let floatKFAC = try KFACOperator(floatProblem, options: options)
      let converted = try floatKFAC.computeFactors().map { f in
        KFACLayerFactorsConversion.toDouble(f)
      }
      let doubleKFAC = try KFACOperator(problem, options: options, factors: converted)
      for method in [KFACInversion.exact, .tikhonov(piDamping: true)] {
        for damping in [1e-5, 1e-1] {
          let reference = try doubleKFAC.inverse(damping: damping, method: method).dense()
          let inDouble = try floatKFAC.inverse(damping: Float(damping), method: method, inDoublePrecision: true).dense().converted(to: Double.self)
          let inFloat = try floatKFAC.inverse(damping: Float(damping), method: method).dense().converted(to: Double.self)
          let label = "\(name) \(options.approximation) joint=\(options.jointBias) \(method) δ=\(damping)"
          expectClose(inDouble, reference, rtol: 1e-6, atolFactor: 1e-6, label)
          let (errorInDouble, errorInFloat) = (T.relativeDistance(inDouble, reference), T.relativeDistance(inFloat, reference))
          #expect(errorInDouble <= errorInFloat, "\(label): \(errorInDouble) vs \(errorInFloat)")
        }
      }
    }
  }
}

enum KFACLayerFactorsConversion {
  static func toDouble(_ f: KFACLayerFactors<Float>) -> KFACLayerFactors<Double> {
    var result = KFACLayerFactors<Double>(
      layer: f.layer, weightBlock: f.weightBlock, biasBlock: f.biasBlock, joint: f.joint, inputCovariance: nil,
      gradientCovariance: f.gradientCovariance.converted(to: Double.self), weightShape: f.weightShape)
    result.inputCovariance = f.inputCovariance?.converted(to: Double.self)
    return result
  }
}
