import CurvatureNumerics
import CurvatureAutodiff

// Pooling with PyTorch's window rules. Every pool acts on the last one or two axes and
// treats all leading axes as independent planes (so `[N, C, H, W]` and `[C, H, W]` both
// work). Max pooling finds each window's argmax once, from the values, and is then one
// gather: its derivative is that gather (piecewise linear, second derivative zero), as in
// PyTorch. Average pooling is `unfold` (a cached gather map), a sum and a division by the
// constant per-window divisors; adaptive average pooling is two small matmuls by
// per-axis averaging matrices.

extension Functional {
  /// The number of pooling windows along one axis — PyTorch's `pooling_output_shape`:
  /// `⌊(in + 2·padding − dilation·(kernel − 1) − 1 + (ceilMode ? stride − 1 : 0)) / stride⌋ + 1`,
  /// and with `ceilMode` one window fewer when the last one would start in the right
  /// padding (at or after `in + padding`).
  ///
  /// - Parameters:
  ///   - inputSize: The input extent.
  ///   - kernelSize: The window extent, ≥ 1.
  ///   - stride: The window step, ≥ 1.
  ///   - padding: The implicit padding on each side, ≥ 0.
  ///   - dilation: The spacing between taps, ≥ 1 (1 for average pooling).
  ///   - ceilMode: Round the window count up instead of down.
  /// - Returns: The output extent; zero or negative when the input is too small (the
  ///   caller reports that as an error).
  /// - Complexity: O(1).
  public static func poolOutputSize(
    inputSize: Int, kernelSize: Int, stride: Int, padding: Int, dilation: Int, ceilMode: Bool
  ) -> Int {
    precondition(stride >= 1, "poolOutputSize: stride \(stride) must be positive")
    let numerator = inputSize + 2 * padding - dilation * (kernelSize - 1) - 1 + (ceilMode ? stride - 1 : 0)
    // Floor division, also for negative numerators (PyTorch's div_rtn).
    var size = (numerator >= 0 ? numerator / stride : -((-numerator + stride - 1) / stride)) + 1
    if ceilMode && (size - 1) * stride >= inputSize + padding { size -= 1 }
    return size
  }

  /// 1-D max pooling — PyTorch's `F.max_pool1d` (no indices returned).
  ///
  /// Taps in the padding are ignored (PyTorch pads with −∞); ties go to the first maximum
  /// in window order, and a NaN counts as a maximum, as in PyTorch's CPU kernel.
  /// - Parameters:
  ///   - x: `[N, C, L]` or `[C, L]` (any leading axes).
  ///   - kernelSize: `[k]`.
  ///   - stride: `[s]` (empty: the kernel size).
  ///   - padding: `[p]`, at most half the kernel.
  ///   - dilation: `[d]`.
  ///   - ceilMode: Round the output length up (see `poolOutputSize`).
  /// - Returns: `[..., Lout]`.
  /// - Precondition: The attributes are as listed and `Lout ≥ 1`.
  /// - Complexity: O(count of the result · k) comparisons and one gather.
  public static func maxPool1d<S: BLASScalar>(
    _ x: Tensor<S>, kernelSize: [Int], stride: [Int], padding: [Int], dilation: [Int], ceilMode: Bool
  ) -> Tensor<S> {
    let y = maxPool2d(
      x.expandingShape(at: -2), kernelSize: [1] + single(kernelSize), stride: [1] + single(stride.isEmpty ? kernelSize : stride),
      padding: [0] + single(padding), dilation: [1] + single(dilation), ceilMode: ceilMode)
    return y.reshaped(Array(x.shape.dropLast()) + [y.shape[y.rank - 1]])
  }

