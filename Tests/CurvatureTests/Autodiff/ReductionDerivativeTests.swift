import Curvature
import CurvatureTestSupport
import Testing

/// Derivatives and values of `sum` and `mean` over single and multiple axes, with and
/// without `keepingDimensions`, through `DerivativeCheck`.
@Suite struct ReductionDerivativeTests {
  /// Axis sets of a `[2, 3, 4]` input, with the expected result shape (kept, dropped).
  static let axisCases: [ReductionCase] = [
    ReductionCase([0], kept: [1, 3, 4], dropped: [3, 4]),
    ReductionCase([1], kept: [2, 1, 4], dropped: [2, 4]),
    ReductionCase([2], kept: [2, 3, 1], dropped: [2, 3]),
    ReductionCase([-1], kept: [2, 3, 1], dropped: [2, 3]),
    ReductionCase([-3], kept: [1, 3, 4], dropped: [3, 4]),
    ReductionCase([0, 2], kept: [1, 3, 1], dropped: [3]),
    ReductionCase([2, 0], kept: [1, 3, 1], dropped: [3]),
    ReductionCase([1, -1], kept: [2, 1, 1], dropped: [2]),
    ReductionCase([0, 1], kept: [1, 1, 4], dropped: [4]),
    ReductionCase([0, 1, 2], kept: [1, 1, 1], dropped: []),
  ]

  @Test(arguments: axisCases, [false, true])
  func sum(_ c: ReductionCase, keepingDimensions: Bool) {
    let x = DerivativeCheck.normal([2, 3, 4], seed: 41)
    let result = Tensor(x).sum(alongAxes: c.axes, keepingDimensions: keepingDimensions)
    #expect(result.shape == (keepingDimensions ? c.kept : c.dropped))
    assertClose(result.value, naiveSum(x, c.axes, keepingDimensions: keepingDimensions), rtol: 1e-14, atol: 1e-14)
    DerivativeCheck.check("sum \(c.axes) keeping \(keepingDimensions)", at: [x]) { t in
      t[0].sum(alongAxes: c.axes, keepingDimensions: keepingDimensions)
    }
  }

  @Test(arguments: axisCases, [false, true])
  func mean(_ c: ReductionCase, keepingDimensions: Bool) {
    let x = DerivativeCheck.normal([2, 3, 4], seed: 42)
    let result = Tensor(x).mean(alongAxes: c.axes, keepingDimensions: keepingDimensions)
    #expect(result.shape == (keepingDimensions ? c.kept : c.dropped))
    let n = Double(x.count / c.kept.reduce(1, *))
    assertClose(
      result.value, (1 / n) * naiveSum(x, c.axes, keepingDimensions: keepingDimensions), rtol: 1e-14, atol: 1e-14)
    DerivativeCheck.check("mean \(c.axes) keeping \(keepingDimensions)", at: [x]) { t in
      t[0].mean(alongAxes: c.axes, keepingDimensions: keepingDimensions)
    }
  }

  @Test func singleAxisForms() {
    let x = DerivativeCheck.normal([3, 2], seed: 43)
    DerivativeCheck.check("sum(alongAxis: 1)", at: [x]) { t in t[0].sum(alongAxis: 1) }
    DerivativeCheck.check("sum(alongAxis: 0, keeping)", at: [x]) { t in t[0].sum(alongAxis: 0, keepingDimensions: true) }
    DerivativeCheck.check("mean(alongAxis: -1)", at: [x]) { t in t[0].mean(alongAxis: -1) }
    DerivativeCheck.check("mean(alongAxis: 0, keeping)", at: [x]) { t in t[0].mean(alongAxis: 0, keepingDimensions: true) }
  }

  @Test func fullReductions() {
    let x = DerivativeCheck.normal([2, 3, 2], seed: 44)
    #expect(Tensor(x).sum().shape == [])
    #expect(Tensor(x).mean().shape == [])
    assertClose(Tensor(x).sum().scalar, x.sum(), rtol: 1e-14)
    assertClose(Tensor(x).mean().scalar, x.sum() / 12, rtol: 1e-14)
    DerivativeCheck.check("sum()", at: [x]) { t in t[0].sum() }
    DerivativeCheck.check("mean()", at: [x]) { t in t[0].mean() }
    // Rank-0 input: the sum and mean of a scalar are the scalar.
    let s = NDArray<Double>(scalar: 0.7)
    DerivativeCheck.check("sum() of a scalar", at: [s]) { t in t[0].sum() }
    DerivativeCheck.check("mean() of a scalar", at: [s]) { t in t[0].mean() }
    // A squared norm and a variance: the reduction's input is nonlinear in x.
    DerivativeCheck.check("sum of squares", at: [x], outer: { $0 }) { t in t[0].squared().sum() }
    DerivativeCheck.check("variance over axis 1", at: [x]) { t in
      let centered = t[0] - t[0].mean(alongAxis: 1, keepingDimensions: true)
      return centered.squared().mean(alongAxis: 1)
    }
  }

