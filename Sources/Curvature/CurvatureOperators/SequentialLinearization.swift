import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// Products with k columns for a Sequential model: the k tangents (and cotangents) travel
// through one forward pass as a leading axis `[k, N, ...]`, so a Linear layer does one
// gemm for all columns (`[k·N, in] × [in, out]`, and `[N, in] × [in, k·out]` for the
// weight tangents) instead of k small ones, and the nonlinear forward pass runs once per
// batch instead of once per column.

/// A batch's forward pass through a `Sequential` of Linear, Conv2d, elementwise activations
/// and Flatten layers, kept for Jacobian products with many columns at once.
struct SequentialLinearization<Scalar: BLASScalar>: Sendable {
  /// The network.
  let sequential: Sequential<Scalar>
  /// `values[i]`: layer `i`'s input; the last: the network output.
  let values: [NDArray<Scalar>]
  /// For elementwise activations, `σ'` at the layer's input; nil for other layers.
  let derivatives: [NDArray<Scalar>?]
  /// For Conv2d layers, the convolution over the batch and its input unfolded as patches
  /// `[C·kh·kw, N·L]` (computed once, shared by the weight tangents and weight gradients of
  /// every column); nil for other layers.
  let convolutions: [(layout: ConvolutionLayout, patches: NDArray<Scalar>)?]

  /// The network output.
  var output: NDArray<Scalar> { values[values.count - 1] }

  /// Whether every layer has a batched rule here (the others take the column loop).
  static func supports(_ sequential: Sequential<Scalar>) -> Bool {
    sequential.layers.allSatisfy { layer in
      layer is Linear<Scalar> || layer is Conv2d<Scalar> || layer is Flatten<Scalar> || isElementwise(layer)
    }
  }

  /// Activations applied element by element (their Jacobian is diagonal).
  static func isElementwise(_ layer: any Layer<Scalar>) -> Bool {
    layer is ReLU<Scalar> || layer is Tanh<Scalar> || layer is Sigmoid<Scalar> || layer is GELU<Scalar> || layer is Softplus<Scalar>
  }

  /// The forward pass (no graph), with the activations' derivatives.
  init(_ sequential: Sequential<Scalar>, inputs: NDArray<Scalar>) {
    self.sequential = sequential
    var values = [inputs]
    var derivatives = [NDArray<Scalar>?]()
    var convolutions = [(layout: ConvolutionLayout, patches: NDArray<Scalar>)?]()
    AutodiffMode.withoutRecording {
      let parameters = sequential.parameters.map { Tensor($0) }
      for (index, layer) in sequential.layers.enumerated() {
        let x = values[index]
        let p = Array(parameters[sequential.parameterRanges[index]])
        if let conv = layer as? Conv2d<Scalar> {
          let layout = Self.layout(conv, inputShape: x.shape)
          let patches = layout.columns(x)
          var y = layout.forward(patches, p[0].value)
          if conv.hasBias { y = NDArray.binary(.add, y, p[1].value.reshaped([conv.outChannels, 1, 1])) }
          values.append(y)
          derivatives.append(nil)
          convolutions.append((layout, patches))
          continue
        }
        convolutions.append(nil)
        if Self.isElementwise(layer) {
          let (y, d) = jvp(at: [Tensor(x)], tangents: [Tensor(NDArray(repeating: 1, shape: x.shape))]) { layer($0[0], parameters: p) }
          values.append(y.value)
          derivatives.append(d.value)
        } else {
          values.append(layer(Tensor(x), parameters: p).value)
          derivatives.append(nil)
        }
      }
    }
    self.values = values
    self.derivatives = derivatives
    self.convolutions = convolutions
  }

  /// The convolution of a Conv2d layer over inputs of the given shape.
  static func layout(_ conv: Conv2d<Scalar>, inputShape: [Int]) -> ConvolutionLayout {
    ConvolutionLayout(
      geometry: Conv2dGeometry(
        inputShape: inputShape, kernelSize: conv.kernelSize, stride: conv.stride, padding: conv.padding,
        dilation: conv.dilation),
      outChannels: conv.outChannels, groups: conv.groups)
  }

  /// Elements per data point of the largest array a product with one column keeps (layer
  /// values, and a convolution's unfolded patches), to bound the columns done at once.
  static func elementsPerColumn(_ sequential: Sequential<Scalar>, inputShape: [Int]) -> Int {
    var shape = [1] + inputShape
    var largest = shape.reduce(1, *)
    for layer in sequential.layers {
      let next = (try? layer.outputShape(for: shape)) ?? shape
      if let conv = layer as? Conv2d<Scalar> {
        largest = Swift.max(largest, (conv.inChannels * conv.kernelSize.0 * conv.kernelSize.1) * next[2] * next[3])
      }
      shape = next
      largest = Swift.max(largest, shape.reduce(1, *))
    }
    return largest
  }

