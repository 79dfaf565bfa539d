import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// One pass over the data accumulates every node's Kronecker factors with gemms: the
// forward pass taps each Linear/convolution node's input (for A) and output (for B); each
// factor column is one reverse pass that yields the output gradients δ of all nodes at once
// (KFACNodes.swift).

extension CurvatureProblem {
  /// The nodes KFAC covers and the selected blocks in each.
  /// - Throws: `CurvatureError.unsupported` when the model is not `KroneckerFactorable`,
  ///   when a selected block sits outside every Kronecker node (naming it), for a
  ///   `Sequential` with per-position cross-entropy, and for
  ///   cross-entropy targets equal to `ignoreIndex` (the input factors would count the
  ///   ignored data points).
  /// - Parameter allowingOthers: Selected blocks outside every node become the layout's
  ///   `others` instead of an error (a mixed operator).
  /// - Parameter embeddings: Embedding nodes are Kronecker nodes too (`KFACOptions.embeddings`).
  func kfacLayout(jointBias: Bool, allowingOthers: Bool = false, embeddings: Bool = false) throws -> KroneckerLayout<Scalar> {
    let factorable = try kroneckerModel("KFAC")
    // A Sequential's per-position cross-entropy stays refused, as before graph models (its
    // rows need not be the term rows); graph outputs take the class axis where it is.
    if factorable is Sequential<Scalar> { try requireRowTerms() }
    if loss.kind == .crossEntropy && countedTerms < data.count {
      throw CurvatureError.unsupported(
        "KFAC and EKFAC with ignored cross-entropy targets (\(data.count - countedTerms) equal ignore_index \(loss.ignoreIndex)) are not supported yet")
    }
    let selected = Set(blocks)
    var nodes = factorable.kroneckerNodes
    if embeddings, let graph = factorable as? GraphModel<Scalar> {
      nodes = (nodes + graph.embeddingNodes).sorted { $0.tap < $1.tap }
    }
    let owned = Set(nodes.flatMap { [$0.weightBlock] + ($0.biasBlock.map { [$0] } ?? []) })
    let others = blocks.filter { !owned.contains($0) }
    if !allowingOthers, let outside = others.first {
      throw CurvatureError.unsupported(
        "KFAC: \(factorable.unfactorableReason(block: outside) ?? "parameter block \(outside) sits outside every Kronecker-factorable layer")")
    }
    var layout = [KFACLayerFactors<Scalar>]()
    var covered = [Int: KroneckerNode]()
    for node in nodes {
      let weight = selected.contains(node.weightBlock) ? node.weightBlock : nil
      let bias = node.biasBlock.flatMap { selected.contains($0) ? $0 : nil }
      guard weight != nil || bias != nil else { continue }
      covered[node.tap] = node
      layout.append(KFACLayerFactors(
        layer: node.tap, weightBlock: weight, biasBlock: bias, joint: jointBias && weight != nil && bias != nil,
        inputCovariance: nil, gradientCovariance: NDArray(zeros: [node.outputWidth, node.outputWidth]),
        weightShape: node.weightShape))
    }
    return KroneckerLayout(model: factorable, nodes: covered, factors: layout, others: others)
  }

