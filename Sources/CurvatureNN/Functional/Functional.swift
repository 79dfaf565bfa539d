import CurvatureNumerics
import CurvatureAutodiff

/// PyTorch's functional operations (`torch.nn.functional` and a few `torch` functions) on
/// differentiable tensors: the building blocks of a model read as a graph (format 2 of
/// `model.json`, see `docs/ModelFormat.md`).
///
/// Every operation is composed of the differentiable primitives of `CurvatureAutodiff`
/// (broadcast arithmetic, matmuls through BLAS, reductions, gathers, unfold), so its
/// reverse-mode and forward-mode derivatives, and their nestings up to Hessian-vector
/// products, come out right in `Float` and `Double`. Where PyTorch's derivative of a
/// piecewise function picks a branch at a kink (ReLU, ELU, max pooling ties), these pick
/// the same one.
///
/// The functions expect attributes and shapes already validated (the graph loader checks
/// them and throws a `FileFormatError` naming the node); they trap only on shapes or
/// attributes that break those documented preconditions, never on values.
public enum Functional {}

/// How `Functional.scaledDotProductAttention` reads its mask (the `mask_kind` attribute).
public enum AttentionMaskKind: String, Sendable, Hashable, CaseIterable {
  /// A boolean mask as 0/1 numbers: 1 lets the query attend to the key, 0 masks it out
  /// (its score becomes `-∞`), as PyTorch's `attn_mask` of dtype `bool`.
  case boolean = "bool"
  /// A floating-point mask added to the scaled scores before the softmax (`-∞` masks out).
  case additive
}

/// The form of GELU (PyTorch's `approximate` argument of `F.gelu`).
public enum GELUApproximation: String, Sendable, Hashable, CaseIterable {
  /// The exact `x Φ(x)`.
  case none
  /// `x/2 · (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
  case tanh
}

extension Functional {
  /// The entries of `x` where `keep` is true and exact zeros elsewhere, as a gather, so
  /// that no value of `x` (not even an infinity) leaks into the dropped entries, and their
  /// derivatives are exactly zero.
  static func keeping<S: BLASScalar>(_ x: Tensor<S>, where keep: [Bool]) -> Tensor<S> {
    precondition(keep.count == x.count, "internal error: \(keep.count) flags for \(x.count) entries")
    if !keep.contains(false) { return x }
    var indices = [Int](repeating: -1, count: keep.count)
    for i in keep.indices where keep[i] { indices[i] = i }
    return x.gathering(flatIndices: indices, shape: x.shape)
  }

  /// A constant tensor of `shape` whose entries are `value` where `flags` is true and
  /// zero elsewhere.
  static func constant<S: BLASScalar>(_ value: S, where flags: [Bool], shape: [Int]) -> Tensor<S> {
    Tensor(NDArray(shape: shape, scalars: flags.map { $0 ? value : 0 }))
  }
}
