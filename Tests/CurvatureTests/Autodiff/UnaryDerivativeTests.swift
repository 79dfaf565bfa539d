import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// The elementwise nonlinearities: derivatives through `DerivativeCheck` (Double), and
/// values, first and second derivatives against closed forms in Float and Double, plus
/// stability of sigmoid and softplus at ±100.
@Suite struct UnaryDerivativeTests {
  @Test(arguments: UnaryOp.allCases)
  func derivatives(_ op: UnaryOp) {
    let x = op.testPoints([2, 3], seed: 71)
    DerivativeCheck.check("\(op)", at: [x]) { t in op.apply(t[0]) }
    // The identity outer function isolates the op's own second derivative.
    DerivativeCheck.check("\(op), outer identity", at: [x], outer: { $0 }) { t in op.apply(t[0]) }
    // Composed with a broadcast product, so the op sees a live (recorded) input.
    let scale = DerivativeCheck.uniform([3], in: 0.5..<1.5, seed: 72)
    DerivativeCheck.check("\(op) of x ⊙ s", at: [x, scale]) { t in op.apply(t[0] * t[1]) }
  }

  @Test(arguments: UnaryOp.allCases)
  func valuesAndDerivativesFloat(_ op: UnaryOp) { checkClosedForms(op, Float.self) }

  @Test(arguments: UnaryOp.allCases)
  func valuesAndDerivativesDouble(_ op: UnaryOp) { checkClosedForms(op, Double.self) }

  /// GELU is PyTorch's exact one, `x Φ(x)` with `Φ(x) = (1 + erf(x/√2)) / 2`; its
  /// derivative is `Φ(x) + x φ(x)`.
  @Test func geluMatchesPyTorchFormula() {
    let xs: [Double] = [-3, -1.5, -0.5, -0.1, 0, 0.1, 0.5, 1.5, 3]
    let x = Tensor<Double>(NDArray(xs))
    let (value, g) = valueAndGradient(at: x) { $0.gelu().sum() }
    let y = x.gelu()
    for (i, v) in xs.enumerated() {
      let phiCDF = 0.5 * (1 + erf(v / 2.0.squareRoot()))
      let phi = Foundation.exp(-v * v / 2) / (2 * Double.pi).squareRoot()
      assertClose(y.value.scalars[i], v * phiCDF, rtol: 1e-14, atol: 1e-16, "gelu(\(v))")
      assertClose(g.value.scalars[i], phiCDF + v * phi, rtol: 1e-14, atol: 1e-16, "gelu′(\(v))")
    }
    assertClose(value.scalar, xs.map { $0 * 0.5 * (1 + erf($0 / 2.0.squareRoot())) }.reduce(0, +), rtol: 1e-14)
    // x Φ(x) at 1, -1 and 2 from Φ(1) = 0.8413447460685429 and Φ(2) = 0.9772498680518208.
    assertClose(Tensor<Double>(NDArray([1.0, -1.0, 2.0])).gelu().value,
                NDArray([0.8413447460685429, -0.15865525393145707, 1.9544997361036416]), rtol: 1e-14)
  }

  /// The GELUs run as one kernel each (value, and derivative when the input is not live):
  /// values have the bits of the Tensor operations that spell them out (the code they
  /// replaced), and gradients, Hessian-vector products and JVPs agree with those of the
  /// spelled-out form, in Float and Double.
  @Test func fusedGELUsMatchTheirSpelledOutForms() {
    func check<T: BLASScalar & TestTolerance>(_: T.Type) {
      let x = Tensor<T>(DerivativeCheck.uniform([5, 7], in: -6..<6, seed: 74).converted())
      let a = T.sqrt(2 / T.pi), b = T(0.044715)
      let forms: [(String, (Tensor<T>) -> Tensor<T>, (Tensor<T>) -> Tensor<T>)] = [
        ("gelu", { $0.gelu() }, { $0 * $0.normalCDF() }),
        ("geluTanh", { $0.geluTanh() }, { x in x * T(0.5) * (((x + x * x.squared() * b) * a).tanh() + 1) }),
      ]
      let w = Tensor<T>(DerivativeCheck.normal([5, 7], seed: 75).converted())
      let v = Tensor<T>(DerivativeCheck.normal([5, 7], seed: 76).converted())
      for (name, fused, spelled) in forms {
        SpelledOutForm.expectMatch("\(name) \(T.self)", at: x, weights: w, along: v, primitive: fused, spelled: spelled)
      }
    }
    check(Float.self)
    check(Double.self)
  }

