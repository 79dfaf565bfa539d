import CurvatureNumerics
import CurvatureAutodiff

// Per-data-point gradients of graph parameters that no Kronecker node owns (norms,
// embeddings, free parameters such as position embeddings, tied heads). A parameter meets
// the data at "boundary" nodes: batched nodes that read it, directly or through nodes
// without the batch axis (a slice of a position table, an embedding of a constant index
// buffer). The data points of a batched node do not mix (no op acts on the batch axis), so
// data point n's gradient is the node's own vector-Jacobian product at its input slice x_n
// and output cotangent δ_n, pulled back through the unbatched nodes to the parameters: one
// small product per data point and node, not a reverse pass through the network.

extension GraphModel {
  /// The batched nodes where one of `blocks` meets the data (see above), with the blocks
  /// each depends on, in evaluation order.
  package func perSampleBoundaryNodes(blocks: Set<Int>) -> [(node: Int, blocks: [Int])] {
    let dependencies = unbatchedDependencies(blocks: blocks)
    var result = [(node: Int, blocks: [Int])]()
    for (index, node) in nodes.enumerated() where node.batched {
      let reached = node.inputs.reduce(into: Set<Int>()) { $0.formUnion(dependencies[$1]) }
      if !reached.isEmpty { result.append((index, reached.sorted())) }
    }
    return result
  }

  /// For every value slot, the blocks among `blocks` it depends on through unbatched nodes
  /// only (empty for batched values).
  func unbatchedDependencies(blocks: Set<Int>) -> [Set<Int>] {
    let firstParameter = inputSpecs.count
    let firstNode = firstParameter + parameterSpecs.count + bufferSpecs.count
    var dependencies = [Set<Int>](repeating: [], count: firstNode + nodes.count)
    for b in blocks { dependencies[firstParameter + b] = [b] }
    for (index, node) in nodes.enumerated() where !node.batched {
      dependencies[firstNode + index] = node.inputs.reduce(into: Set<Int>()) { $0.formUnion(dependencies[$1]) }
    }
    return dependencies
  }

  /// The output for all inputs and parameter tensors, calling `tap(node, inputs, output)`
  /// after each node in `taps` and continuing with the tensor it returns.
  /// - Precondition: As for `callAsFunction(_:parameters:)`.
  package func callAsFunction(
    _ inputs: [Tensor<Scalar>], parameters: [Tensor<Scalar>], taps: Set<Int>,
    tap: (_ node: Int, _ inputs: [Tensor<Scalar>], _ output: Tensor<Scalar>) -> Tensor<Scalar>
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
      if taps.contains(index) { value = tap(index, x, value) }
      values[slot] = value
      for released in node.releases { values[released] = nil }
      slot += 1
    }
    return values[outputSlot]!
  }

  /// Per-data-point gradients of `⟨δ_n, node(x_n)⟩` with respect to `blocks`, for a
  /// boundary node (`perSampleBoundaryNodes`) given its input values in a batch and its
  /// output cotangents `deltas` (each `[N, ...]`, several cotangents at once).
  /// - Returns: `[cotangent][block]`, each `[N] + block shape`.
  /// - Complexity: One evaluation and vector-Jacobian product of the node (and of the
  ///   unbatched nodes between it and the blocks) per data point and cotangent.
  package func perSampleNodeGradients(
    node index: Int, inputs: [NDArray<Scalar>], deltas: [NDArray<Scalar>], blocks: [Int]
  ) -> [[NDArray<Scalar>]] {
    let node = nodes[index]
    let firstParameter = inputSpecs.count
    let firstBuffer = firstParameter + parameterSpecs.count
    let firstNode = firstBuffer + bufferSpecs.count
    let dependencies = unbatchedDependencies(blocks: Set(blocks))
    // The unbatched nodes between the blocks and this node, in evaluation order.
    var needed = Set<Int>(), stack = node.inputs.filter { $0 >= firstNode && !dependencies[$0].isEmpty }
    while let slot = stack.popLast() {
      guard needed.insert(slot - firstNode).inserted else { continue }
      stack.append(contentsOf: nodes[slot - firstNode].inputs.filter { $0 >= firstNode && !dependencies[$0].isEmpty })
    }
    let chain = needed.sorted()
    let points = deltas.first?.shape.first ?? 0
    var result = deltas.map { _ in blocks.map { NDArray<Scalar>(zeros: [points] + parameterSpecs[$0].shape) } }
    func constant(_ slot: Int) -> Tensor<Scalar> {
      if slot >= firstBuffer && slot < firstNode { return Tensor(buffers[slot - firstBuffer]) }
      return Tensor(parameters[slot - firstParameter])
    }
    for n in 0..<points {
      // One recording per data point; one vector-Jacobian product per cotangent.
      let leaves = AutodiffMode.recording(true) { blocks.map { Tensor(parameters[$0]).requiringGradient() } }
      let y: Tensor<Scalar> = AutodiffMode.recording(true) {
        var values = [Int: Tensor<Scalar>]()
        for (b, leaf) in zip(blocks, leaves) { values[firstParameter + b] = leaf }
        func value(_ slot: Int) -> Tensor<Scalar> { values[slot] ?? constant(slot) }
        for j in chain {
          values[firstNode + j] = nodes[j].evaluate(nodes[j].inputs.map(value), batchSize: 1)
        }
        let x = zip(node.inputs, inputs).map { slot, array -> Tensor<Scalar> in
          if !dependencies[slot].isEmpty { return value(slot) }
          let batched = slot < firstParameter || (slot >= firstNode && nodes[slot - firstNode].batched)
          return Tensor(batched ? array.point(n) : array)
        }
        return node.evaluate(x, batchSize: 1)
      }
      for (c, delta) in deltas.enumerated() {
        let g = AutodiffMode.withoutRecording { gradients(of: [y], seeds: [Tensor(delta.point(n))], wrt: leaves) }
        for (i, gradient) in g.enumerated() {
          let width = gradient.value.count
          result[c][i].withUnsafeMutableBufferPointer { target in
            gradient.value.scalars.withUnsafeBufferPointer { source in
              for j in 0..<width { target[n * width + j] = source[j] }
            }
          }
        }
      }
    }
    return result
  }
}

extension NDArray {
  /// Data point `n` of a batched array `[N, ...]`: `[1, ...]`.
  package func point(_ n: Int) -> NDArray {
    let width = count / Swift.max(shape[0], 1)
    return NDArray(shape: [1] + shape.dropFirst(), scalars: Array(scalars[(n * width)..<((n + 1) * width)]))
  }
}
