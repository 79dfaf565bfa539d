import Synchronization
import CurvatureNumerics
import CurvatureLinearAlgebra
import CurvatureNN

/// How a Kronecker-factored operator treats selected parameter blocks that no Linear or
/// convolution node owns: LayerNorm and BatchNorm affine parameters, embeddings, free
/// parameters (position embeddings), and tied parameters (a head sharing the token
/// embedding's weight). curvlinops refuses them ("parameters in un-supported layers").
///
/// Rule for tied parameters: a parameter block read by several nodes is never
/// Kronecker-factored (no single node's input and output gradient describe it) — even with
/// `KFACOptions.embeddings`; it is an other parameter, and its exact block or diagonal
/// accounts for every use. (A packed projection, read as row slices by the linear nodes of
/// one input, is not tied: see `PackedProjection`.) For the mc Fisher type the blocks are
/// the Monte Carlo Fisher's with the options' seed and samples — the labels the Kronecker
/// part samples.
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

/// The other-parameter part of a mixed KFAC or EKFAC operator: the selected blocks outside
/// every Kronecker node, their exact curvature (computed once, on first use, or given), and
/// what the operators do with it — products, closed forms, the diagonal and damped inverses.
/// `KFACOperator` and `EKFACOperator` hold one each (EKFAC built from KFAC shares KFAC's).
final class OtherParameterPart<Scalar: BLASScalar>: Sendable {
  let problem: CurvatureProblem<Scalar>
  let options: KFACOptions
  /// The other blocks, in the problem's order.
  let blocks: [Int]
  /// The flat offset of every selected block.
  let offsets: [Int: Int]
  let cache: Mutex<[OtherParameterBlock<Scalar>]?>

  init(_ problem: CurvatureProblem<Scalar>, options: KFACOptions, blocks: [Int], offsets: [Int: Int], curvature: [OtherParameterBlock<Scalar>]? = nil) {
    self.problem = problem
    self.options = options
    self.blocks = blocks
    self.offsets = offsets
    self.cache = Mutex(blocks.isEmpty ? [] : curvature)
  }

  /// The parameter count of a block.
  func size(_ block: Int) -> Int { problem.model.parameterSpecs[block].count }

  /// The exact curvature of the other blocks, computed on first use.
  /// - Throws: What the exact operators throw.
  func curvature() throws -> [OtherParameterBlock<Scalar>] {
    if let blocks = cache.withLock({ $0 }) { return blocks }
    let computed = try problem.otherParameterBlocks(blocks, options: options)
    cache.withLock { $0 = computed }
    return computed
  }

  /// Whether given curvature blocks fit this part: the same blocks in order, each a
  /// `[p, p]` block, a `[p]` diagonal or nil as the treatment says.
  func fits(_ curvature: [OtherParameterBlock<Scalar>]) -> Bool {
    guard let treatment = options.otherParameters else { return curvature.isEmpty && blocks.isEmpty }
    return curvature.map(\.block) == blocks && curvature.allSatisfy { other in
      let p = size(other.block)
      switch treatment {
      case .exactBlock: return other.curvature?.shape == [p, p]
      case .diagonal: return other.curvature?.shape == [p]
      case .exclude: return other.curvature == nil
      }
    }
  }

  /// The one-line note for stderr (see `otherParametersNote`).
  func note(method: String) -> String? { problem.otherParametersNote(blocks, options: options, method: method) }

  /// Replaces the other blocks' rows of `result` (`[P, k]`) by their curvature applied to
  /// the same rows of `x`.
  func apply(_ x: NDArray<Scalar>, into result: inout NDArray<Scalar>) throws {
    guard !blocks.isEmpty else { return }
    applyOtherBlocks(x, into: &result, blocks: try curvature(), offsets: offsets, sizes: sizes)
  }

  var sizes: [Int: Int] { Dictionary(uniqueKeysWithValues: blocks.map { ($0, size($0)) }) }

