import Curvature
import CurvatureTestSupport
import Dispatch
import Synchronization
import Testing

private typealias Ref = NumericsReference

/// Real and complex FFT plans against a naive O(n²) DFT, round trips, batches, and
/// concurrent execution of one plan.
///
/// The test target does not depend on swift-numerics, so `Complex<T>` is never named:
/// values are read through `.real`/`.imaginary` and built with `Ref.makeComplex`.
/// Tolerances are absolute, relative to ‖x‖₂ of each transformed array (the FFT's error
/// bound is O(ε log n ‖x‖)).
@Suite struct FFTTests {
  @Test func realForwardFloat() { checkRealForward(Float.self) }
  @Test func realForwardDouble() { checkRealForward(Double.self) }
  @Test func realRoundTripFloat() { checkRealRoundTrip(Float.self) }
  @Test func realRoundTripDouble() { checkRealRoundTrip(Double.self) }
  @Test func complexForwardBackwardFloat() { checkComplex(Float.self) }
  @Test func complexForwardBackwardDouble() { checkComplex(Double.self) }
  @Test func concurrentExecutionFloat() { checkConcurrent(Float.self) }
  @Test func concurrentExecutionDouble() { checkConcurrent(Double.self) }
  @Test func handCheckedSpectrumFloat() { checkHandChecked(Float.self) }
  @Test func handCheckedSpectrumDouble() { checkHandChecked(Double.self) }
}

/// Shapes of one transform and batch counts: 1-D sizes 1, 2, 7 (odd prime), 8, and 2-D
/// shapes with even and odd last axes.
private let fftCases: [([Int], Int)] = [
  ([1], 1), ([2], 1), ([7], 1), ([8], 1), ([4, 6], 1), ([5, 3], 1), ([7], 3), ([4, 6], 2), ([5, 3], 3), ([2, 3, 4], 2),
]

/// Real and imaginary parts of complex values obtained from the Curvature API.
private func parts<C, T>(_ values: [C], _ real: (C) -> T, _ imaginary: (C) -> T) -> (re: [T], im: [T]) {
  (values.map(real), values.map(imaginary))
}

/// Interleaved `(re, im)` pairs of complex values.
private func interleave<C, T>(_ values: [C], _ real: (C) -> T, _ imaginary: (C) -> T) -> [T] {
  values.flatMap { [real($0), imaginary($0)] }
}

private func checkRealForward<T: BLASScalar & TestTolerance>(_: T.Type) {
  for (caseIndex, (shape, count)) in fftCases.enumerated() {
    let plan = RealFFTPlan<T>(shape: shape, count: count)
    let n = shape.reduce(1, *)
    let half = shape.dropLast().reduce(1, *) * (shape.last! / 2 + 1)
    #expect(plan.realCount == n * count && plan.spectrumCount == half * count)
    let x: [T] = Ref.randomScalars(n * count, seed: UInt64(500 + caseIndex))
    let spectrum = plan.forward(x)
    #expect(spectrum.count == half * count)
    let (re, im) = parts(spectrum, { $0.real }, { $0.imaginary })
    for batch in 0..<count {
      let slice = x[(batch * n)..<((batch + 1) * n)].map(Double.init)
      let full = Ref.dft(re: slice, im: [Double](repeating: 0, count: n), shape: shape, sign: -1)
      // The half spectrum: all indices of the leading axes, 0...n_last/2 of the last.
      let halfShape = Array(shape.dropLast()) + [shape.last! / 2 + 1]
      var expectedRe = [T](), expectedIm = [T]()
      for h in 0..<half {
        let index = Ref.multiIndex(h, halfShape)
        let flat = index.enumerated().reduce(0) { $0 * shape[$1.offset] + $1.element }
        expectedRe.append(T(full.re[flat]))
        expectedIm.append(T(full.im[flat]))
      }
      let atol = T.testRelativeTolerance * T(slice.reduce(0) { $0 + $1 * $1 }.squareRoot())
      let range = (batch * half)..<((batch + 1) * half)
      let label = "rfft shape \(shape) count \(count) batch \(batch)"
      Ref.assertCloseScalars(Array(re[range]), expectedRe, rtol: T.testRelativeTolerance, atol: atol, label + " real")
      Ref.assertCloseScalars(Array(im[range]), expectedIm, rtol: T.testRelativeTolerance, atol: atol, label + " imaginary")
    }
  }
}

