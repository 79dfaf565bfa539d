import Synchronization
import CurvatureNumerics
import CurvatureLinearAlgebra
import CurvatureAutodiff

/// Kronecker-factored approximate curvature (KFAC): block-diagonal over Linear and Conv2d
/// layers, each block a Kronecker product of the layer's input covariance `A` and output-
/// gradient covariance `B` (Martens & Grosse 2015; Grosse & Martens 2016 for convolutions;
/// Eschenhagen et al. 2023 for weight sharing).
///
/// With Curvature's row-major parameter flattening a weight block is `B ⊗ A`, so
/// `(B ⊗ A) vec(V) = vec(B V A)`; a separate bias block is `B`; a joint `[W b]` block is
/// `B ⊗ A_joint`. Scaling follows curvlinops' `KFACLinearOperator` exactly (see
/// `KFACLayerFactors`): for `reduction = mean` the factors carry `1/N` (A) and `1/R` (B), so
/// KFAC approximates the same matrix as `GGNOperator` (type-2), `MonteCarloFisherOperator`
/// (mc) or `EmpiricalFisherOperator` (empirical) — peers differ here by factors of N and 2.
///
/// Factors are accumulated with gemms over batches, once, on first use or by
/// `computeFactors()`; they can be saved and loaded (`save(to:)`, `init(_:contentsOf:)`).
/// `EKFACOperator` corrects the eigenvalues in the factors' eigenbasis.
///
/// ```swift
/// let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .type2))
/// let y = try kfac.apply(v)
/// let inverse = try kfac.inverse(damping: 1e-3)          // exact (A ⊗ B + δI)⁻¹
/// ```
public final class KFACOperator<Scalar: BLASScalar>: LinearOperator {
  /// The model, loss and data.
  public let problem: CurvatureProblem<Scalar>
  /// The approximation's options.
  public let options: KFACOptions
  let cache: Mutex<[KFACLayerFactors<Scalar>]?>
  let offsets: [Int: Int]
  /// Whether every input factor is symmetric to the bit, so that products may read only
  /// its upper triangle: always for computed factors (mirrored after their syrk), checked
  /// for given ones.
  let inputFactorsSymmetric: Bool
  /// The selected blocks outside every Kronecker node (with `options.otherParameters`) and
  /// their exact curvature.
  let otherPart: OtherParameterPart<Scalar>
  /// The selected blocks outside every Kronecker node.
  var others: [Int] { otherPart.blocks }

  /// KFAC of a curvature problem. By default the initializer returns at once and the
  /// factors are built on first use (the first product, inverse or query, or
  /// `computeFactors()`), so time that first call, not this one; pass `eager: true` to
  /// build them here (for timing, or to see data errors now).
  ///
  /// ```swift
  /// let lazy = try KFACOperator(problem)                // returns at once
  /// let built = try KFACOperator(problem, eager: true)  // factors built here
  /// ```
  /// - Parameters:
  ///   - problem: The model, loss and data.
  ///   - options: The approximation's options.
  ///   - eager: Build the factors (and the blocks of `otherParameterBlocks()`) now
  ///     (default false: on first use).
  /// - Throws: `CurvatureError.unsupported` when the model is not `KroneckerFactorable`
  ///   (a `Sequential` or a `GraphModel`) or a selected parameter sits outside its Linear
  ///   and convolution layers or nodes;
  ///   `.invalidArgument` for invalid options.
  ///   With `eager`, what `computeFactors()` and `otherParameterBlocks()` throw.
  public init(_ problem: CurvatureProblem<Scalar>, options: KFACOptions = KFACOptions(), eager: Bool = false) throws {
    guard options.mcSamples >= 1, options.fisherType == .mc || options.mcSamples == 1 else {
      throw CurvatureError.invalidArgument("mcSamples = \(options.mcSamples) is invalid for the \(options.fisherType.rawValue) Fisher type (mc needs ≥ 1, the others exactly 1)")
    }
    let others = try problem.kfacLayout(jointBias: options.jointBias, allowingOthers: options.otherParameters != nil, embeddings: options.embeddings).others
    self.problem = problem
    self.options = options
    let offsets = KFACOperator.blockOffsets(problem)
    self.cache = Mutex(nil)
    self.offsets = offsets
    self.inputFactorsSymmetric = true
    self.otherPart = OtherParameterPart(problem, options: options, blocks: others, offsets: offsets)
    if eager {
      try computeFactors()
      _ = try otherParameterBlocks()
    }
  }