  /// 2-D max pooling — PyTorch's `F.max_pool2d` (no indices returned).
  ///
  /// Taps in the padding are ignored (PyTorch pads with −∞); ties go to the first maximum
  /// in row-major window order, and a NaN counts as a maximum, as in PyTorch's CPU kernel.
  /// - Parameters:
  ///   - x: `[N, C, H, W]` or `[C, H, W]` (any leading axes).
  ///   - kernelSize: `[kh, kw]` (one entry: both).
  ///   - stride: `[sh, sw]` (one entry: both; empty: the kernel size).
  ///   - padding: `[ph, pw]` (one entry: both), at most half the kernel.
  ///   - dilation: `[dh, dw]` (one entry: both).
  ///   - ceilMode: Round the output extents up (see `poolOutputSize`).
  /// - Returns: `[..., Hout, Wout]`.
  /// - Precondition: The attributes are as listed and the output is not empty.
  /// - Complexity: O(count of the result · kh · kw) comparisons and one gather.
  public static func maxPool2d<S: BLASScalar>(
    _ x: Tensor<S>, kernelSize: [Int], stride: [Int], padding: [Int], dilation: [Int], ceilMode: Bool
  ) -> Tensor<S> {
    precondition(x.rank >= 2, "maxPool2d: input \(x.shape) has fewer than 2 axes")
    let (h, w) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
    let k = pair(kernelSize), s = pair(stride.isEmpty ? kernelSize : stride), p = pair(padding), d = pair(dilation)
    let rows = PoolingAxis(input: h, kernel: k.0, stride: s.0, padding: p.0, dilation: d.0, ceilMode: ceilMode)
    let columns = PoolingAxis(input: w, kernel: k.1, stride: s.1, padding: p.1, dilation: d.1, ceilMode: ceilMode)
    precondition(rows.outputs >= 1 && columns.outputs >= 1, "maxPool2d: input \(x.shape) gives an empty output")
    let planes = x.shape.dropLast(2).reduce(1, *)
    let indices = argmaxIndices(x.value, planes: planes, width: w, rows: rows, columns: columns)
    return x.gathering(flatIndices: indices, shape: Array(x.shape.dropLast(2)) + [rows.outputs, columns.outputs])
  }

  /// 1-D average pooling — PyTorch's `F.avg_pool1d` (computed as `avg_pool2d` over a
  /// height-1 image, as PyTorch does).
  ///
  /// - Parameters:
  ///   - x: `[N, C, L]` or `[C, L]` (any leading axes).
  ///   - kernelSize: `[k]`.
  ///   - stride: `[s]` (empty: the kernel size).
  ///   - padding: `[p]`, at most half the kernel.
  ///   - ceilMode: Round the output length up (see `poolOutputSize`).
  ///   - countIncludePad: Divide by the window size including padded taps (clipped at
  ///     the padded input's end) instead of the number of real taps.
  ///   - divisorOverride: Divide every window sum by this instead, or nil.
  /// - Returns: `[..., Lout]`.
  /// - Precondition: The attributes are as listed and `Lout ≥ 1`.
  /// - Complexity: O(count of the result · k).
  public static func avgPool1d<S: BLASScalar>(
    _ x: Tensor<S>, kernelSize: [Int], stride: [Int], padding: [Int], ceilMode: Bool, countIncludePad: Bool,
    divisorOverride: Int?
  ) -> Tensor<S> {
    let y = avgPool2d(
      x.expandingShape(at: -2), kernelSize: [1] + single(kernelSize), stride: [1] + single(stride.isEmpty ? kernelSize : stride),
      padding: [0] + single(padding), ceilMode: ceilMode, countIncludePad: countIncludePad,
      divisorOverride: divisorOverride)
    return y.reshaped(Array(x.shape.dropLast()) + [y.shape[y.rank - 1]])
  }

