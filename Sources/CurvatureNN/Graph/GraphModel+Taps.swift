import CurvatureNumerics
import CurvatureAutodiff

// The Kronecker nodes of a graph (KroneckerFactorable): every `linear` and `conv` node
// (1-d or 2-d) whose data input has the batch axis and whose weight — and bias, when
// present — are parameters that no other node reads. A parameter read by several nodes
// (a head tied to the token embedding) or by any other op (norms, embeddings, free
// parameters such as position embeddings, a weight reshaped before use) is not factored;
// `unfactorableReason` names the nodes that read it.

extension GraphModel: KroneckerFactorable {
  public var kroneckerNodes: [KroneckerNode] { kroneckerAnalysis().nodes }

  public func unfactorableReason(block: Int) -> String? { kroneckerAnalysis().reasons[block] }

  public func callAsFunction(
    _ inputs: [Tensor<Scalar>], parameters: [Tensor<Scalar>],
    tap: (_ node: Int, _ input: Tensor<Scalar>, _ output: Tensor<Scalar>) -> Tensor<Scalar>
  ) -> Tensor<Scalar> {
    // The general tapped evaluation (GraphModel+PerSample), tapping the linear, conv and
    // embedding nodes at their first input.
    let kroneckerTaps = Set(nodes.indices.filter { index in
      switch nodes[index].op {
      case .linear, .conv, .embedding: return true
      default: return false
      }
    })
    return self(inputs, parameters: parameters, taps: kroneckerTaps) { index, x, y in tap(index, x[0], y) }
  }

  /// The embedding nodes KFAC can factor (`KFACOptions.embeddings`; not among
  /// `kroneckerNodes`): each reads token ids that come from the data and a weight `[V, E]`
  /// that no other node reads. An embedding of constant ids (a position buffer, as
  /// nanoGPT's `wpe`) or of a tied weight does not qualify.
  public var embeddingNodes: [KroneckerNode] {
    let firstParameter = inputSpecs.count
    let firstNode = firstParameter + parameterSpecs.count + bufferSpecs.count
    var readers = [[Int]](repeating: [], count: parameterSpecs.count)
    for (index, node) in nodes.enumerated() {
      for slot in node.inputs where slot >= firstParameter && slot < firstParameter + parameterSpecs.count {
        readers[slot - firstParameter].append(index)
      }
    }
    return nodes.enumerated().compactMap { index, node in
      guard case let .embedding(paddingIndex) = node.op, node.inputs.count == 2 else { return nil }
      let (ids, slot) = (node.inputs[0], node.inputs[1])
      guard ids < firstParameter || (ids >= firstNode && nodes[ids - firstNode].batched),
            slot >= firstParameter, slot < firstParameter + parameterSpecs.count else { return nil }
      let block = slot - firstParameter
      let shape = parameterSpecs[block].shape
      guard readers[block] == [index], shape.count == 2 else { return nil }
      return KroneckerNode(
        tap: index, name: node.name, operation: .embedding(paddingIndex: paddingIndex.map { $0 < 0 ? $0 + shape[0] : $0 }),
        weightBlock: block, biasBlock: nil, weightShape: shape)
    }
  }

  /// The Kronecker nodes and, for every parameter block no node owns, why.
  func kroneckerAnalysis() -> (nodes: [KroneckerNode], reasons: [Int: String]) {
    let firstParameter = inputSpecs.count
    let firstNode = firstParameter + parameterSpecs.count + bufferSpecs.count
    func block(_ slot: Int) -> Int? {
      slot >= firstParameter && slot < firstParameter + parameterSpecs.count ? slot - firstParameter : nil
    }
    var readers = [[Int]](repeating: [], count: parameterSpecs.count)
    for (index, node) in nodes.enumerated() {
      for slot in node.inputs { if let b = block(slot) { readers[b].append(index) } }
    }
    func batched(_ slot: Int) -> Bool {
      slot < firstParameter || (slot >= firstNode && nodes[slot - firstNode].batched)
    }
    func owned(_ slot: Int, by index: Int) -> Int? {
      guard let b = block(slot), readers[b] == [index] else { return nil }
      return b
    }

    var result = [KroneckerNode]()
    var covered = Set<Int>()
    for (index, node) in nodes.enumerated() where batched(node.inputs[0]) {
      guard node.inputs.count >= 2, let weight = owned(node.inputs[1], by: index) else { continue }
      let bias = node.inputs.count > 2 ? owned(node.inputs[2], by: index) : nil
      let w = parameterSpecs[weight].shape
      let operation: KroneckerNode.Operation
      switch node.op {
      case .linear:
        guard w.count == 2 else { continue }
        operation = .linear
      case let .conv(spatial, stride, padding, dilation, groups) where spatial == 1 || spatial == 2:
        let kernel = Array(w.suffix(spatial))
        let pads = ShapeRules.convolutionPadding(padding, kernel: kernel, dilation: GraphModel.perAxis(dilation, spatial))
        let perAxisPads = pads.count == spatial ? pads : Array(repeating: pads[0], count: spatial)
        let lead = spatial == 1 ? [1] : []
        operation = .convolution(ConvolutionGeometry(
          spatial: spatial, inChannels: w[1] * groups, outChannels: w[0], groups: groups, kernel: lead + kernel,
          stride: lead + GraphModel.perAxis(stride, spatial), paddingBefore: (spatial == 1 ? [0] : []) + perAxisPads.map(\.before),
          paddingAfter: (spatial == 1 ? [0] : []) + perAxisPads.map(\.after), dilation: lead + GraphModel.perAxis(dilation, spatial)))
      default:
        continue
      }
      let columns = w.dropFirst().reduce(1, *)
      result.append(KroneckerNode(
        tap: index, name: node.name, operation: operation, weightBlock: weight, biasBlock: bias, weightShape: [w[0], columns]))
      covered.insert(weight)
      if let bias { covered.insert(bias) }
    }
    for packed in packedProjections(readers: readers, covered: covered, block: block, batched: batched) {
      result.append(packed)
      covered.insert(packed.weightBlock)
      if let bias = packed.biasBlock { covered.insert(bias) }
    }
    result.sort { $0.tap < $1.tap }

    var reasons = [Int: String]()
    for b in parameterSpecs.indices where !covered.contains(b) {
      let names = readers[b].map { "'\(nodes[$0].name)' (\(nodes[$0].op.kroneckerLabel))" }
      let name = parameterSpecs[b].name
      if readers[b].count > 1 {
        reasons[b] = "parameter '\(name)' is read by \(readers[b].count) nodes (\(names.joined(separator: ", "))); a tied parameter is not Kronecker-factored"
      } else if let reader = names.first {
        reasons[b] = "parameter '\(name)' is read by node \(reader), not as the weight or bias of a linear or convolution node"
      } else {
        reasons[b] = "parameter '\(name)' is read by no node"
      }
    }
    return (result, reasons)
  }

