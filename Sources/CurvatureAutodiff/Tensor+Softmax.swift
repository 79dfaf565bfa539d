// Log-sum-exp, softmax and log-softmax. Each one subtracts the maximum along the reduced
// axes first, as a constant: the shift cancels in the value, so it carries no derivative
// and leaving it out of the graph is exact. Log-sum-exp is composed of differentiable
// operations. Softmax and log-softmax are primitives (issue 17: a transformer's attention
// and loss spent much of their backward pass in the rules of the five operations that
// spell them out): the value from array kernels, in the order of those operations (so with
// their bits), and one product rule each, written in differentiable operations on the
// softmax of the input when the input is live, so derivatives of every order stay right.

import CurvatureNumerics

extension Tensor {
  /// `log Σ exp(x)` over `axes`, computed stably (PyTorch's `torch.logsumexp`).
  ///
  /// The maximum `m` along `axes` is subtracted as a constant, `m + log Σ exp(x − m)`, so
  /// no exponential overflows; an infinite maximum is replaced by 0 as in PyTorch, so a
  /// slice of all `-∞` gives `-∞` and a slice containing `+∞` gives `+∞`. The gradient is
  /// `softmax(x)` along `axes`, and second derivatives come out right because every step
  /// is a differentiable operation.
  ///
  /// - Parameters:
  ///   - axes: The axes to reduce (negative axes count from the end); distinct.
  ///   - keepingDimensions: Keep the reduced axes with extent 1.
  /// - Returns: The reduced tensor; an empty slice gives `-∞`.
  /// - Complexity: O(count), with one exponential and a few passes per element.
  public func logSumExp(alongAxes axes: [Int], keepingDimensions: Bool = false) -> Tensor {
    if rank == 0 && !axes.isEmpty {
      // A rank-0 tensor accepts axis 0 or -1, viewed as rank 1 (as in PyTorch).
      return reshaped([1]).logSumExp(alongAxes: axes).reshaped([])
    }
    let normalized = normalizedDistinctAxes(axes, function: "logSumExp")
    let shift = Tensor.finiteShift(maxValue(alongAxes: normalized, keepingDimensions: true))
    let kept = (self - shift).exp().sum(alongAxes: normalized, keepingDimensions: true).log() + shift
    if keepingDimensions { return kept }
    return kept.reshaped(shape.enumerated().filter { !normalized.contains($0.offset) }.map { $0.element })
  }

  /// `log Σ exp(x)` over one axis, computed stably; see `logSumExp(alongAxes:keepingDimensions:)`.
  ///
  /// - Parameters:
  ///   - axis: The axis to reduce (negative counts from the end).
  ///   - keepingDimensions: Keep the reduced axis with extent 1.
  /// - Returns: The reduced tensor.
  /// - Complexity: O(count).
  public func logSumExp(alongAxis axis: Int, keepingDimensions: Bool = false) -> Tensor {
    logSumExp(alongAxes: [axis], keepingDimensions: keepingDimensions)
  }

  /// `x − log Σ exp(x)` along `axis`, computed stably as `(x − m) − log Σ exp(x − m)` with
  /// the constant maximum `m` (PyTorch's `log_softmax(x, dim=axis)`).
  ///
  /// Large inputs stay finite (`[1000, 0]` gives `[0, −1000]`). Its gradient is
  /// `g − softmax(x) Σ g` along `axis`, its Hessian `diag(p) − p pᵀ` per slice.
  ///
  /// - Parameters:
  ///   - axis: The axis along which entries are normalized (negative counts from the end).
  /// - Returns: A tensor shaped like `self`; `exp` of it sums to 1 along `axis`.
  /// - Complexity: O(count).
  public func logSoftmax(alongAxis axis: Int = -1) -> Tensor {
    // A rank-0 tensor accepts axis 0 or -1, viewed as rank 1 (as in PyTorch).
    if rank == 0 { return reshaped([1]).logSoftmax(alongAxis: axis).reshaped([]) }
    let a = normalizedDistinctAxes([axis], function: "logSoftmax")
    let shifted = NDArray.binary(.subtract, value, value.reduced(.max, axes: a, keepingDimensions: true))
    let output = NDArray.binary(
      .subtract, shifted, shifted.map(.exp).reduced(.sum, axes: a, keepingDimensions: true).map(.log))
    // The Jacobian is I − 1 pᵀ per slice (p = softmax): cotangents map to g − p Σ g,
    // tangents to v − Σ p ⊙ v.
    return Tensor.primitive(
      output, inputs: [self],
      pullback: { g, _ in [g - softmaxFactor(logSoftmax: output, axes: a) * g.sum(alongAxes: a, keepingDimensions: true)] },
      differential: { t in
        t[0].map { v in
          v - (droppingTangent().softmaxFactor(logSoftmax: output, axes: a) * v).sum(alongAxes: a, keepingDimensions: true)
        }
      })
  }

