/// Shape inference for one node, with PyTorch's formulas and the batch-axis rule: a
/// batched value's axis 0 is the batch (`-1`), and no op may move, reduce, slice or merge
/// it. Constants (values computed without the graph inputs) have ordinary shapes.
struct ShapeRules {
  let op: GraphOp
  let opName: String
  let inputs: [GraphValueInfo]
  let location: String
  let path: String

  func fail(_ problem: String, expected: String, found: String) -> FileFormatError {
    FileFormatError(path: path, location: location, problem: "\(opName): \(problem)", expected: expected, found: found)
  }

  func batchAxis(_ what: String) -> FileFormatError {
    fail("op applied to the batch axis", expected: "ops that keep the batch axis (axis 0 of batched values) in place", found: what)
  }

  /// `inputs[k]` described: `'name' [-1, 16]`.
  func describe(_ k: Int) -> String { "'\(inputs[k].name)' \(inputs[k].shape)" }

  /// Refuses a batched value where the op needs a constant (a weight).
  func constant(_ k: Int, _ role: String) throws {
    if inputs[k].batched {
      throw fail("\(role) depends on the graph inputs", expected: "a constant \(role) (a parameter, buffer or value computed from them)", found: describe(k))
    }
  }

  /// `axis` made nonnegative for a value of rank `rank`.
  func axis(_ axis: Int, rank: Int, _ key: String) throws -> Int {
    let normalized = axis < 0 ? axis + rank : axis
    guard normalized >= 0, normalized < rank else {
      throw fail("\(key) \(axis) out of range", expected: "an axis of a rank-\(rank) value (-\(rank)..<\(rank))", found: "\(axis)")
    }
    return normalized
  }

  /// The broadcast of several shapes, with the batch axis kept in place.
  func broadcast(_ ks: [Int]) throws -> [Int] {
    let rank = ks.map { inputs[$0].rank }.max() ?? 0
    var result = [Int](repeating: 1, count: rank)
    for k in ks {
      let shape = inputs[k].shape
      for (i, extent) in shape.enumerated() {
        let j = rank - shape.count + i
        if result[j] == extent || extent == 1 { continue }
        guard result[j] == 1 else {
          let problem = result[j] == -1 || extent == -1 ? "op applied to the batch axis (the batch broadcasts against a fixed extent)" : "shapes do not broadcast"
          throw fail(problem, expected: "shapes that broadcast (PyTorch's rules)", found: ks.map(describe).joined(separator: " and "))
        }
        result[j] = extent
      }
    }
    for k in ks where inputs[k].batched && inputs[k].rank != rank {
      throw batchAxis("broadcasting moves the batch axis of \(describe(k)) to axis \(rank - inputs[k].rank)")
    }
    return result
  }

