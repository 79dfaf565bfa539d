import CurvatureNumerics
import CurvatureAutodiff

// Elementwise activations with PyTorch's values and derivatives. Piecewise functions are
// assembled from elementwise maxima and minima or from exact selections (gathers that put
// zeros in the other branch), so each entry is exactly one branch, with that branch's
// derivatives of every order, and the kink goes to the branch PyTorch's backward uses.

extension Functional {
  /// `max(x, 0)` elementwise — PyTorch's `F.relu` (derivative 0 at 0).
  ///
  /// - Parameter x: Any tensor.
  /// - Returns: A tensor shaped like `x`.
  /// - Complexity: O(count).
  public static func relu<S: BLASScalar>(_ x: Tensor<S>) -> Tensor<S> { x.relu() }

  /// `tanh x` elementwise — PyTorch's `torch.tanh`.
  ///
  /// - Parameter x: Any tensor.
  /// - Returns: A tensor shaped like `x`.
  /// - Complexity: O(count).
  public static func tanh<S: BLASScalar>(_ x: Tensor<S>) -> Tensor<S> { x.tanh() }

  /// The logistic sigmoid `1 / (1 + e⁻ˣ)` elementwise — PyTorch's `torch.sigmoid`.
  ///
  /// - Parameter x: Any tensor.
  /// - Returns: A tensor shaped like `x`.
  /// - Complexity: O(count).
  public static func sigmoid<S: BLASScalar>(_ x: Tensor<S>) -> Tensor<S> { x.sigmoid() }

  /// SiLU (swish) `x σ(x)` elementwise — PyTorch's `F.silu`.
  ///
  /// - Parameter x: Any tensor.
  /// - Returns: A tensor shaped like `x`.
  /// - Complexity: O(count).
  public static func silu<S: BLASScalar>(_ x: Tensor<S>) -> Tensor<S> { x * x.sigmoid() }

  /// GELU elementwise — PyTorch's `F.gelu(x, approximate=…)`.
  ///
  /// - Parameters:
  ///   - x: Any tensor.
  ///   - approximate: `.none` for the exact `x Φ(x)`, `.tanh` for
  ///     `x/2 · (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
  /// - Returns: A tensor shaped like `x`.
  /// - Complexity: O(count).
  public static func gelu<S: BLASScalar>(_ x: Tensor<S>, approximate: GELUApproximation) -> Tensor<S> {
    switch approximate {
    case .none:
      return x.gelu()
    case .tanh:
      return x.geluTanh()
    }
  }

  /// ELU elementwise — PyTorch's `F.elu(x, alpha)`: `x` for `x > 0`, `α (eˣ − 1)` otherwise
  /// (at 0 the derivative is α, as PyTorch's backward).
  ///
  /// - Parameters:
  ///   - x: Any tensor.
  ///   - alpha: `α`, the scale of the negative branch.
  /// - Returns: A tensor shaped like `x`.
  /// - Complexity: O(count).
  public static func elu<S: BLASScalar>(_ x: Tensor<S>, alpha: Double) -> Tensor<S> {
    // max(0, x) gives ties to the constant 0 and min(x, 0) to x, so at 0 the derivative
    // is α, and an infinite input never meets a zero factor.
    let zero = Tensor<S>(scalar: 0)
    return Tensor.maximum(zero, x) + (Tensor.minimum(x, zero).exp() - 1) * S(alpha)
  }

  /// Leaky ReLU elementwise — PyTorch's `F.leaky_relu(x, negative_slope)`: `x` for
  /// `x > 0`, `slope · x` otherwise.
  ///
  /// - Parameters:
  ///   - x: Any tensor.
  ///   - negativeSlope: The slope of the negative branch.
  /// - Returns: A tensor shaped like `x`.
  /// - Complexity: O(count).
  public static func leakyReLU<S: BLASScalar>(_ x: Tensor<S>, negativeSlope: Double) -> Tensor<S> {
    // As for ELU, the kink at 0 goes to the negative branch (slope), as PyTorch's backward.
    let zero = Tensor<S>(scalar: 0)
    return Tensor.maximum(zero, x) + Tensor.minimum(x, zero) * S(negativeSlope)
  }

  /// Softplus elementwise — PyTorch's `F.softplus(x, beta, threshold)`:
  /// `ln(1 + e^{βx}) / β`, and `x` itself where `βx > threshold` (value, derivative 1 and
  /// second derivative 0 there, as PyTorch).
  ///
  /// - Parameters:
  ///   - x: Any tensor.
  ///   - beta: `β`, nonzero.
  ///   - threshold: Above this value of `βx` the function is the identity.
  /// - Returns: A tensor shaped like `x`.
  /// - Complexity: O(count).
  public static func softplus<S: BLASScalar>(_ x: Tensor<S>, beta: Double, threshold: Double) -> Tensor<S> {
    let (b, t) = (S(beta), S(threshold))
    let linear = above(NDArray.binary(.multiply, x.value, NDArray(scalar: b)), t)
    let smooth = beta == 1 ? x.softplus() : (x * b).softplus() / b
    guard anyNonzero(linear) else { return smooth }
    return keeping(x, whereNonzero: linear) + keeping(smooth, whereNonzero: complement(linear))
  }
}
