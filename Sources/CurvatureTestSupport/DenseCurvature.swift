import Curvature

/// Dense curvature matrices of a model, loss and data set in Double, built entry by entry
/// with reverse-mode `gradient(at:)` only — independent of the curvature operators' code
/// paths (no forward mode, no `Loss` closed forms, no batching, no `CurvatureProblem`).
///
/// The empirical risk is `L(θ) = (1/R) Σ_t ℓ_t` over loss terms `t`: the rows `f_t ∈ ℝ^C`
/// of the outputs (`C` = the last axis, or for cross-entropy on `[N, C, d1, …]` the class
/// axis 1; `T` = data points × positions). `R` = the terms whose target is not the loss's
/// `ignoreIndex` for cross-entropy with mean reduction, `T·C` for MSE and BCE with mean, 1
/// for sum (as PyTorch). An ignored target's term is zero. The per-term losses are written
/// out here from their definitions:
///
/// ```
/// cross-entropy  ℓ(f, y) = log Σ_c exp f_c − q·f,  q = (1 − ε) e_y + ε/C (label smoothing ε)
/// MSE            ℓ(f, y) = Σ_c (f_c − y_c)²
/// BCE            ℓ(f, y) = Σ_c log(1 + exp f_c) − y_c f_c
/// ```
///
/// - `jacobian`: the per-term output Jacobians `J_t` (`[C, P]`, row `c` is the gradient of
///   the single output entry `f_{t,c}`, one reverse pass per entry), stacked `[T·C, P]`.
/// - `lossHessians`: `H_t = ∂²ℓ_t/∂f_t²` by reverse-over-reverse, one row at a time.
/// - `ggn = (1/R) Σ_t J_tᵀ H_t J_t`.
/// - `empiricalFisher = (1/R) Σ_t g_t g_tᵀ` with `g_t = ∇_θ ℓ_t`, the gradient of one term.
/// - `hessian()`: `∂²L/∂θ_i∂θ_j` by reverse-over-reverse, one row at a time.
/// - `finiteDifferenceHessian()`: central differences of the reverse-mode gradient.
///
/// Parameters are the selected blocks (default: all), concatenated in block order, each
/// flattened row-major, as the operators order them.
public struct DenseCurvature: Sendable {
  /// The network.
  public let model: any DifferentiableModel<Double>
  /// Which loss.
  public let lossKind: LossKind
  /// Its reduction.
  public let reduction: LossReduction
  /// Cross-entropy's ignored target value.
  public let ignoreIndex: Int
  /// Cross-entropy's label smoothing.
  public let labelSmoothing: Double
  /// All inputs `[N, ...]` (the first input of a model with several).
  public let inputs: NDArray<Double>
  /// A multi-input model's further inputs, each `[N, ...]` (empty for one input).
  public let extraInputs: [NDArray<Double>]
  /// All targets.
  public let targets: Targets<Double>
  /// The selected parameter blocks, ascending.
  public let blocks: [Int]
  /// The number of selected parameters `P`.
  public let dimension: Int
  /// The number of loss terms `T`.
  public let termCount: Int
  /// The width `C` of a term (the output's last axis).
  public let classCount: Int
  /// `R` of `L = (1/R) Σ_t ℓ_t`.
  public let reductionFactor: Int
  /// The network outputs as term rows `[T, C]`.
  public let outputRows: NDArray<Double>
  /// The per-term output Jacobians `J_t`, each `[C, P]`.
  public let termJacobians: [NDArray<Double>]
  /// The per-term loss Hessians `H_t = ∂²ℓ_t/∂f_t²`, each `[C, C]`.
  public let lossHessians: [NDArray<Double>]
  /// The per-term parameter gradients `∇_θ ℓ_t` (unreduced), each `[P]`.
  public let termGradients: [NDArray<Double>]
  /// Whether each term counts (cross-entropy: its target is not `ignoreIndex`).
  public let countedTerms: [Bool]
  /// The output Jacobian in the outputs' layout, `[N·O, P]`.
  let outputJacobian: NDArray<Double>
  /// Whether term rows permute the outputs (cross-entropy, class axis 1, with positions).
  let classAxisFirst: Bool

