import CurvatureNumerics
import CurvatureAutodiff

// Closed-form per-data-point cotangents of a boundary node's parameter inputs, for all
// data points and output cotangents at once (no autodiff per data point):
//   linear      W: Σ_s δ_ns x_nsᵀ          b: Σ_s δ_ns
//   embedding   W[i]: Σ_{s: idx_ns = i} δ_ns   (none for the padding index)
//   layer_norm  w: Σ_s δ_ns ⊙ x̂_ns        b: Σ_s δ_ns      (x̂ normalized, unscaled)
//   rms_norm    w: Σ_s δ_ns ⊙ x_ns / rms_ns
//   add, sub, mul, div: the parameter input broadcast along the batch axis (a leaf of shape
//   [N, …]) and one vector-Jacobian product of the node on the whole batch, which sums
//   over every broadcast axis but the batch axis.
// s runs over the axes between the batch axis and the parameter's own axes (tokens,
// locations). Inputs reached through unbatched nodes (a slice of a position table) get
// their per-data-point cotangents here and are pulled back to the parameters afterwards.

extension GraphModel {
  /// Per-data-point cotangents `[cotangent][k]`, each `[N] + shape of input k`, of the
  /// node's parameter-dependent inputs `positions`, or nil when no closed form applies.
  func perSampleInputCotangents(
    node: GraphNodePlan, inputs: [NDArray<Scalar>], deltas: [NDArray<Scalar>], positions: [Int], batchedInputs: [Bool]
  ) -> [[NDArray<Scalar>]]? {
    let n = deltas.first?.shape.first ?? 0
    guard n > 0, positions.allSatisfy({ !batchedInputs[$0] }) else { return nil }
    // Linear, embedding and norms: the data enter as input 0, the parameters after it.
    if case .binary = node.op {} else if !batchedInputs[0] || positions.contains(0) { return nil }
    switch node.op {
    case .linear:
      let x = inputs[0]
      let inFeatures = x.shape[x.rank - 1]
      let rows = x.reshaped([n, x.count / (n * inFeatures), inFeatures])
      return deltas.map { delta in
        let out = delta.shape[delta.rank - 1]
        let d = delta.reshaped([n, delta.count / (n * out), out])
        return positions.map { $0 == 1 ? matmul(d, rows, transposeA: true) : d.reduced(.sum, axes: [1]) }
      }
    case let .embedding(paddingIndex):
      guard positions == [1] else { return nil }
      let (rowsCount, width) = (inputs[1].shape[0], inputs[1].shape[1])
      let padding = paddingIndex.map { $0 < 0 ? $0 + rowsCount : $0 }
      let indices = inputs[0]
      let perPoint = indices.count / n
      return deltas.map { delta in
        var g = NDArray<Scalar>(zeros: [n, rowsCount, width])
        g.withUnsafeMutableBufferPointer { target in
          delta.scalars.withUnsafeBufferPointer { d in
            for p in 0..<n {
              for s in 0..<perPoint {
                let value = indices.scalars[p * perPoint + s]
                // As the forward: no gradient for the padding row (PyTorch's padding_idx).
                guard value.isFinite, value >= 0, value < Scalar(rowsCount) else { continue }
                let i = Int(value)
                guard i != padding else { continue }
                let (to, from) = ((p * rowsCount + i) * width, (p * perPoint + s) * width)
                for j in 0..<width { target[to + j] += d[from + j] }
              }
            }
          }
        }
        return [g]
      }
    case let .layerNorm(normalizedShape, eps):
      let normalized = AutodiffMode.withoutRecording {
        Functional.layerNorm(Tensor(inputs[0]), normalizedShape: normalizedShape, weight: nil, bias: nil, eps: eps).value
      }
      return normSums(normalized, deltas: deltas, normalizedShape: normalizedShape, points: n, positions: positions)
    case let .rmsNorm(normalizedShape, eps):
      guard positions == [1] else { return nil }
      let normalized = AutodiffMode.withoutRecording {
        Functional.rmsNorm(Tensor(inputs[0]), normalizedShape: normalizedShape, weight: nil, eps: eps).value
      }
      return normSums(normalized, deltas: deltas, normalizedShape: normalizedShape, points: n, positions: positions)
    case .binary:
      return broadcastCotangents(node: node, inputs: inputs, deltas: deltas, positions: positions, points: n)
    default:
      return nil
    }
  }

  /// Norm parameters: `Σ_s δ_ns ⊙ x̂_ns` for the scale (input 1), `Σ_s δ_ns` for the shift
  /// (input 2), each `[N] + normalizedShape`.
  private func normSums(
    _ normalized: NDArray<Scalar>, deltas: [NDArray<Scalar>], normalizedShape: [Int], points n: Int, positions: [Int]
  ) -> [[NDArray<Scalar>]] {
    let width = normalizedShape.reduce(1, *)
    let shape = [n, normalized.count / (n * width), width]
    let xhat = normalized.reshaped(shape)
    return deltas.map { delta in
      let d = delta.reshaped(shape)
      return positions.map { position in
        let summed = position == 1 ? NDArray.binary(.multiply, d, xhat).reduced(.sum, axes: [1]) : d.reduced(.sum, axes: [1])
        return summed.reshaped([n] + normalizedShape)
      }
    }
  }

  /// Binary ops: the parameter inputs broadcast along the batch axis as leaves, one
  /// vector-Jacobian product per cotangent on the whole batch.
  private func broadcastCotangents(
    node: GraphNodePlan, inputs: [NDArray<Scalar>], deltas: [NDArray<Scalar>], positions: [Int], points n: Int
  ) -> [[NDArray<Scalar>]] {
    let rank = deltas[0].rank
    var leaves = [Tensor<Scalar>]()
    let y: Tensor<Scalar> = AutodiffMode.recording(true) {
      var x = inputs.map { Tensor($0) }
      for position in positions {
        let u = inputs[position]
        // [N, 1…, shape(u)] (u of full rank has a leading 1 that broadcasts over the batch).
        let shape = u.rank >= rank ? [n] + u.shape.dropFirst() : [n] + Array(repeating: 1, count: rank - 1 - u.rank) + u.shape
        let repeated = NDArray<Scalar>(shape: shape, scalars: Array([[Scalar]](repeating: u.scalars, count: n).joined()))
        let leaf = Tensor(repeated).requiringGradient()
        leaves.append(leaf)
        x[position] = leaf
      }
      return node.evaluate(x, batchSize: n)
    }
    return deltas.map { delta in
      let g = AutodiffMode.withoutRecording { gradients(of: [y], seeds: [Tensor(delta)], wrt: leaves) }
      return zip(positions, g).map { position, cotangent in cotangent.value.reshaped([n] + inputs[position].shape) }
    }
  }
}
