import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// The factor columns of a batch (the loss Hessian's C square-root columns for type-2, the
// M sampled gradients for mc, the observed gradient for empirical) backpropagated together
// as a leading axis `[K, N, ...]` through a Sequential's forward pass: one gemm per Linear
// layer (`[K·N, out] × [out, in]`) and one `Wᵀ δ` plus fold per convolution for all K
// columns, instead of K reverse passes through the recorded graph, and no graph recorded
// at all (the forward pass keeps only the layer inputs and the activations' derivatives,
// SequentialLinearization). Each node's B then gets one gemm `Gᵀ G` with the K columns'
// rows stacked, `Σ_k G_kᵀ G_k` summed in another order: equal to the column loop up to
// rounding. Graph models keep the loop (their reverse pass is the recorded graph's).

extension CurvatureProblem {
  /// The Sequential whose KFAC factor columns can be backpropagated together: every layer
  /// has a batched rule (Linear, Conv2d, Flatten, elementwise activations); nil otherwise
  /// or when `options.batchedColumns` is off.
  func kfacBatchedSequential(_ options: KFACOptions) -> Sequential<Scalar>? {
    guard options.batchedColumns, let sequential = model as? Sequential<Scalar>, SequentialLinearization.supports(sequential)
    else { return nil }
    return sequential
  }

  /// The gradient-covariance sums `Σ_k G_kᵀ G_k` (upper triangles) of a batch for the factor columns
  /// `[K, T, C]`, one per factor slot, the columns backpropagated together in chunks that
  /// keep the largest per-layer array within an eighth of the memory budget.
  func batchedGradientCovariances(
    _ columns: NDArray<Scalar>, pass: SequentialLinearization<Scalar>, sequential: Sequential<Scalar>,
    factors: [KFACLayerFactors<Scalar>], layout: KroneckerLayout<Scalar>, approximation: KFACApproximation, points n: Int
  ) -> [NDArray<Scalar>] {
    let k = columns.shape[0]
    let width = columns.count / Swift.max(k, 1)
    let rows = [columns.shape[1], width / Swift.max(columns.shape[1], 1)]
    let wanted = Set(factors.map(\.layer))
    let chunk = kfacColumnChunk(sequential, columns: k, points: n)
    var sums = [NDArray<Scalar>?](repeating: nil, count: factors.count)
    for start in stride(from: 0, to: k, by: chunk) {
      let count = Swift.min(chunk, k - start)
      // The chunk's columns laid out as the outputs, stacked: [count] + output shape.
      var seeds = [Scalar]()
      seeds.reserveCapacity(count * pass.output.count)
      for j in start..<(start + count) {
        let column = NDArray(shape: rows, scalars: Array(columns.scalars[(j * width)..<((j + 1) * width)]))
        seeds += loss.outputLayout(column, outputShape: pass.output.shape).scalars
      }
      let u = NDArray(shape: [count] + pass.output.shape, scalars: seeds)
      let deltas = pass.layerOutputCotangents(u, columns: count, layers: wanted)
      for (slot, f) in factors.enumerated() {
        let delta = deltas[f.layer]!
        // [count, N, ...] read as count·N data points: the columns' rows stacked.
        let stacked = delta.reshaped([count * delta.shape[1]] + delta.shape.dropFirst(2))
        let node = layout.nodes[f.layer]!
        if approximation == .expand, let columns = kfacOutputColumns(node, stacked, points: count * n) {
          NDArray.accumulateGram(columns, into: &sums[slot], columns: true)   // [out, count·N·S]
          continue
        }
        let g3 = kfacOutputRows(node, stacked, points: count * n)   // [count·N, S, out]
        let g = approximation == .expand ? g3.reshaped([-1, g3.shape[2]]) : g3.reduced(.sum, axes: [1])
        NDArray.accumulateGram(g, into: &sums[slot])
      }
    }
    return sums.enumerated().map { slot, sum in sum ?? NDArray(zeros: factors[slot].gradientCovariance.shape) }
  }
}

extension CurvatureProblem {
  /// Columns backpropagated at once: as many as keep the largest per-layer array of the
  /// chunk within 16 MiB (and the memory budget's share, `columnChunk`). Larger chunks
  /// measured slower on the CNN of `compare.py`: arrays beyond glibc's mmap threshold
  /// (at most 32 MiB) are fresh pages on every pass, and the page faults cost more than
  /// the larger gemms gain; the MLP's columns fit in one chunk either way.
  func kfacColumnChunk(_ sequential: Sequential<Scalar>, columns k: Int, points n: Int) -> Int {
    let perColumn = SequentialLinearization.elementsPerColumn(sequential, inputShape: data.inputShape) * Swift.max(n, 1)
    let cap = (16 << 20) / MemoryLayout<Scalar>.stride
    return Swift.max(1, Swift.min(columnChunk(sequential, columns: k), cap / Swift.max(1, perColumn)))
  }
}

