import Curvature
import CurvatureTestSupport
import Testing

@Suite struct SlicingTests {
  // MARK: Values

  func checkValues<T: BLASScalar & TestTolerance>(_: T.Type) {
    var rng = RandomGenerator(seed: 31)
    let x: NDArray<T> = rng.normalArray(shape: [2, 3, 4])
    let t = Tensor(x)

    // Slices along every axis against index loops.
    for (axis, range) in [(0, 1..<2), (1, 0..<2), (1, 1..<3), (2, 1..<4), (-1, 0..<1), (2, 2..<2), (-3, 0..<2)] {
      let a = axis < 0 ? axis + 3 : axis
      let s = t.sliced(alongAxis: axis, range)
      var shape = x.shape
      shape[a] = range.count
      let expected = NDArray<T>(shape: shape) { index in
        var j = index
        j[a] += range.lowerBound
        return x.scalars[x.offset(of: j)]
      }
      #expect(s.value == expected, "sliced axis \(axis) range \(range)")
    }
    #expect(t.sliced(alongAxis: 1, 0..<3).value == x)

    // Padding along every axis against index loops.
    for (axis, before, after) in [(0, 1, 0), (1, 2, 1), (2, 0, 3), (-1, 1, 1)] {
      let a = axis < 0 ? axis + 3 : axis
      let p = t.padded(alongAxis: axis, before: before, after: after)
      var shape = x.shape
      shape[a] += before + after
      let expected = NDArray<T>(shape: shape) { index in
        var j = index
        j[a] -= before
        return j[a] >= 0 && j[a] < x.shape[a] ? x.scalars[x.offset(of: j)] : 0
      }
      #expect(p.value == expected, "padded axis \(axis) (\(before), \(after))")
      // Slicing undoes padding.
      #expect(p.sliced(alongAxis: axis, before..<(before + x.shape[a])).value == x)
    }

    // Concatenation along every axis against index loops, including an empty piece.
    for axis in [0, 1, 2, -2] {
      let a = axis < 0 ? axis + 3 : axis
      var shapes = [x.shape, x.shape, x.shape]
      shapes[1][a] = 2
      shapes[2][a] = 0
      let pieces: [NDArray<T>] = [x, rng.normalArray(shape: shapes[1]), rng.normalArray(shape: shapes[2])]
      let joined = Tensor.concatenate(pieces.map { Tensor($0) }, alongAxis: axis)
      var shape = x.shape
      shape[a] = x.shape[a] + 2
      let expected = NDArray<T>(shape: shape) { index in
        var j = index
        var piece = 0
        while j[a] >= pieces[piece].shape[a] {
          j[a] -= pieces[piece].shape[a]
          piece += 1
        }
        return pieces[piece].scalars[pieces[piece].offset(of: j)]
      }
      #expect(joined.value == expected, "concatenate axis \(axis)")
      // Slices of the concatenation give the pieces back.
      #expect(joined.sliced(alongAxis: axis, 0..<x.shape[a]).value == x)
      #expect(joined.sliced(alongAxis: axis, x.shape[a]..<(x.shape[a] + 2)).value == pieces[1])
    }
    // Concatenating the slices of a partition gives the tensor back.
    let parts = [0..<1, 1..<3, 3..<4].map { t.sliced(alongAxis: 2, $0) }
    #expect(Tensor.concatenate(parts, alongAxis: -1).value == x)
    #expect(Tensor.concatenate([t], alongAxis: 0).value == x)
  }

  @Test func valuesMatchNaiveLoopsFloat() { checkValues(Float.self) }
  @Test func valuesMatchNaiveLoopsDouble() { checkValues(Double.self) }

  // MARK: Derivatives

  @Test func slicingDerivatives() {
    let x = DerivativeCheck.normal([3, 4, 5], seed: 1)
    for (axis, range) in [(0, 1..<3), (1, 1..<2), (2, 0..<3), (-1, 2..<5)] {
      DerivativeCheck.check("sliced axis \(axis) \(range)", at: [x]) { $0[0].sliced(alongAxis: axis, range) }
    }
    // A live input (sigmoid ahead), so the differential sees tangents of intermediates.
    DerivativeCheck.check("sliced(sigmoid(x)) ⊙ sliced(x)", at: [x]) { p in
      p[0].sigmoid().sliced(alongAxis: 1, 0..<2) * p[0].sliced(alongAxis: 1, 2..<4)
    }
  }

  @Test func paddingDerivatives() {
    let x = DerivativeCheck.normal([3, 4], seed: 2)
    DerivativeCheck.check("padded axis 0", at: [x]) { $0[0].padded(alongAxis: 0, before: 2, after: 1) }
    DerivativeCheck.check("padded axis -1 of x²", at: [x]) { $0[0].squared().padded(alongAxis: -1, before: 0, after: 2) }
  }

  @Test func concatenationDerivatives() {
    let a = DerivativeCheck.normal([2, 3, 4], seed: 3)
    let b = DerivativeCheck.normal([2, 1, 4], seed: 4)
    let c = DerivativeCheck.normal([2, 2, 4], seed: 5)
    DerivativeCheck.check("concatenate axis 1", at: [a, b, c]) { p in Tensor.concatenate(p, alongAxis: 1) }
    DerivativeCheck.check("concatenate axis 0", at: [a, a]) { p in Tensor.concatenate([p[0], p[1].exp()], alongAxis: 0) }
    // Broadcasting: a bias broadcast to a block and joined to the input along the last axis.
    let bias = DerivativeCheck.normal([4], seed: 6)
    DerivativeCheck.check("concatenate with a broadcast bias", at: [a, bias]) { p in
      Tensor.concatenate([p[0], (p[1] * p[1]).broadcast(to: [2, 3, 4])], alongAxis: -1)
    }
    // A constant piece: only the variable pieces get cotangents, and tangents of the
    // constant piece are zero in the differential.
    let constant = Tensor(DerivativeCheck.normal([2, 3, 2], seed: 7))
    DerivativeCheck.check("concatenate with a constant", at: [a]) { p in
      Tensor.concatenate([constant, p[0].tanh(), constant], alongAxis: 2)
    }
  }

  @Test func concatenatedSoftmaxHessian() {
    // A scalar built from all three ops: the log-sum-exp of a concatenation of slices.
    let x = DerivativeCheck.normal([3, 6], seed: 8)
    DerivativeCheck.check("logSumExp of sliced and concatenated", at: [x], outer: { $0.squared() }) { p in
      let left = p[0].sliced(alongAxis: 1, 0..<2), right = p[0].sliced(alongAxis: 1, 3..<6)
      return Tensor.concatenate([right, left.exp()], alongAxis: 1).logSumExp(alongAxes: [0])
    }
  }

  // MARK: Preconditions

  @Test func badArgumentsStop() async {
    await #expect(processExitsWith: .failure) {
      _ = Tensor<Double>(zeros: [2, 3]).sliced(alongAxis: 1, 1..<4)
    }
    await #expect(processExitsWith: .failure) {
      _ = Tensor<Double>.concatenate([Tensor(zeros: [2, 3]), Tensor(zeros: [3, 3])], alongAxis: 1)
    }
    await #expect(processExitsWith: .failure) {
      _ = Tensor<Double>(zeros: [2, 3]).padded(alongAxis: 2, before: 1, after: 0)
    }
  }
}
