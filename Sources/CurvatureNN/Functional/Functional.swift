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
  /// The entries of `x` where `flags` is nonzero and exact zeros elsewhere, as a gather, so
  /// that no value of `x` (not even an infinity) leaks into the dropped entries, and their
  /// derivatives are exactly zero.
  @_specialize(where S == Float)
  @_specialize(where S == Double)
  static func keeping<S: BLASScalar>(_ x: Tensor<S>, whereNonzero flags: NDArray<S>) -> Tensor<S> {
    precondition(flags.count == x.count, "internal error: \(flags.count) flags for \(x.count) entries")
    var dropped = false
    let indices = [Int](unsafeUninitializedCapacity: flags.count) { buffer, initialized in
      flags.withUnsafeBufferPointer { f in
        for i in 0..<f.count {
          if f[i] != 0 {
            buffer[i] = i
          } else {
            buffer[i] = -1
            dropped = true
          }
        }
      }
      initialized = flags.count
    }
    return dropped ? x.gathering(flatIndices: indices, shape: x.shape) : x
  }

  /// A constant tensor shaped like `flags`: `value` where `flags` is nonzero, else zero.
  @_specialize(where S == Float)
  @_specialize(where S == Double)
  static func constant<S: BLASScalar>(_ value: S, whereNonzero flags: NDArray<S>) -> Tensor<S> {
    Tensor(NDArray(uninitializedShape: flags.shape) { result in
      flags.withUnsafeBufferPointer { f in
        for i in 0..<f.count { result[i] = f[i] != 0 ? value : 0 }
      }
    })
  }

  /// `1` where `x > threshold`, else `0` (NaN gives 0), by elementwise kernels: `x − t > 0`
  /// exactly when `x > t`, since a rounded difference keeps its sign.
  static func above<S: BLASScalar>(_ x: NDArray<S>, _ threshold: S) -> NDArray<S> {
    NDArray.binary(.subtract, x, NDArray(scalar: threshold)).map(.step)
  }

  /// `1 − flags` for 0/1 flags.
  static func complement<S: BLASScalar>(_ flags: NDArray<S>) -> NDArray<S> {
    NDArray.binary(.subtract, NDArray(scalar: 1), flags)
  }

  /// Whether any entry is nonzero (for 0/1 flags).
  static func anyNonzero<S: BLASScalar>(_ flags: NDArray<S>) -> Bool {
    flags.count > 0 && flags.reduced(.max, axes: Array(0..<flags.rank)).scalar > 0
  }
}