  /// KFAC with given factors (e.g. loaded from a file).
  /// - Parameters:
  ///   - problem: The model, loss and data (the data are used only for other blocks not given).
  ///   - options: The options the factors were computed with.
  ///   - factors: The Kronecker factors of every covered node, in the layout's order.
  ///   - otherBlocks: The curvature of the other parameter blocks of a mixed operator (as
  ///     `otherParameterBlocks()` returns it); nil computes them on first use.
  /// - Throws: `CurvatureError.invalidArgument` when the factors or other blocks do not
  ///   match the problem.
  public init(
    _ problem: CurvatureProblem<Scalar>, options: KFACOptions, factors: [KFACLayerFactors<Scalar>],
    otherBlocks: [OtherParameterBlock<Scalar>]? = nil
  ) throws {
    let full = try problem.kfacLayout(jointBias: options.jointBias, allowingOthers: options.otherParameters != nil, embeddings: options.embeddings)
    let layout = full.factors
    guard layout.count == factors.count, zip(layout, factors).allSatisfy({
      $0.layer == $1.layer && $0.weightBlock == $1.weightBlock && $0.biasBlock == $1.biasBlock
        && $0.joint == $1.joint && $0.weightShape == $1.weightShape
        && $1.gradientCovariance.shape == [$1.weightShape[0], $1.weightShape[0]]
        && ($1.weightBlock == nil || $1.inputCovariance?.shape == [$1.weightShape[1] + ($1.joint ? 1 : 0), $1.weightShape[1] + ($1.joint ? 1 : 0)])
    }) else {
      throw CurvatureError.invalidArgument("the KFAC factors do not match the model's layers and the selected parameter blocks")
    }
    self.problem = problem
    self.options = options
    let offsets = KFACOperator.blockOffsets(problem)
    let otherPart = OtherParameterPart(problem, options: options, blocks: full.others, offsets: offsets, curvature: otherBlocks)
    self.cache = Mutex(factors)
    self.offsets = offsets
    self.inputFactorsSymmetric = factors.allSatisfy { $0.inputCovariance?.isSymmetricToTheBit() ?? true }
    self.otherPart = otherPart
    if let otherBlocks, !otherPart.fits(otherBlocks) {
      throw CurvatureError.invalidArgument("the other parameter blocks do not match the model's blocks outside the Kronecker nodes (\(full.others)) and the option \(options.otherParameters?.rawValue ?? "nil")")
    }
  }

  static func blockOffsets(_ problem: CurvatureProblem<Scalar>) -> [Int: Int] {
    var offsets = [Int: Int](), offset = 0
    for block in problem.blocks {
      offsets[block] = offset
      offset += problem.model.parameterSpecs[block].count
    }
    return offsets
  }

  /// The factors, computing them on first use.
  /// - Throws: What the data pass throws.
  /// - Complexity: One pass over the data the first time.
  @discardableResult
  public func computeFactors() throws -> [KFACLayerFactors<Scalar>] {
    if let factors = cache.withLock({ $0 }) { return factors }
    let factors = try problem.kfacFactors(options)
    cache.withLock { $0 = factors }
    return factors
  }

  public var rowCount: Int { problem.dimension }
  public var columnCount: Int { problem.dimension }
  public var isSymmetric: Bool { true }