  /// `J V`: the output tangents `[k] + output shape` for parameter tangents `[k] + shape`
  /// by model block (absent blocks: zero).
  func outputTangents(_ tangents: [Int: NDArray<Scalar>], columns k: Int) -> NDArray<Scalar> {
    allTangents(tangents, columns: k).last! ?? NDArray(zeros: [k] + output.shape)
  }

  /// The tangents `[k] + shape` of every layer's input and of the output (nil: zero) for
  /// parameter tangents `[k] + shape` by model block.
  func allTangents(_ tangents: [Int: NDArray<Scalar>], columns k: Int) -> [NDArray<Scalar>?] {
    var t: NDArray<Scalar>? = nil
    var all = [NDArray<Scalar>?]()
    for (index, layer) in sequential.layers.enumerated() {
      all.append(t)
      let a = values[index]
      let outShape = [k] + values[index + 1].shape
      let range = sequential.parameterRanges[index]
      let weightTangent = range.isEmpty ? nil : tangents[range.lowerBound]
      let biasTangent = range.count > 1 ? tangents[range.lowerBound + 1] : nil
      if let linear = layer as? Linear<Scalar> {
        let (nIn, nOut) = (linear.inFeatures, linear.outFeatures)
        let rows = a.count / nIn
        let weight = sequential.parameters[range.lowerBound]
        var z = t.map { matmul($0.reshaped([k * rows, nIn]), weight, transposeB: true).reshaped([k, rows, nOut]) }
        if let w = weightTangent {
          let m = matmul(a.reshaped([rows, nIn]), w.reshaped([k * nOut, nIn]), transposeB: true)
          z = adding(z, swappingLeadingAxes(m.reshaped([rows, k, nOut])))
        }
        if let b = biasTangent { z = adding(z, broadcasting: b.reshaped([k, 1, nOut]), to: [k, rows, nOut]) }
        t = z?.reshaped(outShape)
      } else if let conv = layer as? Conv2d<Scalar>, let (layout, patches) = convolutions[index] {
        let weight = sequential.parameters[range.lowerBound]
        // The k input tangents are a batch of k·N images: one unfold, one gemm per group.
        var z = t.map { t in
          let stacked = layout.withBatch(k * a.shape[0])
          return stacked.forward(stacked.columns(t.reshaped([k * a.shape[0]] + a.shape.dropFirst())), weight).reshaped(outShape)
        }
        if let w = weightTangent { z = adding(z, convolveWeights(layout, patches, w, columns: k)) }
        if let b = biasTangent { z = adding(z, broadcasting: b.reshaped([k, 1, conv.outChannels, 1, 1]), to: outShape) }
        t = z
      } else if let d = derivatives[index] {
        t = t.map { NDArray.binary(.multiply, $0, d.reshaped([1] + d.shape)) }
      } else {
        t = t?.reshaped(outShape)
      }
    }
    all.append(t)
    return all
  }

  /// `Jᵀ U` for output cotangents `U` `[k] + output shape`: `[k] + shape` for each of the
  /// given model blocks.
  func parameterCotangents(_ u: NDArray<Scalar>, columns k: Int, blocks: [Int]) -> [Int: NDArray<Scalar>] {
    let selected = Set(blocks)
    let ranges = sequential.parameterRanges
    guard let first = sequential.layers.indices.first(where: { ranges[$0].contains(where: selected.contains) }) else { return [:] }
    var grads = [Int: NDArray<Scalar>]()
    var delta = u
    for index in sequential.layers.indices.reversed() where index >= first {
      let layer = sequential.layers[index]
      let a = values[index]
      let range = ranges[index]
      let needsInput = index > first
      if let linear = layer as? Linear<Scalar> {
        let (nIn, nOut) = (linear.inFeatures, linear.outFeatures)
        let rows = a.count / nIn
        let d3 = delta.reshaped([k, rows, nOut])
        if selected.contains(range.lowerBound) {
          let stacked = swappingLeadingAxes(d3).reshaped([rows, k * nOut])
          grads[range.lowerBound] = matmul(stacked, a.reshaped([rows, nIn]), transposeA: true).reshaped([k, nOut, nIn])
        }
        if range.count > 1, selected.contains(range.lowerBound + 1) {
          grads[range.lowerBound + 1] = d3.reduced(.sum, axes: [1])
        }
        if needsInput {
          delta = matmul(delta.reshaped([k * rows, nOut]), sequential.parameters[range.lowerBound]).reshaped([k] + a.shape)
        }
      } else if let conv = layer as? Conv2d<Scalar>, let (layout, patches) = convolutions[index] {
        let n = a.shape[0]
        let outSample = Array(values[index + 1].shape.dropFirst())
        let weight = sequential.parameters[range.lowerBound]
        if selected.contains(range.lowerBound) {
          grads[range.lowerBound] = convolutionWeightGradients(layout, patches, delta, columns: k)
        }
        if range.count > 1, selected.contains(range.lowerBound + 1) {
          grads[range.lowerBound + 1] = delta.reshaped([k, n, conv.outChannels, outSample[1] * outSample[2]]).reduced(.sum, axes: [1, 3])
        }
        if needsInput {
          // The k cotangents are a batch of k·N: one gemm per group and one fold.
          let stacked = layout.withBatch(k * n)
          delta = stacked.inputGradient(delta.reshaped([k * n] + outSample), weight).reshaped([k] + a.shape)
        }
      } else if let d = derivatives[index] {
        if needsInput { delta = NDArray.binary(.multiply, delta, d.reshaped([1] + d.shape)) }
      } else if needsInput {
        delta = delta.reshaped([k] + a.shape)
      }
    }
    return grads
  }

