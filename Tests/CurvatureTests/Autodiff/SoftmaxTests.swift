import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// Naive references for the softmax family: explicit loops over multi-indices.
private enum SoftmaxReference {
  /// The multi-indices of the slice through `index` along `axes` (all combinations).
  static func slice(_ index: [Int], axes: [Int], shape: [Int]) -> [[Int]] {
    var result = [index]
    for axis in axes {
      result = result.flatMap { base in
        (0..<shape[axis]).map { k in
          var j = base
          j[axis] = k
          return j
        }
      }
    }
    return result
  }

  /// `log Σ exp` over `axes` by loops, shift by the slice maximum, keeping dimensions.
  static func logSumExp<T: BLASScalar>(_ x: NDArray<T>, axes: [Int]) -> NDArray<T> {
    let kept = x.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
    return NDArray(shape: kept) { index in
      let entries = slice(index, axes: axes, shape: x.shape).map { x.scalars[x.offset(of: $0)] }
      let m = entries.max()!
      var sum: T = 0
      for e in entries { sum += T.exp(e - m) }
      return m + T.log(sum)
    }
  }

  /// `log softmax` along `axis` by loops: `(x − m) − log Σ exp(x − m)`.
  static func logSoftmax<T: BLASScalar>(_ x: NDArray<T>, axis: Int) -> NDArray<T> {
    NDArray(shape: x.shape) { index in
      let entries = slice(index, axes: [axis], shape: x.shape).map { x.scalars[x.offset(of: $0)] }
      let m = entries.max()!
      var sum: T = 0
      for e in entries { sum += T.exp(e - m) }
      return (x.scalars[x.offset(of: index)] - m) - T.log(sum)
    }
  }

  /// `softmax` along `axis` by loops: `exp(x − m) / Σ exp(x − m)`.
  static func softmax<T: BLASScalar>(_ x: NDArray<T>, axis: Int) -> NDArray<T> {
    NDArray(shape: x.shape) { index in
      let entries = slice(index, axes: [axis], shape: x.shape).map { x.scalars[x.offset(of: $0)] }
      let m = entries.max()!
      var sum: T = 0
      for e in entries { sum += T.exp(e - m) }
      return T.exp(x.scalars[x.offset(of: index)] - m) / sum
    }
  }
}

@Suite struct SoftmaxTests {
  // MARK: Values

  func checkValues<T: BLASScalar & TestTolerance>(_: T.Type) {
    var rng = RandomGenerator(seed: 11)
    let x: NDArray<T> = rng.normalArray(shape: [2, 3, 4])
    let rtol = T.testRelativeTolerance, atol = T.testAbsoluteTolerance
    let t = Tensor(x)
    for axis in [0, 1, 2, -1, -3] {
      let a = axis < 0 ? axis + 3 : axis
      assertClose(t.softmax(alongAxis: axis).value, SoftmaxReference.softmax(x, axis: a), rtol: rtol, atol: atol, "softmax axis \(axis)")
      assertClose(
        t.logSoftmax(alongAxis: axis).value, SoftmaxReference.logSoftmax(x, axis: a), rtol: rtol, atol: atol,
        "logSoftmax axis \(axis)")
      // Each slice sums to 1.
      let sums = t.softmax(alongAxis: axis).sum(alongAxis: axis).value
      assertClose(sums, NDArray(repeating: 1, shape: sums.shape), rtol: rtol, "softmax sums along axis \(axis)")
      #expect(t.softmax(alongAxis: axis).value.scalars.allSatisfy { $0 >= 0 })
    }
    for axes in [[0], [1], [2], [0, 2], [-1, 0], [0, 1, 2], [1, 2]] {
      let normalized = axes.map { $0 < 0 ? $0 + 3 : $0 }
      let expected = SoftmaxReference.logSumExp(x, axes: normalized)
      assertClose(
        t.logSumExp(alongAxes: axes, keepingDimensions: true).value, expected, rtol: rtol, atol: atol,
        "logSumExp axes \(axes) keeping dimensions")
      let dropped = x.shape.enumerated().filter { !normalized.contains($0.offset) }.map(\.element)
      assertClose(
        t.logSumExp(alongAxes: axes).value, expected.reshaped(dropped), rtol: rtol, atol: atol, "logSumExp axes \(axes)")
    }
    // logSumExp over no axes is the identity; the default softmax axis is the last.
    assertClose(t.logSumExp(alongAxes: []).value, x, rtol: rtol, atol: atol)
    assertClose(t.softmax().value, t.softmax(alongAxis: 2).value, rtol: 0)
    assertClose(t.logSumExp(alongAxis: 1).value, t.logSumExp(alongAxes: [1]).value, rtol: 0)
  }

  @Test func valuesMatchNaiveLoopsFloat() { checkValues(Float.self) }
  @Test func valuesMatchNaiveLoopsDouble() { checkValues(Double.self) }

