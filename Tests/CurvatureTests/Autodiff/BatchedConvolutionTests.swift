import Curvature
import CurvatureAutodiff
import CurvatureTestSupport
import Testing

// The strided im2col/col2im kernels against the naive loops of ConvolutionReference, bit for
// bit; conv1d through them against loops; and the convolution's linear maps on the batch's
// patches `[C·kh·kw, N·L]` (ConvolutionLayout, used by the k-column products of
// SequentialLinearization) against the autodiff core's conv2d and its VJP.

/// A random window or convolution configuration, odd sizes included.
struct RandomConvCase: Sendable, CustomTestStringConvertible {
  var n: Int, cin: Int, h: Int, w: Int
  var cout: Int, kernel: (Int, Int)
  var stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)
  var groups: Int
  var testDescription: String {
    "[\(n), \(cin), \(h), \(w)] → \(cout), kernel \(kernel), stride \(stride), padding \(padding), dilation \(dilation), groups \(groups)"
  }
  var inputShape: [Int] { [n, cin, h, w] }
  var weightShape: [Int] { [cout, cin / groups, kernel.0, kernel.1] }

  /// `count` valid configurations from a seed (every output non-empty).
  static func draw(_ count: Int, seed: UInt64) -> [RandomConvCase] {
    var rng = RandomGenerator(seed: seed)
    func int(_ range: ClosedRange<Int>) -> Int {
      range.lowerBound + rng.integer(below: range.count)
    }
    var cases = [RandomConvCase]()
    while cases.count < count {
      let groups = int(1...3)
      let c = RandomConvCase(
        n: int(1...3), cin: groups * int(1...3), h: int(1...9), w: int(1...9), cout: groups * int(1...3),
        kernel: (int(1...4), int(1...4)), stride: (int(1...3), int(1...3)), padding: (int(0...2), int(0...2)),
        dilation: (int(1...3), int(1...2)), groups: groups)
      let oh = ConvolutionReference.outputExtent(c.h, kernel: c.kernel.0, stride: c.stride.0, padding: c.padding.0, dilation: c.dilation.0)
      let ow = ConvolutionReference.outputExtent(c.w, kernel: c.kernel.1, stride: c.stride.1, padding: c.padding.1, dilation: c.dilation.1)
      let spanH = c.h + 2 * c.padding.0 - c.dilation.0 * (c.kernel.0 - 1) - 1
      let spanW = c.w + 2 * c.padding.1 - c.dilation.1 * (c.kernel.1 - 1) - 1
      if spanH >= 0 && spanW >= 0 && oh >= 1 && ow >= 1 { cases.append(c) }
    }
    return cases
  }

  static let all = draw(24, seed: 2026)

  func conv<T: BLASScalar>(_ x: Tensor<T>, _ w: Tensor<T>, _ b: Tensor<T>?) -> Tensor<T> {
    conv2d(x, weight: w, bias: b, stride: stride, padding: padding, dilation: dilation, groups: groups)
  }
}

@Suite struct BatchedConvolutionTests {
  // MARK: Kernels

  func checkWindows<T: BLASScalar>(_: T.Type) {
    for c in RandomConvCase.all {
      var rng = RandomGenerator(seed: 5)
      let x: NDArray<T> = rng.normalArray(shape: c.inputShape)
      let columns = unfold(Tensor(x), kernelSize: c.kernel, stride: c.stride, padding: c.padding, dilation: c.dilation).value
      let expected = ConvolutionReference.unfold(x, kernel: c.kernel, stride: c.stride, padding: c.padding, dilation: c.dilation)
      #expect(columns == expected, "unfold \(c.testDescription)")
      let u: NDArray<T> = rng.normalArray(shape: expected.shape)
      let folded = fold(
        Tensor(u), outputSize: (c.h, c.w), kernelSize: c.kernel, stride: c.stride, padding: c.padding, dilation: c.dilation
      ).value
      // The reference adds each pixel's taps in the same order: the same bits.
      let reference = ConvolutionReference.fold(
        u, outputSize: (c.h, c.w), kernel: c.kernel, stride: c.stride, padding: c.padding, dilation: c.dilation)
      #expect(folded == reference, "fold \(c.testDescription)")
    }
  }

  @Test func unfoldAndFoldMatchTheLoopsBitForBitDouble() { checkWindows(Double.self) }
  @Test func unfoldAndFoldMatchTheLoopsBitForBitFloat() { checkWindows(Float.self) }