private func checkRealRoundTrip<T: BLASScalar & TestTolerance>(_: T.Type) {
  for (caseIndex, (shape, count)) in fftCases.enumerated() {
    let plan = RealFFTPlan<T>(shape: shape, count: count)
    let n = shape.reduce(1, *)
    let x: [T] = Ref.randomScalars(n * count, seed: UInt64(600 + caseIndex))
    let spectrum = plan.forward(x)
    let before = parts(spectrum, { $0.real }, { $0.imaginary })
    let back = plan.inverse(spectrum)
    // Unnormalized: the round trip multiplies by the size of one transform.
    let expected = x.map { T(n) * $0 }
    let atol = T.testRelativeTolerance * T(n) * T(Ref.norm(NDArray(x)))
    Ref.assertCloseScalars(back, expected, rtol: T.testRelativeTolerance, atol: atol, "irfft(rfft(x)) = n x, shape \(shape) count \(count)")
    // The inverse leaves its input intact.
    let after = parts(spectrum, { $0.real }, { $0.imaginary })
    #expect(before.re == after.re && before.im == after.im, "inverse modified its input")
  }
}

private func checkComplex<T: BLASScalar & TestTolerance>(_: T.Type) {
  for (caseIndex, (shape, count)) in fftCases.enumerated() {
    let plan = ComplexFFTPlan<T>(shape: shape, count: count)
    let complexType = Ref.elementType(of: plan.forward)
    let n = shape.reduce(1, *)
    #expect(plan.elementCount == n * count)
    let re: [T] = Ref.randomScalars(n * count, seed: UInt64(700 + caseIndex))
    let im: [T] = Ref.randomScalars(n * count, seed: UInt64(800 + caseIndex))
    let input = Ref.makeComplex(re, im, as: complexType)
    let forward = parts(plan.forward(input), { $0.real }, { $0.imaginary })
    let backward = parts(plan.backward(input), { $0.real }, { $0.imaginary })
    for batch in 0..<count {
      let range = (batch * n)..<((batch + 1) * n)
      let xr = re[range].map(Double.init), xi = im[range].map(Double.init)
      let atol = T.testRelativeTolerance * T(zip(xr, xi).reduce(0) { $0 + $1.0 * $1.0 + $1.1 * $1.1 }.squareRoot())
      for (sign, result, name) in [(-1.0, forward, "forward"), (1.0, backward, "backward")] {
        let expected = Ref.dft(re: xr, im: xi, shape: shape, sign: sign)
        let label = "complex \(name) shape \(shape) count \(count) batch \(batch)"
        Ref.assertCloseScalars(Array(result.re[range]), expected.re.map { T($0) }, rtol: T.testRelativeTolerance, atol: atol, label + " real")
        Ref.assertCloseScalars(Array(result.im[range]), expected.im.map { T($0) }, rtol: T.testRelativeTolerance, atol: atol, label + " imaginary")
      }
    }
    // backward(forward(x)) = n x.
    let roundTrip = parts(plan.backward(plan.forward(input)), { $0.real }, { $0.imaginary })
    let atol = T.testRelativeTolerance * T(n) * T(Ref.norm(NDArray(re)) + Ref.norm(NDArray(im)))
    Ref.assertCloseScalars(roundTrip.re, re.map { T(n) * $0 }, rtol: T.testRelativeTolerance, atol: atol, "round trip real \(shape)")
    Ref.assertCloseScalars(roundTrip.im, im.map { T(n) * $0 }, rtol: T.testRelativeTolerance, atol: atol, "round trip imaginary \(shape)")
  }
}