  /// At their kinks relu and abs have the documented derivative 0 (PyTorch's choice), in
  /// reverse and forward mode, and no second derivative.
  @Test func kinksHaveZeroDerivative() {
    let x = Tensor<Double>(NDArray([-1, 0, 2]))
    #expect(gradient(at: x) { $0.relu().sum() }.value == NDArray([0, 0, 1]))
    #expect(gradient(at: x) { $0.abs().sum() }.value == NDArray([-1, 0, 1]))
    let ones = Tensor<Double>(NDArray([1, 1, 1]))
    #expect(jvp(at: [x], tangents: [ones]) { $0[0].relu() }.tangent.value == NDArray([0, 0, 1]))
    #expect(jvp(at: [x], tangents: [ones]) { $0[0].abs() }.tangent.value == NDArray([-1, 0, 1]))
    #expect(hessianVectorProduct(at: [x], along: [ones]) { ($0[0].relu() + $0[0].abs()).sum() }[0].value == NDArray(zeros: [3]))
  }

  @Test func sigmoidAndSoftplusAreStableAtHundredFloat() { checkStability(Float.self) }
  @Test func sigmoidAndSoftplusAreStableAtHundredDouble() { checkStability(Double.self) }

  /// Values at ±100 are finite and accurate; first and second derivatives are finite.
  private func checkStability<T: BLASScalar & TestTolerance>(_: T.Type) {
    let x = Tensor<T>(NDArray([-100, 100]))
    let tiny = Foundation.exp(-100.0)  // e⁻¹⁰⁰ ≈ 3.7e-44, subnormal in Float
    let softplus = x.softplus().value.scalars
    let sigmoid = x.sigmoid().value.scalars
    #expect(softplus.allSatisfy(\.isFinite) && sigmoid.allSatisfy(\.isFinite))
    #expect(softplus[1] == 100)
    #expect(sigmoid[1] == 1)
    if T.self == Double.self {
      assertClose(Double(softplus[0]), tiny, rtol: 1e-12)
      assertClose(Double(sigmoid[0]), tiny, rtol: 1e-12)
    } else {
      #expect(softplus[0] >= 0 && Double(softplus[0]) < 1e-40)
      #expect(sigmoid[0] >= 0 && Double(sigmoid[0]) < 1e-40)
    }
    for op in [UnaryOp.sigmoid, .softplus, .tanh] {
      let g = gradient(at: x) { op.apply($0).sum() }.value.scalars
      let h = hessianVectorProduct(at: [x], along: [Tensor(NDArray([1, 1]))]) { op.apply($0[0]).sum() }[0].value.scalars
      let finite = (g + h).allSatisfy { $0.isFinite }
      #expect(finite, "\(op) at ±100: gradient \(g), Hessian diagonal \(h)")
      for (i, v) in [-100.0, 100.0].enumerated() {
        assertClose(Double(g[i]), op.derivative(v), rtol: 1e-12, atol: 1e-30, "\(op)′(\(v))")
      }
    }
  }

  /// Values, gradients and Hessian diagonals against the closed forms (computed in Double
  /// with Foundation from the same `T`-rounded inputs), within `T`'s test tolerances.
  private func checkClosedForms<T: BLASScalar & TestTolerance>(_ op: UnaryOp, _: T.Type) {
    let x: NDArray<T> = op.testPoints([3, 4], seed: 73).converted()
    let inputs = x.scalars.map { Double($0) }
    func expected(_ f: (Double) -> Double) -> NDArray<T> {
      NDArray(shape: x.shape, scalars: inputs.map { T(f($0)) })
    }
    let (rtol, atol) = (T.testRelativeTolerance, T.testAbsoluteTolerance)
    let tx = Tensor(x)
    assertClose(op.apply(tx).value, expected(op.value), rtol: rtol, atol: atol, "\(op) value")
    let (value, g) = valueAndGradient(at: tx) { op.apply($0).sum() }
    assertClose(value.scalar, T(inputs.map(op.value).reduce(0, +)), rtol: rtol, atol: atol, "\(op) summed value")
    assertClose(g.value, expected(op.derivative), rtol: rtol, atol: atol, "\(op) derivative")
    // The Hessian of Σ f(xᵢ) is diagonal: H·1 is f″ elementwise.
    let ones = Tensor<T>(NDArray(repeating: 1, shape: x.shape))
    let hv = hessianVectorProduct(at: [tx], along: [ones]) { op.apply($0[0]).sum() }[0]
    assertClose(hv.value, expected(op.secondDerivative), rtol: rtol, atol: atol, "\(op) second derivative")
    // The JVP along ones is f′ elementwise.
    let t = jvp(at: [tx], tangents: [ones]) { op.apply($0[0]) }.tangent
    assertClose(t.value, expected(op.derivative), rtol: rtol, atol: atol, "\(op) JVP")
  }
}

extension UnaryDerivativeTests {
  /// The unary tensor operations, with closed forms of their value and first two derivatives.
  enum UnaryOp: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case exp, log, tanh, sigmoid, relu, softplus, sqrt, squared, abs, normalCDF, gelu, geluTanh, negate

