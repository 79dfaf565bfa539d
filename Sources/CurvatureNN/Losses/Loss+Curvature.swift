import CurvatureNumerics

// Per-term derivatives of the losses with respect to the network's outputs, in closed form.
// Outputs are viewed as term rows [T, C]: one row per loss term, a (data point, position)
// pair. Cross-entropy's class axis is axis 1 (PyTorch: outputs [N, C, d1, …] give rows
// [N·d1·…, C], as curvlinops' "batch c ... -> (batch ...) c"); MSE and BCE take the last
// axis ("batch ... c -> (batch ...) c"). Each term ℓ_t is unreduced (no 1/R factor):
//   cross-entropy  ℓ = −q·log softmax(f)   ∇ = p − q   H = diag(p) − ppᵀ
//     (q = (1−ε) e_y + ε/C: label smoothing leaves H unchanged; an ignored target: ℓ = 0)
//   MSE            ℓ = Σ_c (f_c − y_c)²      ∇ = 2(f − y)      H = 2I
//   BCE            ℓ = Σ_c softplus(f_c) − y_c f_c   ∇ = σ(f) − y   H = diag(σ(1−σ))
// Functions taking or returning arrays "shaped like the outputs" convert with `termRows`
// and `outputLayout`; those returning [T, C] rows say so.

extension Loss {
  /// The number of loss terms and their width for outputs of `shape`: `[T, C]`.
  package func termShape(_ outputShape: [Int]) -> [Int] {
    // Outputs [N] (one entry per data point, no class axis): N terms of width 1, so that
    // per-term quantities stay per data point (not one term spanning the batch).
    guard outputShape.count >= 2 else { return [outputShape.first ?? 1, 1] }
    if kind == .crossEntropy {
      return [outputShape[0] * Loss.positions(outputShape), outputShape[1]]
    }
    let c = outputShape.last ?? 1
    return [outputShape.reduce(1, *) / Swift.max(c, 1), c]
  }

  /// Whether term rows are a permutation of the outputs (cross-entropy on `[N, C, d1, …]`)
  /// rather than a reshape.
  package func termsArePermuted(_ outputShape: [Int]) -> Bool {
    kind == .crossEntropy && outputShape.count >= 3 && Loss.positions(outputShape) > 1
  }

  /// An array shaped like the outputs as term rows `[T, C]`.
  package func termRows(_ x: NDArray<Scalar>, outputShape: [Int]) -> NDArray<Scalar> {
    let rows = termShape(outputShape)
    guard termsArePermuted(outputShape) else { return x.reshaped(rows) }
    return x.reshaped([outputShape[0], outputShape[1], Loss.positions(outputShape)]).permuted([0, 2, 1]).reshaped(rows)
  }

  /// Term rows `[T, C]` as an array shaped like the outputs (`termRows`' inverse).
  package func outputLayout(_ rows: NDArray<Scalar>, outputShape: [Int]) -> NDArray<Scalar> {
    guard termsArePermuted(outputShape) else { return rows.reshaped(outputShape) }
    let (n, c) = (outputShape[0], outputShape[1])
    return rows.reshaped([n, Loss.positions(outputShape), c]).permuted([0, 2, 1]).reshaped(outputShape)
  }

  /// Which term rows count (cross-entropy: the target is not `ignoreIndex`); nil when all do.
  package func countedRows(_ targets: Targets<Scalar>) -> [Bool]? {
    guard kind == .crossEntropy, case let .classes(classes) = targets, classes.contains(ignoreIndex) else { return nil }
    return classes.map { $0 != ignoreIndex }
  }

  /// Zeros the rows `[T, ...]` of `x` whose terms do not count.
  func zeroingIgnoredRows(_ x: NDArray<Scalar>, _ counted: [Bool]?) -> NDArray<Scalar> {
    guard let counted else { return x }
    var y = x
    let width = x.count / Swift.max(counted.count, 1)
    for (t, keep) in counted.enumerated() where !keep {
      for i in (t * width)..<((t + 1) * width) { y.scalars[i] = 0 }
    }
    return y
  }

