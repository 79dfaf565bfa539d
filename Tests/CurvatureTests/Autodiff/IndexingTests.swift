import Curvature
import CurvatureTestSupport
import Testing

@Suite struct IndexingTests {
  // MARK: Values

  func checkValues<T: BLASScalar & TestTolerance>(_: T.Type) {
    var rng = RandomGenerator(seed: 21)
    let x: NDArray<T> = rng.normalArray(shape: [3, 4])
    let t = Tensor(x)

    // Gather with repeats and padding (-1 gives 0).
    let indices = [11, 0, -1, 5, 5, 7, -3, 2]
    let gathered = t.gathering(flatIndices: indices, shape: [2, 4])
    var expected = [T]()
    for j in indices { expected.append(j >= 0 ? x.scalars[j] : 0) }
    #expect(gathered.value == NDArray(shape: [2, 4], scalars: expected))

    // Scatter-add with repeats (they add up) and negative indices (dropped).
    let v: NDArray<T> = rng.normalArray(shape: [8])
    let scattered = Tensor(v).scatteringAdd(flatIndices: indices, shape: [3, 4])
    var sums = [T](repeating: 0, count: 12)
    for (i, j) in indices.enumerated() where j >= 0 { sums[j] += v.scalars[i] }
    assertClose(scattered.value, NDArray(shape: [3, 4], scalars: sums), rtol: T.testRelativeTolerance)

    // Adjointness: ⟨gather(x), y⟩ = ⟨x, scatter(y)⟩.
    let y: NDArray<T> = rng.normalArray(shape: [2, 4])
    let lhs = gathered.value.dot(y)
    let rhs = x.dot(Tensor(y).scatteringAdd(flatIndices: indices, shape: [3, 4]).value)
    assertClose(lhs, rhs, rtol: T.testRelativeTolerance, atol: T.testAbsoluteTolerance)

    // Selecting classes and its adjoint.
    let labels = [3, 0, 2]
    let picked = t.selecting(classIndices: labels)
    #expect(picked.shape == [3])
    for i in 0..<3 { #expect(picked.value[i] == x[i, labels[i]]) }
    let rows: NDArray<T> = rng.normalArray(shape: [3])
    let spread = Tensor(rows).scatteringClasses(labels, classCount: 4)
    #expect(spread.shape == [3, 4])
    for i in 0..<3 {
      for c in 0..<4 { #expect(spread.value[i, c] == (c == labels[i] ? rows[i] : 0)) }
    }
    // Empty selections.
    #expect(Tensor<T>(zeros: [0, 4]).selecting(classIndices: []).shape == [0])
    #expect(t.gathering(flatIndices: [], shape: [0, 2]).shape == [0, 2])
  }

  @Test func valuesMatchNaiveLoopsFloat() { checkValues(Float.self) }
  @Test func valuesMatchNaiveLoopsDouble() { checkValues(Double.self) }

  // MARK: Derivatives

  @Test func gatheringDerivatives() {
    let x = DerivativeCheck.normal([3, 4], seed: 1)
    let indices = [11, 0, -1, 5, 5, 7, -3, 2, 0, 0]
    DerivativeCheck.check("gathering", at: [x]) { $0[0].gathering(flatIndices: indices, shape: [5, 2]) }
    // Composed with a nonlinearity ahead of it, so the differential sees a live input.
    DerivativeCheck.check("gathering(sigmoid(x)) · x", at: [x]) { p in
      p[0].sigmoid().gathering(flatIndices: indices, shape: [10]) * p[0].gathering(flatIndices: indices.reversed(), shape: [10])
    }
  }

  @Test func scatteringAddDerivatives() {
    let v = DerivativeCheck.normal([2, 4], seed: 2)
    let indices = [11, 0, -1, 5, 5, 7, -3, 2]
    DerivativeCheck.check("scatteringAdd", at: [v]) { $0[0].scatteringAdd(flatIndices: indices, shape: [3, 4]) }
    DerivativeCheck.check("scatteringAdd(v²) + broadcast bias", at: [v, DerivativeCheck.normal([4], seed: 3)]) { p in
      (p[0].squared() + p[1]).scatteringAdd(flatIndices: indices, shape: [12])
    }
  }

  @Test func selectingDerivatives() {
    let x = DerivativeCheck.normal([4, 3], seed: 4)
    DerivativeCheck.check("selecting", at: [x]) { $0[0].selecting(classIndices: [2, 0, 0, 1]) }
    let r = DerivativeCheck.normal([4], seed: 5)
    DerivativeCheck.check("scatteringClasses", at: [r]) { $0[0].scatteringClasses([2, 0, 0, 1], classCount: 3) }
    // The two are adjoint: selecting(scatteringClasses(r)) = r.
    let roundTrip = Tensor(r).scatteringClasses([2, 0, 0, 1], classCount: 3).selecting(classIndices: [2, 0, 0, 1])
    #expect(roundTrip.value == r)
  }

  @Test func crossEntropyDerivatives() {
    // The cross-entropy with its second derivative, against finite differences.
    let x = DerivativeCheck.normal([5, 4], seed: 6)
    let labels = [3, 0, 1, 1, 2]
    DerivativeCheck.check("cross-entropy", at: [x], outer: { $0 }) { p in
      -p[0].logSoftmax().selecting(classIndices: labels).mean()
    }
    // With a linear layer ahead: logits = x Wᵀ + b, differentiated in W and b.
    let w = DerivativeCheck.normal([4, 3], seed: 7), b = DerivativeCheck.normal([4], seed: 8)
    let input = Tensor(DerivativeCheck.normal([5, 3], seed: 9))
    DerivativeCheck.check("cross-entropy of a linear layer", at: [w, b], outer: { $0 }) { p in
      -(matmul(input, p[0], transposeB: true) + p[1]).logSoftmax().selecting(classIndices: labels).mean()
    }
  }

  @Test func im2colConvolutionThroughGather() {
    // A 1-D convolution (cross-correlation, zero padding 1, kernel 3) as gather + matmul,
    // the way convolution uses these ops, against a naive loop and finite differences.
    let (length, k, pad) = (6, 3, 1)
    let signal = DerivativeCheck.normal([length], seed: 10), kernel = DerivativeCheck.normal([k], seed: 11)
    var indices = [Int]()
    for position in 0..<length {
      for tap in 0..<k {
        let source = position + tap - pad
        indices.append(source >= 0 && source < length ? source : -1)
      }
    }
    func convolve(_ p: [Tensor<Double>]) -> Tensor<Double> {
      let columns = p[0].gathering(flatIndices: indices, shape: [length, k])
      return matmul(columns, p[1].reshaped([k, 1])).reshaped([length])
    }
    let value = convolve([Tensor(signal), Tensor(kernel)]).value
    for position in 0..<length {
      var sum = 0.0
      for tap in 0..<k where (0..<length).contains(position + tap - pad) {
        sum += signal[position + tap - pad] * kernel[tap]
      }
      assertClose(value[position], sum, rtol: 1e-14, atol: 1e-15)
    }
    DerivativeCheck.check("im2col convolution", at: [signal, kernel], convolve)
  }

  @Test func gradientOfConstantInputIsNotRequested() {
    // Only the input that requires gradients gets one; constants pass through untouched.
    let x = Tensor<Double>(DerivativeCheck.normal([3, 4], seed: 12))
    let c = Tensor<Double>(DerivativeCheck.normal([3, 4], seed: 13))
    let g = gradient(at: x) { x in (x.gathering(flatIndices: [0, 3, 3], shape: [3]) * c.gathering(flatIndices: [1, 2, 3], shape: [3])).sum() }
    var expected = NDArray<Double>(zeros: [3, 4])
    expected[0, 0] = c.value[0, 1]
    expected[0, 3] = c.value[0, 2] + c.value[0, 3]
    assertClose(g.value, expected, rtol: 1e-15)
  }

  // MARK: Preconditions

  @Test func outOfRangeIndicesStop() async {
    await #expect(processExitsWith: .failure) {
      _ = Tensor<Double>(zeros: [2, 3]).selecting(classIndices: [0, 3])
    }
    await #expect(processExitsWith: .failure) {
      _ = Tensor<Double>(zeros: [2, 3]).gathering(flatIndices: [6], shape: [1])
    }
    await #expect(processExitsWith: .failure) {
      _ = Tensor<Double>(zeros: [2]).scatteringAdd(flatIndices: [0, 4], shape: [2, 2])
    }
  }
}
