import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// Per-data-point gradients `J_nᵀ u_n` of the selected blocks for output cotangents u (the
// observed loss gradient for per-sample gradients; columns of the loss Hessian's square
// root or sampled gradients for the exact diagonals), without a reverse pass per data
// point (BackPACK's approach, Dangel, Kunstner & Hennig 2020). Data points never mix, so
// one reverse pass per cotangent gives every node's output gradient δ for all data points
// at once, and:
// - a Linear or convolution node that owns its weight (a Kronecker node) gives
//   `G_n = Σ_s δ_ns a_nsᵀ` from its tapped input a, summed over the positions or
//   locations s it shares the weight across;
// - any other graph parameter (norms, embeddings, free parameters, tied heads) gets the
//   vector-Jacobian product of the node where it meets the data, per data point
//   (GraphModel+PerSample.swift);
// - parameters of other layers of a Sequential (and of models without taps) fall back to a
//   forward and reverse pass per data point.

/// One tapped forward pass over a batch.
struct PerPointPass<Scalar: BLASScalar> {
  struct Node {
    var node: KroneckerNode
    var weight: Int?   // position among the selected blocks
    var bias: Int?
    /// Linear: the input rows `[N, S, in]`; convolution: patches `[N, groups, in', L]`.
    var rows: NDArray<Scalar>
    var output: Tensor<Scalar>
  }
  struct Boundary {
    var node: Int
    var blocks: [Int]
    var positions: [Int]
    var inputs: [NDArray<Scalar>]
    var output: Tensor<Scalar>
  }
  var output: Tensor<Scalar>
  var nodes: [Node]
  var boundaries: [Boundary]
  /// Selected blocks by single-point passes: (block, position among the selected).
  var others: [(block: Int, position: Int)]
  var points: Int
  /// Extra graph nodes tapped on request (`perPointForward(_:extraTaps:)`): each node's
  /// first input and its output, both on the recorded graph.
  var extra: [Int: (input: Tensor<Scalar>, output: Tensor<Scalar>)] = [:]
}

extension CurvatureProblem {
  /// A forward pass that taps what the per-point gradients of the selected blocks need,
  /// and the graph nodes `extraTaps` (their first input and output, in `extra`).
  /// - Throws: `CurvatureError.nonFinite` for non-finite outputs.
  func perPointForward(_ batch: Batch<Scalar>, extraTaps: Set<Int> = []) throws -> PerPointPass<Scalar> {
    var position = [Int: Int]()
    for (i, b) in blocks.enumerated() { position[b] = i }
    let factorable = model as? any KroneckerFactorable<Scalar>
    // Packed projections (one weight read in row slices by several nodes) and embeddings
    // are left to the graph's per-sample rules, which handle a weight read in parts.
    let covering = (factorable?.kroneckerNodes ?? []).filter { node in
      !node.isPacked && !node.isEmbedding
        && (position[node.weightBlock] != nil || node.biasBlock.map { position[$0] != nil } == true)
    }
    var covered = Set<Int>()
    for node in covering {
      covered.insert(node.weightBlock)
      if let b = node.biasBlock { covered.insert(b) }
    }
    let uncovered = blocks.filter { !covered.contains($0) }
    let graph = model as? GraphModel<Scalar>
    let boundaryNodes = graph?.perSampleBoundaryNodes(blocks: Set(uncovered)) ?? []
    let byTap = Dictionary(covering.map { ($0.tap, $0) }, uniquingKeysWith: { a, _ in a })
    let points = batch.range.count

    var nodeInputs = [Int: NDArray<Scalar>](), nodeOutputs = [Int: Tensor<Scalar>]()
    var boundaryInputs = [Int: [NDArray<Scalar>]](), boundaryOutputs = [Int: Tensor<Scalar>]()
    var extra = [Int: (input: Tensor<Scalar>, output: Tensor<Scalar>)]()
    let parameters = model.parameters.map { Tensor($0) }
    let inputs = batch.allInputs.map { Tensor($0) }
    let output: Tensor<Scalar> = AutodiffMode.recording(true) {
      if let graph {
        let boundarySet = Set(boundaryNodes.map(\.node))
        return graph(inputs, parameters: parameters, taps: Set(byTap.keys).union(boundarySet).union(extraTaps)) { index, x, y in
          let tapped = y.requiringGradient()
          if extraTaps.contains(index) { extra[index] = (x[0], tapped) }
          if byTap[index] != nil {
            nodeInputs[index] = x[0].value
            nodeOutputs[index] = tapped
          }
          if boundarySet.contains(index) {
            boundaryInputs[index] = x.map(\.value)
            boundaryOutputs[index] = tapped
          }
          return tapped
        }
      }
      if let factorable {
        return factorable(inputs, parameters: parameters) { index, x, y in
          guard byTap[index] != nil else { return y }
          let tapped = y.requiringGradient()
          nodeInputs[index] = x.value
          nodeOutputs[index] = tapped
          return tapped
        }
      }
      return model(inputs, parameters: parameters)
    }
    try requireFinite(output.value, "network outputs for data points \(batch.range)")
    let nodes = covering.map { node in
      PerPointPass.Node(
        node: node, weight: position[node.weightBlock], bias: node.biasBlock.flatMap { position[$0] },
        rows: perPointRows(node, nodeInputs[node.tap]!, points: points), output: nodeOutputs[node.tap]!)
    }
    let boundaries = boundaryNodes.map { entry in
      PerPointPass.Boundary(
        node: entry.node, blocks: entry.blocks, positions: entry.blocks.map { position[$0]! },
        inputs: boundaryInputs[entry.node]!, output: boundaryOutputs[entry.node]!)
    }
    let others = graph == nil ? uncovered.map { ($0, position[$0]!) } : []
    return PerPointPass(output: output, nodes: nodes, boundaries: boundaries, others: others, points: points, extra: extra)
  }

