import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// The taps of KFAC and EKFAC on any KroneckerFactorable model (Sequential, GraphModel):
// which nodes cover the selected blocks, a forward pass that records each covered node's
// input and marks its output, the node's input and output-gradient rows, and per-term
// gradients for EKFAC's eigenvalue correction. For a Sequential these are the same array
// operations as the layer-based per-term machinery (PerTermGradients.swift), so results are
// bit for bit those of before graph models.

/// The covered nodes of a model and their (empty) factors.
struct KroneckerLayout<Scalar: BLASScalar> {
  var model: any KroneckerFactorable<Scalar>
  /// The covered nodes by tap id.
  var nodes: [Int: KroneckerNode]
  var factors: [KFACLayerFactors<Scalar>]
  /// The selected blocks outside every Kronecker node (a mixed operator's other blocks).
  var others: [Int] = []
}

extension KroneckerLayout {
  /// Every tap the covered nodes need: their inputs' and their outputs'.
  var taps: Set<Int> { Set(factors.flatMap { nodes[$0.layer]!.outputTaps + [$0.layer] }) }

  /// The tapped output tensors of the covered nodes, in factor order (a packed
  /// projection's several in row order).
  func tappedOutputs(_ outputs: [Int: Tensor<Scalar>]) -> [Tensor<Scalar>] {
    factors.flatMap { nodes[$0.layer]!.outputTaps.map { outputs[$0]! } }
  }

  /// The output gradient of every covered node from the gradients at `tappedOutputs`: a
  /// packed projection's concatenated along the last axis.
  func nodeDeltas(_ deltas: [NDArray<Scalar>]) -> [NDArray<Scalar>] {
    guard deltas.count != factors.count else { return deltas }
    var result = [NDArray<Scalar>](), index = 0
    for f in factors {
      let count = nodes[f.layer]!.outputTaps.count
      result.append(count == 1 ? deltas[index] : .concatenatingLastAxis(Array(deltas[index..<(index + count)])))
      index += count
    }
    return result
  }
}

extension NDArray {
  /// Arrays of equal leading shape joined along their last axis.
  static func concatenatingLastAxis(_ parts: [NDArray]) -> NDArray {
    let widths = parts.map { $0.shape[$0.rank - 1] }
    let rows = parts[0].count / Swift.max(widths[0], 1)
    var scalars = [Scalar]()
    scalars.reserveCapacity(rows * widths.reduce(0, +))
    for r in 0..<rows {
      for (part, width) in zip(parts, widths) { scalars.append(contentsOf: part.scalars[(r * width)..<((r + 1) * width)]) }
    }
    return NDArray(shape: Array(parts[0].shape.dropLast()) + [widths.reduce(0, +)], scalars: scalars)
  }
}

extension CurvatureProblem {
  /// The model as a `KroneckerFactorable`.
  /// - Throws: `CurvatureError.unsupported` for other models (a `FunctionModel`).
  func kroneckerModel(_ method: String) throws -> any KroneckerFactorable<Scalar> {
    guard let factorable = model as? any KroneckerFactorable<Scalar> else {
      throw CurvatureError.unsupported(
        "\(method) needs a Sequential of Linear and Conv2d layers or a graph model with linear and convolution nodes")
    }
    return factorable
  }

  /// A forward pass over a batch that records a graph and taps the given nodes: their
  /// inputs (values) and outputs (tensors a reverse pass can reach).
  /// - Throws: `CurvatureError.nonFinite` for non-finite network outputs.
  func tappedNodeForward(
    _ model: any KroneckerFactorable<Scalar>, _ batch: Batch<Scalar>, taps: Set<Int>
  ) throws -> (output: Tensor<Scalar>, inputs: [Int: NDArray<Scalar>], outputs: [Int: Tensor<Scalar>]) {
    var inputs = [Int: NDArray<Scalar>](), outputs = [Int: Tensor<Scalar>]()
    let parameters = model.parameters.map { Tensor($0) }
    let output = AutodiffMode.recording(true) {
      model(batch.allInputs.map { Tensor($0) }, parameters: parameters) { index, input, output in
        guard taps.contains(index) else { return output }
        inputs[index] = input.value
        let tapped = output.requiringGradient()
        outputs[index] = tapped
        return tapped
      }
    }
    try requireFinite(output.value, "network outputs for data points \(batch.range)")
    return (output, inputs, outputs)
  }

  /// One reverse pass per factor column `[K, T, C]` (term rows), from the output to the
  /// tapped node outputs, each column laid out as the outputs (class axis 1 for
  /// per-position cross-entropy): `body` receives the output gradients δ of every tapped
  /// node for that column.
  func forEachOutputLayoutColumn(
    _ columns: NDArray<Scalar>, output: Tensor<Scalar>, tapped: [Tensor<Scalar>], _ body: ([NDArray<Scalar>]) throws -> Void
  ) rethrows {
    let width = columns.count / columns.shape[0]
    let rows = [columns.shape[1], width / Swift.max(columns.shape[1], 1)]
    for k in 0..<columns.shape[0] {
      let column = NDArray(shape: rows, scalars: Array(columns.scalars[(k * width)..<((k + 1) * width)]))
      let seed = loss.outputLayout(column, outputShape: output.shape)
      let deltas = AutodiffMode.withoutRecording { gradients(of: [output], seeds: [Tensor(seed)], wrt: tapped) }
      try body(deltas.map(\.value))
    }
  }