  /// Writes the other blocks' diagonals into `result` (`[P]` or `[P, 1]`).
  func writeDiagonal(into result: inout NDArray<Scalar>) throws {
    for other in try curvature() {
      let start = offsets[other.block]!, p = size(other.block)
      let d = other.curvature.map { $0.rank == 2 ? $0.diagonal() : $0 } ?? NDArray(zeros: [p])
      result.scalars.replaceSubrange(start..<(start + p), with: d.scalars)
    }
  }

  /// The other blocks' summed trace and squared Frobenius norm, and the sign and
  /// log-magnitude of the product of their determinants.
  func closedForms() throws -> (trace: Scalar, squaredNorm: Scalar, sign: Scalar, logMagnitude: Scalar) {
    var result: (trace: Scalar, squaredNorm: Scalar, sign: Scalar, logMagnitude: Scalar) = (0, 0, 1, 0)
    for other in try curvature() {
      let forms = try other.closedForms()
      result.trace += forms.trace
      result.squaredNorm += forms.squaredNorm
      if forms.sign == 0 || result.sign == 0 {
        (result.sign, result.logMagnitude) = (0, -.infinity)
      } else {
        result.sign *= forms.sign
        result.logMagnitude += forms.logMagnitude
      }
    }
    return result
  }

  /// The other blocks of `(M + δI)⁻¹`: the inverse of every damped exact block, the
  /// reciprocals of every damped diagonal, `1/δ` for excluded blocks.
  /// - Throws: `LinearOperatorError.singular` when a damped block is singular (with δ = 0:
  ///   a block with a zero eigenvalue to working precision, or an excluded block).
  /// - Complexity: One `p×p` eigendecomposition per exact block; with several ranks, block
  ///   `i` is decomposed on rank `i mod K` and broadcast (the same bits on every rank, and
  ///   every rank throws the same error for a singular block).
  func inverse(damping: Scalar) throws -> [OtherParameterBlock<Scalar>] {
    let others = try curvature()
    let exact = others.compactMap { other in other.curvature.flatMap { $0.rank == 2 ? $0 : nil } }
    let decompositions = try problem.spreadOverRanks(exact, arrays: 2) { m -> [NDArray<Scalar>] in
      let (values, basis) = try m.symmetricEigen()
      return [values, basis]
    }
    var next = decompositions.makeIterator()
    return try others.map { other in
      let name = problem.model.parameterSpecs[other.block].name
      let p = size(other.block)
      func singular(_ detail: String) -> LinearOperatorError {
        LinearOperatorError.singular("the curvature block of the other parameter '\(name)' is singular with damping \(damping) (\(detail)); use a positive damping")
      }
      guard let m = other.curvature else {
        guard damping > 0 else { throw singular("it is excluded: zero") }
        return OtherParameterBlock(block: other.block, curvature: NDArray(repeating: 1 / damping, shape: [p]))
      }
      if m.rank == 1 {
        var inverse = m
        for i in inverse.scalars.indices {
          let shifted = m.scalars[i] + damping
          guard shifted > 0 else { throw singular("diagonal entry \(m.scalars[i])") }
          inverse.scalars[i] = 1 / shifted
        }
        return OtherParameterBlock(block: other.block, curvature: inverse)
      }
      // A GGN or Fisher block is positive semidefinite: invert through its eigenvalues and
      // refuse those that are not positive after damping (rounding-level ones with δ = 0).
      guard let decomposition = next.next() else {
        throw CurvatureError.invalidArgument("internal: no eigendecomposition for the other parameter '\(name)'")
      }
      let (values, basis) = (decomposition[0], decomposition[1])
      let largest = Swift.max(values.scalars.last ?? 0, 0)
      let floor = damping > 0 ? 0 : Scalar(p) * Scalar.ulpOfOne * largest
      guard let smallest = values.scalars.first, smallest + damping > floor else {
        throw singular("eigenvalues from \(values.scalars.first ?? 0) to \(values.scalars.last ?? 0)")
      }
      return OtherParameterBlock(
        block: other.block, curvature: KFACInverseOperator<Scalar>.eigenFunction(basis, values) { 1 / ($0 + damping) })
    }
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
