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
    precondition(inputs.count == inputSpecs.count, "GraphModel: \(inputs.count) input tensors for \(inputSpecs.count) graph inputs")
    precondition(parameters.count == parameterSpecs.count, "GraphModel: \(parameters.count) parameter tensors for \(parameterSpecs.count) blocks")
    let batchSize = inputs[0].shape.first ?? 1
    var values = [Tensor<Scalar>?](repeating: nil, count: inputs.count + parameters.count + buffers.count + nodes.count)
    var slot = 0
    for tensor in inputs + parameters + buffers.map({ Tensor($0) }) {
      values[slot] = tensor
      slot += 1
    }
    for (index, node) in nodes.enumerated() {
      let x = node.inputs.map { values[$0]! }
      var value = node.evaluate(x, batchSize: batchSize)
      switch node.op {
      case .linear, .conv: value = tap(index, x[0], value)
      default: break
      }
      values[slot] = value
      for released in node.releases { values[released] = nil }
      slot += 1
    }
    return values[outputSlot]!
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
