import CurvatureNumerics

// A convolution's three linear maps on plain arrays. The batch's patches are unfolded once,
// side by side, as `[C·kh·kw, N·L]` (sample n in columns n·L..<(n+1)·L). The forward pass
// `W · cols` and the input gradient `col2im(Wᵀ · Ḡ)` run a gemm per sample (and group)
// reading and writing the images' natural layout through the leading dimensions, and the
// weight gradient `Σ_n Ḡ_n cols_nᵀ` accumulates those gemms in C (no `[N, Cout, K]`
// temporary, no reduction). Measured on the compare.py CNN, that beat one gemm over the
// whole batch, which needs `[Cout, N·L]` ↔ `[N, Cout, L]` permutations of every output and
// cotangent. For k stacked tangents (products with k columns) one gemm over the batch
// does pay: there the permutation is of the k-times larger result anyway.

/// A convolution over a batch: the window geometry with batch and input channels, the output
/// channels and the channel groups.
package struct ConvolutionLayout: Hashable, Sendable {
  /// Input `[N, C, H, W]` and window.
  package let geometry: Conv2dGeometry
  /// `Cout`.
  package let outChannels: Int
  /// Channel groups (dividing `C` and `Cout`).
  package let groups: Int

  /// A convolution layout from its parts (validated by the caller: `groups` divides `C` and `Cout`).
  package init(geometry: Conv2dGeometry, outChannels: Int, groups: Int) {
    self.geometry = geometry
    self.outChannels = outChannels
    self.groups = groups
  }

  /// `[N, Cout, Hout, Wout]`.
  package var outputShape: [Int] { [geometry.batch, outChannels, geometry.outputHeight, geometry.outputWidth] }
  /// `[Cout, C/groups, kh, kw]`.
  package var weightShape: [Int] { [outChannels, geometry.channels / groups, geometry.kernelHeight, geometry.kernelWidth] }
  /// `[C·kh·kw, N·L]`, the batch's patches side by side.
  package var columnsShape: [Int] { [geometry.patchSize, geometry.batch * geometry.patchCount] }
  /// `(C/groups)·kh·kw`, the inner dimension of one group's gemm.
  var groupPatchSize: Int { geometry.patchSize / groups }
  /// Whether any array involved is empty (then every result is zero).
  var isEmpty: Bool { geometry.batch == 0 || geometry.channels == 0 || outChannels == 0 }

  /// The same convolution over a batch of another size.
  package func withBatch(_ batch: Int) -> ConvolutionLayout {
    let g = geometry
    return ConvolutionLayout(
      geometry: Conv2dGeometry(
        batch: batch, channels: g.channels, height: g.height, width: g.width, kernelSize: g.kernelSize,
        stride: g.stride, padding: g.padding, dilation: g.dilation, operation: "conv2d"),
      outChannels: outChannels, groups: groups)
  }

  /// `[N, C, H, W]` → `[C·kh·kw, N·L]`.
  package func columns<T: BLASScalar>(_ x: NDArray<T>) -> NDArray<T> {
    let g = geometry
    guard x.count > 0 else { return NDArray(zeros: columnsShape) }
    let (image, l, window) = (g.channels * g.height * g.width, g.patchCount, g.window)
    let rowStride = g.batch * l
    return NDArray(uninitializedShape: columnsShape) { destination in
      x.withUnsafeBufferPointer { source in
        for n in 0..<g.batch {
          im2col(source.baseAddress! + n * image, destination.baseAddress! + n * l, rowStride: rowStride, window)
        }
      }
    }
  }

  /// `[C·kh·kw, N·L]` → `[N, C, H, W]`, overlapping taps summed (the adjoint of `columns`).
  package func image<T: BLASScalar>(_ columns: NDArray<T>) -> NDArray<T> {
    let g = geometry
    var result = NDArray<T>(zeros: g.inputShape)
    guard result.count > 0 else { return result }
    let (image, l, window) = (g.channels * g.height * g.width, g.patchCount, g.window)
    let rowStride = g.batch * l
    columns.withUnsafeBufferPointer { source in
      result.withUnsafeMutableBufferPointer { destination in
        for n in 0..<g.batch {
          col2im(source.baseAddress! + n * l, destination.baseAddress! + n * image, rowStride: rowStride, window)
        }
      }
    }
    return result
  }

  /// `[N, Cout, Hout, Wout]` ↔ `[Cout, N·L]` (channel-major, as the gemms want it).
  package func channelMajor<T: BLASScalar>(_ y: NDArray<T>, stacked k: Int = 1) -> NDArray<T> {
    let (n, l) = (geometry.batch, geometry.patchCount)
    return y.reshaped([k * n, outChannels, l]).permuted([1, 0, 2]).reshaped([outChannels, k * n * l])
  }

  /// The forward convolution (no bias) of the batch with patches `columns`, for `k` weights
  /// stacked along the output channels (`weights` `[k·Cout, C/groups, kh, kw]`, groups == 1
  /// when k > 1): `[k, N, Cout, Hout, Wout]` (k = 1: `[N, Cout, Hout, Wout]`).
  package func forward<T: BLASScalar>(_ columns: NDArray<T>, _ weights: NDArray<T>, stacked k: Int = 1) -> NDArray<T> {
    precondition(k == 1 || groups == 1, "conv2d: stacked weights need groups == 1")
    let shape = k == 1 ? outputShape : [k] + outputShape
    guard !isEmpty else { return NDArray(zeros: shape) }
    let (m, kg, og) = (geometry.batch * geometry.patchCount, groupPatchSize, outChannels / groups)
    let (n, l) = (geometry.batch, geometry.patchCount)
    if k == 1 {
      // One gemm per sample and group straight into [N, Cout, L]: no permutation pass.
      var output = NDArray<T>(uninitializedShape: shape) { _ in }
      gemms(n, .none, .none, m: og, n: l, k: kg, weights, lda: kg, columns, ldb: m, into: &output, ldc: l) { sample, group in
        (group * og * kg, group * kg * m + sample * l, (sample * outChannels + group * og) * l)
      }
      return output
    }
    // k stacked weights: one gemm [k·Cout, K] × [K, N·L], then [k·Cout, N, L] → [k, N, Cout, L].
    let rows = k * outChannels
    var product = NDArray<T>(uninitializedShape: [rows, m]) { _ in }
    gemms(1, .none, .none, m: rows, n: m, k: kg, weights, lda: kg, columns, ldb: m, into: &product, ldc: m) { _, _ in (0, 0, 0) }
    return product.reshaped([k, outChannels, n, l]).permuted([0, 2, 1, 3]).reshaped(shape)
  }

  /// `Wᵀ Ḡ` as patches `[C·kh·kw, N·L]`, for output cotangents `[N, Cout, Hout, Wout]`:
  /// one gemm per sample and group.
  package func inputColumns<T: BLASScalar>(_ gradient: NDArray<T>, _ weight: NDArray<T>) -> NDArray<T> {
    guard !isEmpty else { return NDArray(zeros: columnsShape) }
    let (n, l) = (geometry.batch, geometry.patchCount)
    let (m, kg, og) = (n * l, groupPatchSize, outChannels / groups)
    var columns = NDArray<T>(uninitializedShape: columnsShape) { _ in }
    gemms(n, .transpose, .none, m: kg, n: l, k: og, weight, lda: kg, gradient, ldb: l, into: &columns, ldc: m) { sample, group in
      (group * og * kg, (sample * outChannels + group * og) * l, group * kg * m + sample * l)
    }
    return columns
  }

  /// The input gradient `[N, C, H, W]` for output cotangents `[N, Cout, Hout, Wout]`:
  /// `image(inputColumns(gradient, weight))` sample by sample, each sample's patches folded
  /// while they are in cache (one `[C·kh·kw, L]` buffer instead of `[C·kh·kw, N·L]`; the
  /// same gemms and additions, so the same bits).
  package func inputGradient<T: BLASScalar>(_ gradient: NDArray<T>, _ weight: NDArray<T>) -> NDArray<T> {
    var result = NDArray<T>(zeros: geometry.inputShape)
    guard !isEmpty, result.count > 0 else { return result }
    let g = geometry
    let (l, kg, og) = (g.patchCount, groupPatchSize, outChannels / groups)
    let image = g.channels * g.height * g.width
    var patches = NDArray<T>(zeros: [g.patchSize, l])
    for sample in 0..<g.batch {
      gemms(1, .transpose, .none, m: kg, n: l, k: og, weight, lda: kg, gradient, ldb: l, into: &patches, ldc: l) { _, group in
        (group * og * kg, (sample * outChannels + group * og) * l, group * kg * l)
      }
      patches.withUnsafeBufferPointer { source in
        result.withUnsafeMutableBufferPointer { destination in
          col2im(source.baseAddress!, destination.baseAddress! + sample * image, rowStride: l, g.window)
        }
      }
    }
    return result
  }

  /// The weight gradient `Σ_n ḡ_n cols_nᵀ` `[Cout, C/groups, kh, kw]` for output cotangents
  /// `[N, Cout, Hout, Wout]`: one gemm per sample and group, accumulated in sample order.
  package func weightGradient<T: BLASScalar>(_ columns: NDArray<T>, _ gradient: NDArray<T>) -> NDArray<T> {
    guard !isEmpty else { return NDArray(zeros: weightShape) }
    let (n, l) = (geometry.batch, geometry.patchCount)
    let (m, kg, og) = (n * l, groupPatchSize, outChannels / groups)
    var result = NDArray<T>(uninitializedShape: weightShape) { _ in }
    gemms(
      n, .none, .transpose, m: og, n: kg, k: l, gradient, lda: l, columns, ldb: m, into: &result, ldc: kg,
      beta: { $0 == 0 ? 0 : 1 }
    ) { sample, group in
      ((sample * outChannels + group * og) * l, group * kg * m + sample * l, group * og * kg)
    }
    return result
  }

  /// The weight gradient `Σ_{n, l} ḡ colsᵀ` for `k` stacked cotangents given channel-major
  /// (`[k·Cout, N·L]` rows; k > 1 needs groups == 1): `[k·Cout, C/groups, kh, kw]`.
  package func weightGradient<T: BLASScalar>(_ columns: NDArray<T>, channelMajor gradient: NDArray<T>, stacked k: Int = 1) -> NDArray<T> {
    precondition(k == 1 || groups == 1, "conv2d: stacked cotangents need groups == 1")
    var shape = weightShape
    shape[0] *= k
    guard !isEmpty else { return NDArray(zeros: shape) }
    let (m, kg, og) = (geometry.batch * geometry.patchCount, groupPatchSize, outChannels / groups)
    var result = NDArray<T>(zeros: shape)
    // groups == 1 (any k): one gemm with the k cotangents' channels as rows.
    let rows = groups == 1 ? k * outChannels : og
    gemms(1, .none, .transpose, m: rows, n: kg, k: m, gradient, lda: m, columns, ldb: m, into: &result, ldc: kg) { _, group in
      (group * og * m, group * kg * m, group * og * kg)
    }
    return result
  }

  /// `[convW(ẋ_j, ȳ)]_j` for `k` inputs given as the patches of a batch of `k·N`
  /// (`layout.withBatch(k·N).columns(ẋ)`, `[C·kh·kw, k·N·L]`) and one cotangent `ȳ`
  /// channel-major `[Cout, N·L]`: `[k·Cout, C/groups, kh, kw]`, one gemm per column and group.
  package func weightGradients<T: BLASScalar>(
    stackedColumns columns: NDArray<T>, channelMajor gradient: NDArray<T>, stacked k: Int
  ) -> NDArray<T> {
    var shape = weightShape
    shape[0] *= k
    guard !isEmpty else { return NDArray(zeros: shape) }
    let (m, kg, og) = (geometry.batch * geometry.patchCount, groupPatchSize, outChannels / groups)
    var result = NDArray<T>(zeros: shape)
    gemms(k, .none, .transpose, m: og, n: kg, k: m, gradient, lda: m, columns, ldb: k * m, into: &result, ldc: kg) { j, group in
      (group * og * m, group * kg * k * m + j * m, (j * outChannels + group * og) * kg)
    }
    return result
  }

  /// Adds `Ẇ_jᵀ ȳ` for `k` weights `[k·Cout, C/groups, kh, kw]` and one cotangent `ȳ`
  /// channel-major `[Cout, N·L]` to the patches of a batch of `k·N` (`[C·kh·kw, k·N·L]`,
  /// column block j): the input gradients `convT(ȳ, Ẇ_j)` before the fold.
  package func addInputColumns<T: BLASScalar>(
    _ gradient: NDArray<T>, weights: NDArray<T>, stacked k: Int, into columns: inout NDArray<T>
  ) {
    guard !isEmpty else { return }
    let (m, kg, og) = (geometry.batch * geometry.patchCount, groupPatchSize, outChannels / groups)
    gemms(
      k, .transpose, .none, m: kg, n: m, k: og, weights, lda: kg, gradient, ldb: m, into: &columns, ldc: k * m,
      beta: { _ in 1 }
    ) { j, group in
      ((j * outChannels + group * og) * kg, group * og * m, group * kg * k * m + j * m)
    }
  }

  /// `count × groups` gemms `C ← op(A) op(B) + β_i C` (`alpha` 1) on blocks of `a`, `b` and
  /// `c` at the element offsets `offsets(i, group)` returns: the per-sample (or per-column)
  /// and per-group loop every map above shares, in the order i-major, then group.
  private func gemms<T: BLASScalar>(
    _ count: Int, _ transposeA: Transpose, _ transposeB: Transpose, m: Int, n: Int, k: Int,
    _ a: NDArray<T>, lda: Int, _ b: NDArray<T>, ldb: Int, into c: inout NDArray<T>, ldc: Int,
    beta: (Int) -> T = { _ in 0 }, offsets: (_ i: Int, _ group: Int) -> (a: Int, b: Int, c: Int)
  ) {
    a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        c.withUnsafeMutableBufferPointer { pc in
          for i in 0..<count {
            for group in 0..<groups {
              let (oa, ob, oc) = offsets(i, group)
              T.gemm(
                transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1,
                a: UnsafeBufferPointer(rebasing: pa[oa...]), lda: lda,
                b: UnsafeBufferPointer(rebasing: pb[ob...]), ldb: ldb, beta: beta(i),
                c: UnsafeMutableBufferPointer(rebasing: pc[oc...]), ldc: ldc)
            }
          }
        }
      }
    }
  }
}