  func checkLargeInputs<T: BLASScalar & TestTolerance>(_: T.Type) {
    let rtol = T.testRelativeTolerance
    let x = Tensor<T>(NDArray(rows: [[1000, 0, -1000], [1000, 1000, 999], [-1000, -1001, -1002]]))
    let logP = x.logSoftmax()
    #expect(logP.value.isFinite)
    let ln2: T = T.log(2), l3 = T.log(2 + T.exp(-1)), l4 = T.log(1 + T.exp(-1) + T.exp(-2))
    let expected = NDArray<T>(rows: [[0, -1000, -2000], [-l3, -l3, -1 - l3], [-l4, -1 - l4, -2 - l4]])
    assertClose(logP.value, expected, rtol: rtol, atol: T.testAbsoluteTolerance)
    let p = x.softmax()
    #expect(p.value.isFinite)
    assertClose(p.value, expected.map(.exp), rtol: rtol, atol: T.testAbsoluteTolerance)
    let lse = x.logSumExp(alongAxes: [1])
    assertClose(lse.value, NDArray([1000, 1000 + l3, -1000 + l4]), rtol: rtol)
    assertClose(Tensor<T>(NDArray([1000, 1000])).logSumExp(alongAxes: [0]).scalar, 1000 + ln2, rtol: rtol)
    // Gradients at large inputs stay finite too (softmax rows).
    let g = gradient(at: x) { $0.logSumExp(alongAxes: [1]).sum() }
    assertClose(g.value, p.value, rtol: rtol, atol: T.testAbsoluteTolerance)
  }

  @Test func largeInputsStayFiniteFloat() { checkLargeInputs(Float.self) }
  @Test func largeInputsStayFiniteDouble() { checkLargeInputs(Double.self) }

  @Test func infiniteEntriesFollowPyTorch() {
    let inf = Double.infinity
    // A slice of -∞ has logsumexp -∞; one containing +∞ has +∞ (the shift is replaced by 0).
    let x = Tensor<Double>(NDArray(rows: [[-inf, -inf], [inf, 0], [-inf, 2]]))
    let lse = x.logSumExp(alongAxes: [1]).value.scalars
    #expect(lse[0] == -inf)
    #expect(lse[1] == inf)
    #expect(lse[2] == 2)
    // A masked (-∞) logit gets probability 0 and log-probability -∞, the others are exact.
    let p = x.softmax().value
    #expect(p[2, 0] == 0 && p[2, 1] == 1)
    let logP = x.logSoftmax().value
    #expect(logP[2, 0] == -inf && logP[2, 1] == 0)
    // Its gradient is finite: ∂/∂x of logSoftmax(x)[2, 1] is e_1 − p = [0, 0].
    let masked = Tensor<Double>(NDArray([-inf, 2, 1]))
    let g = gradient(at: masked) { $0.reshaped([1, 3]).logSoftmax().selecting(classIndices: [1]).sum() }
    #expect(g.value.isFinite)
    let q = Tensor<Double>(NDArray([2, 1])).softmax().value
    assertClose(g.value, NDArray([0, 1 - q[0], -q[1]]), rtol: 1e-14)
  }

  @Test func rankZeroAndEmpty() {
    let s = Tensor<Double>(scalar: 3)
    #expect(s.softmax().shape == [] && s.softmax().scalar == 1)
    #expect(s.logSoftmax(alongAxis: 0).scalar == 0)
    #expect(s.logSumExp(alongAxes: [-1]).scalar == 3)
    let empty = Tensor<Double>(zeros: [2, 0])
    #expect(empty.softmax().shape == [2, 0])
    #expect(empty.logSumExp(alongAxes: [1]).value.scalars == [-.infinity, -.infinity])
  }

  // MARK: Derivatives

  @Test func softmaxDerivatives() {
    let x = DerivativeCheck.normal([3, 4, 5], seed: 1)
    for axis in [0, 1, 2, -1] {
      DerivativeCheck.check("softmax axis \(axis)", at: [x]) { $0[0].softmax(alongAxis: axis) }
    }
  }

  @Test func logSoftmaxDerivatives() {
    let x = DerivativeCheck.normal([3, 4, 5], seed: 2)
    for axis in [0, 1, -1] {
      DerivativeCheck.check("logSoftmax axis \(axis)", at: [x]) { $0[0].logSoftmax(alongAxis: axis) }
    }
  }

  /// Softmax and log-softmax are primitives (a kernel value, one product rule each):
  /// their values have the bits of the operations that spell them out (the code they
  /// replaced), and gradients and Hessian-vector products agree with those of the
  /// spelled-out forms, along every axis, in Float and Double.
  @Test func primitivesMatchTheirSpelledOutForms() {
    func check<T: BLASScalar & TestTolerance>(_: T.Type) {
      let x = Tensor<T>(DerivativeCheck.normal([3, 4, 5], seed: 10).converted())
      let w = Tensor<T>(DerivativeCheck.normal([3, 4, 5], seed: 11).converted())
      let v = Tensor<T>(DerivativeCheck.normal([3, 4, 5], seed: 12).converted())
      for axis in [0, 1, 2] {
        let forms: [(String, (Tensor<T>) -> Tensor<T>, (Tensor<T>) -> Tensor<T>)] = [
          ("softmax", { $0.softmax(alongAxis: axis) }, { x in
            let e = (x - x.maxValue(alongAxes: [axis], keepingDimensions: true)).exp()
            return e / e.sum(alongAxes: [axis], keepingDimensions: true)
          }),
          ("logSoftmax", { $0.logSoftmax(alongAxis: axis) }, { x in
            let shifted = x - x.maxValue(alongAxes: [axis], keepingDimensions: true)
            return shifted - shifted.exp().sum(alongAxes: [axis], keepingDimensions: true).log()
          }),
        ]
        for (name, primitive, spelled) in forms {
          SpelledOutForm.expectMatch("\(name) axis \(axis) \(T.self)", at: x, weights: w, along: v,
                                     primitive: primitive, spelled: spelled)
        }
      }
    }
    check(Float.self)
    check(Double.self)
  }

