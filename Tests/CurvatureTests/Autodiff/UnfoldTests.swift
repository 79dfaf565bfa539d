import Curvature
import CurvatureTestSupport
import Testing

/// One sliding-window configuration over an input `[n, c, h, w]`.
struct WindowCase: Sendable, CustomTestStringConvertible {
  var name: String
  var n: Int, c: Int, h: Int, w: Int
  var kernel: (Int, Int)
  var stride = (1, 1), padding = (0, 0), dilation = (1, 1)

  var testDescription: String { name }
  var inputShape: [Int] { [n, c, h, w] }
  var geometry: Conv2dGeometry {
    Conv2dGeometry(inputShape: inputShape, kernelSize: kernel, stride: stride, padding: padding, dilation: dilation)
  }

  static let all: [WindowCase] = [
    WindowCase(name: "3x3", n: 1, c: 2, h: 4, w: 5, kernel: (3, 3)),
    WindowCase(name: "3x3 stride 2 padding 1, N=3", n: 3, c: 2, h: 5, w: 6, kernel: (3, 3), stride: (2, 2), padding: (1, 1)),
    WindowCase(name: "dilation 2", n: 2, c: 1, h: 7, w: 6, kernel: (2, 3), dilation: (2, 2)),
    WindowCase(name: "3x2 kernel, mixed", n: 2, c: 3, h: 6, w: 4, kernel: (3, 2), stride: (2, 1), padding: (1, 2), dilation: (1, 2)),
    WindowCase(name: "1x1 (reshape)", n: 2, c: 3, h: 2, w: 3, kernel: (1, 1)),
    WindowCase(name: "1x1 padded", n: 1, c: 2, h: 2, w: 3, kernel: (1, 1), padding: (1, 0)),
    WindowCase(name: "non-overlapping 2x2", n: 2, c: 2, h: 4, w: 6, kernel: (2, 2), stride: (2, 2)),
  ]

  func unfold<T: BLASScalar>(_ x: Tensor<T>) -> Tensor<T> {
    Curvature.unfold(x, kernelSize: kernel, stride: stride, padding: padding, dilation: dilation)
  }

  func fold<T: BLASScalar>(_ y: Tensor<T>) -> Tensor<T> {
    Curvature.fold(y, outputSize: (h, w), kernelSize: kernel, stride: stride, padding: padding, dilation: dilation)
  }
}

@Suite struct UnfoldTests {
  func checkUnfold<T: BLASScalar>(_ c: WindowCase, _: T.Type) {
    var rng = RandomGenerator(seed: 7)
    let x: NDArray<T> = rng.normalArray(shape: c.inputShape)
    let y = c.unfold(Tensor(x))
    #expect(y.shape == c.geometry.unfoldedShape)
    let expected = ConvolutionReference.unfold(x, kernel: c.kernel, stride: c.stride, padding: c.padding, dilation: c.dilation)
    #expect(y.value == expected, "\(c.name)")
  }

  @Test(arguments: WindowCase.all) func unfoldMatchesPatchExtraction(_ c: WindowCase) {
    checkUnfold(c, Double.self)
    checkUnfold(c, Float.self)
  }

  @Test(arguments: WindowCase.all) func foldMatchesPatchAccumulation(_ c: WindowCase) {
    var rng = RandomGenerator(seed: 8)
    let y: NDArray<Double> = rng.normalArray(shape: c.geometry.unfoldedShape)
    let x = c.fold(Tensor(y))
    let expected = ConvolutionReference.fold(
      y, outputSize: (c.h, c.w), kernel: c.kernel, stride: c.stride, padding: c.padding, dilation: c.dilation)
    assertClose(x.value, expected, rtol: 1e-14, atol: 1e-14, c.name)
    let xf = c.fold(Tensor(y.converted(to: Float.self)))
    assertClose(xf.value, expected.converted(to: Float.self), rtol: 1e-6, atol: 1e-6, c.name)
  }