  /// Packed projections: a 2-d parameter read only by row slices (axis 0, step 1) that
  /// cover its rows in order, each slice read only as the weight of one linear node, all
  /// those nodes on the same batched input, their biases (if any) slices of one parameter
  /// with the same rows — `nn.MultiheadAttention`'s `in_proj_weight` and `in_proj_bias`
  /// in self-attention. Cross-attention (q from another input than k, v) does not qualify.
  func packedProjections(
    readers: [[Int]], covered: Set<Int>, block: (Int) -> Int?, batched: (Int) -> Bool
  ) -> [KroneckerNode] {
    let firstNode = inputSpecs.count + parameterSpecs.count + bufferSpecs.count
    var slotReaders = [Int: [(node: Int, position: Int)]]()
    for (index, node) in nodes.enumerated() {
      for (position, slot) in node.inputs.enumerated() { slotReaders[slot, default: []].append((index, position)) }
    }
    /// The row slices of parameter `b` and the one (node, input position) reading each.
    func rowSlices(_ b: Int) -> [(rows: Range<Int>, node: Int, position: Int)]? {
      let rows = parameterSpecs[b].shape[0]
      var parts = [(rows: Range<Int>, node: Int, position: Int)]()
      for index in readers[b] {
        guard case let .slice(dim, start, end, step) = nodes[index].op, dim == 0, step == 1, nodes[index].inputs.count == 1,
              let users = slotReaders[firstNode + index], users.count == 1 else { return nil }
        let (lower, upper) = (start ?? 0, Swift.min(end ?? rows, rows))
        guard lower >= 0, upper > lower else { return nil }
        parts.append((lower..<upper, users[0].node, users[0].position))
      }
      parts.sort { $0.rows.lowerBound < $1.rows.lowerBound }
      guard parts.count >= 2, parts[0].rows.lowerBound == 0, parts[parts.count - 1].rows.upperBound == rows,
            zip(parts, parts.dropFirst()).allSatisfy({ $0.rows.upperBound == $1.rows.lowerBound }) else { return nil }
      return parts
    }
    var result = [KroneckerNode]()
    for b in parameterSpecs.indices where !covered.contains(b) && parameterSpecs[b].shape.count == 2 && readers[b].count >= 2 {
      guard let parts = rowSlices(b) else { continue }
      let linears = parts.map(\.node)
      guard parts.allSatisfy({ part in
        if case .linear = nodes[part.node].op { return part.position == 1 } else { return false }
      }), Set(linears.map { nodes[$0].inputs[0] }).count == 1, batched(nodes[linears[0]].inputs[0]) else { continue }
      var bias: Int? = nil
      let biasSlots = linears.map { nodes[$0].inputs.count > 2 ? nodes[$0].inputs[2] : nil }
      if biasSlots.contains(where: { $0 != nil }) {
        guard let first = biasSlots[0], first >= firstNode, let candidate = nodes[first - firstNode].inputs.first.flatMap(block),
              !covered.contains(candidate), let biasParts = rowSlices(candidate), biasParts.map(\.node) == linears,
              biasParts.allSatisfy({ $0.position == 2 }), biasParts.map(\.rows) == parts.map(\.rows) else { continue }
        bias = candidate
      }
      let shape = parameterSpecs[b].shape
      result.append(KroneckerNode(
        tap: linears[0], name: "\(parameterSpecs[b].name) (packed: \(linears.map { nodes[$0].name }.joined(separator: ", ")))",
        operation: .linear, weightBlock: b, biasBlock: bias, weightShape: shape, outputTaps: linears,
        outputParts: parts.map(\.rows.count)))
    }
    return result
  }

  static func perAxis(_ values: [Int], _ count: Int) -> [Int] {
    values.count == count ? values : Array(repeating: values.first ?? 1, count: count)
  }
}

extension GraphOp {
  /// A short label for messages.
  var kroneckerLabel: String {
    switch self {
    case .linear: return "linear"
    case .conv: return "conv"
    case .embedding: return "embedding"
    case .layerNorm: return "layer_norm"
    case .rmsNorm: return "rms_norm"
    case .batchNorm: return "batch_norm"
    default: return "\(self)".split(separator: "(").first.map(String.init) ?? "op"
    }
  }
}