  /// The KFAC factors of every covered node (see `KFACLayerFactors` for the scaling).
  /// - Throws: `CurvatureError` for unsupported models or options, invalid data, or
  ///   non-finite values.
  /// - Complexity: One forward pass and (`C`, `M` or 1) reverse passes per batch, plus
  ///   gemms of the factor sizes; for a `Sequential` with batched rules (and
  ///   `options.batchedColumns`), one reverse pass with the columns as a batch axis.
  func kfacFactors(_ options: KFACOptions) throws -> [KFACLayerFactors<Scalar>] {
    guard options.mcSamples >= 1 else {
      throw CurvatureError.invalidArgument("mcSamples must be at least 1, got \(options.mcSamples)")
    }
    guard options.fisherType == .mc || options.mcSamples == 1 else {
      throw CurvatureError.invalidArgument("mcSamples = \(options.mcSamples) applies only to the mc Fisher type, not \(options.fisherType.rawValue)")
    }
    let layout = try kfacLayout(jointBias: options.jointBias, allowingOthers: options.otherParameters != nil, embeddings: options.embeddings)
    var factors = layout.factors
    let taps = layout.taps
    var positions = [Int](repeating: 1, count: factors.count)

    let batchedSequential = kfacBatchedSequential(options)
    for range in localBatchRanges {
      let batch = try checkedBatch(range)
      let n = range.count
      // A Sequential with batched rules: one forward pass without a recorded graph, its
      // factor columns backpropagated together (KFACFactors+BatchedColumns.swift).
      var pass: SequentialLinearization<Scalar>? = nil
      var tape: (output: Tensor<Scalar>, outputs: [Int: Tensor<Scalar>])? = nil
      let inputs: [Int: NDArray<Scalar>]
      if let sequential = batchedSequential {
        let linearization = SequentialLinearization(sequential, inputs: batch.inputs)
        try requireFinite(linearization.output, "network outputs for data points \(batch.range)")
        inputs = Dictionary(uniqueKeysWithValues: taps.map { ($0, linearization.values[$0]) })
        pass = linearization
      } else {
        let (output, tapped, outputs) = try tappedNodeForward(layout.model, batch, taps: taps)
        inputs = tapped
        tape = (output, outputs)
      }

      for (slot, layerFactors) in factors.enumerated() where layerFactors.weightBlock != nil {
        let node = layout.nodes[layerFactors.layer]!
        if options.approximation == .expand, !layerFactors.joint,
           let columns = kfacInputColumns(node, inputs[layerFactors.layer]!, points: n) {
          // A convolution's patches unfolded side by side, [in, N·S]: no [N, S, in] permutation.
          positions[slot] = columns.shape[1] / Swift.max(n, 1)
          NDArray.accumulateGram(columns, into: &factors[slot].inputCovariance, columns: true)
          continue
        }
        let rows = kfacInputRows(node, inputs[layerFactors.layer]!, points: n)   // [N, S, in]
        positions[slot] = rows.shape[1]
        let x = options.approximation == .expand
          ? rows.reshaped([-1, rows.shape[2]])
          : rows.reduced(.sum, axes: [1]) * (1 / Scalar(rows.shape[1]))
        // The factors' upper triangles accumulate with syrk (half a gemm's flops, in
        // place); symmetrizeUpper fills the lower ones once, after the last batch.
        if layerFactors.joint {
          // [x | 1]ᵀ[x | 1] = [[xᵀx, xᵀ1], [1ᵀx, rows]], without forming [x | 1].
          var gram: NDArray<Scalar>? = nil
          NDArray.accumulateGram(x, into: &gram)
          let contribution = NDArray.bordered(gram!, border: x.reduced(.sum, axes: [0]), corner: Scalar(x.shape[0]))
          if factors[slot].inputCovariance == nil {
            factors[slot].inputCovariance = contribution
          } else {
            factors[slot].inputCovariance!.add(contribution)
          }
        } else {
          NDArray.accumulateGram(x, into: &factors[slot].inputCovariance)
        }
      }

      if let pass, let sequential = batchedSequential {
        guard let columns = factorColumns(options, output: pass.output, batch: batch) else { continue }
        let sums = batchedGradientCovariances(
          columns, pass: pass, sequential: sequential, factors: factors, layout: layout, approximation: options.approximation, points: n)
        for slot in factors.indices { factors[slot].gradientCovariance.add(sums[slot]) }   // upper triangles
        continue
      }
      guard let (output, outputs) = tape, let columns = factorColumns(options, output: output.value, batch: batch) else { continue }
      let tapped = layout.tappedOutputs(outputs)
      forEachOutputLayoutColumn(columns, output: output, tapped: tapped) { deltas in
        for (slot, delta) in layout.nodeDeltas(deltas).enumerated() {
          let node = layout.nodes[factors[slot].layer]!
          var sum: NDArray<Scalar>? = factors[slot].gradientCovariance
          factors[slot].gradientCovariance = NDArray(zeros: [0])   // sum holds the only copy
          if options.approximation == .expand, let columns = kfacOutputColumns(node, delta, points: n) {
            NDArray.accumulateGram(columns, into: &sum, columns: true)   // [out, N·S]
          } else {
            let rows = kfacOutputRows(node, delta, points: n)   // [N, S, out]
            let g = options.approximation == .expand ? rows.reshaped([-1, rows.shape[2]]) : rows.reduced(.sum, axes: [1])
            NDArray.accumulateGram(g, into: &sum)
          }
          factors[slot].gradientCovariance = sum!
        }
      }
    }

    try allReduceFactorSums(&factors)
    let count = Scalar(data.count)
    let samples = options.fisherType == .mc ? Scalar(options.mcSamples) : 1
    for slot in factors.indices {
      if factors[slot].inputCovariance != nil {
        let shared = options.approximation == .expand ? Scalar(positions[slot]) : 1
        factors[slot].inputCovariance!.symmetrizeUpper(scale: 1 / (count * shared))
      }
      let node = layout.nodes[factors[slot].layer]!
      if options.fisherType == .forwardOnly {
        factors[slot].gradientCovariance = .identity(node.outputWidth)
      } else {
        factors[slot].gradientCovariance.symmetrizeUpper(scale: 1 / (Scalar(reductionFactor) * samples))
      }
      if node.isEmbedding, let tokens = factors[slot].inputCovariance {
        // The weight [V, E] is indexed (token, feature): the token factor is the left one.
        factors[slot].inputCovariance = factors[slot].gradientCovariance
        factors[slot].gradientCovariance = tokens
      }
      if node.isPacked && options.packedProjection == .perProjection {
        factors[slot].gradientCovariance.keepDiagonalBlocks(node.outputParts)
      }
    }
    return factors
  }

  /// Adds every node's factor sums (`A` and `B`) over the ranks in one all-reduce, before
  /// they are scaled (a no-op in a single process).
  func allReduceFactorSums(_ factors: inout [KFACLayerFactors<Scalar>]) throws {
    guard isDataParallel else { return }
    var sums = [NDArray<Scalar>]()
    for f in factors {
      if f.weightBlock != nil {
        let order = f.weightShape[1] + (f.joint ? 1 : 0)
        sums.append(f.inputCovariance ?? NDArray(zeros: [order, order]))
      }
      sums.append(f.gradientCovariance)
    }
    try allReduce(&sums)
    var next = 0
    for slot in factors.indices {
      if factors[slot].weightBlock != nil {
        factors[slot].inputCovariance = sums[next]
        next += 1
      }
      factors[slot].gradientCovariance = sums[next]
      next += 1
    }
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
}

extension NDArray {
  /// Zeroes the entries of a square matrix outside the diagonal blocks of the given sizes.
  mutating func keepDiagonalBlocks(_ sizes: [Int]) {
    let n = shape[0]
    var part = [Int]()
    for (index, size) in sizes.enumerated() { part += Array(repeating: index, count: size) }
    for i in 0..<n { for j in 0..<n where part[i] != part[j] { scalars[i * n + j] = 0 } }
  }

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
