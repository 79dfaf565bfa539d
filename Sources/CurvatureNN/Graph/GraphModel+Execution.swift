import CurvatureNumerics
import CurvatureAutodiff

// The forward pass of one node, for the ops built from the tensor operations of
// CurvatureAutodiff. The ops implemented by `Functional` (convolutions, norms, pooling,
// attention, the smooth activations) go through `GraphModel+FunctionalOps.swift`. Shapes
// and attributes were checked at load, so nothing here can fail on a valid graph.

extension GraphNodePlan {
  /// The node's value from its inputs' values.
  func evaluate<Scalar: BLASScalar>(_ x: [Tensor<Scalar>], batchSize: Int) -> Tensor<Scalar> {
    switch op {
    case .linear:
      return GraphNodePlan.linear(x[0], weight: x[1], bias: x.count > 2 ? x[2] : nil)
    case let .embedding(paddingIndex):
      return GraphNodePlan.embedding(x[0].value, weight: x[1], paddingIndex: paddingIndex)
    case let .binary(kind):
      switch kind {
      case .add: return x[0] + x[1]
      case .sub: return x[0] - x[1]
      case .mul: return x[0] * x[1]
      case .div: return x[0] / x[1]
      }
    case let .scalar(kind, value):
      let v = Tensor<Scalar>(scalar: Scalar(value))
      switch kind {
      case .add: return x[0] + v
      case .sub: return x[0] - v
      case .rsub: return v - x[0]
      case .mul: return x[0] * v
      case .div: return x[0] / v
      case .rdiv: return v / x[0]
      case .pow: return GraphNodePlan.power(x[0], value)
      }
    case let .unary(kind):
      switch kind {
      case .neg: return -x[0]
      case .exp: return x[0].exp()
      case .log: return x[0].log()
      case .sqrt: return x[0].sqrt()
      case .rsqrt: return Tensor(scalar: 1) / x[0].sqrt()
      case .relu: return x[0].relu()
      case .tanh: return x[0].tanh()
      case .sigmoid: return x[0].sigmoid()
      case .identity: return x[0]
      }
    case .matmul:
      return GraphNodePlan.matmul(x[0], x[1])
    case let .concat(dim):
      return Tensor.concatenate(x, alongAxis: dim < 0 ? dim + x[0].rank : dim)
    case let .slice(dim, start, end, step):
      let d = dim < 0 ? dim + x[0].rank : dim
      let range = ShapeRules.sliceRange(extent: x[0].shape[d], start: start, end: end, step: step)
      if step == 1 { return x[0].sliced(alongAxis: d, range.start..<(range.start + range.count)) }
      return GraphNodePlan.strided(x[0], axis: d, start: range.start, count: range.count, step: step)
    case let .select(dim, index):
      let d = dim < 0 ? dim + x[0].rank : dim
      let i = index < 0 ? index + x[0].shape[d] : index
      return x[0].sliced(alongAxis: d, i..<(i + 1)).reshaped(resolvedShape(batchSize: batchSize))
    case .reshape:
      return x[0].reshaped(resolvedShape(batchSize: batchSize))
    case let .permute(dims):
      return x[0].permuted(dims.map { $0 < 0 ? $0 + x[0].rank : $0 })
    case .expand:
      return x[0].broadcast(to: resolvedShape(batchSize: batchSize))
    case let .reduction(sum, dims, keepdim):
      let axes = (dims ?? Array(0..<x[0].rank)).map { $0 < 0 ? $0 + x[0].rank : $0 }
      return sum ? x[0].sum(alongAxes: axes, keepingDimensions: keepdim) : x[0].mean(alongAxes: axes, keepingDimensions: keepdim)
    case let .softmax(dim, log):
      return log ? x[0].logSoftmax(alongAxis: dim) : x[0].softmax(alongAxis: dim)
    case .conv, .layerNorm, .rmsNorm, .batchNorm, .maxPool, .avgPool, .adaptiveAvgPool, .silu, .gelu, .softplus, .elu,
      .leakyReLU, .maskedFill, .attention:
      return evaluateFunctional(x, batchSize: batchSize)
    }
  }

