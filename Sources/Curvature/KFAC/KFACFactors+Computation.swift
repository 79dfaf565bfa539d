import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// One pass over the data accumulates every layer's Kronecker factors with gemms: the
// forward pass taps each Linear/Conv2d layer's input (for A) and output (for B); each factor
// column is one reverse pass that yields the output gradients δ of all layers at once
// (PerTermGradients.swift).

extension CurvatureProblem {
  /// The layers KFAC covers and the selected blocks in each.
  /// - Throws: `CurvatureError.unsupported` when the model is not a `Sequential`, for
  ///   per-position cross-entropy, and for cross-entropy targets equal to `ignoreIndex`
  ///   (issue 16: the input factors would count the ignored data points).
  func kfacLayout(jointBias: Bool) throws -> (Sequential<Scalar>, [KFACLayerFactors<Scalar>]) {
    guard let sequential = model as? Sequential<Scalar> else {
      throw CurvatureError.unsupported("KFAC needs a Sequential model of Linear and Conv2d layers")
    }
    try requireRowTerms()
    if loss.kind == .crossEntropy && countedTerms < data.count {
      throw CurvatureError.unsupported(
        "KFAC and EKFAC with ignored cross-entropy targets (\(data.count - countedTerms) equal ignore_index \(loss.ignoreIndex)) are not supported yet")
    }
    let selected = Set(blocks)
    var layout = [KFACLayerFactors<Scalar>]()
    for (index, layer) in sequential.layers.enumerated() {
      let range = sequential.parameterRanges[index]
      guard !range.isEmpty, range.contains(where: selected.contains) else { continue }
      let weightShape: [Int]
      let hasBias: Bool
      if let linear = layer as? Linear<Scalar> {
        weightShape = [linear.outFeatures, linear.inFeatures]
        hasBias = linear.hasBias
      } else if let conv = layer as? Conv2d<Scalar> {
        weightShape = [conv.outChannels, conv.inChannels / conv.groups * conv.kernelSize.0 * conv.kernelSize.1]
        hasBias = conv.hasBias
      } else {
        throw CurvatureError.unsupported("KFAC: parameters of layer \(index) (\(layer)) sit in an unsupported layer; KFAC supports Linear and Conv2d")
      }
      let weight = selected.contains(range.lowerBound) ? range.lowerBound : nil
      let bias = hasBias && selected.contains(range.lowerBound + 1) ? range.lowerBound + 1 : nil
      layout.append(KFACLayerFactors(
        layer: index, weightBlock: weight, biasBlock: bias, joint: jointBias && weight != nil && bias != nil,
        inputCovariance: nil, gradientCovariance: NDArray(zeros: [weightShape[0], weightShape[0]]),
        weightShape: weightShape))
    }
    return (sequential, layout)
  }

  /// The KFAC factors of every covered layer (see `KFACLayerFactors` for the scaling).
  /// - Throws: `CurvatureError` for unsupported models or options, invalid data, or
  ///   non-finite values.
  /// - Complexity: One forward pass and (`C`, `M` or 1) reverse passes per batch, plus
  ///   gemms of the factor sizes.
  func kfacFactors(_ options: KFACOptions) throws -> [KFACLayerFactors<Scalar>] {
    guard options.mcSamples >= 1 else {
      throw CurvatureError.invalidArgument("mcSamples must be at least 1, got \(options.mcSamples)")
    }
    guard options.fisherType == .mc || options.mcSamples == 1 else {
      throw CurvatureError.invalidArgument("mcSamples = \(options.mcSamples) applies only to the mc Fisher type, not \(options.fisherType.rawValue)")
    }
    var (sequential, factors) = try kfacLayout(jointBias: options.jointBias)
    let covered = Dictionary(uniqueKeysWithValues: factors.enumerated().map { ($1.layer, $0) })
    var positions = [Int](repeating: 1, count: factors.count)

    for range in data.batchRanges(size: batchSize) {
      let batch = try checkedBatch(range)
      let (output, inputs, outputs) = try tappedForward(sequential, batch, layers: Set(covered.keys))
      let n = range.count

      for (slot, layerFactors) in factors.enumerated() where layerFactors.weightBlock != nil {
        let layer = sequential.layers[layerFactors.layer]
        let rows = kfacInputRows(layer, inputs[layerFactors.layer]!, points: n)   // [N, S, in]
        positions[slot] = rows.shape[1]
        let x = options.approximation == .expand
          ? rows.reshaped([-1, rows.shape[2]])
          : rows.reduced(.sum, axes: [1]) * (1 / Scalar(rows.shape[1]))
        var contribution = matmul(x, x, transposeA: true)
        if layerFactors.joint {
          // [x | 1]ᵀ[x | 1] = [[xᵀx, xᵀ1], [1ᵀx, rows]], without forming [x | 1].
          contribution = NDArray.bordered(contribution, border: x.reduced(.sum, axes: [0]), corner: Scalar(x.shape[0]))
        }
        if factors[slot].inputCovariance == nil {
          factors[slot].inputCovariance = contribution
        } else {
          factors[slot].inputCovariance!.add(contribution)
        }
      }

      guard let columns = factorColumns(options, output: output.value, batch: batch) else { continue }
      let tapped = factors.map { outputs[$0.layer]! }
      forEachFactorColumn(columns, output: output, tapped: tapped) { deltas in
        for (slot, delta) in deltas.enumerated() {
          let rows = kfacOutputRows(sequential.layers[factors[slot].layer], delta, points: n)   // [N, S, out]
          let g = options.approximation == .expand ? rows.reshaped([-1, rows.shape[2]]) : rows.reduced(.sum, axes: [1])
          factors[slot].gradientCovariance.add(matmul(g, g, transposeA: true))
        }
      }
    }

    let count = Scalar(data.count)
    let samples = options.fisherType == .mc ? Scalar(options.mcSamples) : 1
    for slot in factors.indices {
      if factors[slot].inputCovariance != nil {
        let shared = options.approximation == .expand ? Scalar(positions[slot]) : 1
        factors[slot].inputCovariance!.scale(by: 1 / (count * shared))
      }
      if options.fisherType == .forwardOnly {
        factors[slot].gradientCovariance = .identity(factors[slot].weightShape[0])
      } else {
        factors[slot].gradientCovariance.scale(by: 1 / (Scalar(reductionFactor) * samples))
      }
    }
    return factors
  }

