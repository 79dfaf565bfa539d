import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// Hessian products with k columns for a Sequential of Linear, Conv2d, activation and Flatten
// layers, by forward-over-reverse with the k tangents as a leading axis (Pearlmutter 1994,
// "Fast exact multiplication by the Hessian"): the forward tangents ȧ of every layer's
// input, then the gradient δ (one) and its tangents δ̇ (k) backwards,
//
//   Linear z = a Wᵀ + b:  ġ_W = δ̇ᵀ a + δᵀ ȧ,  ġ_b = Σ_rows δ̇,  δ̇_a = δ̇ W + δ Ẇ
//   y = σ(z):             δ̇_z = σ'(z) ⊙ δ̇ + σ''(z) ⊙ δ ⊙ ż
//   Conv2d z = conv(a, W) + b:  ġ_W = convW(a, δ̇) + convW(ȧ, δ),  ġ_b = Σ δ̇,
//                               δ̇_a = convT(δ̇, W) + convT(δ, Ẇ)
//
// with each line one gemm (or elementwise operation) for all k columns.

extension SequentialLinearization {
  /// Whether the batched Hessian rules cover every layer.
  static func supportsHessian(_ sequential: Sequential<Scalar>) -> Bool {
    sequential.layers.allSatisfy { $0 is Linear<Scalar> || $0 is Conv2d<Scalar> || $0 is Flatten<Scalar> || isElementwise($0) }
  }

  /// `H V` restricted to the given blocks: `[k] + shape` by model block, for parameter
  /// tangents `[k] + shape` by model block, the output gradient `g` (of the scaled loss)
  /// and `hessianProducts(J V)`, the loss Hessian applied to the output tangents.
  func hessianProducts(
    _ tangents: [Int: NDArray<Scalar>], columns k: Int, blocks: [Int], outputGradient g: NDArray<Scalar>,
    lossHessian: (NDArray<Scalar>) throws -> NDArray<Scalar>
  ) rethrows -> [Int: NDArray<Scalar>] {
    let selected = Set(blocks)
    let ranges = sequential.parameterRanges
    guard let first = sequential.layers.indices.first(where: { ranges[$0].contains(where: selected.contains) }) else { return [:] }
    let forward = allTangents(tangents, columns: k)
    var delta = g
    var deltaTangent = try lossHessian(forward.last! ?? NDArray(zeros: [k] + output.shape))
    var grads = [Int: NDArray<Scalar>]()
    for index in sequential.layers.indices.reversed() where index >= first {
      let layer = sequential.layers[index]
      let a = values[index]
      let aTangent = forward[index]
      let range = ranges[index]
      let needsInput = index > first
      if let linear = layer as? Linear<Scalar> {
        let (nIn, nOut) = (linear.inFeatures, linear.outFeatures)
        let rows = a.count / nIn
        let weight = sequential.parameters[range.lowerBound]
        let d2 = delta.reshaped([rows, nOut])
        let dt3 = deltaTangent.reshaped([k, rows, nOut])
        if selected.contains(range.lowerBound) {
          let stacked = swappingLeadingAxes(dt3).reshaped([rows, k * nOut])
          var g = matmul(stacked, a.reshaped([rows, nIn]), transposeA: true).reshaped([k, nOut, nIn])
          if let aTangent {
            let across = swappingLeadingAxes(aTangent.reshaped([k, rows, nIn])).reshaped([rows, k * nIn])
            g.add(swappingLeadingAxes(matmul(d2, across, transposeA: true).reshaped([nOut, k, nIn])))
          }
          grads[range.lowerBound] = g
        }
        if range.count > 1, selected.contains(range.lowerBound + 1) {
          grads[range.lowerBound + 1] = dt3.reduced(.sum, axes: [1])
        }
        if needsInput {
          var next = matmul(deltaTangent.reshaped([k * rows, nOut]), weight).reshaped([k, rows, nIn])
          if let w = tangents[range.lowerBound] {
            let stacked = swappingLeadingAxes(w.reshaped([k, nOut, nIn])).reshaped([nOut, k * nIn])
            next.add(swappingLeadingAxes(matmul(d2, stacked).reshaped([rows, k, nIn])))
          }
          deltaTangent = next.reshaped([k] + a.shape)
          delta = matmul(d2, weight).reshaped(a.shape)
        }
      } else if let conv = layer as? Conv2d<Scalar>, let (layout, patches) = convolutions[index] {
        let n = a.shape[0]
        let outSample = Array(values[index + 1].shape.dropFirst())
        let weight = sequential.parameters[range.lowerBound]
        // δ `[N, Cout, H', W']` channel-major `[Cout, N·L]`, for the terms with δ.
        let deltaColumns = layout.channelMajor(delta)
        // The k input tangents / cotangents as one batch of k·N.
        let stacked = layout.withBatch(k * n)
        if selected.contains(range.lowerBound) {
          var g = convolutionWeightGradients(layout, patches, deltaTangent, columns: k)
          if let aTangent {
            let tangentPatches = stacked.columns(aTangent.reshaped([k * n] + a.shape.dropFirst()))
            g.add(layout.weightGradients(stackedColumns: tangentPatches, channelMajor: deltaColumns, stacked: k).reshaped(g.shape))
          }
          grads[range.lowerBound] = g
        }
        if range.count > 1, selected.contains(range.lowerBound + 1) {
          grads[range.lowerBound + 1] = deltaTangent.reshaped([k, n, conv.outChannels, outSample[1] * outSample[2]]).reduced(.sum, axes: [1, 3])
        }
        if needsInput {
          var columns = stacked.inputColumns(deltaTangent.reshaped([k * n] + outSample), weight)
          if let w = tangents[range.lowerBound] {
            layout.addInputColumns(deltaColumns, weights: w.reshaped([k * conv.outChannels] + layout.weightShape.dropFirst()), stacked: k, into: &columns)
          }
          deltaTangent = stacked.image(columns).reshaped([k] + a.shape)
          delta = layout.inputGradient(delta, weight)
        }
      } else if let d = derivatives[index] {
        guard needsInput else { continue }
        var next = NDArray.binary(.multiply, deltaTangent, d.reshaped([1] + d.shape))
        if let aTangent, CurvatureProblem<Scalar>.hasCurvature(layer) {
          let second = hessianVectorProduct(at: [Tensor(a)], along: [Tensor(NDArray(repeating: 1, shape: a.shape))]) {
            layer($0[0], parameters: []).sum()
          }[0].value
          let weighted = NDArray.binary(.multiply, second, delta)
          next.add(NDArray.binary(.multiply, aTangent, weighted.reshaped([1] + weighted.shape)))
        }
        deltaTangent = next
        delta = NDArray.binary(.multiply, delta, d)
      } else if needsInput {
        deltaTangent = deltaTangent.reshaped([k] + a.shape)
        delta = delta.reshaped(a.shape)
      }
    }
    return grads
  }
}