  /// `F.linear` for any rank: one gemm over all leading axes (as the `Linear` layer, so a
  /// graph of linear nodes equals the same `Sequential` bit for bit).
  static func linear<Scalar: BLASScalar>(_ x: Tensor<Scalar>, weight: Tensor<Scalar>, bias: Tensor<Scalar>?) -> Tensor<Scalar> {
    let vector = x.rank == 1
    let input = vector ? x.reshaped([1, x.shape[0]]) : x
    var output = CurvatureAutodiff.matmul(input, weight, transposeB: true)
    if let bias { output = output + bias }
    return vector ? output.reshaped([weight.shape[0]]) : output
  }

  /// `torch.matmul`, with vectors promoted to matrices and the added axis removed.
  static func matmul<Scalar: BLASScalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>) -> Tensor<Scalar> {
    let a2 = a.rank == 1 ? a.reshaped([1, a.shape[0]]) : a
    let b2 = b.rank == 1 ? b.reshaped([b.shape[0], 1]) : b
    var product = CurvatureAutodiff.matmul(a2, b2)
    var shape = product.shape
    if b.rank == 1 { shape.removeLast() }
    if a.rank == 1 { shape.remove(at: shape.count - (b.rank == 1 ? 1 : 2)) }
    if shape != product.shape { product = product.reshaped(shape) }
    return product
  }

  /// `F.embedding`: rows of `weight` at `indices`; an index outside the rows gives a zero
  /// row (data are checked before a forward pass, so only computed indices can be out of
  /// range). The row `paddingIndex` gets no gradient, as in PyTorch.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func embedding<Scalar: BLASScalar>(_ indices: NDArray<Scalar>, weight: Tensor<Scalar>, paddingIndex: Int?) -> Tensor<Scalar> {
    let (rows, width) = (weight.shape[0], weight.shape[1])
    let padding = paddingIndex.map { $0 < 0 ? $0 + rows : $0 }
    var live = [Int](), padded = [Int]()
    live.reserveCapacity(indices.count * width)
    var hasPadding = false
    for value in indices.scalars {
      let row = value.isFinite && value == value.rounded() && value >= 0 && value < Scalar(rows) ? Int(value) : -1
      let isPadding = row >= 0 && row == padding
      hasPadding = hasPadding || isPadding
      for j in 0..<width { live.append(row < 0 || isPadding ? -1 : row * width + j) }
    }
    let shape = indices.shape + [width]
    let gathered = weight.gathering(flatIndices: live, shape: shape)
    guard hasPadding, let padding else { return gathered }
    padded.reserveCapacity(live.count)
    for value in indices.scalars {
      let isPadding = value == Scalar(padding)
      for j in 0..<width { padded.append(isPadding ? padding * width + j : -1) }
    }
    return gathered + weight.detached().gathering(flatIndices: padded, shape: shape)
  }

  /// `x[..., start::step, ...]` along `axis` (`count` entries), as a gather.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func strided<Scalar: BLASScalar>(_ x: Tensor<Scalar>, axis: Int, start: Int, count: Int, step: Int) -> Tensor<Scalar> {
    let extent = x.shape[axis]
    let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
    var indices = [Int]()
    indices.reserveCapacity(outer * count * inner)
    for o in 0..<outer {
      for k in 0..<count {
        let base = (o * extent + start + k * step) * inner
        for i in 0..<inner { indices.append(base + i) }
      }
    }
    var shape = x.shape
    shape[axis] = count
    return x.gathering(flatIndices: indices, shape: shape)
  }

  /// `x ** p`: exact products for small integer powers (so negative bases work, as in
  /// PyTorch), `exp(p log x)` otherwise.
  static func power<Scalar: BLASScalar>(_ x: Tensor<Scalar>, _ p: Double) -> Tensor<Scalar> {
    switch p {
    case 0: return Tensor(NDArray(repeating: 1, shape: x.shape))
    case 1: return x
    case 2: return x.squared()
    case 0.5: return x.sqrt()
    case -0.5: return Tensor(scalar: 1) / x.sqrt()
    case -1: return Tensor(scalar: 1) / x
    default:
      guard p == p.rounded(), Swift.abs(p) <= 64 else { return (x.log() * Scalar(p)).exp() }
      var n = Int(Swift.abs(p)), base = x
      var result: Tensor<Scalar>? = nil
      while n > 0 {
        if n & 1 == 1 { result = result.map { $0 * base } ?? base }
        n >>= 1
        if n > 0 { base = base * base }
      }
      return p < 0 ? Tensor(scalar: 1) / result! : result!
    }
  }
}