  /// Builds the per-term quantities (Jacobians, loss Hessians, gradients).
  /// - Parameters:
  ///   - model: The network at its current parameters.
  ///   - loss: The loss (only its kind and reduction are used).
  ///   - inputs: All inputs, `[N, ...]`.
  ///   - targets: All targets (classes, one per output row; or values shaped like the outputs).
  ///   - extraInputs: A multi-input model's further inputs, each `[N, ...]` (default none).
  ///   - blocks: The parameter blocks to differentiate in (default: all).
  /// - Complexity: `N·O` reverse passes for the Jacobians (`O` outputs per data point),
  ///   `T` for the gradients and `T·C` nested ones for the loss Hessians.
  public init(
    model: any DifferentiableModel<Double>, loss: Loss<Double>, inputs: NDArray<Double>,
    targets: Targets<Double>, extraInputs: [NDArray<Double>] = [], blocks: [Int]? = nil
  ) {
    self.model = model
    self.lossKind = loss.kind
    self.reduction = loss.reduction
    self.ignoreIndex = loss.ignoreIndex
    self.labelSmoothing = loss.labelSmoothing
    self.inputs = inputs
    self.extraInputs = extraInputs
    self.targets = targets
    let blocks = (blocks ?? Array(model.parameterSpecs.indices)).sorted()
    self.blocks = blocks
    self.dimension = blocks.reduce(0) { $0 + model.parameterSpecs[$1].count }

    let n = inputs.shape[0]
    let constants = model.parameters.map { Tensor($0) }
    let selected = blocks.map { constants[$0] }
    func fullParameters(_ chosen: [Tensor<Double>]) -> [Tensor<Double>] {
      var all = constants
      for (position, block) in blocks.enumerated() { all[block] = chosen[position] }
      return all
    }
    /// Every input of data point `i`, each `[1, ...]`.
    func point(_ i: Int) -> [Tensor<Double>] {
      ([inputs] + extraInputs).map { array in
        let size = array.count / Swift.max(n, 1)
        return Tensor(NDArray(shape: [1] + array.shape.dropFirst(), scalars: Array(array.scalars[(i * size)..<((i + 1) * size)])))
      }
    }
    func flat(_ grads: [Tensor<Double>]) -> NDArray<Double> { NDArray(grads.flatMap(\.value.scalars)) }

    // Outputs, one data point at a time (no graph).
    let outputs = AutodiffMode.withoutRecording {
      (0..<n).map { model(point($0), parameters: constants).value }
    }
    let outputsPerPoint = outputs[0].count
    // Cross-entropy's classes are axis 1 of [1, C, d1, …]; otherwise the last axis.
    let pointShape0 = outputs[0].shape
    let classAxisFirst = loss.kind == .crossEntropy && pointShape0.count >= 3 && pointShape0.dropFirst(2).reduce(1, *) > 1
    let c = classAxisFirst ? pointShape0[1] : (pointShape0.last ?? 1)
    let termsPerPoint = outputsPerPoint / c
    /// The entry of a data point's outputs holding class (or column) `k` of position `s`.
    func entry(_ s: Int, _ k: Int) -> Int { classAxisFirst ? k * termsPerPoint + s : s * c + k }
    self.classAxisFirst = classAxisFirst
    self.classCount = c
    self.termCount = n * termsPerPoint
    self.outputRows = NDArray(shape: [n * termsPerPoint, c], scalars: outputs.flatMap { o in
      (0..<termsPerPoint).flatMap { s in (0..<c).map { k in o.scalars[entry(s, k)] } }
    })
    var counted = [Bool](repeating: true, count: n * termsPerPoint)
    if loss.kind == .crossEntropy, case let .classes(classes) = targets {
      counted = classes.map { $0 != loss.ignoreIndex }
    }
    self.countedTerms = counted
    switch (loss.kind, loss.reduction) {
    case (_, .sum): reductionFactor = 1
    case (.crossEntropy, .mean): reductionFactor = counted.filter { $0 }.count
    case (_, .mean): reductionFactor = n * termsPerPoint * c
    }

    // J_t: one reverse pass per output entry f_{t,c}.
    var jacobians = [NDArray<Double>](), entryRows = [Double]()
    for i in 0..<n {
      let x = point(i)
      var rows = [[Double]]()
      for e in 0..<outputsPerPoint {
        let mask = unitArray(outputs[i].shape, e)
        let grads = gradient(at: selected) { p in (model(x, parameters: fullParameters(p)) * Tensor(mask)).sum() }
        rows.append(flat(grads).scalars)
      }
      entryRows += rows.flatMap { $0 }
      for s in 0..<termsPerPoint {
        jacobians.append(NDArray(shape: [c, dimension], scalars: (0..<c).flatMap { rows[entry(s, $0)] }))
      }
    }
    self.termJacobians = jacobians
    self.outputJacobian = NDArray(shape: [n * outputsPerPoint, dimension], scalars: entryRows)

    // H_t by reverse-over-reverse on the term's own loss; g_t by one reverse pass per term.
    let kind = loss.kind
    var hessians = [NDArray<Double>](), gradients = [NDArray<Double>]()
    for t in 0..<(n * termsPerPoint) {
      guard counted[t] else {
        hessians.append(NDArray(zeros: [c, c]))
        gradients.append(NDArray(zeros: [dimension]))
        continue
      }
      let target = DenseCurvature.termTarget(targets, term: t, width: c, labelSmoothing: loss.labelSmoothing)
      let f = Tensor(NDArray(shape: [c], scalars: Array(outputRows.scalars[(t * c)..<((t + 1) * c)])))
      var h = [Double]()
      for row in 0..<c {
        let unit = unitArray([c], row)
        let second = gradient(at: f) { f1 in
          let first = gradient(at: f1) { f2 in DenseCurvature.termLoss(kind, f2, target) }
          return (first * Tensor(unit)).sum()
        }
        h += second.value.scalars
      }
      hessians.append(NDArray(shape: [c, c], scalars: h))

      let (i, position) = t.quotientAndRemainder(dividingBy: termsPerPoint)
      let x = point(i)
      let g = gradient(at: selected) { p in
        let output = model(x, parameters: fullParameters(p))
        let rows = classAxisFirst ? output.reshaped([c, termsPerPoint]).permuted([1, 0]) : output.reshaped([termsPerPoint, c])
        return DenseCurvature.termLoss(kind, rows.sliced(alongAxis: 0, position..<(position + 1)).reshaped([c]), target)
      }
      gradients.append(flat(g))
    }
    self.lossHessians = hessians
    self.termGradients = gradients
  }