  /// The total reduction factor `R` of `Σ_t ℓ_t / R` for a data set of `count` points
  /// whose single output has shape `sampleOutputShape`, when no target is ignored: 1 for
  /// `.sum` (`CurvatureProblem` counts the cross-entropy targets that count instead).
  public func reductionFactor(count: Int, sampleOutputShape: [Int]) -> Int {
    normalization(outputShape: [count] + sampleOutputShape)
  }

  /// `∂ℓ_t/∂f_t` for every term as rows `[T, C]` (zero for an ignored target), for outputs
  /// `f` (any layout).
  package func outputGradients(_ f: NDArray<Scalar>, _ targets: Targets<Scalar>) -> NDArray<Scalar> {
    let rows = termRows(f, outputShape: f.shape)
    switch (kind, targets) {
    case let (.crossEntropy, .classes(classes)):
      var g = Loss.softmaxRows(rows)
      let c = rows.shape[1]
      let smoothing = Scalar(labelSmoothing / Double(c))
      for (t, y) in classes.enumerated() {
        guard y != ignoreIndex else {
          for k in 0..<c { g.scalars[t * c + k] = 0 }
          continue
        }
        if labelSmoothing > 0 {
          for k in 0..<c { g.scalars[t * c + k] -= smoothing }
          g.scalars[t * c + y] -= Scalar(1 - labelSmoothing)
        } else {
          g.scalars[t * c + y] -= 1
        }
      }
      return g
    case let (.mse, .values(y)):
      return 2 * (rows - y.reshaped(rows.shape))
    case let (.bceWithLogits, .values(y)):
      return rows.map(.sigmoid) - y.reshaped(rows.shape)
    default:
      preconditionFailure("\(kind.rawValue): targets of the wrong kind (call validate first)")
    }
  }

  /// `H_t v_t` for every term, with `H_t = ∂²ℓ_t/∂f_t²` (zero for an ignored target), for
  /// `f` and `v` shaped like the outputs: shaped like the outputs.
  package func hessianProduct(_ f: NDArray<Scalar>, _ v: NDArray<Scalar>, targets: Targets<Scalar>) -> NDArray<Scalar> {
    let rows = termRows(f, outputShape: f.shape), vr = termRows(v, outputShape: f.shape)
    switch kind {
    case .crossEntropy:
      let p = Loss.softmaxRows(rows)
      let pv = NDArray.binary(.multiply, p, vr)
      let ptv = pv.reduced(.sum, axes: [1], keepingDimensions: true)
      let hv = zeroingIgnoredRows(pv - NDArray.binary(.multiply, p, ptv), countedRows(targets))
      return outputLayout(hv, outputShape: f.shape)
    case .mse:
      return (2 * vr).reshaped(f.shape)
    case .bceWithLogits:
      let s = rows.map(.sigmoid)
      return NDArray.binary(.multiply, NDArray.binary(.multiply, s, s.map(.negate).adding(1)), vr).reshaped(f.shape)
    }
  }

  /// A symmetric factor `S_t` with `H_t = S_t S_tᵀ` for every term, as `[T, C, C]`
  /// (`S[t, :, k]` is the k-th column; zero for an ignored target).
  ///
  /// Cross-entropy: `S = diag(√p) − p √pᵀ` (columns `√p_k (e_k − p)`); MSE: `√2 I`;
  /// BCE: `diag(√(σ(1−σ)))`.
  package func hessianSquareRoot(_ f: NDArray<Scalar>, targets: Targets<Scalar>) -> NDArray<Scalar> {
    let rows = termRows(f, outputShape: f.shape)
    let (t, c) = (rows.shape[0], rows.shape[1])
    var s = NDArray<Scalar>(zeros: [t, c, c])
    switch kind {
    case .crossEntropy:
      let p = Loss.softmaxRows(rows)
      for row in 0..<t {
        for k in 0..<c {
          let root = p.scalars[row * c + k].squareRoot()
          for i in 0..<c {
            s.scalars[(row * c + i) * c + k] = root * ((i == k ? 1 : 0) - p.scalars[row * c + i])
          }
        }
      }
    case .mse:
      for row in 0..<t { for k in 0..<c { s.scalars[(row * c + k) * c + k] = Scalar(2).squareRoot() } }
    case .bceWithLogits:
      for row in 0..<t {
        for k in 0..<c {
          let sigma = unaryValue(.sigmoid, rows.scalars[row * c + k])
          s.scalars[(row * c + k) * c + k] = (sigma * (1 - sigma)).squareRoot()
        }
      }
    }
    return zeroingIgnoredRows(s, countedRows(targets))
  }

