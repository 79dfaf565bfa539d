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
