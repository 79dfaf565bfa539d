/// Reverse-mode differentiation over the recorded graph.
enum Backpropagation {
  /// The cotangents of `targets` given output cotangents `seeds` for `outputs`:
  /// `Σ_k seeds[k] · ∂outputs[k]/∂targets[i]` for each target.
  ///
  /// Only nodes on a path from an output to a target are visited, and each pullback is asked
  /// only for the input cotangents that lead to a target. With `createGraph`, pullbacks are
  /// recorded, so the results can be differentiated again.
  ///
  /// - Returns: One cotangent per target; zeros for a target no output depends on.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func cotangents<Scalar>(
    of outputs: [Tensor<Scalar>], seeds: [Tensor<Scalar>], wrt targets: [Tensor<Scalar>],
    createGraph: Bool
  ) -> [Tensor<Scalar>] {
    precondition(outputs.count == seeds.count, "backpropagation: \(outputs.count) outputs, \(seeds.count) seeds")
    for (output, seed) in zip(outputs, seeds) {
      precondition(output.shape == seed.shape, "backpropagation: cotangent shape \(seed.shape) for output shape \(output.shape)")
    }
    let targetIDs = targets.map { target -> Int in
      guard let node = target.node else {
        preconditionFailure("gradient with respect to a tensor that does not require gradients (call requiringGradient() on it)")
      }
      return node.id
    }
    let targetSet = Set(targetIDs)

    // Every node reachable from the outputs.
    var nodes = [Int: GraphNode<Scalar>]()
    var stack = outputs.compactMap { $0.node }
    while let node = stack.popLast() {
      if nodes[node.id] != nil { continue }
      nodes[node.id] = node
      for case let input? in node.inputs where nodes[input.id] == nil { stack.append(input) }
    }
    // A node leads to a target if it is one or an input of it does (inputs have smaller ids).
    let order = nodes.keys.sorted()
    var leads = Set<Int>()
    for id in order {
      let node = nodes[id]!
      if targetSet.contains(id) || node.inputs.contains(where: { $0.map { leads.contains($0.id) } ?? false }) {
        leads.insert(id)
      }
    }

    return AutodiffMode.recording(createGraph) {
      var pending = [Int: Tensor<Scalar>]()
      for (output, seed) in zip(outputs, seeds) {
        guard let node = output.node, leads.contains(node.id) else { continue }
        pending[node.id] = pending[node.id].map { $0 + seed } ?? seed
      }
      var results = [Int: Tensor<Scalar>]()
      for id in order.reversed() where leads.contains(id) {
        guard let cotangent = pending.removeValue(forKey: id) else { continue }
        if targetSet.contains(id) { results[id] = cotangent }
        let node = nodes[id]!
        guard let pullback = node.pullback else { continue }
        let needed = node.inputs.map { $0.map { leads.contains($0.id) } ?? false }
        guard needed.contains(true) else { continue }
        let inputCotangents = pullback(cotangent, needed)
        for (index, input) in node.inputs.enumerated() where needed[index] {
          guard let input, let contribution = inputCotangents[index] else { continue }
          precondition(
            contribution.shape == input.shape,
            "internal error: pullback produced a cotangent of shape \(contribution.shape) for an input of shape \(input.shape)")
          pending[input.id] = pending[input.id].map { $0 + contribution } ?? contribution
        }
      }
      return zip(targets, targetIDs).map { target, id in results[id] ?? Tensor(zeros: target.shape) }
    }
  }
}
