/// A value of the graph while it is checked: its shape (batch axis `-1`), whether it
/// depends on a graph input, and its dtype.
struct GraphValueInfo {
  var name: String
  var shape: [Int]
  var batched: Bool
  var dtype: GraphDType
  var rank: Int { shape.count }
}

/// Checks a decoded format-2 document as `docs/ModelFormat.md`'s "Validation" requires,
/// and turns its nodes into evaluation plans. Every problem is one `FileFormatError` that
/// names the file, the node (or entry) and what is wrong.
struct GraphChecker {
  let document: GraphDocument
  let path: String

  /// The most parameters a model may have, and the most elements one data point's value
  /// may have: lengths go through BLAS, which takes 32-bit integers.
  static let maximumElementCount = Int(Int32.max)

  struct Result {
    var nodes: [GraphNodePlan]
    var outputSlot: Int
    var outputShape: [Int]
    var embeddingLimits: [[(node: String, rows: Int)]]
    /// For each buffer, the vocabulary sizes of the embeddings that read it directly.
    var bufferEmbeddingLimits: [[(node: String, rows: Int)]]
  }

  func error(_ location: String, _ problem: String, expected: String, found: String) -> FileFormatError {
    FileFormatError(path: path, location: location, problem: problem, expected: expected, found: found)
  }