  @Test func anEmptyImageSeenThroughPaddingUnfoldsToZeros() {
    // H = 0 with padding 1: two window rows, all taps in the padding.
    let columns = unfold(Tensor<Double>(zeros: [2, 1, 0, 3]), kernelSize: (1, 1), padding: (1, 0))
    #expect(columns.value == NDArray(zeros: [2, 1, 6]))
  }

  // MARK: The convolution's linear maps on the batch's patches (k-column products)

  /// `[k] + shape` from k arrays of `shape`.
  func stacked<T: BLASScalar>(_ arrays: [NDArray<T>]) -> NDArray<T> {
    NDArray(shape: [arrays.count] + arrays[0].shape, scalars: arrays.flatMap(\.scalars))
  }

  func checkLayout<T: BLASScalar>(_: T.Type, rtol: T) {
    let k = 3
    for (index, c) in RandomConvCase.all.enumerated() {
      var rng = RandomGenerator(seed: UInt64(300 + index))
      let name = c.testDescription
      let geometry = Conv2dGeometry(inputShape: c.inputShape, kernelSize: c.kernel, stride: c.stride, padding: c.padding, dilation: c.dilation)
      let layout = ConvolutionLayout(geometry: geometry, outChannels: c.cout, groups: c.groups)
      let xs: [NDArray<T>] = (0..<k).map { _ in rng.normalArray(shape: c.inputShape) }
      let ws: [NDArray<T>] = (0..<k).map { _ in rng.normalArray(shape: c.weightShape) }
      let (x, w) = (xs[0], ws[0])
      let patches = layout.columns(x)
      let y = c.conv(Tensor(x), Tensor(w), nil).value
      assertClose(layout.forward(patches, w), y, rtol: rtol, atol: rtol, "forward \(name)")
      // Input and weight gradients against the autodiff core's VJP of conv2d.
      let us: [NDArray<T>] = (0..<k).map { _ in rng.normalArray(shape: y.shape) }
      let u = us[0]
      let (_, cotangents) = vjp(at: [Tensor(x), Tensor(w)], cotangent: Tensor(u)) { p in c.conv(p[0], p[1], nil) }
      assertClose(layout.inputGradient(u, w), cotangents[0].value, rtol: rtol, atol: rtol, "input gradient \(name)")
      // Folded sample by sample: the bits of the batch's patches folded at once.
      #expect(layout.inputGradient(u, w) == layout.image(layout.inputColumns(u, w)), "fused input gradient \(name)")
      assertClose(layout.weightGradient(patches, u), cotangents[1].value, rtol: rtol, atol: rtol, "weight gradient \(name)")
      assertClose(layout.weightGradient(patches, channelMajor: layout.channelMajor(u)), cotangents[1].value, rtol: rtol, atol: rtol,
                  "channel-major weight gradient \(name)")
      // convW(ẋ_j, ȳ) for k inputs unfolded as one batch of k·N, and convT(ȳ, Ẇ_j) added to
      // the patches of a batch of k·N.
      let batch = layout.withBatch(k * c.n)
      let tangentPatches = batch.columns(stacked(xs).reshaped([k * c.n] + c.inputShape.dropFirst()))
      let expectedWeights = stacked(xs.map { layout.weightGradient(layout.columns($0), u) })
      assertClose(
        layout.weightGradients(stackedColumns: tangentPatches, channelMajor: layout.channelMajor(u), stacked: k).reshaped(expectedWeights.shape),
        expectedWeights, rtol: rtol, atol: rtol, "weight gradients of stacked inputs \(name)")
      var columns = NDArray<T>(zeros: batch.columnsShape)
      let stackedWeights = stacked(ws).reshaped([k * c.cout] + c.weightShape.dropFirst())
      layout.addInputColumns(layout.channelMajor(u), weights: stackedWeights, stacked: k, into: &columns)
      let expectedInputs = stacked(ws.map { layout.inputGradient(u, $0) })
      assertClose(batch.image(columns).reshaped(expectedInputs.shape), expectedInputs, rtol: rtol, atol: rtol, "input gradients of stacked weights \(name)")
      guard c.groups == 1 else { continue }
      // k weights stacked as output channels: one gemm.
      let expectedOutputs = stacked(ws.map { layout.forward(patches, $0) })
      assertClose(layout.forward(patches, stackedWeights, stacked: k), expectedOutputs, rtol: rtol, atol: rtol, "stacked forward \(name)")
      let (n, l) = (c.n, y.count / (c.n * c.cout))
      let channelMajor = stacked(us).reshaped([k, n, c.cout, l]).permuted([0, 2, 1, 3]).reshaped([k * c.cout, n * l])
      assertClose(
        layout.weightGradient(patches, channelMajor: channelMajor, stacked: k).reshaped([k] + c.weightShape),
        stacked(us.map { layout.weightGradient(patches, $0) }), rtol: rtol, atol: rtol, "stacked weight gradient \(name)")
    }
  }