  /// A Kronecker node's input prepared for per-point gradients: linear rows `[N, S, in]`,
  /// convolution patches `[N, groups, Cin/groups·kh·kw, L]`.
  func perPointRows(_ node: KroneckerNode, _ a: NDArray<Scalar>, points: Int) -> NDArray<Scalar> {
    switch node.operation {
    case .linear:
      let inFeatures = node.weightShape[1]
      return a.reshaped([points, a.count / (points * inFeatures), inFeatures])
    case let .convolution(g):
      let columns = KroneckerNode.unfolded(KroneckerNode.images(a, g), g)
      return columns.reshaped([points, g.groups, columns.shape[1] / g.groups, columns.shape[2]])
    case .embedding:
      preconditionFailure("per-point passes do not cover embedding nodes (filtered in perPointForward)")
    }
  }

  /// Per-point gradients `J_nᵀ u_n` of the selected blocks for output cotangents `seeds`
  /// (each shaped like the outputs, or like `start` when given: a tensor of the pass's
  /// recorded graph, such as an `extra` node's input).
  /// - Returns: `[seed][selected block]`, each `[N] + block shape`.
  /// - Complexity: One reverse pass per seed, plus the per-point work of `PerPointPass`.
  func perPointGradients(
    _ pass: PerPointPass<Scalar>, seeds: [NDArray<Scalar>], batch: Batch<Scalar>, from start: Tensor<Scalar>? = nil
  ) throws -> [[NDArray<Scalar>]] {
    let n = pass.points
    let specs = selectedSpecs
    var results = seeds.map { _ in specs.map { NDArray<Scalar>(zeros: [n] + $0.shape) } }
    let tapped = pass.nodes.map(\.output) + pass.boundaries.map(\.output)
    var boundaryDeltas = pass.boundaries.map { _ in [NDArray<Scalar>]() }
    for (k, seed) in seeds.enumerated() {
      let deltas = AutodiffMode.withoutRecording {
        tapped.isEmpty ? [] : gradients(of: [start ?? pass.output], seeds: [Tensor(seed)], wrt: tapped).map(\.value)
      }
      for (entry, delta) in zip(pass.nodes, deltas) {
        let (weight, bias) = perPointNodeGradients(entry, delta: delta, points: n)
        if let w = entry.weight { results[k][w] = weight.reshaped([n] + specs[w].shape) }
        if let b = entry.bias { results[k][b] = bias.reshaped([n] + specs[b].shape) }
      }
      for (i, delta) in deltas.dropFirst(pass.nodes.count).enumerated() { boundaryDeltas[i].append(delta) }
    }
    if let graph = model as? GraphModel<Scalar> {
      for (entry, deltas) in zip(pass.boundaries, boundaryDeltas) {
        let g = graph.perSampleNodeGradients(node: entry.node, inputs: entry.inputs, deltas: deltas, blocks: entry.blocks)
        for k in seeds.indices {
          for (i, p) in entry.positions.enumerated() { results[k][p].add(g[k][i]) }
        }
      }
    }
    if !pass.others.isEmpty {
      assert(start == nil, "single-point passes seed the outputs")
      let others = try singlePointGradients(pass.others.map(\.block), seeds: seeds, batch: batch)
      for k in seeds.indices {
        for (i, entry) in pass.others.enumerated() { results[k][entry.position] = others[k][i] }
      }
    }
    return results
  }