  /// A data set's worth of curvature from an `ArrayDataset`.
  public init(model: any DifferentiableModel<Double>, loss: Loss<Double>, data: ArrayDataset<Double>, blocks: [Int]? = nil) {
    self.init(model: model, loss: loss, inputs: data.inputs, targets: data.targets, extraInputs: data.extraInputs, blocks: blocks)
  }

  // MARK: The matrices

  /// The stacked output Jacobian `[T·C, P]` (rows in data order, each data point's outputs
  /// row-major: the `JacobianOperator`'s layout).
  public var jacobian: NDArray<Double> { outputJacobian }

  /// `G = (1/R) Σ_t J_tᵀ H_t J_t`, `[P, P]`.
  public var ggn: NDArray<Double> {
    var g = NDArray<Double>(zeros: [dimension, dimension])
    for (j, h) in zip(termJacobians, lossHessians) {
      g.add(matmul(j, matmul(h, j), transposeA: true))
    }
    return g * (1 / Double(reductionFactor))
  }

  /// `F = (1/R) Σ_t g_t g_tᵀ`, `[P, P]` (curvlinops' `EFLinearOperator`).
  public var empiricalFisher: NDArray<Double> {
    var f = NDArray<Double>(zeros: [dimension, dimension])
    for g in termGradients { f.add(outer(g, g)) }
    return f * (1 / Double(reductionFactor))
  }

