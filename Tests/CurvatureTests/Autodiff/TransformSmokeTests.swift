import Curvature
import CurvatureTestSupport
import Testing

@Suite struct TransformSmokeTests {
  @Test func gradientOfSquaredNorm() {
    let x = Tensor<Double>(NDArray([1, 2, 3]))
    let (value, g) = valueAndGradient(at: x) { ($0 * $0).sum() }
    #expect(value.scalar == 14)
    assertClose(g.value, NDArray([2, 4, 6]), rtol: 1e-14)
  }

  @Test func hessianVectorProductOfCubic() {
    let x = Tensor<Double>(NDArray([1, 2, 3]))
    let v = Tensor<Double>(NDArray([1, 1, 0]))
    let hv = hessianVectorProduct(at: [x], along: [v]) { xs in (xs[0] * xs[0] * xs[0]).sum() }
    assertClose(hv[0].value, NDArray([6, 12, 0]), rtol: 1e-14)
  }

  @Test func gradientOfGradient() {
    // f(x) = Σ x³ tanh(x); g = ∇f; h(x) = Σ g(x)·w; ∇h = H w.
    let x = Tensor<Double>(NDArray([0.3, -0.7, 1.1]))
    let w = Tensor<Double>(NDArray([0.5, -1, 2]))
    func f(_ x: Tensor<Double>) -> Tensor<Double> { (x * x * x * x.tanh()).sum() }
    let outer = gradient(at: x) { x in (gradient(at: x, of: f) * w).sum() }
    let hv = hessianVectorProduct(at: [x], along: [w]) { f($0[0]) }
    assertClose(outer.value, hv[0].value, rtol: 1e-12)
    let fd = FiniteDifferences.hessian(ofGradient: { p in
      gradient(at: Tensor(NDArray(p)), of: f).value.scalars
    }, at: x.value.scalars)
    assertClose(hv[0].value, matvec(fd, w.value), rtol: 1e-7, atol: 1e-9)
  }

  @Test func mlpHessianVectorProduct() {
    var rng = RandomGenerator(seed: 3)
    let x = Tensor<Double>(rng.normalArray(shape: [5, 4]))
    let w1: NDArray<Double> = rng.normalArray(shape: [3, 4]), w2: NDArray<Double> = rng.normalArray(shape: [2, 3])
    let b1: NDArray<Double> = rng.normalArray(shape: [3])
    func loss(_ p: [Tensor<Double>]) -> Tensor<Double> {
      let h = (matmul(x, p[0], transposeB: true) + p[1]).tanh()
      return matmul(h, p[2], transposeB: true).sigmoid().squared().mean()
    }
    let params = [Tensor(w1), Tensor(b1), Tensor(w2)]
    let v = params.map { Tensor<Double>(rng.normalArray(shape: $0.shape)) }
    let hv = hessianVectorProduct(at: params, along: v, of: loss)
    let flat = params.flatMap { $0.value.scalars }
    func unflatten(_ p: [Double]) -> [Tensor<Double>] {
      var offset = 0
      return params.map { t in
        defer { offset += t.count }
        return Tensor(NDArray(shape: t.shape, scalars: Array(p[offset..<(offset + t.count)])))
      }
    }
    let h = FiniteDifferences.hessian(ofGradient: { p in
      gradient(at: unflatten(p), of: loss).flatMap { $0.value.scalars }
    }, at: flat)
    let expected = matvec(h, NDArray(v.flatMap { $0.value.scalars }))
    assertClose(NDArray(hv.flatMap { $0.value.scalars }), expected, rtol: 1e-6, atol: 1e-9)
    let (value, tangent) = jvp(at: params, tangents: v, of: loss)
    let g = gradient(at: params, of: loss)
    assertClose(tangent.scalar, zip(g, v).map { $0.value.dot($1.value) }.reduce(0, +), rtol: 1e-12)
    assertClose(value.scalar, loss(params).scalar, rtol: 1e-15)
  }
}