  @Test func gradientValues() {
    let x = Tensor<Double>(NDArray(rows: [[1, 2, 3], [4, 5, 6]]))
    let g = gradient(at: x) { x in (x.mean(alongAxis: 0) * Tensor(NDArray([1, 2, 3]))).sum() }
    assertClose(g.value, NDArray(rows: [[0.5, 1, 1.5], [0.5, 1, 1.5]]), rtol: 1e-15)
    let gk = gradient(at: x) { x in (x.sum(alongAxis: 1, keepingDimensions: true) * Tensor(NDArray(rows: [[1], [-1]]))).sum() }
    assertClose(gk.value, NDArray(rows: [[1, 1, 1], [-1, -1, -1]]), rtol: 0)
  }

  /// `maxValue` is a constant (no gradient, no tangent) with the maximum's value.
  @Test func maxValueIsAConstant() {
    let x = Tensor<Double>(NDArray(rows: [[1, 5, -2], [7, 0, 3]]))
    #expect(x.maxValue(alongAxes: [1]).value == NDArray([5, 7]))
    #expect(x.maxValue(alongAxes: [0], keepingDimensions: true).value == NDArray(rows: [[7, 5, 3]]))
    #expect(x.maxValue(alongAxes: [-1, 0]).value == NDArray(scalar: 7))
    _ = gradient(at: x) { x in
      #expect(!x.maxValue(alongAxes: [1]).requiresGradient)
      return x.sum()
    }
    #expect(x.withTangent(x).maxValue(alongAxes: [1]).tangent == nil)
    // A shift by the constant maximum leaves the gradient of a shift-invariant function alone.
    let g = gradient(at: x) { x in (x - x.maxValue(alongAxes: [1], keepingDimensions: true)).sum() }
    #expect(g.value == NDArray(repeating: 1, shape: [2, 3]))
  }

  /// An axis listed twice (here as 0 and -2) is rejected, as in NumPy and PyTorch, by both
  /// `sum` and `mean` (which once reduced it once but divided by its extent twice).
  @Test func axisListedTwiceStops() async {
    await #expect(processExitsWith: .failure) {
      let x = Tensor<Double>(NDArray(rows: [[1, 2, 3], [4, 5, 6]]))
      _ = x.mean(alongAxes: [0, -2])
    }
    await #expect(processExitsWith: .failure) {
      let x = Tensor<Double>(NDArray(rows: [[1, 2, 3], [4, 5, 6]]))
      _ = x.sum(alongAxes: [1, 1])
    }
  }

  /// The sum over `axes` by explicit loops.
  private func naiveSum(_ x: NDArray<Double>, _ axes: [Int], keepingDimensions: Bool) -> NDArray<Double> {
    let reduced = Set(axes.map { $0 < 0 ? $0 + x.rank : $0 })
    let kept = x.shape.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element }
    let layout = NDArray<Double>(zeros: kept)
    var sums = [Double](repeating: 0, count: layout.count)
    var index = [Int](repeating: 0, count: x.rank)
    for flat in 0..<x.count {
      var rest = flat
      for axis in stride(from: x.rank - 1, through: 0, by: -1) {
        index[axis] = rest % x.shape[axis]
        rest /= x.shape[axis]
      }
      let target = index.enumerated().map { reduced.contains($0.offset) ? 0 : $0.element }
      sums[layout.offset(of: target)] += x.scalars[flat]
    }
    let result = NDArray(shape: kept, scalars: sums)
    if keepingDimensions { return result }
    return result.reshaped(x.shape.enumerated().filter { !reduced.contains($0.offset) }.map(\.element))
  }
}

extension ReductionDerivativeTests {
  /// Axes to reduce a `[2, 3, 4]` array over, with the result shapes.
  struct ReductionCase: Sendable, CustomTestStringConvertible {
    let axes: [Int]
    let kept: [Int]
    let dropped: [Int]
    init(_ axes: [Int], kept: [Int], dropped: [Int]) {
      self.axes = axes
      self.kept = kept
      self.dropped = dropped
    }
    var testDescription: String { "axes \(axes)" }
  }
}