  /// A Kronecker node's per-point weight gradients `[N, out, in']` and bias gradients
  /// `[N, out]` from its output gradient.
  func perPointNodeGradients(_ entry: PerPointPass<Scalar>.Node, delta: NDArray<Scalar>, points n: Int) -> (NDArray<Scalar>, NDArray<Scalar>) {
    let out = entry.node.weightShape[0]
    switch entry.node.operation {
    case .linear:
      let d = delta.reshaped([n, delta.count / (n * out), out])
      let weight = entry.weight == nil ? NDArray<Scalar>(zeros: [0]) : matmul(d, entry.rows, transposeA: true)
      return (weight, d.reduced(.sum, axes: [1]))
    case let .convolution(g):
      let locations = delta.count / (n * out)
      let weight = entry.weight == nil
        ? NDArray<Scalar>(zeros: [0])
        : matmul(delta.reshaped([n, g.groups, out / g.groups, locations]), entry.rows, transposeB: true)
      return (weight, delta.reshaped([n, out, locations]).reduced(.sum, axes: [2]))
    case .embedding:
      preconditionFailure("per-point passes do not cover embedding nodes (filtered in perPointForward)")
    }
  }

  /// Per-point gradients of `blocks` by a forward and reverse pass per data point (layers
  /// without taps).
  /// - Returns: `[seed][block]`, each `[N] + block shape`.
  func singlePointGradients(_ blocks: [Int], seeds: [NDArray<Scalar>], batch: Batch<Scalar>) throws -> [[NDArray<Scalar>]] {
    let n = batch.range.count
    var results = seeds.map { _ in blocks.map { NDArray<Scalar>(zeros: [n] + model.parameterSpecs[$0].shape) } }
    for point in 0..<n {
      var leaves = [Tensor<Scalar>]()
      let output: Tensor<Scalar> = AutodiffMode.recording(true) {
        var parameters = model.parameters.map { Tensor($0) }
        for b in blocks {
          parameters[b] = parameters[b].requiringGradient()
          leaves.append(parameters[b])
        }
        return model(batch.allInputs.map { Tensor($0.point(point)) }, parameters: parameters)
      }
      for (k, seed) in seeds.enumerated() {
        let g = AutodiffMode.withoutRecording { gradients(of: [output], seeds: [Tensor(seed.point(point))], wrt: leaves) }
        for (i, gradient) in g.enumerated() {
          let width = gradient.value.count
          results[k][i].withUnsafeMutableBufferPointer { target in
            gradient.value.scalars.withUnsafeBufferPointer { source in
              for j in 0..<width { target[point * width + j] = source[j] }
            }
          }
        }
      }
    }
    return results
  }
}