  /// `K X` for `X` of shape `[P, k]`: per layer two gemms, `B V A`.
  /// - Throws: What computing the factors throws.
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    let factors = try computeFactors()
    var result = applyBlocks(x, factors: factors) { layer, weight, bias in
      KFACOperator.kroneckerProduct(
        layer.gradientCovariance, layer.inputCovariance, weight: weight, bias: bias, joint: layer.joint,
        rightIsSymmetric: inputFactorsSymmetric)
    }
    try applyOthers(x, into: &result)
    return result
  }

  /// The exact curvature of the selected blocks outside every Kronecker node (empty
  /// unless `options.otherParameters` is set and there are such blocks), computed on first
  /// use: per block its exact `[p, p]` block, its diagonal `[p]`, or nil (excluded).
  /// - Throws: What the exact operators throw.
  /// - Complexity: `p` exact matrix-vector products per other block of `p` parameters.
  public func otherParameterBlocks() throws -> [OtherParameterBlock<Scalar>] { try otherPart.curvature() }

  /// The one-line note for stderr saying which parameters are not Kronecker-factored and
  /// what they got; nil when all are.
  public var otherParametersNote: String? { otherPart.note(method: "KFAC") }

  func applyOthers(_ x: NDArray<Scalar>, into result: inout NDArray<Scalar>) throws {
    try otherPart.apply(x, into: &result)
  }

  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try apply(matrix: x) }

  /// Applies a per-layer map to the weight rows `[out, in, k]` and bias rows `[out, k]` of
  /// `X` and reassembles the result. Parameters outside every layer pass through unchanged
  /// (there are none for supported models).
  func applyBlocks<W: BLASScalar>(
    _ x: NDArray<W>, factors: [KFACLayerFactors<W>],
    _ map: (KFACLayerFactors<W>, NDArray<W>?, NDArray<W>?) -> (NDArray<W>?, NDArray<W>?)
  ) -> NDArray<W> {
    applyLayerBlocks(x, offsets: offsets, layers: factors, map)
  }

  /// `(L ⊗ R) vec(V)` = `L V R` for weight rows `[out, in, k]` (R symmetric), `L v` for bias
  /// rows, or the joint form on `[W | b]`. With `rightIsSymmetric`, `R` must be symmetric to
  /// the bit: the product with it may read only its upper triangle (`matmulSymmetric`).
  static func kroneckerProduct(
    _ left: NDArray<Scalar>, _ right: NDArray<Scalar>?, weight: NDArray<Scalar>?, bias: NDArray<Scalar>?, joint: Bool,
    rightIsSymmetric: Bool = false
  ) -> (NDArray<Scalar>?, NDArray<Scalar>?) {
    if joint, let weight, let bias, let right {
      let (out, inputs, k) = (weight.shape[0], weight.shape[1], weight.shape[2])
      let stacked = concatenateRows(weight, bias.reshaped([out, 1, k]))       // [out, in+1, k]
      let product = sandwich(left, stacked, right, rightIsSymmetric: rightIsSymmetric)
      let (w, b) = splitRows(product, at: inputs)
      return (w, b.reshaped([out, k]))
    }
    return (
      weight.flatMap { w in right.map { sandwich(left, w, $0, rightIsSymmetric: rightIsSymmetric) } },
      bias.map { matmul(left, $0) })
  }

  /// `L V R` for every column of `V` `[out, in, k]`, with `R` `[in, in]`; with
  /// `rightIsSymmetric` (R symmetric to the bit) the product with `R` is `matmulSymmetric`,
  /// which for few rows and a large `R` reads only its upper triangle.
  static func sandwich(
    _ left: NDArray<Scalar>, _ v: NDArray<Scalar>, _ right: NDArray<Scalar>, rightIsSymmetric: Bool = false
  ) -> NDArray<Scalar> {
    let (out, inputs, k) = (v.shape[0], v.shape[1], v.shape[2])
    let lv = matmul(left, v.reshaped([out, inputs * k]))                     // one gemm for all columns
    let times = { (rows: NDArray<Scalar>) in rightIsSymmetric ? matmulSymmetric(rows, right) : matmul(rows, right) }
    if k == 1 { return times(lv.reshaped([out, inputs])).reshaped([out, inputs, 1]) }
    let columnsLast = lv.reshaped([out, inputs, k]).permuted([0, 2, 1]).reshaped([out * k, inputs])
    return times(columnsLast).reshaped([out, k, inputs]).permuted([0, 2, 1])
  }

  /// `[a; b]` along axis 1 for `[out, m, k]` and `[out, 1, k]`.
  static func concatenateRows(_ a: NDArray<Scalar>, _ b: NDArray<Scalar>) -> NDArray<Scalar> {
    let (out, m, k) = (a.shape[0], a.shape[1], a.shape[2])
    var scalars = [Scalar]()
    scalars.reserveCapacity(out * (m + 1) * k)
    for o in 0..<out {
      scalars.append(contentsOf: a.scalars[(o * m * k)..<((o + 1) * m * k)])
      scalars.append(contentsOf: b.scalars[(o * k)..<((o + 1) * k)])
    }
    return NDArray(shape: [out, m + 1, k], scalars: scalars)
  }

  /// Splits `[out, m+1, k]` into `[out, m, k]` and `[out, 1, k]`.
  static func splitRows(_ x: NDArray<Scalar>, at m: Int) -> (NDArray<Scalar>, NDArray<Scalar>) {
    let (out, k) = (x.shape[0], x.shape[2])
    var first = [Scalar](), second = [Scalar]()
    first.reserveCapacity(out * m * k)
    second.reserveCapacity(out * k)
    for o in 0..<out {
      let base = o * (m + 1) * k
      first.append(contentsOf: x.scalars[base..<(base + m * k)])
      second.append(contentsOf: x.scalars[(base + m * k)..<(base + (m + 1) * k)])
    }
    return (NDArray(shape: [out, m, k], scalars: first), NDArray(shape: [out, 1, k], scalars: second))
  }
}