extension SequentialLinearization {
  /// The cotangents `[k] + shape` at the outputs of the given layers for output cotangents
  /// `u` `[k] + output shape` (the layers' `δ` of k reverse passes at once), by layer index.
  func layerOutputCotangents(_ u: NDArray<Scalar>, columns k: Int, layers wanted: Set<Int>) -> [Int: NDArray<Scalar>] {
    guard let first = wanted.min() else { return [:] }
    let ranges = sequential.parameterRanges
    var result = [Int: NDArray<Scalar>]()
    var delta = u
    for index in sequential.layers.indices.reversed() where index >= first {
      if wanted.contains(index) { result[index] = delta }
      guard index > first else { break }
      let layer = sequential.layers[index]
      let a = values[index]
      if let linear = layer as? Linear<Scalar> {
        let (nIn, nOut) = (linear.inFeatures, linear.outFeatures)
        let rows = a.count / nIn
        delta = matmul(delta.reshaped([k * rows, nOut]), sequential.parameters[ranges[index].lowerBound]).reshaped([k] + a.shape)
      } else if let conv = layer as? Conv2d<Scalar> {
        delta = convolutionInputCotangents(conv, weight: sequential.parameters[ranges[index].lowerBound], delta, input: a, columns: k)
      } else if let d = derivatives[index] {
        delta = NDArray.binary(.multiply, delta, d.reshaped([1] + d.shape))
      } else {
        delta = delta.reshaped([k] + a.shape)
      }
    }
    return result
  }

  /// A convolution's input cotangents `[k, N, Cin, H, W]` for output cotangents
  /// `[k, N, Cout, H', W']`: `fold(Wᵀ δ)`, the convolution's pullback without a forward pass.
  private func convolutionInputCotangents(
    _ conv: Conv2d<Scalar>, weight: NDArray<Scalar>, _ delta: NDArray<Scalar>, input a: NDArray<Scalar>, columns k: Int
  ) -> NDArray<Scalar> {
    let (n, cout, groups) = (a.shape[0], conv.outChannels, conv.groups)
    let patch = weight.count / cout   // Cin/groups · kh · kw
    let locations = delta.count / (k * n * cout)
    let d = delta.reshaped([k * n, groups, cout / groups, locations])
    let w = weight.reshaped([groups, cout / groups, patch])
    let columns = matmul(w, d, transposeA: true).reshaped([k * n, groups * patch, locations])   // [kN, Cin·kh·kw, L]
    let images = AutodiffMode.withoutRecording {
      fold(
        Tensor(columns), outputSize: (a.shape[2], a.shape[3]), kernelSize: conv.kernelSize, stride: conv.stride,
        padding: conv.padding, dilation: conv.dilation
      ).value
    }
    return images.reshaped([k] + a.shape)
  }
}

extension NDArray {
  /// Adds `xᵀx` for rows `x` `[rows, n]` (or `x xᵀ` for columns `x` `[n, rows]`, with
  /// `columns`) to the upper triangle of `sum` `[n, n]` (created when nil) with one
  /// `?syrk`: half the flops of the gemm `xᵀx`, and no temporary. Only the upper triangle
  /// is valid until `symmetrizeUpper(scale:)`. Both layouts give the same bits (the same
  /// sums in the same order; OpenBLAS packs either into the same panels).
  static func accumulateGram(_ x: NDArray, into sum: inout NDArray?, columns: Bool = false) {
    let (n, rows) = columns ? (x.shape[0], x.shape[1]) : (x.shape[1], x.shape[0])
    let (transpose, lda): (Transpose, Int) = columns ? (.none, rows) : (.transpose, n)
    guard var c = sum else {
      // A new sum: syrk with β = 0 writes the upper triangle, so no zero fill (the lower
      // triangle is left unset until symmetrizeUpper).
      sum = x.withUnsafeBufferPointer { a in
        NDArray(uninitializedShape: [n, n]) { c in
          Scalar.syrk(triangle: .upper, transpose: transpose, n: n, k: rows, alpha: 1, a: a, lda: lda, beta: 0, c: c, ldc: n)
        }
      }
      return
    }
    // Moved out of `sum` first, so the syrk writes the one copy in place (no copy on write).
    sum = nil
    x.withUnsafeBufferPointer { a in
      c.withUnsafeMutableBufferPointer { c in
        Scalar.syrk(triangle: .upper, transpose: transpose, n: n, k: rows, alpha: 1, a: a, lda: lda, beta: 1, c: c, ldc: n)
      }
    }
    sum = c
  }

  /// Multiplies the upper triangle of a square matrix by `scale` and mirrors it into the
  /// lower one (`CurvatureNumerics.symmetrizeUpper`: in tiles through a small buffer, so
  /// every row is read and written in order whatever the row stride, on the BLAS threads).
  mutating func symmetrizeUpper(scale: Scalar) {
    let n = shape[0]
    guard n > 0 else { return }
    withUnsafeMutableBufferPointer { m in
      CurvatureNumerics.symmetrizeUpper(m.baseAddress!, n: n, scale: scale, threads: NumericsBackend.threadCount)
    }
  }
}