  /// `exp(x) / Σ exp(x)` along `axis`, computed stably as `exp(x − m) / Σ exp(x − m)` with
  /// the constant maximum `m` (PyTorch's `softmax(x, dim=axis)`).
  ///
  /// - Parameters:
  ///   - axis: The axis along which entries are normalized (negative counts from the end).
  /// - Returns: A tensor shaped like `self`, nonnegative and summing to 1 along `axis`.
  /// - Complexity: O(count).
  public func softmax(alongAxis axis: Int = -1) -> Tensor {
    // A rank-0 tensor accepts axis 0 or -1, viewed as rank 1 (as in PyTorch).
    if rank == 0 { return reshaped([1]).softmax(alongAxis: axis).reshaped([]) }
    let a = normalizedDistinctAxes([axis], function: "softmax")
    let e = NDArray.binary(.subtract, value, value.reduced(.max, axes: a, keepingDimensions: true)).map(.exp)
    let output = NDArray.binary(.divide, e, e.reduced(.sum, axes: a, keepingDimensions: true))
    // The Jacobian diag(p) − p pᵀ per slice is symmetric: cotangents and tangents alike map
    // to p ⊙ (v − Σ p ⊙ v).
    return Tensor.primitive(
      output, inputs: [self],
      pullback: { g, _ in [softmaxProduct(g, softmax: output, axes: a)] },
      differential: { t in t[0].map { droppingTangent().softmaxProduct($0, softmax: output, axes: a) } })
  }

  /// `p ⊙ (v − Σ p ⊙ v)` along `axes`, with `p` the softmax of `self` (`softmax`, its
  /// value): recomputed as a differentiable tensor when `self` is live, else the constant.
  private func softmaxProduct(_ v: Tensor, softmax: NDArray<Scalar>, axes: [Int]) -> Tensor {
    let p = isLive ? self.softmax(alongAxis: axes[0]) : Tensor(softmax)
    return p * (v - (p * v).sum(alongAxes: axes, keepingDimensions: true))
  }

  /// The softmax of `self` along `axes` as the factor of a log-softmax rule: `exp` of the
  /// log-softmax value, as a differentiable tensor when `self` is live (the same bits
  /// either way, so a replayed forward pass and a fresh one agree exactly).
  private func softmaxFactor(logSoftmax: NDArray<Scalar>, axes: [Int]) -> Tensor {
    isLive ? self.logSoftmax(alongAxis: axes[0]).exp() : Tensor(logSoftmax.map(.exp))
  }

  /// `axes` made nonnegative, checked to be in range and distinct.
  private func normalizedDistinctAxes(_ axes: [Int], function: String) -> [Int] {
    let normalized = axes.map { $0 < 0 ? $0 + rank : $0 }
    precondition(
      normalized.allSatisfy { $0 >= 0 && $0 < rank },
      "\(function): axes \(axes) out of range for shape \(shape)")
    precondition(Set(normalized).count == normalized.count, "\(function): repeated axis in \(axes) for shape \(shape)")
    return normalized
  }

  /// A constant maximum with infinite entries replaced by 0, so that subtracting it never
  /// forms `∞ − ∞` (PyTorch's `logsumexp` does the same).
  private static func finiteShift(_ maximum: Tensor) -> Tensor {
    var value = maximum.value
    // One pass over the reduced array (one entry per slice), not over the input.
    value.withUnsafeMutableBufferPointer { m in
      for i in m.indices where !m[i].isFinite && !m[i].isNaN { m[i] = 0 }
    }
    return Tensor(value)
  }
}
