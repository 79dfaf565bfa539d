import Curvature

/// Naive loop implementations of convolution, unfold and fold (PyTorch semantics), the
/// independent references for the convolution tests.
enum ConvolutionReference {
  /// PyTorch's output extent, for inputs large enough that the numerator is non-negative.
  static func outputExtent(_ input: Int, kernel: Int, stride: Int, padding: Int, dilation: Int) -> Int {
    (input + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
  }

  /// `torch.nn.functional.conv2d` by seven nested loops.
  static func conv2d<T: BLASScalar>(
    _ x: NDArray<T>, _ w: NDArray<T>, _ b: NDArray<T>?, stride: (Int, Int), padding: (Int, Int),
    dilation: (Int, Int), groups: Int
  ) -> NDArray<T> {
    let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (cout, cpg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    precondition(cpg * groups == cin)
    let oh = outputExtent(h, kernel: kh, stride: stride.0, padding: padding.0, dilation: dilation.0)
    let ow = outputExtent(wd, kernel: kw, stride: stride.1, padding: padding.1, dilation: dilation.1)
    let opg = cout / groups
    let xs = x.scalars, ws = w.scalars
    var out = [T](repeating: 0, count: n * cout * oh * ow)
    for s in 0..<n {
      for o in 0..<cout {
        let g = o / opg
        for y in 0..<oh {
          for xo in 0..<ow {
            var acc: T = b.map { $0.scalars[o] } ?? 0
            for c in 0..<cpg {
              for i in 0..<kh {
                for j in 0..<kw {
                  let r = y * stride.0 - padding.0 + i * dilation.0
                  let q = xo * stride.1 - padding.1 + j * dilation.1
                  guard r >= 0 && r < h && q >= 0 && q < wd else { continue }
                  let input = xs[((s * cin + g * cpg + c) * h + r) * wd + q]
                  acc += ws[((o * cpg + c) * kh + i) * kw + j] * input
                }
              }
            }
            out[((s * cout + o) * oh + y) * ow + xo] = acc
          }
        }
      }
    }
    return NDArray(shape: [n, cout, oh, ow], scalars: out)
  }

  /// `torch.nn.functional.unfold` by explicit patch extraction.
  static func unfold<T: BLASScalar>(
    _ x: NDArray<T>, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)
  ) -> NDArray<T> {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let oh = outputExtent(h, kernel: kernel.0, stride: stride.0, padding: padding.0, dilation: dilation.0)
    let ow = outputExtent(w, kernel: kernel.1, stride: stride.1, padding: padding.1, dilation: dilation.1)
    let rows = c * kernel.0 * kernel.1, l = oh * ow
    var out = NDArray<T>(zeros: [n, rows, l])
    for s in 0..<n {
      for ch in 0..<c {
        for i in 0..<kernel.0 {
          for j in 0..<kernel.1 {
            let row = (ch * kernel.0 + i) * kernel.1 + j
            for y in 0..<oh {
              for xo in 0..<ow {
                let r = y * stride.0 - padding.0 + i * dilation.0
                let q = xo * stride.1 - padding.1 + j * dilation.1
                if r >= 0 && r < h && q >= 0 && q < w { out[s, row, y * ow + xo] = x[s, ch, r, q] }
              }
            }
          }
        }
      }
    }
    return out
  }

  /// `torch.nn.functional.fold` by explicit accumulation of patches.
  static func fold<T: BLASScalar>(
    _ columns: NDArray<T>, outputSize: (Int, Int), kernel: (Int, Int), stride: (Int, Int),
    padding: (Int, Int), dilation: (Int, Int)
  ) -> NDArray<T> {
    let (h, w) = outputSize
    let n = columns.shape[0], c = columns.shape[1] / (kernel.0 * kernel.1)
    let oh = outputExtent(h, kernel: kernel.0, stride: stride.0, padding: padding.0, dilation: dilation.0)
    let ow = outputExtent(w, kernel: kernel.1, stride: stride.1, padding: padding.1, dilation: dilation.1)
    precondition(columns.shape[2] == oh * ow)
    var out = NDArray<T>(zeros: [n, c, h, w])
    for s in 0..<n {
      for ch in 0..<c {
        for i in 0..<kernel.0 {
          for j in 0..<kernel.1 {
            let row = (ch * kernel.0 + i) * kernel.1 + j
            for y in 0..<oh {
              for xo in 0..<ow {
                let r = y * stride.0 - padding.0 + i * dilation.0
                let q = xo * stride.1 - padding.1 + j * dilation.1
                if r >= 0 && r < h && q >= 0 && q < w { out[s, ch, r, q] += columns[s, row, y * ow + xo] }
              }
            }
          }
        }
      }
    }
    return out
  }
}

/// A tensor of shape `shape` holding `scalars` (a flat parameter slice), for finite differences.
func convTestTensor(_ shape: [Int], _ scalars: some Collection<Double>) -> Tensor<Double> {
  Tensor(NDArray(shape: shape, scalars: Array(scalars)))
}