  @Test func convolutionMapsMatchTheAutodiffConvolutionDouble() { checkLayout(Double.self, rtol: 1e-10) }
  @Test func convolutionMapsMatchTheAutodiffConvolutionFloat() { checkLayout(Float.self, rtol: 2e-4) }

  // MARK: Conv1d

  /// `F.conv1d` by loops, with padding `(before, after)`.
  static func conv1dReference<T: BLASScalar>(
    _ x: NDArray<T>, _ w: NDArray<T>, stride: Int, padding: (Int, Int), dilation: Int, groups: Int
  ) -> NDArray<T> {
    let (n, length) = (x.shape[0], x.shape[2])
    let (cout, cpg, k) = (w.shape[0], w.shape[1], w.shape[2])
    let out = (length + padding.0 + padding.1 - dilation * (k - 1) - 1) / stride + 1
    var y = NDArray<T>(zeros: [n, cout, out])
    for s in 0..<n {
      for o in 0..<cout {
        let g = o / (cout / groups)
        for t in 0..<out {
          var acc: T = 0
          for c in 0..<cpg {
            for j in 0..<k {
              let q = t * stride - padding.0 + j * dilation
              if q >= 0 && q < length { acc += w[o, c, j] * x[s, g * cpg + c, q] }
            }
          }
          y[s, o, t] = acc
        }
      }
    }
    return y
  }

  func checkConv1d<T: BLASScalar>(_: T.Type, rtol: T) {
    let cases: [(n: Int, cin: Int, length: Int, cout: Int, k: Int, stride: Int, padding: (Int, Int), dilation: Int, groups: Int)] = [
      (2, 3, 11, 4, 3, 1, (1, 1), 1, 1),
      (3, 4, 9, 6, 2, 2, (0, 1), 1, 2),
      (1, 2, 13, 2, 3, 3, (2, 2), 2, 2),
      (2, 1, 7, 3, 4, 1, (1, 2), 1, 1),
    ]
    for (index, c) in cases.enumerated() {
      var rng = RandomGenerator(seed: UInt64(400 + index))
      let x: NDArray<T> = rng.normalArray(shape: [c.n, c.cin, c.length])
      let w: NDArray<T> = rng.normalArray(shape: [c.cout, c.cin / c.groups, c.k])
      let f: ([Tensor<T>]) -> Tensor<T> = { p in
        Functional.conv1d(p[0], weight: p[1], bias: nil, stride: c.stride, padding: (before: c.padding.0, after: c.padding.1),
                          dilation: c.dilation, groups: c.groups)
      }
      let reference = { (x: NDArray<T>, w: NDArray<T>) in
        Self.conv1dReference(x, w, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
      }
      let y = f([Tensor(x), Tensor(w)]).value
      assertClose(y, reference(x, w), rtol: rtol, atol: rtol, "conv1d case \(index)")
      // Bilinear: the JVP is conv(ẋ, W) + conv(x, Ẇ), and the VJP its adjoint.
      let (dx, dw): (NDArray<T>, NDArray<T>) = (rng.normalArray(shape: x.shape), rng.normalArray(shape: w.shape))
      let (_, tangent) = jvp(at: [Tensor(x), Tensor(w)], tangents: [Tensor(dx), Tensor(dw)], of: f)
      var expected = reference(dx, w)
      expected.add(reference(x, dw))
      assertClose(tangent.value, expected, rtol: rtol, atol: rtol, "conv1d jvp case \(index)")
      let u: NDArray<T> = rng.normalArray(shape: y.shape)
      let (_, cotangents) = vjp(at: [Tensor(x), Tensor(w)], cotangent: Tensor(u), of: f)
      assertClose(
        cotangents[0].value.dot(dx) + cotangents[1].value.dot(dw), u.dot(tangent.value), rtol: rtol, atol: rtol,
        "conv1d adjoint case \(index)")
    }
  }

  @Test func conv1dMatchesTheLoopsDouble() { checkConv1d(Double.self, rtol: 1e-11) }
  @Test func conv1dMatchesTheLoopsFloat() { checkConv1d(Float.self, rtol: 1e-4) }
}