  /// The factor columns `[K, T, C]` of a Fisher type for a batch's outputs, unscaled: the
  /// loss Hessian's symmetric factor (type-2, `K = C`), `M` sampled gradients (mc), or
  /// the observed gradient (empirical, `K = 1`); nil for forward-only.
  func factorColumns(_ options: KFACOptions, output: NDArray<Scalar>, batch: Batch<Scalar>) -> NDArray<Scalar>? {
    switch options.fisherType {
    case .type2: return hessianSquareRootColumns(output, batch: batch)
    case .mc: return sampledGradientColumns(output, samples: options.mcSamples, seed: options.seed, batch: batch)
    case .empirical: return observedGradientColumns(output, batch: batch)
    case .forwardOnly: return nil
    }
  }

  /// A layer's input as rows `[N, S, in]`: Linear inputs with their shared axes folded into
  /// `S`; Conv2d inputs as unfolded patches (channel groups averaged), `S` = locations.
  func kfacInputRows(_ layer: any Layer<Scalar>, _ a: NDArray<Scalar>, points n: Int) -> NDArray<Scalar> {
    if let conv = layer as? Conv2d<Scalar> {
      var x = a
      if conv.groups > 1 {
        let (c, h, w) = (a.shape[1], a.shape[2], a.shape[3])
        x = a.reshaped([n, conv.groups, c / conv.groups, h, w]).reduced(.sum, axes: [1]) * (1 / Scalar(conv.groups))
      }
      let patches = unfold(Tensor(x), kernelSize: conv.kernelSize, stride: conv.stride, padding: conv.padding, dilation: conv.dilation).value
      return patches.permuted([0, 2, 1])
    }
    let width = a.shape[a.rank - 1]
    return a.reshaped([n, -1, width])
  }

  /// A layer's output gradient as rows `[N, S, out]` (Conv2d: locations × channels).
  func kfacOutputRows(_ layer: any Layer<Scalar>, _ delta: NDArray<Scalar>, points n: Int) -> NDArray<Scalar> {
    if layer is Conv2d<Scalar> {
      return delta.reshaped([n, delta.shape[1], -1]).permuted([0, 2, 1])
    }
    return delta.reshaped([n, -1, delta.shape[delta.rank - 1]])
  }
}

extension NDArray {
  /// The symmetric matrix `[[m, b], [bᵀ, c]]` of order `n + 1` from `m` `[n, n]`, `b` `[n]`.
  static func bordered(_ m: NDArray, border b: NDArray, corner c: Scalar) -> NDArray {
    let n = m.shape[0]
    var result = NDArray(zeros: [n + 1, n + 1])
    for i in 0..<n {
      for j in 0..<n { result.scalars[i * (n + 1) + j] = m.scalars[i * n + j] }
      result.scalars[i * (n + 1) + n] = b.scalars[i]
      result.scalars[n * (n + 1) + i] = b.scalars[i]
    }
    result.scalars[n * (n + 1) + n] = c
    return result
  }
}