  /// Gradients `∂ℓ(f_t, ŷ)/∂f_t` at labels `ŷ` drawn from the model's predictive
  /// distribution, `samples` per term, as rows: `[samples, T, C]`.
  ///
  /// Cross-entropy: `ŷ ~ Cat(softmax f)` (the gradient `p − e_ŷ`, with or without label
  /// smoothing, as curvlinops; an ignored target samples nothing: zero); MSE:
  /// `ŷ ~ N(f, ½ I)` (so the gradient is `2·N(0, ½ I)`, as in curvlinops); BCE:
  /// `ŷ ~ Bernoulli(σ(f))`. Their outer products average to the loss Hessian. Term `t`
  /// belongs to data point `dataIndices[t]`, whose draws come from its own stream of
  /// `seed`, so samples do not depend on the batching.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  package func sampledGradients(
    _ f: NDArray<Scalar>, targets: Targets<Scalar>, samples: Int, seed: UInt64, dataIndices: [Int]
  ) -> NDArray<Scalar> {
    // Called from other modules, the generic body ran unspecialized (a quarter of a GPT's
    // Monte Carlo Fisher product in metadata lookups and generic conversions); the loops
    // work on buffers, with the same draws and arithmetic as before.
    let rows = termRows(f, outputShape: f.shape)
    let counted = countedRows(targets)
    let (t, c) = (rows.shape[0], rows.shape[1])
    precondition(dataIndices.count == t, "sampledGradients: \(dataIndices.count) data indices for \(t) terms")
    var result = NDArray<Scalar>(zeros: [samples, t, c])
    let kind = self.kind
    let p = kind == .crossEntropy ? Loss.softmaxRows(rows) : rows.map(.sigmoid)
    p.withUnsafeBufferPointer { p in
      result.withUnsafeMutableBufferPointer { out in
        // Terms of one data point are consecutive; each data point draws from its own stream.
        var row = 0
        while row < t {
          let point = dataIndices[row]
          var end = row
          while end < t && dataIndices[end] == point { end += 1 }
          var rng = RandomGenerator(seed: seed, stream: UInt64(point))
          for m in 0..<samples {
            for term in row..<end where counted?[term] ?? true {
              let (base, probabilities) = ((m * t + term) * c, UnsafeBufferPointer(rebasing: p[(term * c)..<((term + 1) * c)]))
              switch kind {
              case .crossEntropy:
                // p − e_ŷ (p − 0 is p).
                let drawn = rng.categorical(weights: probabilities)
                for k in 0..<c { out[base + k] = probabilities[k] }
                out[base + drawn] -= 1
              case .mse:
                for k in 0..<c { out[base + k] = Scalar(2 * (0.5).squareRoot() * rng.normal()) }
              case .bceWithLogits:
                for k in 0..<c { out[base + k] = probabilities[k] - (rng.bernoulli(Double(probabilities[k])) ? 1 : 0) }
              }
            }
          }
          row = end
        }
      }
    }
    return result
  }

  /// Row-wise softmax of `[T, C]`, stable.
  static func softmaxRows(_ rows: NDArray<Scalar>) -> NDArray<Scalar> {
    let shifted = NDArray.binary(.subtract, rows, rows.reduced(.max, axes: [1], keepingDimensions: true))
    let e = shifted.map(.exp)
    return NDArray.binary(.divide, e, e.reduced(.sum, axes: [1], keepingDimensions: true))
  }
}
