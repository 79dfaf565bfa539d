import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// The Float kernels with a fast path (`FastMath.swift`: exp, tanh, sigmoid and the tanh
/// GELU and its derivative) against Double references on a dense grid: within a few ulps
/// (their documented accuracy), bounded as the functions are, and NaN and ±∞ handled.
@Suite struct FastMathTests {
  /// Every Float on a grid of [-12, 12] (step 1e-4) plus small and special values.
  static let grid: [Float] = {
    var xs = stride(from: -12.0, through: 12.0, by: 1e-4).map { Float($0) }
    xs += stride(from: -1e-3, through: 1e-3, by: 1e-7).map { Float($0) }
    xs += [0, -0.0, .leastNormalMagnitude, -.leastNormalMagnitude, 3.9e-4, 4e-4, 4.1e-4, 7.9053, 7.91, 20, -20, 80, -80]
    return xs
  }()

  /// `f` over the grid, and the error in ulps of the reference (at least the ulp of
  /// `floor`, so values near 0 are measured on the scale of the function's range).
  static func worstULPs(_ f: UnaryFunction, floor: Float = 0, _ reference: (Double) -> Double) -> (Double, Float) {
    let y = NDArray<Float>(grid).map(f).scalars
    var worst = 0.0, at: Float = 0
    for (x, v) in zip(grid, y) {
      let r = reference(Double(x))
      let ulp = Double(Swift.max(Float(Swift.abs(r)), floor).ulp)
      let e = Swift.abs(Double(v) - r) / ulp
      if e > worst { (worst, at) = (e, x) }
    }
    return (worst, at)
  }

  @Test func tanhIsWithinEightULPsAndBounded() {
    let (ulps, at) = Self.worstULPs(.tanh, Foundation.tanh)
    #expect(ulps <= 8, "tanh: \(ulps) ulps at \(at)")
    let y = NDArray<Float>(Self.grid).map(.tanh).scalars
    #expect(y.allSatisfy { Swift.abs($0) <= 1 }, "tanh exceeds 1 in magnitude")
    // Odd, exactly ±1 far out, and 1 − tanh² exactly 0 there (the derivative at ±100).
    #expect(zip(Self.grid, y).allSatisfy { x, v in NDArray<Float>([-x]).map(.tanh).scalars[0] == -v })
    #expect(NDArray<Float>([100, -100, .infinity, -.infinity]).map(.tanh).scalars == [1, -1, 1, -1])
    #expect(NDArray<Float>([.nan]).map(.tanh).scalars[0].isNaN)
  }

  @Test func expIsWithinFourULPs() {
    let (ulps, at) = Self.worstULPs(.exp, Foundation.exp)
    #expect(ulps <= 4, "exp: \(ulps) ulps at \(at)")
    #expect(NDArray<Float>([-100, 100, -.infinity, .infinity]).map(.exp).scalars == [0, .infinity, 0, .infinity])
    #expect(NDArray<Float>([.nan]).map(.exp).scalars[0].isNaN)
  }

  @Test func sigmoidIsWithinFourULPs() {
    let (ulps, at) = Self.worstULPs(.sigmoid) { 1 / (1 + Foundation.exp(-$0)) }
    #expect(ulps <= 4, "sigmoid: \(ulps) ulps at \(at)")
  }

  /// The tanh GELU and its derivative, measured on the ulp of their own scale near 0
  /// (their values cross 0, where relative error is meaningless). The derivative's bound is
  /// looser: near x = ±5, tanh's few ulps at |t| ≈ 1 (4e-7) enter through 1 + t and 1 − t²
  /// times x (1 + 3b x²), about 35 ulps of 1 (4e-6) at worst on the grid, as in any Float
  /// evaluation of that formula.
  @Test func geluTanhAndDerivativeAreAccurate() {
    let a = (2 / Double.pi).squareRoot(), b = 0.044715
    let (ulps, at) = Self.worstULPs(.geluTanh, floor: 1) { x in 0.5 * x * (1 + Foundation.tanh(a * (x + b * x * x * x))) }
    #expect(ulps <= 16, "geluTanh: \(ulps) ulps (of max(|y|, 1)) at \(at)")
    let (dULPs, dAt) = Self.worstULPs(.geluTanhDerivative, floor: 1) { x in
      let t = Foundation.tanh(a * (x + b * x * x * x))
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * a * (1 + 3 * b * x * x)
    }
    #expect(dULPs <= 48, "geluTanhDerivative: \(dULPs) ulps (of max(|y|, 1)) at \(dAt)")
  }
}