  /// `L(θ)` over the whole data set at the selected parameters `chosen` (one batch).
  func risk(_ chosen: [Tensor<Double>]) -> Tensor<Double> {
    var all = model.parameters.map { Tensor($0) }
    for (position, block) in blocks.enumerated() { all[block] = chosen[position] }
    let output = model(([inputs] + extraInputs).map { Tensor($0) }, parameters: all)
    let rows = classAxisFirst
      ? output.reshaped([inputs.shape[0], classCount, termCount / inputs.shape[0]]).permuted([0, 2, 1]).reshaped([termCount, classCount])
      : output.reshaped([termCount, classCount])
    let total: Tensor<Double>
    switch (lossKind, targets) {
    case let (.crossEntropy, .classes(classes)) where labelSmoothing == 0 && !countedTerms.contains(false):
      var onehot = [Double](repeating: 0, count: termCount * classCount)
      for (t, y) in classes.enumerated() { onehot[t * classCount + y] = 1 }
      total = rows.exp().sum(alongAxis: 1).log().sum() - (rows * Tensor(shape: [termCount, classCount], scalars: onehot)).sum()
    case (.crossEntropy, .classes):
      // Smoothed targets q_t; ignored terms weigh 0.
      var q = [Double]()
      for t in 0..<termCount {
        q += countedTerms[t]
          ? DenseCurvature.termTarget(targets, term: t, width: classCount, labelSmoothing: labelSmoothing).scalars
          : [Double](repeating: 0, count: classCount)
      }
      let weights = Tensor(shape: [termCount], scalars: countedTerms.map { $0 ? 1.0 : 0.0 })
      total = (rows.exp().sum(alongAxis: 1).log() * weights).sum() - (rows * Tensor(shape: [termCount, classCount], scalars: q)).sum()
    case let (.mse, .values(y)):
      total = (rows - Tensor(y.reshaped([termCount, classCount]))).squared().sum()
    case let (.bceWithLogits, .values(y)):
      total = (rows.exp() + 1).log().sum() - (rows * Tensor(y.reshaped([termCount, classCount]))).sum()
    default:
      preconditionFailure("DenseCurvature: targets of the wrong kind for \(lossKind)")
    }
    return total * (1 / Double(reductionFactor))
  }

  /// The selected parameters as constant tensors.
  var selectedParameters: [Tensor<Double>] { blocks.map { Tensor(model.parameters[$0]) } }

  /// `∇L` over the selected parameters, flattened, at the flat parameter vector `theta`.
  public func riskGradient(at theta: [Double]) -> [Double] {
    var offset = 0
    let chosen = blocks.map { block -> Tensor<Double> in
      let shape = model.parameterSpecs[block].shape, count = model.parameterSpecs[block].count
      defer { offset += count }
      return Tensor(NDArray(shape: shape, scalars: Array(theta[offset..<(offset + count)])))
    }
    return gradient(at: chosen) { risk($0) }.flatMap(\.value.scalars)
  }

  /// The selected parameters as one flat vector.
  public var flatParameters: [Double] { blocks.flatMap { model.parameters[$0].scalars } }

  /// The Hessian `∂²L/∂θ_i∂θ_j`, `[P, P]`, by reverse-over-reverse: row `i` is the gradient
  /// of `∂L/∂θ_i` (itself a reverse-mode gradient), one row at a time.
  /// - Complexity: `P` nested gradients over the whole data set.
  public func hessian() -> NDArray<Double> {
    let selected = selectedParameters
    var rows = [Double]()
    for (position, block) in blocks.enumerated() {
      let spec = model.parameterSpecs[block]
      for k in 0..<spec.count {
        let unit = unitArray(spec.shape, k)
        let row = gradient(at: selected) { p in
          let first = gradient(at: p) { risk($0) }
          return (first[position] * Tensor(unit)).sum()
        }
        rows += row.flatMap(\.value.scalars)
      }
    }
    return NDArray(shape: [dimension, dimension], scalars: rows)
  }

  /// The Hessian by central differences (step `h`) of the reverse-mode gradient, symmetrized.
  public func finiteDifferenceHessian(step h: Double = 1e-6) -> NDArray<Double> {
    FiniteDifferences.hessian(ofGradient: { riskGradient(at: $0) }, at: flatParameters, step: h)
  }