  /// `conv(a, Ẇ_j)` for the k weight tangents `[k, Cout, ...]`, as `[k, N, Cout, H', W']`,
  /// from the saved patches of `a`: one gemm with the tangents stacked as output channels
  /// when `groups == 1`, else one convolution per column.
  private func convolveWeights(
    _ layout: ConvolutionLayout, _ patches: NDArray<Scalar>, _ w: NDArray<Scalar>, columns k: Int
  ) -> NDArray<Scalar> {
    let shape = [k] + layout.outputShape
    if layout.groups == 1 {
      return layout.forward(patches, w.reshaped([k * layout.outChannels] + layout.weightShape.dropFirst()), stacked: k)
    }
    let per = w.count / k
    var result = NDArray<Scalar>(zeros: shape)
    let block = result.count / k
    for j in 0..<k {
      let wj = NDArray(shape: layout.weightShape, scalars: Array(w.scalars[(j * per)..<((j + 1) * per)]))
      copyRows(layout.forward(patches, wj), firstRow: 0, stride: block, offset: 0, into: &result, stride: block, offset: j * block, rows: 1, count: block)
    }
    return result
  }

  /// The weight gradients `[k] + weight shape` of a convolution for the k output
  /// cotangents `delta` `[k, N, Cout, H', W']`, from the saved patches: one gemm over all
  /// samples and positions with the cotangents stacked as output channels when
  /// `groups == 1`, else one per column.
  func convolutionWeightGradients(
    _ layout: ConvolutionLayout, _ patches: NDArray<Scalar>, _ delta: NDArray<Scalar>, columns k: Int
  ) -> NDArray<Scalar> {
    let (n, cout, l) = (layout.geometry.batch, layout.outChannels, layout.geometry.patchCount)
    if layout.groups == 1 {
      // [k, N, Cout, L] → [k·Cout, N·L]
      let channelMajor = delta.reshaped([k, n, cout, l]).permuted([0, 2, 1, 3]).reshaped([k * cout, n * l])
      return layout.weightGradient(patches, channelMajor: channelMajor, stacked: k).reshaped([k] + layout.weightShape)
    }
    let per = delta.count / k
    var result = NDArray<Scalar>(zeros: [k] + layout.weightShape)
    let block = result.count / k
    for j in 0..<k {
      let dj = NDArray(shape: layout.outputShape, scalars: Array(delta.scalars[(j * per)..<((j + 1) * per)]))
      let g = layout.weightGradient(patches, dj)
      copyRows(g, firstRow: 0, stride: block, offset: 0, into: &result, stride: block, offset: j * block, rows: 1, count: block)
    }
    return result
  }
}

/// `x` `[a, b, c]` as `[b, a, c]`: a reshape when `a` or `b` is 1 (one column: the same
/// order, so the same bits without a copy), else a permutation.
func swappingLeadingAxes<T: BLASScalar>(_ x: NDArray<T>) -> NDArray<T> {
  let (a, b, c) = (x.shape[0], x.shape[1], x.shape[2])
  return a == 1 || b == 1 ? x.reshaped([b, a, c]) : x.permuted([1, 0, 2])
}

/// `z + m`, where a missing `z` stands for zero.
private func adding<T: BLASScalar>(_ z: NDArray<T>?, _ m: NDArray<T>) -> NDArray<T> {
  guard var z else { return m }
  z.add(m.reshaped(z.shape))
  return z
}

/// `z + b` with `b` broadcast to `shape` (`z`'s count) inside the addition, not
/// materialized first: a bias tangent `[k, 1, C, 1, 1]` against `[k, N, C, H, W]` columns
/// costs one pass (the same sums, so the same bits).
private func adding<T: BLASScalar>(_ z: NDArray<T>?, broadcasting b: NDArray<T>, to shape: [Int]) -> NDArray<T> {
  guard let z else { return b.broadcast(to: shape) }
  return NDArray.binary(.add, z.reshaped(shape), b)
}