  /// A node's input as rows `[N, S, in]`: linear inputs with their shared axes folded into
  /// `S`; convolution inputs as unfolded patches (channel groups averaged, as curvlinops),
  /// `S` = locations.
  func kfacInputRows(_ node: KroneckerNode, _ a: NDArray<Scalar>, points n: Int) -> NDArray<Scalar> {
    if case let .embedding(paddingIndex) = node.operation {
      // One-hot rows [N, S, V]; the padding row and out-of-range ids get no gradient: zeros.
      let v = node.weightShape[0]
      var rows = NDArray<Scalar>(zeros: [a.count, v])
      for (r, id) in a.scalars.enumerated() where id >= 0 && id < Scalar(v) && id == id.rounded() {
        let token = Int(id)
        if token != paddingIndex { rows.scalars[r * v + token] = 1 }
      }
      return rows.reshaped([n, -1, v])
    }
    if case let .convolution(g) = node.operation {
      return KroneckerNode.unfolded(KroneckerNode.factorImages(a, g, points: n), g).permuted([0, 2, 1])
    }
    let width = a.shape[a.rank - 1]
    return a.reshaped([n, -1, width])
  }

  /// A convolution node's input as columns `[in, N·S]`, the transpose of its rows
  /// (`kfacInputRows`, expanded): the batch's patches unfolded side by side, with no
  /// `[N, in, S]` → `[N, S, in]` permutation; nil for other nodes.
  func kfacInputColumns(_ node: KroneckerNode, _ a: NDArray<Scalar>, points n: Int) -> NDArray<Scalar>? {
    guard case let .convolution(g) = node.operation else { return nil }
    let x = KroneckerNode.factorImages(a, g, points: n)
    let geometry = Conv2dGeometry(
      inputShape: x.shape, kernelSize: (g.kernel[0], g.kernel[1]), stride: (g.stride[0], g.stride[1]),
      padding: (g.paddingBefore[0], g.paddingBefore[1]), dilation: (g.dilation[0], g.dilation[1]))
    return ConvolutionLayout(geometry: geometry, outChannels: g.outChannels, groups: 1).columns(x)
  }

  /// A convolution node's output gradient as columns `[out, N·S]` (channel-major: runs of
  /// `S` copied whole, where the rows `[N·S, out]` transpose every element); nil for
  /// other nodes.
  func kfacOutputColumns(_ node: KroneckerNode, _ delta: NDArray<Scalar>, points n: Int) -> NDArray<Scalar>? {
    guard case .convolution = node.operation else { return nil }
    let channels = delta.shape[1]
    return delta.reshaped([n, channels, -1]).permuted([1, 0, 2]).reshaped([channels, -1])
  }

  /// A node's output gradient as rows `[N, S, out]` (convolutions: locations × channels).
  func kfacOutputRows(_ node: KroneckerNode, _ delta: NDArray<Scalar>, points n: Int) -> NDArray<Scalar> {
    if case .convolution = node.operation {
      return delta.reshaped([n, delta.shape[1], -1]).permuted([0, 2, 1])
    }
    return delta.reshaped([n, -1, delta.shape[delta.rank - 1]])
  }
}

extension KroneckerNode {
  /// A convolution's input as images `[N, C, H, W]` (1-d: height 1), with the excess
  /// padding after each axis (PyTorch's "same" with an even total) added as zeros.
  static func images<Scalar: BLASScalar>(_ a: NDArray<Scalar>, _ g: ConvolutionGeometry) -> NDArray<Scalar> {
    var x = g.spatial == 1 ? a.reshaped([a.shape[0], a.shape[1], 1, a.shape[2]]) : a
    let extra = zip(g.paddingAfter, g.paddingBefore).map { $0 - $1 }
    if extra.contains(where: { $0 > 0 }) {
      let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
      let (h2, w2) = (h + extra[0], w + extra[1])
      var padded = NDArray<Scalar>(zeros: [n, c, h2, w2])
      for plane in 0..<(n * c) {
        for i in 0..<h {
          for j in 0..<w { padded.scalars[(plane * h2 + i) * w2 + j] = x.scalars[(plane * h + i) * w + j] }
        }
      }
      x = padded
    }
    return x
  }

  /// A convolution's input images for its input factor: `images`, the channel groups
  /// averaged (as curvlinops).
  static func factorImages<Scalar: BLASScalar>(_ a: NDArray<Scalar>, _ g: ConvolutionGeometry, points n: Int) -> NDArray<Scalar> {
    let x = images(a, g)
    guard g.groups > 1 else { return x }
    let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3])
    return x.reshaped([n, g.groups, c / g.groups, h, w]).reduced(.sum, axes: [1]) * (1 / Scalar(g.groups))
  }

  /// `unfold` of images (see `images`) with the geometry's kernel: `[N, C·kh·kw, L]`.
  static func unfolded<Scalar: BLASScalar>(_ x: NDArray<Scalar>, _ g: ConvolutionGeometry) -> NDArray<Scalar> {
    unfold(
      Tensor(x), kernelSize: (g.kernel[0], g.kernel[1]), stride: (g.stride[0], g.stride[1]),
      padding: (g.paddingBefore[0], g.paddingBefore[1]), dilation: (g.dilation[0], g.dilation[1])
    ).value
  }
}