  func check() throws -> Result {
    var infos = [GraphValueInfo]()
    var slots = [String: Int]()
    func declare(_ info: GraphValueInfo, location: String) throws {
      if let previous = slots[info.name] {
        throw error(
          location, "name used twice", expected: "a name not used by any graph input, parameter, buffer or node",
          found: "'\(info.name)', already the name of \(describe(slot: previous))")
      }
      slots[info.name] = infos.count
      infos.append(info)
    }
    for (index, input) in document.inputs.enumerated() {
      let location = "inputs[\(index)] ('\(input.name)')"
      guard input.shape.first == -1, input.shape.dropFirst().allSatisfy({ $0 >= 1 }) else {
        throw error(location, "invalid input shape", expected: "[-1, ...] (the batch axis, then positive extents)", found: "\(input.shape)")
      }
      try checkSize(input.shape, location: location)
      try declare(GraphValueInfo(name: input.name, shape: input.shape, batched: true, dtype: input.dtype), location: location)
    }
    guard !document.inputs.isEmpty else {
      throw error("field 'inputs'", "no graph inputs", expected: "at least one input", found: "[]")
    }
    var total = 0
    for (kind, specs) in [("parameters", document.parameters), ("buffers", document.buffers)] {
      for (index, spec) in specs.enumerated() {
        let location = "\(kind)[\(index)] ('\(spec.name)')"
        guard spec.shape.allSatisfy({ $0 >= 1 }) else {
          throw error(location, "invalid shape", expected: "positive extents", found: "\(spec.shape)")
        }
        let count = try checkSize(spec.shape, location: location)
        if kind == "parameters" {
          total += count
          if total > Self.maximumElementCount {
            throw error(
              location, "model too large", expected: "at most \(Self.maximumElementCount) parameters in all",
              found: "\(total) up to this one")
          }
        }
        try declare(GraphValueInfo(name: spec.name, shape: spec.shape, batched: false, dtype: spec.dtype), location: location)
      }
    }
    let nodeNames = Set(document.nodes.map(\.name))
    var plans = [GraphNodePlan]()
    let firstNodeSlot = infos.count
    var embeddingLimits = [[(node: String, rows: Int)]](repeating: [], count: document.inputs.count)
    var bufferEmbeddingLimits = [[(node: String, rows: Int)]](repeating: [], count: document.buffers.count)
    for node in document.nodes {
      let attributes = GraphAttributes(values: node.attributes, location: node.location, path: path)
      let op = try GraphOp.parse(node.op, attributes)
      let arity = GraphOp.arity(node.op)
      guard arity.contains(node.inputs.count) else {
        let expected = arity.upperBound == Int.max ? "at least \(arity.lowerBound)" : arity.count == 1 ? "\(arity.lowerBound)" : "\(arity.lowerBound) to \(arity.upperBound)"
        throw error(node.location, "wrong number of inputs for \(node.op)", expected: "\(expected) inputs", found: "\(node.inputs.count): \(node.inputs)")
      }
      var inputSlots = [Int]()
      for name in node.inputs {
        guard let slot = slots[name] else {
          if name == node.name {
            throw error(node.location, "node reads itself (a cycle)", expected: "inputs computed before the node", found: "input '\(name)'")
          }
          if nodeNames.contains(name) {
            throw error(
              node.location, "input refers to a later node (a cycle, or nodes not in topological order)",
              expected: "inputs listed before the node", found: "input '\(name)'")
          }
          throw error(
            node.location, "unknown input name", expected: "the name of a graph input, parameter, buffer or earlier node",
            found: "'\(name)'")
        }
        inputSlots.append(slot)
      }
      let inputs = inputSlots.map { infos[$0] }
      let rules = ShapeRules(op: op, opName: node.op, inputs: inputs, location: node.location, path: path)
      let (shape, dtype) = try rules.infer()
      let batched = inputs.contains(where: \.batched)
      try checkSize(shape, location: node.location)
      guard shape == node.shape else {
        throw error(
          node.location, "declared shape differs from the inferred one", expected: "\(shape) (inferred from the inputs \(inputs.map { "'\($0.name)' \($0.shape)" }.joined(separator: ", ")))",
          found: "\(node.shape)")
      }
      if !GraphOp.isAvailable(op) {
        throw error(
          node.location, "unsupported op: \(node.op) is not implemented in this build of the library",
          expected: "an op this build can evaluate", found: "'\(node.op)'")
      }
      var resolved = op
      if case let .attention(isCausal, scale, nil) = op, inputs.count == 4 {
        resolved = .attention(isCausal: isCausal, scale: scale, additiveMask: inputs[3].dtype != .bool)
      }
      if case .embedding = op {
        let slot = inputSlots[0], firstBuffer = document.inputs.count + document.parameters.count
        if slot < document.inputs.count { embeddingLimits[slot].append((node.name, inputs[1].shape[0])) }
        if slot >= firstBuffer && slot < firstNodeSlot {
          bufferEmbeddingLimits[slot - firstBuffer].append((node.name, inputs[1].shape[0]))
        }
      }
      plans.append(GraphNodePlan(name: node.name, op: resolved, inputs: inputSlots, shape: shape, batched: batched, dtype: dtype))
      try declare(GraphValueInfo(name: node.name, shape: shape, batched: batched, dtype: dtype), location: node.location)
    }
    guard let outputSlot = slots[document.output], outputSlot >= firstNodeSlot else {
      throw error(
        "field 'output'", slots[document.output] == nil ? "unknown output name" : "output is not a node",
        expected: "the name of a node", found: "'\(document.output)'")
    }
    let output = infos[outputSlot]
    guard output.batched, output.rank >= 1 else {
      throw error(
        "field 'output'", "output does not depend on the graph inputs", expected: "a node computed from the inputs ([-1, ...])",
        found: "'\(output.name)' of shape \(output.shape)")
    }
    // Free every value after its last use (the output is kept).
    var lastUse = [Int: Int]()
    for (index, plan) in plans.enumerated() { for slot in plan.inputs { lastUse[slot] = index } }
    for (slot, index) in lastUse where slot != outputSlot { plans[index].releases.append(slot) }
    return Result(
      nodes: plans, outputSlot: outputSlot, outputShape: output.shape, embeddingLimits: embeddingLimits,
      bufferEmbeddingLimits: bufferEmbeddingLimits)
  }

  /// The element count of one data point's value (the batch axis counted once).
  /// - Throws: `FileFormatError` when it overflows or exceeds `maximumElementCount`.
  @discardableResult
  func checkSize(_ shape: [Int], location: String) throws -> Int {
    guard let count = checkedElementCount(shape.map { Swift.max($0, 1) }), count <= Self.maximumElementCount else {
      throw error(
        location, "size too large to allocate", expected: "at most \(Self.maximumElementCount) elements per data point",
        found: "shape \(shape)")
    }
    return count
  }

  /// What a slot holds, for the message about a name used twice.
  func describe(slot: Int) -> String {
    let (inputs, parameters, buffers) = (document.inputs.count, document.parameters.count, document.buffers.count)
    if slot < inputs { return "inputs[\(slot)]" }
    if slot < inputs + parameters { return "parameters[\(slot - inputs)]" }
    if slot < inputs + parameters + buffers { return "buffers[\(slot - inputs - parameters)]" }
    return "nodes[\(slot - inputs - parameters - buffers)]"
  }
}