  /// 2-D average pooling — PyTorch's `F.avg_pool2d`.
  ///
  /// Each window sums its taps inside the input. The divisor is `divisorOverride` if
  /// given, else the window size clipped to the padded input (`countIncludePad`) or the
  /// number of taps inside the input; a window entirely outside the input gives 0.
  /// - Parameters:
  ///   - x: `[N, C, H, W]` or `[C, H, W]` (any leading axes).
  ///   - kernelSize: `[kh, kw]` (one entry: both).
  ///   - stride: `[sh, sw]` (one entry: both; empty: the kernel size).
  ///   - padding: `[ph, pw]` (one entry: both), at most half the kernel.
  ///   - ceilMode: Round the output extents up (see `poolOutputSize`).
  ///   - countIncludePad: Count padded taps in the divisor.
  ///   - divisorOverride: Divide every window sum by this instead, or nil.
  /// - Returns: `[..., Hout, Wout]`.
  /// - Precondition: The attributes are as listed and the output is not empty.
  /// - Complexity: O(count of the result · kh · kw).
  public static func avgPool2d<S: BLASScalar>(
    _ x: Tensor<S>, kernelSize: [Int], stride: [Int], padding: [Int], ceilMode: Bool, countIncludePad: Bool,
    divisorOverride: Int?
  ) -> Tensor<S> {
    precondition(x.rank >= 2, "avgPool2d: input \(x.shape) has fewer than 2 axes")
    let (h, w) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
    let k = pair(kernelSize), s = pair(stride.isEmpty ? kernelSize : stride), p = pair(padding)
    let rows = AveragingAxis(input: h, kernel: k.0, stride: s.0, padding: p.0, ceilMode: ceilMode)
    let columns = AveragingAxis(input: w, kernel: k.1, stride: s.1, padding: p.1, ceilMode: ceilMode)
    precondition(rows.outputs >= 1 && columns.outputs >= 1, "avgPool2d: input \(x.shape) gives an empty output")
    let leading = Array(x.shape.dropLast(2))
    let planes = leading.reduce(1, *)
    // Windows that run past the padded end (ceil mode) get explicit zeros there, so that
    // unfold's floor rule yields exactly the ceil-mode window count.
    let images = x.reshaped([planes, 1, h, w])
      .padded(alongAxis: 2, before: 0, after: rows.extraPadding)
      .padded(alongAxis: 3, before: 0, after: columns.extraPadding)
    let columnsOfPatches = unfold(images, kernelSize: k, stride: s, padding: p)  // [planes, kh·kw, L]
    let sums = columnsOfPatches.sum(alongAxis: 1).reshaped(leading + [rows.outputs, columns.outputs])
    var divisors = [S](repeating: 1, count: rows.outputs * columns.outputs)
    for i in 0..<rows.outputs {
      for j in 0..<columns.outputs {
        let (r, c) = (rows.windows[i], columns.windows[j])
        // An empty window sums to 0; any nonzero divisor keeps it 0, as PyTorch.
        guard r.inside > 0 && c.inside > 0 else { continue }
        let divisor = divisorOverride ?? (countIncludePad ? r.padded * c.padded : r.inside * c.inside)
        divisors[i * columns.outputs + j] = S(divisor)
      }
    }
    return sums / Tensor(NDArray(shape: [rows.outputs, columns.outputs], scalars: divisors))
  }

  /// 1-D adaptive average pooling — PyTorch's `F.adaptive_avg_pool1d`: output `i` averages
  /// the inputs `⌊i·L/out⌋ ..< ⌈(i+1)·L/out⌉`.
  ///
  /// - Parameters:
  ///   - x: `[N, C, L]` or `[C, L]` (any leading axes).
  ///   - outputSize: `[out]`, ≥ 1.
  /// - Returns: `[..., out]`.
  /// - Precondition: `outputSize` has one positive entry and `L ≥ 1`.
  /// - Complexity: O(count · out) in one gemm.
  public static func adaptiveAvgPool1d<S: BLASScalar>(_ x: Tensor<S>, outputSize: [Int]) -> Tensor<S> {
    precondition(x.rank >= 1 && outputSize.count == 1, "adaptiveAvgPool1d: input \(x.shape), output size \(outputSize)")
    return matmul(x, averagingMatrix(input: x.shape[x.rank - 1], output: outputSize[0]))
  }

  /// 2-D adaptive average pooling — PyTorch's `F.adaptive_avg_pool2d`: output `(i, j)`
  /// averages rows `⌊i·H/oh⌋ ..< ⌈(i+1)·H/oh⌉` and columns `⌊j·W/ow⌋ ..< ⌈(j+1)·W/ow⌉`.
  ///
  /// - Parameters:
  ///   - x: `[N, C, H, W]` or `[C, H, W]` (any leading axes).
  ///   - outputSize: `[oh, ow]` (one entry: both), each ≥ 1.
  /// - Returns: `[..., oh, ow]`.
  /// - Precondition: The output size is positive and `H, W ≥ 1`.
  /// - Complexity: O(count · ow + count/W · ow · oh) in gemms.
  public static func adaptiveAvgPool2d<S: BLASScalar>(_ x: Tensor<S>, outputSize: [Int]) -> Tensor<S> {
    precondition(x.rank >= 2, "adaptiveAvgPool2d: input \(x.shape) has fewer than 2 axes")
    let (oh, ow) = pair(outputSize)
    let alongWidth = matmul(x, averagingMatrix(input: x.shape[x.rank - 1], output: ow))  // [..., H, ow]
    let rows = (averagingMatrix(input: x.shape[x.rank - 2], output: oh) as Tensor<S>).transposed()  // [oh, H]
    return CurvatureAutodiff.matmul(rows, alongWidth)
  }

  // MARK: Window tables

  /// `[in, out]`: column `i` averages PyTorch's adaptive window `i`.
  private static func averagingMatrix<S: BLASScalar>(input: Int, output: Int) -> Tensor<S> {
    precondition(input >= 1 && output >= 1, "adaptive pooling: input extent \(input), output extent \(output)")
    var scalars = [S](repeating: 0, count: input * output)
    for i in 0..<output {
      let start = (i * input) / output, end = ((i + 1) * input + output - 1) / output
      let weight = 1 / S(end - start)
      for r in start..<end { scalars[r * output + i] = weight }
    }
    return Tensor(NDArray(shape: [input, output], scalars: scalars))
  }