  @Test(arguments: WindowCase.all) func foldIsTheAdjointOfUnfold(_ c: WindowCase) {
    var rng = RandomGenerator(seed: 9)
    let x = Tensor<Double>(rng.normalArray(shape: c.inputShape))
    let y = Tensor<Double>(rng.normalArray(shape: c.geometry.unfoldedShape))
    assertClose(c.unfold(x).value.dot(y.value), x.value.dot(c.fold(y).value), rtol: 1e-13, atol: 1e-13, c.name)
  }

  @Test func foldOfUnfoldCountsWindows() {
    // Non-overlapping windows that tile the image: fold ∘ unfold is the identity.
    let tiling = WindowCase.all[6]
    var rng = RandomGenerator(seed: 10)
    let x = Tensor<Double>(rng.normalArray(shape: tiling.inputShape))
    #expect(tiling.fold(tiling.unfold(x)).value == x.value)
    // In general it multiplies each pixel by the number of windows covering it.
    let c = WindowCase.all[1]
    let z = Tensor<Double>(rng.normalArray(shape: c.inputShape))
    let counts = c.fold(c.unfold(Tensor<Double>(NDArray(repeating: 1, shape: c.inputShape))))
    assertClose(c.fold(c.unfold(z)).value, (z * counts).value, rtol: 1e-14)
    // 3x3 windows at -1, 1, 3 along each axis: pixel 0 is in one window per axis, pixel 1
    // in two, pixel 2 in one.
    #expect(counts.value[0, 0, 0, 0] == 1)
    #expect(counts.value[0, 0, 1, 1] == 4)
    #expect(counts.value[0, 0, 1, 2] == 2)
  }

  @Test func unbatched() {
    let c = WindowCase.all[3]
    var rng = RandomGenerator(seed: 12)
    let x: NDArray<Double> = rng.normalArray(shape: [c.c, c.h, c.w])
    let y = c.unfold(Tensor(x))
    let g = c.geometry
    #expect(y.shape == [g.patchSize, g.patchCount])
    let batched = c.unfold(Tensor(x.reshaped([1, c.c, c.h, c.w])))
    #expect(y.value.scalars == batched.value.scalars)
    let back = c.fold(y)
    #expect(back.shape == [c.c, c.h, c.w])
    #expect(back.value.scalars == c.fold(batched).value.scalars)
  }

  @Test func geometryOutputSizes() {
    // PyTorch: floor((in + 2p - d(k-1) - 1)/s) + 1
    #expect(Conv2dGeometry.outputExtent(input: 32, kernel: 3, stride: 2, padding: 1, dilation: 1) == 16)
    #expect(Conv2dGeometry.outputExtent(input: 7, kernel: 3, stride: 2, padding: 1, dilation: 1) == 4)
    #expect(Conv2dGeometry.outputExtent(input: 10, kernel: 3, stride: 1, padding: 0, dilation: 2) == 6)
    #expect(Conv2dGeometry.outputExtent(input: 5, kernel: 2, stride: 3, padding: 0, dilation: 1) == 2)
    #expect(Conv2dGeometry.outputExtent(input: 1, kernel: 1, stride: 5, padding: 0, dilation: 1) == 1)
    // Floor, not truncation, for windows larger than the input: (2 - 4 - 1) / 2 → -2, + 1.
    #expect(Conv2dGeometry.outputExtent(input: 2, kernel: 5, stride: 2, padding: 0, dilation: 1) == -1)
    #expect(Conv2dGeometry.outputExtent(input: 3, kernel: 5, stride: 2, padding: 0, dilation: 1) == 0)
    let g = Conv2dGeometry(
      inputShape: [4, 3, 9, 8], kernelSize: (3, 2), stride: (2, 3), padding: (1, 0), dilation: (2, 1))
    #expect(g.outputHeight == 4 && g.outputWidth == 3)
    #expect(g.patchSize == 18 && g.patchCount == 12)
    #expect(g.unfoldedShape == [4, 18, 12])
    #expect(g.inputShape == [4, 3, 9, 8])
  }