/// What a Kronecker-factored layer knows about where its parameters sit.
protocol KroneckerLayerLayout {
  var layer: Int { get }
  var weightBlock: Int? { get }
  var biasBlock: Int? { get }
  var joint: Bool { get }
  var weightShape: [Int] { get }
}

extension KFACLayerFactors: KroneckerLayerLayout {}

/// Applies a per-layer map to the weight rows `[out, in, k]` and bias rows `[out, k]` of
/// `X` (`[P, k]`, blocks at `offsets`) and reassembles the result. Parameters outside
/// every layer pass through unchanged.
func applyLayerBlocks<W: BLASScalar, L: KroneckerLayerLayout>(
  _ x: NDArray<W>, offsets: [Int: Int], layers: [L],
  _ map: (L, NDArray<W>?, NDArray<W>?) -> (NDArray<W>?, NDArray<W>?)
) -> NDArray<W> {
  let k = x.shape[1]
  var result = x
  func rows(_ block: Int, _ shape: [Int]) -> NDArray<W> {
    let start = offsets[block]! * k, count = shape.reduce(1, *) * k
    return NDArray(shape: shape + [k], scalars: Array(x.scalars[start..<(start + count)]))
  }
  for layer in layers {
    let (out, inputs) = (layer.weightShape[0], layer.weightShape[1])
    let weight = layer.weightBlock.map { rows($0, [out, inputs]) }
    let bias = layer.biasBlock.map { rows($0, [out]) }
    let (newWeight, newBias) = map(layer, weight, bias)
    if let block = layer.weightBlock, let newWeight {
      result.scalars.replaceSubrange((offsets[block]! * k)..<((offsets[block]! + out * inputs) * k), with: newWeight.scalars)
    }
    if let block = layer.biasBlock, let newBias {
      result.scalars.replaceSubrange((offsets[block]! * k)..<((offsets[block]! + out) * k), with: newBias.scalars)
    }
  }
  return result
}