  /// The shape and dtype of the node's value.
  func infer() throws -> (shape: [Int], dtype: GraphDType) {
    let x = inputs[0]
    switch op {
    case .linear:
      try constant(1, "weight")
      guard inputs[1].rank == 2 else { throw fail("weight is not a matrix", expected: "[out_features, in_features]", found: describe(1)) }
      let (out, inFeatures) = (inputs[1].shape[0], inputs[1].shape[1])
      guard x.rank >= (x.batched ? 2 : 1), x.shape.last == inFeatures else {
        throw fail("input does not fit the weight", expected: "[..., \(inFeatures)]\(x.batched ? " with the batch axis first" : "")", found: describe(0))
      }
      if inputs.count == 3 { try vector(2, "bias", out) }
      return (x.shape.dropLast() + [out], .float)
    case let .conv(spatial, stride, padding, dilation, groups):
      return (try convolution(spatial, stride, padding, dilation, groups), .float)
    case let .embedding(paddingIndex):
      try constant(1, "weight")
      guard inputs[1].rank == 2 else { throw fail("weight is not a matrix", expected: "[num_embeddings, embedding_dim]", found: describe(1)) }
      guard x.dtype != .float else {
        throw fail("indices are not integers", expected: "an int64 value (graph input, buffer or value computed from them)", found: "\(describe(0)) of dtype float")
      }
      let rows = inputs[1].shape[0]
      if let paddingIndex, paddingIndex < -rows || paddingIndex >= rows {
        throw fail("padding_idx out of range", expected: "an index in -\(rows)..<\(rows)", found: "\(paddingIndex)")
      }
      return (x.shape + [inputs[1].shape[1]], .float)
    case let .layerNorm(normalizedShape, _), let .rmsNorm(normalizedShape, _):
      guard x.rank >= normalizedShape.count, Array(x.shape.suffix(normalizedShape.count)) == normalizedShape else {
        throw fail("normalized_shape does not end the input's shape", expected: "[..., \(normalizedShape.map(String.init).joined(separator: ", "))]", found: describe(0))
      }
      if x.batched && normalizedShape.count >= x.rank { throw batchAxis("normalizing over the batch axis of \(describe(0))") }
      for k in 1..<inputs.count {
        try constant(k, k == 1 ? "weight" : "bias")
        guard inputs[k].shape == normalizedShape else {
          throw fail("\(k == 1 ? "weight" : "bias") does not match normalized_shape", expected: "\(normalizedShape)", found: describe(k))
        }
      }
      return (x.shape, .float)
    case .batchNorm:
      guard (2...4).contains(x.rank) else { throw fail("input rank not 2, 3 or 4", expected: "[N, C], [N, C, L] or [N, C, H, W]", found: describe(0)) }
      let roles = ["running_mean", "running_var", "weight", "bias"]
      for k in 1..<inputs.count { try vector(k, roles[k - 1], x.shape[1]) }
      return (x.shape, .float)
    case let .maxPool(spatial, kernel, stride, padding, dilation, ceilMode):
      try spatialInput(spatial)
      var shape = Array(x.shape.prefix(2))
      for i in 0..<spatial {
        let effective = dilation[i] * (kernel[i] - 1) + 1
        guard padding[i] <= effective / 2 else {
          throw fail("padding larger than half the kernel", expected: "padding ≤ \(effective / 2) on axis \(i)", found: "\(padding)")
        }
        shape.append(try poolSize(x.shape[2 + i], kernel[i], stride[i], padding[i], dilation[i], ceilMode, axis: i))
      }
      return (shape, .float)
    case let .avgPool(spatial, kernel, stride, padding, ceilMode, _, _):
      try spatialInput(spatial)
      var shape = Array(x.shape.prefix(2))
      for i in 0..<spatial {
        guard padding[i] <= kernel[i] / 2 else {
          throw fail("padding larger than half the kernel", expected: "padding ≤ \(kernel[i] / 2) on axis \(i)", found: "\(padding)")
        }
        shape.append(try poolSize(x.shape[2 + i], kernel[i], stride[i], padding[i], 1, ceilMode, axis: i))
      }
      return (shape, .float)
    case let .adaptiveAvgPool(spatial, outputSize):
      try spatialInput(spatial)
      return (Array(x.shape.prefix(2)) + outputSize.enumerated().map { $0.element ?? x.shape[2 + $0.offset] }, .float)
    case .binary:
      let integral = inputs.allSatisfy { $0.dtype != .float } && op != .binary(.div)
      return (try broadcast([0, 1]), integral ? .int64 : .float)
    case let .scalar(kind, value):
      let integral = x.dtype != .float && value == value.rounded() && [.add, .sub, .rsub, .mul].contains(kind)
      return (x.shape, integral ? .int64 : .float)
    case let .unary(kind):
      if kind == .identity { return (x.shape, x.dtype) }
      return (x.shape, kind == .neg && x.dtype != .float ? .int64 : .float)
    case .silu, .gelu, .softplus, .elu, .leakyReLU:
      return (x.shape, .float)
    case .matmul:
      return (try matmul(), .float)
    case let .concat(dim):
      guard x.rank >= 1 else { throw fail("cannot concatenate rank-0 values", expected: "rank ≥ 1", found: describe(0)) }
      let d = try axis(dim, rank: x.rank, "dim")
      if x.batched && d == 0 { throw batchAxis("concatenating along the batch axis") }
      var shape = x.shape
      for k in 1..<inputs.count {
        var a = inputs[k].shape, b = x.shape
        if a.count == b.count { (a[d], b[d]) = (0, 0) }
        guard a == b, inputs[k].batched == x.batched else {
          throw fail("shapes do not match off the concatenation axis", expected: "\(x.shape) except on axis \(d)", found: describe(k))
        }
        shape[d] += inputs[k].shape[d]
      }
      let dtypes = Set(inputs.map(\.dtype))
      return (shape, dtypes.count == 1 ? x.dtype : .float)
    case let .slice(dim, start, end, step):
      let d = try axis(dim, rank: x.rank, "dim")
      if x.batched && d == 0 { throw batchAxis("slicing the batch axis") }
      let range = ShapeRules.sliceRange(extent: x.shape[d], start: start, end: end, step: step)
      guard range.count >= 1 else {
        throw fail("empty slice", expected: "at least one element along axis \(d) of extent \(x.shape[d])", found: "start \(start.map(String.init) ?? "null"), end \(end.map(String.init) ?? "null"), step \(step)")
      }
      var shape = x.shape
      shape[d] = range.count
      return (shape, x.dtype)
    case let .select(dim, index):
      let d = try axis(dim, rank: x.rank, "dim")
      if x.batched && d == 0 { throw batchAxis("selecting along the batch axis") }
      guard index >= -x.shape[d], index < x.shape[d] else {
        throw fail("index out of range", expected: "an index in -\(x.shape[d])..<\(x.shape[d])", found: "\(index)")
      }
      var shape = x.shape
      shape.remove(at: d)
      return (shape, x.dtype)
    case let .reshape(target):
      return (try reshape(target), x.dtype)
    case let .permute(dims):
      let normalized = try dims.map { try axis($0, rank: x.rank, "dims entry") }
      guard normalized.count == x.rank, Set(normalized).count == x.rank else {
        throw fail("dims is not a permutation of the axes", expected: "a permutation of 0..<\(x.rank)", found: "\(dims)")
      }
      if x.batched && normalized[0] != 0 { throw batchAxis("permuting the batch axis (dims \(dims))") }
      return (normalized.map { x.shape[$0] }, x.dtype)
    case let .expand(target):
      return (try expand(target), x.dtype)
    case let .reduction(sum, dims, keepdim):
      let all = Array(0..<x.rank)
      if x.batched && dims == nil { throw batchAxis("reducing over every axis, the batch axis included") }
      let normalized = try (dims ?? all).map { try axis($0, rank: x.rank, "dim") }
      guard Set(normalized).count == normalized.count else { throw fail("repeated axis", expected: "distinct axes", found: "\(dims ?? [])") }
      if x.batched && normalized.contains(0) { throw batchAxis("reducing over the batch axis") }
      let shape = keepdim ? x.shape.enumerated().map { normalized.contains($0.offset) ? 1 : $0.element }
        : x.shape.enumerated().filter { !normalized.contains($0.offset) }.map(\.element)
      return (shape, sum && x.dtype != .float ? .int64 : .float)
    case let .softmax(dim, _):
      let d = try axis(dim, rank: Swift.max(x.rank, 1), "dim")
      if x.batched && d == 0 { throw batchAxis("a softmax along the batch axis") }
      return (x.shape, .float)
    case .maskedFill:
      // Out of place, as traced: input and mask broadcast together; nonzero entries fill.
      return (try broadcast([0, 1]), x.dtype)
    case let .attention(isCausal, _, additiveMask):
      return (try attention(isCausal: isCausal, additiveMask: additiveMask), .float)
    }
  }