  @Test func gradientsOfUnfoldAndFold() {
    let c = WindowCase.all[3]
    var rng = RandomGenerator(seed: 13)
    let x = Tensor<Double>(rng.normalArray(shape: c.inputShape))
    let u = Tensor<Double>(rng.normalArray(shape: c.geometry.unfoldedShape))
    let v = Tensor<Double>(rng.normalArray(shape: c.inputShape))
    // Linear maps: the VJP is the adjoint, the JVP the map itself.
    #expect(vjp(at: [x], cotangent: u) { c.unfold($0[0]) }.cotangents[0].value == c.fold(u).value)
    #expect(jvp(at: [x], tangents: [v]) { c.unfold($0[0]) }.tangent.value == c.unfold(v).value)
    #expect(vjp(at: [u], cotangent: v) { c.fold($0[0]) }.cotangents[0].value == c.unfold(v).value)
    #expect(jvp(at: [u], tangents: [u]) { c.fold($0[0]) }.tangent.value == c.fold(u).value)
    // Second order through both: f(x) = Σ unfold(x)³ has H v = fold(6 · unfold(x) ⊙ unfold(v)).
    let hv = hessianVectorProduct(at: [x], along: [v]) { p in
      let y = c.unfold(p[0])
      return (y * y * y).sum()
    }
    let expected = c.fold(6 * c.unfold(x) * c.unfold(v))
    assertClose(hv[0].value, expected.value, rtol: 1e-12, atol: 1e-12)
    // And the same through fold: g(u) = Σ fold(u)³ has H w = unfold(6 · fold(u) ⊙ fold(w)).
    let w = Tensor<Double>(rng.normalArray(shape: u.shape))
    let hw = hessianVectorProduct(at: [u], along: [w]) { p in
      let y = c.fold(p[0])
      return (y * y * y).sum()
    }
    assertClose(hw[0].value, c.unfold(6 * c.fold(u) * c.fold(w)).value, rtol: 1e-12, atol: 1e-12)
  }

  @Test func concurrentUseOfTheIndexMapCache() async {
    // Many tasks unfolding many geometries at once: the shared cache must hand out the
    // right map to each.
    let results = await withTaskGroup(of: Bool.self) { group in
      for task in 0..<16 {
        group.addTask {
          let c = WindowCase.all[task % WindowCase.all.count]
          var rng = RandomGenerator(seed: UInt64(100 + task))
          let x: NDArray<Double> = rng.normalArray(shape: c.inputShape)
          var ok = true
          for _ in 0..<4 {
            let y = c.unfold(Tensor(x)).value
            ok = ok && y == ConvolutionReference.unfold(
              x, kernel: c.kernel, stride: c.stride, padding: c.padding, dilation: c.dilation)
          }
          return ok
        }
      }
      var all = [Bool]()
      for await ok in group { all.append(ok) }
      return all
    }
    #expect(results.count == 16 && results.allSatisfy { $0 })
  }

  @Test func invalidShapesArePreconditionFailures() async {
    // A window larger than the padded image: empty output.
    await #expect(processExitsWith: .failure) {
      _ = unfold(Tensor<Double>(zeros: [1, 1, 3, 3]), kernelSize: (4, 4))
    }
    // fold: the column count does not match the output size.
    await #expect(processExitsWith: .failure) {
      _ = fold(Tensor<Double>(zeros: [1, 4, 5]), outputSize: (3, 3), kernelSize: (2, 2))
    }
    // fold: rows not a multiple of kh·kw.
    await #expect(processExitsWith: .failure) {
      _ = fold(Tensor<Double>(zeros: [1, 5, 4]), outputSize: (3, 3), kernelSize: (2, 2))
    }
  }
}
