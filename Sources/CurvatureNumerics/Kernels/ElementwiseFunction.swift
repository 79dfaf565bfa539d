/// Elementwise functions with a fast kernel per scalar type (`BLASScalar.applyUnary`).
public enum UnaryFunction: Sendable, Hashable, CaseIterable {
  /// `-x`
  case negate
  /// `eˣ`
  case exp
  /// `ln x`
  case log
  /// `tanh x`
  case tanh
  /// `1 / (1 + e⁻ˣ)`, evaluated without overflow for large `|x|`.
  case sigmoid
  /// `max(x, 0)`
  case relu
  /// The Heaviside step `x > 0 ? 1 : 0` (ReLU's derivative, with PyTorch's value 0 at 0).
  case step
  /// `ln(1 + eˣ)`, evaluated as `max(x, 0) + log1p(e^{-|x|})` for stability.
  case softplus
  /// `√x`
  case sqrt
  /// `x²`
  case square
  /// `1 / x`
  case reciprocal
  /// The standard normal CDF `Φ(x) = (1 + erf(x/√2)) / 2`.
  case normalCDF
  /// `|x|`
  case abs
  /// The exact GELU `x Φ(x)` (PyTorch's `approximate='none'`).
  case gelu
  /// GELU's tanh form `x/2 · (1 + tanh(√(2/π) (x + 0.044715 x³)))` (PyTorch's
  /// `approximate='tanh'`), evaluated in the order of the operations that spell it out.
  case geluTanh
  /// The exact GELU's derivative `Φ(x) + x φ(x)`.
  case geluDerivative
  /// The derivative of `geluTanh`: `(1 + t)/2 + x (1 − t²) a (1 + 3b x²)/2` with
  /// `t = tanh(a (x + b x³))`, `a = √(2/π)`, `b = 0.044715`.
  case geluTanhDerivative
}

/// Binary elementwise functions with broadcasting kernels (`BLASScalar.applyBinary`).
public enum BinaryFunction: Sendable, Hashable, CaseIterable {
  /// `a + b`.
  case add
  /// `a − b`.
  case subtract
  /// `a · b`.
  case multiply
  /// `a / b`.
  case divide
  /// `max(a, b)`.
  case maximum
  /// `min(a, b)`.
  case minimum
}

/// Reductions over a set of axes (`BLASScalar.reduce`).
public enum ReductionFunction: Sendable, Hashable {
  /// The sum over the axes.
  case sum
  /// The maximum over the axes.
  case max
}
