import Curvature

/// Central finite differences in Double: the independent reference for derivatives.
///
/// With step `h`, the truncation error is O(h²) and the rounding error O(ε/h); the default
/// `h = 1e-6` balances them to about 1e-10 relative accuracy for smooth functions of
/// moderate scale.
public enum FiniteDifferences {
  /// The gradient of a scalar function, `∂f/∂x_i ≈ (f(x + h e_i) − f(x − h e_i)) / 2h`.
  public static func gradient(of f: ([Double]) -> Double, at x: [Double], step h: Double = 1e-6) -> [Double] {
    var point = x
    return (0..<x.count).map { i in
      point[i] = x[i] + h
      let plus = f(point)
      point[i] = x[i] - h
      let minus = f(point)
      point[i] = x[i]
      return (plus - minus) / (2 * h)
    }
  }

  /// The Jacobian `[m, n]` of a vector function `f: ℝⁿ → ℝᵐ`, column by column.
  public static func jacobian(of f: ([Double]) -> [Double], at x: [Double], step h: Double = 1e-6) -> NDArray<Double> {
    var point = x
    var columns = [[Double]]()
    for i in 0..<x.count {
      point[i] = x[i] + h
      let plus = f(point)
      point[i] = x[i] - h
      let minus = f(point)
      point[i] = x[i]
      columns.append(zip(plus, minus).map { ($0 - $1) / (2 * h) })
    }
    let m = columns.first?.count ?? 0
    return NDArray(shape: [m, x.count]) { index in columns[index[1]][index[0]] }
  }

  /// The Hessian of a scalar function from central differences of its (exact) gradient,
  /// symmetrized: column `i` is `(g(x + h e_i) − g(x − h e_i)) / 2h`.
  public static func hessian(ofGradient g: ([Double]) -> [Double], at x: [Double], step h: Double = 1e-6) -> NDArray<Double> {
    let h0 = jacobian(of: g, at: x, step: h)
    return 0.5 * (h0 + h0.transposed())
  }

  /// The directional derivative `(f(x + h v) − f(x − h v)) / 2h` of a vector function.
  public static func directionalDerivative(
    of f: ([Double]) -> [Double], at x: [Double], along v: [Double], step h: Double = 1e-6
  ) -> [Double] {
    let plus = f(zip(x, v).map { $0 + h * $1 })
    let minus = f(zip(x, v).map { $0 - h * $1 })
    return zip(plus, minus).map { ($0 - $1) / (2 * h) }
  }
}
