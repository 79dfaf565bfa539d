// Elementwise nonlinearities. Each pullback multiplies the cotangent by the derivative;
// when the input is live (on a graph being recorded, or carrying a tangent) the derivative
// is built from differentiable operations so second derivatives are right, otherwise it is
// computed directly from saved values as a constant.
import RealModule
import CurvatureNumerics

extension Tensor {
  /// `f` applied elementwise, for the kernels whose derivative needs no saved output.
  /// - Parameter knownOutput: `value.map(f)` when it is already computed (a derivative
  ///   rule rebuilding `f(self)` as a differentiable tensor): the same bits, not recomputed.
  func apply(_ f: UnaryFunction, knownOutput: NDArray<Scalar>? = nil) -> Tensor {
    let output = knownOutput ?? value.map(f)
    return Tensor.primitive(
      output, inputs: [self],
      pullback: { g, _ in [g * derivative(f, output: output)] },
      // One forward level: the derivative factor is taken at the primal without its tangent
      // (otherwise computing it would re-enter this differential).
      differential: { t in t[0].map { $0 * droppingTangent().derivative(f, output: output) } })
  }

  /// `f′(self)`, differentiable when `self` is live, else a constant; `output = f(self)`,
  /// when given, is reused rather than recomputed (tanh, exp and sigmoid derivatives are
  /// functions of it, and the kernels are deterministic, so the bits are the same).
  func derivative(_ f: UnaryFunction, output: NDArray<Scalar>? = nil) -> Tensor {
    let live = isLive
    if !live, let y = output {
      switch f {
      case .exp: return Tensor(y)
      case .tanh: return Tensor(NDArray.binary(.subtract, NDArray(scalar: 1), y.map(.square)))
      case .sigmoid: return Tensor(NDArray.binary(.multiply, y, NDArray.binary(.subtract, NDArray(scalar: 1), y)))
      default: break
      }
    }
    switch f {
    case .negate: return Tensor(scalar: -1)
    case .exp: return live ? apply(.exp, knownOutput: output) : Tensor(value.map(.exp))
    case .log: return live ? 1 / self : Tensor(value.map(.reciprocal))
    case .tanh:
      if live { return 1 - apply(.tanh, knownOutput: output).squared() }
      return Tensor(NDArray.binary(.subtract, NDArray(scalar: 1), value.map(.tanh).map(.square)))
    case .sigmoid:
      if live {
        let s = apply(.sigmoid, knownOutput: output)
        return s * (1 - s)
      }
      let s = value.map(.sigmoid)
      return Tensor(NDArray.binary(.multiply, s, NDArray.binary(.subtract, NDArray(scalar: 1), s)))
    // ReLU's derivative is a step: piecewise constant, so its own derivative is zero.
    case .relu: return Tensor(value.map(.step))
    case .step: return Tensor(scalar: 0)
    case .softplus: return live ? sigmoid() : Tensor(value.map(.sigmoid))
    case .sqrt: return live ? 0.5 / sqrt() : Tensor(value.map(.sqrt).map(.reciprocal)) * Tensor(scalar: 0.5)
    case .square: return 2 * (live ? self : Tensor(value))
    case .reciprocal: return live ? -1 / squared() : Tensor(value.map(.square).map(.reciprocal).map(.negate))
    case .normalCDF: return live ? Tensor.normalPDF(self) : Tensor(Tensor.normalPDF(Tensor(value)).value)
    case .abs: return Tensor(NDArray.binary(.subtract, value.map(.step), value.map(.negate).map(.step)))
    // The GELUs' derivatives are kernels too; for a live input, a primitive of that kernel,
    // whose own derivative is the second derivative (the same bits either way, so a
    // replayed forward pass and a fresh one agree exactly).
    case .gelu: return live ? apply(.geluDerivative) : Tensor(value.map(.geluDerivative))
    case .geluTanh: return live ? apply(.geluTanhDerivative) : Tensor(value.map(.geluTanhDerivative))
    // The second derivatives, spelled out in differentiable operations, on the constant
    // input when it is not live (the same operations, so the same bits).
    case .geluDerivative:
      // gelu″(x) = φ(x) (2 − x²)
      let x = live ? self : Tensor(value)
      return Tensor.normalPDF(x) * (2 - x.squared())
    case .geluTanhDerivative: return Tensor.geluTanhSecondDerivative(live ? self : Tensor(value))
    }
  }

  /// The tanh GELU's second derivative from differentiable operations: with `a = √(2/π)`,
  /// `b = 0.044715`, `u = a (x + b x³)`, `t = tanh u`, `s = 1 − t²`, `u′ = a (1 + 3b x²)` and
  /// `u″ = 6ab x`, the derivative of `(1 + t)/2 + x s u′/2` is `s u′ + x s (u″ − 2 t u′²)/2`.
  static func geluTanhSecondDerivative(_ x: Tensor) -> Tensor {
    let a = Scalar.sqrt(2 / Scalar.pi), b = Scalar(0.044715)
    let x2 = x.squared()
    let t = ((x + x * x2 * b) * a).tanh()
    let du = (x2 * (3 * b) + 1) * a
    let s = 1 - t.squared()
    return s * du + x * s * (x * (6 * a * b) - 2 * t * du.squared()) * Scalar(0.5)
  }

  /// The standard normal density `φ(x) = e^{-x²/2} / √(2π)`, composed of differentiable ops.
  static func normalPDF(_ x: Tensor) -> Tensor {
    (x.squared() * -0.5).exp() * (1 / Scalar.sqrt(2 * .pi))
  }

  /// `eˣ` elementwise.
  public func exp() -> Tensor { apply(.exp) }
  /// `ln x` elementwise.
  public func log() -> Tensor { apply(.log) }
  /// `tanh x` elementwise.
  public func tanh() -> Tensor { apply(.tanh) }
  /// The logistic sigmoid `1 / (1 + e⁻ˣ)` elementwise.
  public func sigmoid() -> Tensor { apply(.sigmoid) }
  /// `max(x, 0)` elementwise; the derivative at 0 is 0, as in PyTorch.
  public func relu() -> Tensor { apply(.relu) }
  /// `ln(1 + eˣ)` elementwise (PyTorch's `Softplus` with β = 1), computed stably.
  public func softplus() -> Tensor { apply(.softplus) }
  /// `√x` elementwise.
  public func sqrt() -> Tensor { apply(.sqrt) }
  /// `x²` elementwise.
  public func squared() -> Tensor { apply(.square) }
  /// `|x|` elementwise (derivative 0 at 0).
  public func abs() -> Tensor { apply(.abs) }
  /// The standard normal CDF `Φ(x)` elementwise.
  public func normalCDF() -> Tensor { apply(.normalCDF) }

  /// The exact GELU `x Φ(x)` elementwise (PyTorch's default `GELU`, `approximate='none'`),
  /// in one kernel, its derivative `Φ(x) + x φ(x)` in another.
  public func gelu() -> Tensor { apply(.gelu) }
  /// GELU's tanh form `x/2 · (1 + tanh(√(2/π) (x + 0.044715 x³)))` elementwise (PyTorch's
  /// `GELU(approximate='tanh')`), in one kernel, its derivative in another.
  public func geluTanh() -> Tensor { apply(.geluTanh) }
}