    var testDescription: String { rawValue }

    func apply<T: BLASScalar>(_ x: Tensor<T>) -> Tensor<T> {
      switch self {
      case .exp: x.exp()
      case .log: x.log()
      case .tanh: x.tanh()
      case .sigmoid: x.sigmoid()
      case .relu: x.relu()
      case .softplus: x.softplus()
      case .sqrt: x.sqrt()
      case .squared: x.squared()
      case .abs: x.abs()
      case .normalCDF: x.normalCDF()
      case .gelu: x.gelu()
      case .geluTanh: x.geluTanh()
      case .negate: -x
      }
    }

    /// Test inputs inside the domain and away from kinks: positive for log and sqrt, away
    /// from 0 for relu and abs, within [-3, 3] elsewhere.
    func testPoints(_ shape: [Int], seed: UInt64) -> NDArray<Double> {
      switch self {
      case .log, .sqrt: DerivativeCheck.uniform(shape, in: 0.3..<2.5, seed: seed)
      case .relu, .abs: DerivativeCheck.awayFromZero(shape, seed: seed)
      default: DerivativeCheck.uniform(shape, in: -3..<3, seed: seed)
      }
    }

    private static func cdf(_ x: Double) -> Double { 0.5 * (1 + erf(x / 2.0.squareRoot())) }
    private static func pdf(_ x: Double) -> Double { Foundation.exp(-x * x / 2) / (2 * Double.pi).squareRoot() }
    private static func logistic(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }
    /// GELU's tanh form: `tanh u` with `u = a (x + b x³)`, and `u′`, `u″`.
    private static func geluTanhParts(_ x: Double) -> (t: Double, du: Double, ddu: Double) {
      let a = (2 / Double.pi).squareRoot(), b = 0.044715
      return (Foundation.tanh(a * (x + b * x * x * x)), a * (1 + 3 * b * x * x), 6 * a * b * x)
    }
    /// f = x (1 + t)/2: f′ = (1 + t)/2 + x s u′/2 with s = 1 − t², and, as s′ = −2 t s u′,
    /// f″ = s u′ + x s (u″ − 2 t u′²)/2.
    private static func geluTanhDerivatives(_ x: Double) -> (first: Double, second: Double) {
      let (t, du, ddu) = geluTanhParts(x)
      let s = 1 - t * t
      return (0.5 * (1 + t) + 0.5 * x * s * du, s * du + 0.5 * x * s * (ddu - 2 * t * du * du))
    }

    func value(_ x: Double) -> Double {
      switch self {
      case .exp: Foundation.exp(x)
      case .log: Foundation.log(x)
      case .tanh: Foundation.tanh(x)
      case .sigmoid: Self.logistic(x)
      case .relu: x > 0 ? x : 0
      case .softplus: Foundation.log1p(Foundation.exp(x))
      case .sqrt: x.squareRoot()
      case .squared: x * x
      case .abs: Swift.abs(x)
      case .normalCDF: Self.cdf(x)
      case .gelu: x * Self.cdf(x)
      case .geluTanh: 0.5 * x * (1 + Self.geluTanhParts(x).t)
      case .negate: -x
      }
    }

    func derivative(_ x: Double) -> Double {
      switch self {
      case .exp: Foundation.exp(x)
      case .log: 1 / x
      case .tanh: 1 - Foundation.tanh(x) * Foundation.tanh(x)
      case .sigmoid: Self.logistic(x) * Self.logistic(-x)
      case .relu: x > 0 ? 1 : 0
      case .softplus: Self.logistic(x)
      case .sqrt: 0.5 / x.squareRoot()
      case .squared: 2 * x
      case .abs: x > 0 ? 1 : -1
      case .normalCDF: Self.pdf(x)
      case .gelu: Self.cdf(x) + x * Self.pdf(x)
      case .geluTanh: Self.geluTanhDerivatives(x).first
      case .negate: -1
      }
    }

    func secondDerivative(_ x: Double) -> Double {
      switch self {
      case .exp: Foundation.exp(x)
      case .log: -1 / (x * x)
      case .tanh: -2 * Foundation.tanh(x) * (1 - Foundation.tanh(x) * Foundation.tanh(x))
      case .sigmoid: Self.logistic(x) * Self.logistic(-x) * (1 - 2 * Self.logistic(x))
      case .relu, .abs, .negate: 0
      case .softplus: Self.logistic(x) * Self.logistic(-x)
      case .sqrt: -0.25 / (x * x.squareRoot())
      case .squared: 2
      case .normalCDF: -x * Self.pdf(x)
      case .gelu: (2 - x * x) * Self.pdf(x)
      case .geluTanh: Self.geluTanhDerivatives(x).second
      }
    }
  }
}