private func checkHandChecked<T: BLASScalar & TestTolerance>(_: T.Type) {
  // rfft(1, 2, 3, 4) = (10, -2 + 2i, -2); a delta at index 1 of length 4 gives e^{-iπk/2}.
  let plan = RealFFTPlan<T>(shape: [4])
  let spectrum = parts(plan.forward([1, 2, 3, 4]), { $0.real }, { $0.imaginary })
  #expect(spectrum.re == [10, -2, -2] && spectrum.im == [0, 2, 0])
  let complexPlan = ComplexFFTPlan<T>(shape: [4])
  let delta = Ref.makeComplex([0, 1, 0, 0], [0, 0, 0, 0] as [T], as: Ref.elementType(of: complexPlan.forward))
  let forward = parts(complexPlan.forward(delta), { $0.real }, { $0.imaginary })
  Ref.assertCloseScalars(forward.re, [1, 0, -1, 0], rtol: 0, atol: T.testAbsoluteTolerance, "delta forward real")
  Ref.assertCloseScalars(forward.im, [0, -1, 0, 1], rtol: 0, atol: T.testAbsoluteTolerance, "delta forward imaginary")
  let backward = parts(complexPlan.backward(delta), { $0.real }, { $0.imaginary })
  Ref.assertCloseScalars(backward.im, [0, 1, 0, -1], rtol: 0, atol: T.testAbsoluteTolerance, "delta backward imaginary")
}

private func checkConcurrent<T: BLASScalar & TestTolerance>(_: T.Type) {
  let realPlan = RealFFTPlan<T>(shape: [4, 6], count: 3)
  let complexPlan = ComplexFFTPlan<T>(shape: [16], count: 2)
  let complexType = Ref.elementType(of: complexPlan.forward)
  let inputCount = 8
  let realInputs: [[T]] = (0..<inputCount).map { Ref.randomScalars(realPlan.realCount, seed: UInt64(900 + $0)) }
  let complexInputs = (0..<inputCount).map { i in
    Ref.makeComplex(
      Ref.randomScalars(complexPlan.elementCount, seed: UInt64(950 + i), T.self),
      Ref.randomScalars(complexPlan.elementCount, seed: UInt64(990 + i), T.self), as: complexType)
  }
  // Interleaved (re, im) of every result, computed serially first.
  let serialReal = realInputs.map { interleave(realPlan.forward($0), { $0.real }, { $0.imaginary }) }
  let serialInverse = realInputs.map { realPlan.inverse(realPlan.forward($0)) }
  let serialComplex = complexInputs.map { interleave(complexPlan.forward($0), { $0.real }, { $0.imaginary }) }

  let iterations = 48
  let results = Mutex<[Int: ([T], [T], [T])]>([:])
  DispatchQueue.concurrentPerform(iterations: iterations) { i in
    let k = i % inputCount
    let spectrum = realPlan.forward(realInputs[k])
    let real = interleave(spectrum, { $0.real }, { $0.imaginary })
    let inverse = realPlan.inverse(spectrum)
    let complex = interleave(complexPlan.forward(complexInputs[k]), { $0.real }, { $0.imaginary })
    results.withLock { $0[i] = (real, inverse, complex) }
  }
  let collected = results.withLock { $0 }
  #expect(collected.count == iterations)
  for i in 0..<iterations {
    let k = i % inputCount
    guard let (real, inverse, complex) = collected[i] else { continue }
    // Same plan, same input: bit-identical results whatever the thread.
    #expect(real == serialReal[k], "real forward differs in iteration \(i)")
    #expect(inverse == serialInverse[k], "real inverse differs in iteration \(i)")
    #expect(complex == serialComplex[k], "complex forward differs in iteration \(i)")
  }
}
