import CurvatureNumerics

// Forward mode on a recorded graph (issue 17, products with several columns on graph
// models): a function evaluated once with `AutodiffMode.recordsDifferentials` keeps each
// node's differential (the same closure the fused forward pass would call, capturing the
// same primal values), so `J v` for many directions `v` costs one tangent pass each, not
// one evaluation of the function each. A tangent pushed here is the same computation on
// the same arrays as the tangent carried through the evaluation: the same bits.

extension AutodiffMode {
  /// Runs `body` recording operations and keeping every node's differential, without
  /// propagating tangents, for `replayedTangent`.
  package static func recordingLinearization<R>(_ body: () throws -> R) rethrows -> R {
    var mode = current
    mode.recordsOperations = true
    mode.recordsDifferentials = true
    mode.recordsTangentOperations = false
    return try $current.withValue(mode, operation: body)
  }
}

/// The tangent of `output` when the graph leaves `leaves` move along `tangents`, pushed
/// through the graph recorded under `AutodiffMode.recordingLinearization` (nil when
/// `output` does not depend on the leaves).
///
/// Each node's differential runs without recording, as in a forward pass carrying
/// tangents with `recordsTangentOperations` off; tangents are freed after their last use.
/// Safe to call concurrently on one recorded graph (the graph is immutable).
/// - Precondition: The leaves require gradients; tangents are shaped like them; every
///   node between them and `output` was recorded with its differential.
/// - Complexity: One differential per node between the leaves and `output`.
package func replayedTangent<T: BLASScalar>(of output: Tensor<T>, leaves: [Tensor<T>], tangents: [Tensor<T>]) -> Tensor<T>? {
  precondition(leaves.count == tangents.count, "replayedTangent: \(leaves.count) leaves, \(tangents.count) tangents")
  guard let root = output.node else { return nil }
  var seeds = [Int: Tensor<T>]()
  for (leaf, tangent) in zip(leaves, tangents) {
    guard let node = leaf.node else { preconditionFailure("replayedTangent: a leaf that does not require gradients") }
    precondition(tangent.shape == leaf.shape, "replayedTangent: tangent shape \(tangent.shape) for leaf shape \(leaf.shape)")
    seeds[node.id] = tangent
  }
  // Every node reachable from the output, in creation (topological) order.
  var nodes = [Int: GraphNode<T>]()
  var stack = [root]
  while let node = stack.popLast() {
    if nodes[node.id] != nil { continue }
    nodes[node.id] = node
    for case let input? in node.inputs where nodes[input.id] == nil { stack.append(input) }
  }
  let order = nodes.keys.sorted()
  // The nodes a leaf reaches, and how many of them read each one (to free its tangent).
  var live = Set<Int>()
  var readers = [Int: Int]()
  for id in order {
    let node = nodes[id]!
    if seeds[id] != nil || node.inputs.contains(where: { $0.map { live.contains($0.id) } ?? false }) {
      live.insert(id)
      for case let input? in node.inputs where live.contains(input.id) { readers[input.id, default: 0] += 1 }
    }
  }
  guard live.contains(root.id) else { return nil }
  return AutodiffMode.recording(false) {
    var tangents = [Int: Tensor<T>]()
    for id in order where live.contains(id) {
      let node = nodes[id]!
      if let seed = seeds[id] {
        tangents[id] = seed
      } else {
        guard let differential = node.differential else {
          preconditionFailure("replayedTangent: a node recorded without its differential (use AutodiffMode.recordingLinearization)")
        }
        // As in a forward pass: the differential runs when some input carries a tangent.
        let inputs = node.inputs.map { $0.flatMap { tangents[$0.id] } }
        if inputs.contains(where: { $0 != nil }) { tangents[id] = differential(inputs) }
      }
      for case let input? in node.inputs where live.contains(input.id) {
        readers[input.id]! -= 1
        if readers[input.id] == 0 && input.id != root.id { tangents[input.id] = nil }
      }
    }
    return tangents[root.id]
  }
}