  /// The exact standard deviation of every entry of the Monte Carlo Fisher estimate
  /// `(1/(R M)) Σ_t Σ_m a_tm a_tmᵀ`, `a_tm = J_tᵀ ĝ_tm`, with `M` independent samples per
  /// term: `sqrt((1/(R² M)) Σ_t Var(a_ti a_tj))`, from the sampling distribution of `ĝ`
  /// (cross-entropy: `p − e_y`, `y ~ Cat(softmax f)`, enumerated; BCE: `σ − b`,
  /// `b ~ Bernoulli(σ)` per entry, all `2^C` outcomes enumerated; MSE: `ĝ ~ N(0, 2I)`, so
  /// `a ~ N(0, Σ)` with `Σ = 2 J_tᵀ J_t` and `Var(a_i a_j) = Σ_ii Σ_jj + Σ_ij²`).
  public func monteCarloFisherStandardDeviation(samples m: Int) -> NDArray<Double> {
    let p = dimension, c = classCount
    var variance = NDArray<Double>(zeros: [p, p])
    for (t, j) in termJacobians.enumerated() where countedTerms[t] {
      let f = Array(outputRows.scalars[(t * c)..<((t + 1) * c)])
      switch lossKind {
      case .mse:
        let sigma = 2 * matmul(j, j, transposeA: true)
        for a in 0..<p { for b in 0..<p { variance[a, b] += sigma[a, a] * sigma[b, b] + sigma[a, b] * sigma[a, b] } }
      case .crossEntropy, .bceWithLogits:
        // Outcomes ĝ with their probabilities.
        var outcomes = [(probability: Double, g: [Double])]()
        if lossKind == .crossEntropy {
          let e = f.map { Double.exp($0 - f.max()!) }, z = e.reduce(0, +)
          let probabilities = e.map { $0 / z }
          for y in 0..<c {
            outcomes.append((probabilities[y], (0..<c).map { probabilities[$0] - ($0 == y ? 1 : 0) }))
          }
        } else {
          let s = f.map { 1 / (1 + Double.exp(-$0)) }
          for bits in 0..<(1 << c) {
            var probability = 1.0, g = [Double]()
            for k in 0..<c {
              let b = (bits >> k) & 1 == 1
              probability *= b ? s[k] : 1 - s[k]
              g.append(s[k] - (b ? 1 : 0))
            }
            outcomes.append((probability, g))
          }
        }
        var second = NDArray<Double>(zeros: [p, p]), fourth = NDArray<Double>(zeros: [p, p])
        for outcome in outcomes {
          let a = matvec(j, NDArray(outcome.g), transpose: true)
          for x in 0..<p {
            for y in 0..<p {
              let product = a.scalars[x] * a.scalars[y]
              second[x, y] += outcome.probability * product
              fourth[x, y] += outcome.probability * product * product
            }
          }
        }
        for x in 0..<p { for y in 0..<p { variance[x, y] += fourth[x, y] - second[x, y] * second[x, y] } }
      }
    }
    let r = Double(reductionFactor)
    return NDArray(shape: [p, p], scalars: variance.scalars.map { (Swift.max($0, 0) / (r * r * Double(m))).squareRoot() })
  }

  // MARK: Per-term losses, written out

  /// The target of term `t`: a class index (as a one-hot row, smoothed to
  /// `(1 − ε) e_y + ε/C`) or a value row.
  static func termTarget(_ targets: Targets<Double>, term t: Int, width c: Int, labelSmoothing: Double = 0) -> NDArray<Double> {
    switch targets {
    case let .classes(classes):
      guard labelSmoothing > 0 else { return unitArray([c], classes[t]) }
      return NDArray((0..<c).map { ($0 == classes[t] ? 1 - labelSmoothing : 0) + labelSmoothing / Double(c) })
    case let .values(values):
      return NDArray(shape: [c], scalars: Array(values.scalars[(t * c)..<((t + 1) * c)]))
    }
  }

  /// `ℓ(f, y)` for one term row `f` `[C]`; `target` is one-hot for cross-entropy.
  static func termLoss(_ kind: LossKind, _ f: Tensor<Double>, _ target: NDArray<Double>) -> Tensor<Double> {
    let y = Tensor(target)
    switch kind {
    case .crossEntropy: return f.exp().sum().log() - (f * y).sum()
    case .mse: return (f - y).squared().sum()
    case .bceWithLogits: return (f.exp() + 1).log().sum() - (f * y).sum()
    }
  }
}

/// Zeros of `shape` with a 1 at flat position `index`.
func unitArray(_ shape: [Int], _ index: Int) -> NDArray<Double> {
  var scalars = [Double](repeating: 0, count: shape.reduce(1, *))
  scalars[index] = 1
  return NDArray(shape: shape, scalars: scalars)
}

extension NDArray {
  /// The principal submatrix of a square matrix at `indices` (rows and columns).
  public func principalSubmatrix(_ indices: [Int]) -> NDArray {
    let n = shape[1]
    return NDArray(shape: [indices.count, indices.count]) { index in
      scalars[indices[index[0]] * n + indices[index[1]]]
    }
  }
}