  /// Attribute lists of one or two entries as a pair.
  private static func pair(_ values: [Int]) -> (Int, Int) {
    precondition(values.count == 1 || values.count == 2, "pooling: attribute \(values) needs 1 or 2 entries")
    return values.count == 1 ? (values[0], values[0]) : (values[0], values[1])
  }

  /// A 1-D attribute list, checked to have one entry.
  private static func single(_ values: [Int]) -> [Int] {
    precondition(values.count == 1, "pooling: 1-D attribute \(values) needs 1 entry")
    return values
  }

  /// The flat index of each window's maximum, over the whole input (planes of `H×W`),
  /// with PyTorch's CPU rule: scan the taps inside the input in row-major order, keep the
  /// first of equal maxima, and let a NaN win.
  @_specialize(where S == Float)
  @_specialize(where S == Double)
  static func argmaxIndices<S: BLASScalar>(
    _ x: NDArray<S>, planes: Int, width: Int, rows: PoolingAxis, columns: PoolingAxis
  ) -> [Int] {
    let planeSize = rows.input * width
    let (oh, ow, kh, kw) = (rows.outputs, columns.outputs, rows.kernel, columns.kernel)
    return [Int](unsafeUninitializedCapacity: planes * oh * ow) { result, initialized in
      x.withUnsafeBufferPointer { values in
        rows.taps.withUnsafeBufferPointer { rowTaps in
          columns.taps.withUnsafeBufferPointer { columnTaps in
            var k = 0
            for plane in 0..<planes {
              let base = plane * planeSize
              for i in 0..<oh {
                for j in 0..<ow {
                  var best = -S.infinity
                  var bestIndex = -1
                  for a in 0..<kh {
                    let r = rowTaps[i * kh + a]
                    if r < 0 { continue }
                    for b in 0..<kw {
                      let c = columnTaps[j * kw + b]
                      if c < 0 { continue }
                      let index = base + r * width + c
                      let v = values[index]
                      // The first tap inside is the answer for a window of −∞ entries.
                      if bestIndex < 0 { bestIndex = index }
                      if v > best || v.isNaN {
                        best = v
                        bestIndex = index
                      }
                    }
                  }
                  result[k] = bestIndex
                  k += 1
                }
              }
            }
          }
        }
      }
      initialized = planes * oh * ow
    }
  }
}

extension Functional {
  /// The windows of max pooling along one axis: for each output, the input position of
  /// each tap, or -1 for a tap in the padding or past the end.
  struct PoolingAxis: Sendable {
    let input: Int, kernel: Int, outputs: Int
    /// `outputs · kernel` positions, row-major.
    let taps: [Int]

    init(input: Int, kernel: Int, stride: Int, padding: Int, dilation: Int, ceilMode: Bool) {
      self.input = input
      self.kernel = kernel
      outputs = Swift.max(
        0,
        Functional.poolOutputSize(
          inputSize: input, kernelSize: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode))
      var taps = [Int](repeating: -1, count: outputs * kernel)
      for o in 0..<outputs {
        for t in 0..<kernel {
          let position = o * stride - padding + t * dilation
          if position >= 0 && position < input { taps[o * kernel + t] = position }
        }
      }
      self.taps = taps
    }
  }

  /// The windows of average pooling along one axis, with PyTorch's divisor counts.
  struct AveragingAxis: Sendable {
    /// One window: its size clipped to the padded input, and its taps inside the input.
    struct Window: Sendable { let padded: Int, inside: Int }

    let outputs: Int
    let windows: [Window]
    /// Zeros to append so that `unfold`'s floor rule gives `outputs` windows.
    let extraPadding: Int

    init(input: Int, kernel: Int, stride: Int, padding: Int, ceilMode: Bool) {
      outputs = Swift.max(
        0,
        Functional.poolOutputSize(
          inputSize: input, kernelSize: kernel, stride: stride, padding: padding, dilation: 1, ceilMode: ceilMode))
      windows = (0..<outputs).map { o in
        let start = o * stride - padding
        let end = Swift.min(start + kernel, input + padding)
        let inside = Swift.min(end, input) - Swift.max(start, 0)
        return Window(padded: end - start, inside: Swift.max(inside, 0))
      }
      extraPadding = Swift.max(0, (outputs - 1) * stride + kernel - (input + 2 * padding))
    }
  }
}