  /// Checks that `inputs[k]` (a weight) is a constant vector of `extent` elements.
  func vector(_ k: Int, _ role: String, _ extent: Int) throws {
    try constant(k, role)
    guard inputs[k].shape == [extent] else { throw fail("\(role) has the wrong shape", expected: "[\(extent)]", found: describe(k)) }
  }

  /// Checks a convolution's or pooling's input `[N, C, spatial...]`.
  func spatialInput(_ spatial: Int) throws {
    guard inputs[0].rank == spatial + 2 else {
      throw fail("input rank is not \(spatial + 2)", expected: spatial == 1 ? "[N, C, L]" : "[N, C, H, W]", found: describe(0))
    }
  }

  /// PyTorch's pooling output size (`pooling_output_shape`), refusing sizes below 1.
  func poolSize(_ size: Int, _ kernel: Int, _ stride: Int, _ padding: Int, _ dilation: Int, _ ceilMode: Bool, axis: Int) throws -> Int {
    let output = ShapeRules.poolOutputSize(
      inputSize: size, kernelSize: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    guard output >= 1 else {
      throw fail("input too small for the kernel", expected: "an extent of at least \(dilation * (kernel - 1) + 1 - 2 * padding) on spatial axis \(axis)", found: describe(0))
    }
    return output
  }

  /// `floor_or_ceil((L + 2p − d(k−1) − 1) / s) + 1`, less one when a ceil-mode window would
  /// start in the right padding (PyTorch's `pooling_output_shape`).
  static func poolOutputSize(inputSize: Int, kernelSize: Int, stride: Int, padding: Int, dilation: Int, ceilMode: Bool) -> Int {
    let numerator = inputSize + 2 * padding - dilation * (kernelSize - 1) - 1
    guard numerator >= 0 else { return 0 }
    var output = (ceilMode ? (numerator + stride - 1) / stride : numerator / stride) + 1
    if ceilMode && (output - 1) * stride >= inputSize + padding { output -= 1 }
    return output
  }

  /// PyTorch's slice bounds: negative indices count from the end, then clamped.
  static func sliceRange(extent n: Int, start: Int?, end: Int?, step: Int) -> (start: Int, count: Int) {
    var s = start ?? 0, e = end ?? n
    if s < 0 { s += n }
    if e < 0 { e += n }
    s = Swift.min(Swift.max(s, 0), n)
    e = Swift.min(Swift.max(e, 0), n)
    return (s, e > s ? (e - s + step - 1) / step : 0)
  }

  /// The (before, after) zero padding of each spatial axis of a convolution.
  static func convolutionPadding(_ padding: GraphOp.Padding, kernel: [Int], dilation: [Int]) -> [(before: Int, after: Int)] {
    switch padding {
    case let .explicit(values): return values.map { ($0, $0) }
    case .valid: return kernel.map { _ in (0, 0) }
    case .same:
      return zip(kernel, dilation).map { k, d in
        let total = d * (k - 1)
        return (total / 2, total - total / 2)
      }
    }
  }

  func convolution(_ spatial: Int, _ stride: [Int], _ padding: GraphOp.Padding, _ dilation: [Int], _ groups: Int) throws -> [Int] {
    try spatialInput(spatial)
    try constant(1, "weight")
    let (x, w) = (inputs[0].shape, inputs[1].shape)
    guard w.count == spatial + 2 else {
      throw fail("weight rank is not \(spatial + 2)", expected: "[out_channels, in_channels / groups, kernel...]", found: describe(1))
    }
    guard w[0] % groups == 0, w[1] * groups == x[1] else {
      throw fail(
        "channels do not fit the weight and groups", expected: "input channels \(w[1]) × groups \(groups) and out_channels divisible by groups",
        found: "input \(describe(0)), weight \(describe(1))")
    }
    if inputs.count == 3 { try vector(2, "bias", w[0]) }
    let kernel = Array(w.suffix(spatial))
    let pads = ShapeRules.convolutionPadding(padding, kernel: kernel, dilation: dilation)
    var shape = [x[0], w[0]]
    for i in 0..<spatial {
      let span = x[2 + i] + pads[i].before + pads[i].after - dilation[i] * (kernel[i] - 1) - 1
      guard span >= 0 else {
        throw fail("input too small for the kernel", expected: "a padded extent of at least \(dilation[i] * (kernel[i] - 1) + 1) on spatial axis \(i)", found: describe(0))
      }
      shape.append(span / stride[i] + 1)
    }
    return shape
  }

  /// `torch.matmul`'s shape, with the batch axis only as a leading broadcast axis (or the
  /// rows of a matrix times a constant matrix or vector).
  func matmul() throws -> [Int] {
    let (a, b) = (inputs[0], inputs[1])
    guard a.rank >= 1, b.rank >= 1 else { throw fail("matmul of a rank-0 value", expected: "rank ≥ 1", found: "\(describe(0)) and \(describe(1))") }
    let a2 = a.rank == 1 ? [1] + a.shape : a.shape
    let b2 = b.rank == 1 ? b.shape + [1] : b.shape
    let leading = Swift.max(a2.count, b2.count) - 2
    if a.batched && !((a.rank == 2 && b.rank <= 2) || (a.rank >= 3 && a.rank - 2 == leading)) {
      throw batchAxis("matmul moves or contracts the batch axis of \(describe(0)) (with \(describe(1)))")
    }
    if b.batched && !(b.rank >= 3 && b.rank - 2 == leading) {
      throw batchAxis("matmul moves or contracts the batch axis of \(describe(1)) (with \(describe(0)))")
    }
    guard a2[a2.count - 1] == b2[b2.count - 2] else {
      throw fail("inner dimensions differ", expected: "[..., n, k] @ [..., k, m]", found: "\(describe(0)) @ \(describe(1))")
    }
    let batchShapes = [GraphValueInfo(name: a.name, shape: Array(a2.dropLast(2)), batched: a.batched && a.rank >= 3, dtype: .float),
                       GraphValueInfo(name: b.name, shape: Array(b2.dropLast(2)), batched: b.batched, dtype: .float)]
    let leadingShape = try ShapeRules(op: op, opName: opName, inputs: batchShapes, location: location, path: path).broadcast([0, 1])
    var shape = leadingShape + [a2[a2.count - 2], b2[b2.count - 1]]
    if b.rank == 1 { shape.removeLast() }
    if a.rank == 1 { shape.remove(at: shape.count - (b.rank == 1 ? 1 : 2)) }
    return shape
  }

  func reshape(_ target: [Int]) throws -> [Int] {
    let x = inputs[0]
    var rest = target
    if x.batched {
      guard target.first == -1 else { throw batchAxis("reshape to \(target) does not keep the batch axis first (-1)") }
      rest = Array(target.dropFirst())
    }
    let elements = (x.batched ? Array(x.shape.dropFirst()) : x.shape).reduce(1, *)
    let free = rest.indices.filter { rest[$0] == -1 }
    guard free.count <= 1, rest.allSatisfy({ $0 == -1 || $0 >= 1 }) else {
      throw fail("invalid shape", expected: "positive extents and at most one -1\(x.batched ? " after the batch axis" : "")", found: "\(target)")
    }
    let known = checkedElementCount(rest.filter { $0 != -1 }) ?? Int.max
    if let index = free.first {
      guard known > 0, elements % known == 0 else {
        throw fail("shape does not fit the elements", expected: "a shape of \(elements) elements\(x.batched ? " per data point" : "")", found: "\(target) for \(describe(0))")
      }
      rest[index] = elements / known
    } else if known != elements {
      throw fail("shape does not fit the elements", expected: "a shape of \(elements) elements\(x.batched ? " per data point" : "")", found: "\(target) for \(describe(0))")
    }
    return x.batched ? [-1] + rest : rest
  }

  func expand(_ target: [Int]) throws -> [Int] {
    let x = inputs[0]
    let added = target.count - x.rank
    guard added >= 0 else { throw fail("fewer axes than the input", expected: "at least \(x.rank) extents", found: "\(target)") }
    if x.batched && (added != 0 || target[0] != -1) {
      throw batchAxis("expand to \(target) does not keep the batch axis first (-1)")
    }
    var shape = [Int]()
    for (i, extent) in target.enumerated() {
      if i < added {
        guard extent >= 1 else { throw fail("invalid new extent", expected: "positive extents for new leading axes", found: "\(target)") }
        shape.append(extent)
        continue
      }
      let current = x.shape[i - added]
      if extent == -1 || extent == current { shape.append(current); continue }
      guard current == 1, extent >= 1 else {
        throw fail("cannot expand", expected: "extent 1 (or -1 to keep) on axes that change", found: "\(target) for \(describe(0))")
      }
      shape.append(extent)
    }
    return shape
  }

  func attention(isCausal: Bool, additiveMask: Bool?) throws -> [Int] {
    let (q, k, v) = (inputs[0], inputs[1], inputs[2])
    guard q.rank >= 2, k.rank >= 2, v.rank >= 2 else {
      throw fail("query, key and value need rank ≥ 2", expected: "[..., L, E], [..., S, E], [..., S, Ev]", found: "\(describe(0)), \(describe(1)), \(describe(2))")
    }
    guard q.shape.last == k.shape.last, k.shape[k.rank - 2] == v.shape[v.rank - 2] else {
      throw fail("query, key and value do not fit", expected: "[..., L, E], [..., S, E], [..., S, Ev]", found: "\(describe(0)), \(describe(1)), \(describe(2))")
    }
    let leading = (0..<3).map { i in
      GraphValueInfo(name: inputs[i].name, shape: Array(inputs[i].shape.dropLast(2)), batched: inputs[i].batched, dtype: .float)
    }
    for i in 0..<3 where inputs[i].batched && inputs[i].rank < 3 {
      throw batchAxis("attention over the batch axis of \(describe(i)) (a batched query, key or value needs [N, ..., L, E])")
    }
    let batch = try ShapeRules(op: op, opName: opName, inputs: leading, location: location, path: path).broadcast([0, 1, 2])
    let (l, s) = (q.shape[q.rank - 2], k.shape[k.rank - 2])
    if inputs.count == 4 {
      let mask = inputs[3]
      if isCausal { throw fail("a mask with is_causal", expected: "either a mask or is_causal (as PyTorch)", found: describe(3)) }
      let target = GraphValueInfo(name: "scores", shape: batch + [l, s], batched: batch.first == -1, dtype: .float)
      let shape = try ShapeRules(op: op, opName: opName, inputs: [target, mask], location: location, path: path).broadcast([0, 1])
      guard shape == target.shape else {
        throw fail("mask does not broadcast to the scores", expected: "a mask broadcasting to \(target.shape)", found: describe(3))
      }
    }
    return batch + [l, v.shape[v.rank - 1]]
  }
}