  @Test func logSumExpDerivatives() {
    let x = DerivativeCheck.normal([3, 4, 5], seed: 3)
    for (axes, keep) in [([1], false), ([0, 2], true), ([0, 2], false), ([-1], true), ([0, 1, 2], false)] {
      DerivativeCheck.check("logSumExp axes \(axes) keep \(keep)", at: [x]) {
        $0[0].logSumExp(alongAxes: axes, keepingDimensions: keep)
      }
    }
    // Shifted entries: the (constant) shift changes, the derivatives do not. The offset is
    // moderate so that finite differences of the value keep their accuracy.
    let shifted = NDArray<Double>(shape: [2, 3], scalars: x.scalars.prefix(6).map { 30 + $0 })
    DerivativeCheck.check("logSumExp shifted entries", at: [shifted], outer: { $0.sigmoid() }) {
      $0[0].logSumExp(alongAxes: [1]) - 30
    }
  }

  @Test func broadcastingAndComposition() {
    // softmax(x + b) with a bias broadcast over rows, differentiated in both operands.
    let x = DerivativeCheck.normal([4, 3], seed: 4), b = DerivativeCheck.normal([3], seed: 5)
    DerivativeCheck.check("softmax(x + b)", at: [x, b]) { ($0[0] + $0[1]).softmax() }
    // A column bias broadcast along axis 1, normalized along axis 0.
    let c = DerivativeCheck.normal([4, 1], seed: 6)
    DerivativeCheck.check("logSoftmax(x · c) along axis 0", at: [x, c]) { ($0[0] * $0[1]).logSoftmax(alongAxis: 0) }
    // Attention-like: softmax of a product, then a weighted sum.
    let q = DerivativeCheck.normal([2, 3], seed: 7), k = DerivativeCheck.normal([4, 3], seed: 8)
    DerivativeCheck.check("softmax(q kᵀ) k", at: [q, k]) { p in
      matmul(matmul(p[0], p[1], transposeB: true).softmax(), p[1])
    }
  }

  @Test func crossEntropyHessianVectorProduct() {
    // L(x) = −mean_i logSoftmax(x)[i, yᵢ]; ∇L = (softmax(x) − onehot(y)) / N and
    // ∇²L v = (p ⊙ v − p ⟨p, v⟩_row) / N.
    let (n, c) = (4, 5)
    let labels = [2, 0, 4, 2]
    let x0 = DerivativeCheck.normal([n, c], seed: 9)
    let x = Tensor(x0)
    func loss(_ x: Tensor<Double>) -> Tensor<Double> { -x.logSoftmax().selecting(classIndices: labels).mean() }
    var rng = RandomGenerator(seed: 10)
    let v = Tensor<Double>(rng.normalArray(shape: [n, c]))

    let p = SoftmaxReference.softmax(x0, axis: 1)
    var oneHot = NDArray<Double>(zeros: [n, c])
    for (i, y) in labels.enumerated() { oneHot[i, y] = 1 }
    let (value, g) = valueAndGradient(at: x, of: loss)
    let logP = SoftmaxReference.logSoftmax(x0, axis: 1)
    assertClose(value.scalar, -labels.enumerated().map { logP[$0.offset, $0.element] }.reduce(0, +) / Double(n), rtol: 1e-14)
    assertClose(g.value, (1 / Double(n)) * (p - oneHot), rtol: 1e-12, atol: 1e-15)

    let hv = hessianVectorProduct(at: [x], along: [v]) { loss($0[0]) }[0]
    let pv = NDArray.binary(.multiply, p, v.value)
    let rowDots = pv.reduced(.sum, axes: [1], keepingDimensions: true)
    let expected = (1 / Double(n)) * (pv - NDArray.binary(.multiply, p, rowDots))
    assertClose(hv.value, expected, rtol: 1e-12, atol: 1e-15, "HVP vs closed form")
    let fd = FiniteDifferences.hessian(ofGradient: { q in
      gradient(at: Tensor(NDArray(shape: [n, c], scalars: q)), of: loss).value.scalars
    }, at: x0.scalars)
    assertClose(hv.value.flattened(), matvec(fd, v.value.flattened()), rtol: 1e-6, atol: 1e-9, "HVP vs finite differences")
    let nested = gradient(at: x) { x in (gradient(at: x, of: loss) * v).sum() }
    assertClose(nested.value, hv.value, rtol: 1e-12, atol: 1e-15, "gradient of gradient vs HVP")
  }
}
