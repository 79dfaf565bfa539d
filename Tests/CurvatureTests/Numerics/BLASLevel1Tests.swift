import Curvature
import CurvatureTestSupport
import Testing

private typealias Ref = NumericsReference

/// BLAS level 1 (`axpy`, `dot`, `nrm2`, `scal`) against naive loops, with unit, non-unit
/// and negative strides. Elements a stride skips must stay untouched.
@Suite struct BLASLevel1Tests {
  @Test func axpyFloat() { checkAxpy(Float.self) }
  @Test func axpyDouble() { checkAxpy(Double.self) }
  @Test func dotFloat() { checkDot(Float.self) }
  @Test func dotDouble() { checkDot(Double.self) }
  @Test func nrm2Float() { checkNrm2(Float.self) }
  @Test func nrm2Double() { checkNrm2(Double.self) }
  @Test func nrm2AvoidsOverflowAndUnderflowFloat() { checkNrm2Scaling(Float.self) }
  @Test func nrm2AvoidsOverflowAndUnderflowDouble() { checkNrm2Scaling(Double.self) }
  @Test func scalFloat() { checkScal(Float.self) }
  @Test func scalDouble() { checkScal(Double.self) }
}

/// (count, strideX, strideY) combinations, including empty, single, stride 2 and negative.
private let strideCases: [(Int, Int, Int)] = [
  (0, 1, 1), (1, 1, 1), (7, 1, 1), (5, 2, 1), (6, 1, 2), (4, 2, 2), (5, 3, 2), (4, -1, 1), (5, 2, -3),
]

private func checkAxpy<T: BLASScalar & TestTolerance>(_: T.Type) {
  for (caseIndex, (count, strideX, strideY)) in strideCases.enumerated() {
    let seed = UInt64(10 * caseIndex)
    // One spare element at the end of each buffer must stay untouched as well.
    let x: [T] = Ref.randomScalars(Ref.span(count: count, stride: strideX) + 1, seed: seed)
    let y0: [T] = Ref.randomScalars(Ref.span(count: count, stride: strideY) + 1, seed: seed + 1)
    let alpha: T = -1.75
    var y = y0
    x.withUnsafeBufferPointer { px in
      y.withUnsafeMutableBufferPointer { py in
        T.axpy(count: count, alpha: alpha, x: px, strideX: strideX, y: py, strideY: strideY)
      }
    }
    var expected = y0
    for i in 0..<count {
      let xi = Double(x[Ref.stridedIndex(i, count: count, stride: strideX)])
      let iy = Ref.stridedIndex(i, count: count, stride: strideY)
      expected[iy] = T(Double(alpha) * xi + Double(y0[iy]))
    }
    Ref.assertCloseScalars(
      y, expected, rtol: T.testRelativeTolerance, atol: T.testAbsoluteTolerance,
      "axpy count \(count) strides \(strideX), \(strideY)")
  }
}

private func checkDot<T: BLASScalar & TestTolerance>(_: T.Type) {
  for (caseIndex, (count, strideX, strideY)) in strideCases.enumerated() {
    let seed = UInt64(100 + 10 * caseIndex)
    let x: [T] = Ref.randomScalars(Ref.span(count: count, stride: strideX), seed: seed)
    let y: [T] = Ref.randomScalars(Ref.span(count: count, stride: strideY), seed: seed + 1)
    let result = x.withUnsafeBufferPointer { px in
      y.withUnsafeBufferPointer { py in T.dot(count: count, x: px, strideX: strideX, y: py, strideY: strideY) }
    }
    var expected = 0.0, scale = 0.0
    for i in 0..<count {
      let term = Double(x[Ref.stridedIndex(i, count: count, stride: strideX)])
        * Double(y[Ref.stridedIndex(i, count: count, stride: strideY)])
      expected += term
      scale += abs(term)
    }
    // Cancellation: the error is relative to Σ|x_i y_i|, not to the (possibly small) sum.
    assertClose(
      result, T(expected), rtol: T.testRelativeTolerance, atol: T.testRelativeTolerance * T(scale),
      "dot count \(count) strides \(strideX), \(strideY)")
  }
  // A hand-checked value: 1·4 + 2·5 + 3·6 = 32, reading x with stride 2.
  let x: [T] = [1, 99, 2, 99, 3], y: [T] = [4, 5, 6]
  let value = x.withUnsafeBufferPointer { px in
    y.withUnsafeBufferPointer { py in T.dot(count: 3, x: px, strideX: 2, y: py, strideY: 1) }
  }
  #expect(value == 32)
}

private func checkNrm2<T: BLASScalar & TestTolerance>(_: T.Type) {
  for (caseIndex, (count, stride, _)) in strideCases.enumerated() where stride > 0 {
    let x: [T] = Ref.randomScalars(Ref.span(count: count, stride: stride), seed: UInt64(200 + caseIndex))
    let result = x.withUnsafeBufferPointer { T.nrm2(count: count, x: $0, stride: stride) }
    var sumOfSquares = 0.0
    for i in 0..<count { sumOfSquares += Double(x[i * stride]) * Double(x[i * stride]) }
    assertClose(
      result, T(sumOfSquares.squareRoot()), rtol: T.testRelativeTolerance,
      atol: T.testAbsoluteTolerance, "nrm2 count \(count) stride \(stride)")
  }
  // 3-4-5 with the skipped elements huge: they must not be read.
  let x: [T] = [3, 1000, 4]
  #expect(x.withUnsafeBufferPointer { T.nrm2(count: 2, x: $0, stride: 2) } == 5)
}

private func checkNrm2Scaling<T: BLASScalar & TestTolerance>(_: T.Type) {
  // Squares of `huge` overflow and squares of `tiny` underflow; ‖(3s, 4s)‖ is still 5s.
  let huge = T.greatestFiniteMagnitude.squareRoot() * 4
  let tiny = T.leastNormalMagnitude.squareRoot() / T(sign: .plus, exponent: 40, significand: 1)
  for s in [huge, tiny] {
    let x: [T] = [3 * s, -4 * s]
    let result = x.withUnsafeBufferPointer { T.nrm2(count: 2, x: $0, stride: 1) }
    assertClose(result, 5 * s, rtol: T.testRelativeTolerance, "nrm2 of (3, -4) × \(s)")
  }
}

private func checkScal<T: BLASScalar & TestTolerance>(_: T.Type) {
  for (caseIndex, (count, stride, _)) in strideCases.enumerated() where stride > 0 {
    let x0: [T] = Ref.randomScalars(Ref.span(count: count, stride: stride) + 1, seed: UInt64(300 + caseIndex))
    let alpha: T = -2.5
    var x = x0
    x.withUnsafeMutableBufferPointer { T.scal(count: count, alpha: alpha, x: $0, stride: stride) }
    var expected = x0
    for i in 0..<count { expected[i * stride] = T(Double(alpha) * Double(x0[i * stride])) }
    Ref.assertCloseScalars(
      x, expected, rtol: T.testRelativeTolerance, atol: 0, "scal count \(count) stride \(stride)")
  }
  // Stride 2 on a hand-checked buffer: only the even positions double.
  var x: [T] = [1, 2, 3, 4, 5]
  x.withUnsafeMutableBufferPointer { T.scal(count: 3, alpha: 2, x: $0, stride: 2) }
  #expect(x == [2, 2, 6, 4, 10])
}
