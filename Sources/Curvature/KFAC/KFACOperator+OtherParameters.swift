import CurvatureNumerics
import CurvatureLinearAlgebra
import CurvatureNN

/// How a Kronecker-factored operator treats selected parameter blocks that no Linear or
/// convolution node owns: LayerNorm and BatchNorm affine parameters, embeddings, free
/// parameters (position embeddings), and tied parameters (a head sharing the token
/// embedding's weight). curvlinops refuses them ("parameters in un-supported layers").
///
/// Rule for tied parameters: a parameter block read by several nodes is never
/// Kronecker-factored (no single node's input and output gradient describe it); it is an
/// other parameter, and its exact block or diagonal accounts for every use.
public enum OtherParameters: String, Sendable, Codable, CaseIterable {
  /// Each block's exact curvature block (dense `[p, p]`; the blocks stay separate):
  /// the GGN for type-2 and forward-only, the MC Fisher for mc, the empirical Fisher for
  /// empirical.
  case exactBlock = "exact-block"
  /// The exact diagonal of that block.
  case diagonal
  /// Zero: the blocks get no curvature (rows and columns of zeros).
  case exclude
}

/// The curvature of one parameter block outside every Kronecker node, in a mixed operator.
public struct OtherParameterBlock<Scalar: BLASScalar>: Sendable, Equatable {
  /// The parameter block.
  public var block: Int
  /// The exact block `[p, p]` (`.exactBlock`), its diagonal `[p]` (`.diagonal`), or nil
  /// (`.exclude`).
  public var curvature: NDArray<Scalar>?
}

extension CurvatureProblem {
  /// The exact curvature of the other parameter blocks of a mixed operator.
  /// - Throws: What the curvature operators throw.
  /// - Complexity: Per block of `p` parameters, `p` matrix-vector products of the exact
  ///   operator restricted to it (the diagonal: the operator's exact diagonal where it
  ///   has one).
  func otherParameterBlocks(_ blocks: [Int], options: KFACOptions) throws -> [OtherParameterBlock<Scalar>] {
    guard let treatment = options.otherParameters else { return [] }
    return try blocks.map { block in
      guard treatment != .exclude else { return OtherParameterBlock(block: block, curvature: nil) }
      let restricted = try self.restricted(to: [block])
      let op: any LinearOperator<Scalar>
      switch options.fisherType {
      case .type2, .forwardOnly: op = GGNOperator(restricted)
      case .empirical: op = EmpiricalFisherOperator(restricted)
      case .mc: op = try MonteCarloFisherOperator(restricted, mcSamples: options.mcSamples, seed: options.seed)
      }
      let dense = try op.dense()
      return OtherParameterBlock(block: block, curvature: treatment == .exactBlock ? dense : dense.diagonal())
    }
  }

  /// The one-line note a command prints on stderr for a mixed operator: which parameters
  /// got what; nil when every selected block is Kronecker-factored.
  func otherParametersNote(_ blocks: [Int], options: KFACOptions, method: String) -> String? {
    guard !blocks.isEmpty, let treatment = options.otherParameters else { return nil }
    let names = blocks.map { model.parameterSpecs[$0].name }.joined(separator: ", ")
    let matrix = options.fisherType == .empirical ? "empirical Fisher" : options.fisherType == .mc ? "MC Fisher" : "GGN"
    let what: String
    switch treatment {
    case .exactBlock: what = "their exact \(matrix) blocks"
    case .diagonal: what = "the exact diagonal of their \(matrix) blocks"
    case .exclude: what = "no curvature (excluded)"
    }
    return "\(method): \(blocks.count) parameter block\(blocks.count == 1 ? "" : "s") outside the linear and convolution nodes get \(what): \(names)"
  }
}

/// Replaces the rows of the other blocks in `result` (`[P, k]`) by their curvature
/// applied to the same rows of `x`.
func applyOtherBlocks<Scalar: BLASScalar>(
  _ x: NDArray<Scalar>, into result: inout NDArray<Scalar>, blocks: [OtherParameterBlock<Scalar>], offsets: [Int: Int],
  sizes: [Int: Int]
) {
  let k = x.shape[1]
  for other in blocks {
    let (start, p) = (offsets[other.block]! * k, sizes[other.block]!)
    let rows = NDArray(shape: [p, k], scalars: Array(x.scalars[start..<(start + p * k)]))
    let product: NDArray<Scalar>
    if let m = other.curvature, m.rank == 2 {
      product = matmul(m, rows)
    } else if let d = other.curvature {
      product = NDArray.binary(.multiply, rows, d.reshaped([p, 1]))
    } else {
      product = NDArray(zeros: [p, k])
    }
    result.scalars.replaceSubrange(start..<(start + p * k), with: product.scalars)
  }
}

extension OtherParameterBlock {
  /// `tr`, `‖·‖²_F` and the sign and log-magnitude of the determinant of the block.
  func closedForms() throws -> (trace: Scalar, squaredNorm: Scalar, sign: Scalar, logMagnitude: Scalar) {
    guard let m = curvature else { return (0, 0, 0, -.infinity) }
    if m.rank == 2 {
      let (sign, log) = try m.signAndLogDeterminant()
      let norm = m.norm()
      return (m.trace(), norm * norm, sign, log)
    }
    var sign: Scalar = 1, log: Scalar = 0, squared: Scalar = 0
    for d in m.scalars {
      squared += d * d
      if d == 0 { sign = 0; log = -.infinity } else if sign != 0 { sign *= d < 0 ? -1 : 1; log += Scalar.log(Swift.abs(d)) }
    }
    return (m.scalars.reduce(0, +), squared, sign, log)
  }
}
