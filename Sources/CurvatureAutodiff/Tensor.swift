import CurvatureNumerics

/// A differentiable array: an `NDArray` value, optionally recorded on the reverse-mode
/// graph (when it requires gradients) and optionally carrying a forward-mode tangent.
///
/// Operations on tensors build the graph as they run (define-by-run, like PyTorch). Every
/// operation's derivative rules — its pullback (VJP) and its differential (JVP) — are
/// themselves written in tensor operations, so derivatives can be differentiated again:
/// `gradient` of `gradient` (reverse-over-reverse) and the tangent of a gradient
/// (forward-over-reverse, the Hessian-vector product) both work.
///
/// ```swift
/// let x = Tensor<Double>(NDArray([1, 2, 3]))
/// let (value, g) = valueAndGradient(at: x) { x in (x * x).sum() }   // 14, [2, 4, 6]
/// let hv = hessianVectorProduct(at: [x], along: [Tensor(NDArray([1, 0, 0]))]) { xs in
///   (xs[0] * xs[0] * xs[0]).sum()
/// }                                                                  // [6, 0, 0]
/// ```
public struct Tensor<Scalar: BLASScalar>: Sendable {
  /// The tensor's value.
  public let value: NDArray<Scalar>
  /// The reverse-mode graph node, present when the tensor depends on a tensor that
  /// requires gradients and operations were being recorded.
  let node: GraphNode<Scalar>?
  /// The forward-mode tangent, present when the tensor depends on a tensor with a tangent.
  let tangentBox: TangentBox<Scalar>?

  init(value: NDArray<Scalar>, node: GraphNode<Scalar>?, tangent: Tensor?) {
    if let tangent {
      precondition(tangent.shape == value.shape, "tangent of shape \(tangent.shape) for tensor of shape \(value.shape)")
    }
    self.value = value
    self.node = node
    self.tangentBox = tangent.map(TangentBox.init)
  }

  /// A constant tensor (no gradient, no tangent).
  public init(_ value: NDArray<Scalar>) {
    self.init(value: value, node: nil, tangent: nil)
  }

  /// A constant tensor from a shape and row-major scalars.
  public init(shape: [Int], scalars: [Scalar]) {
    self.init(NDArray(shape: shape, scalars: scalars))
  }

  /// A constant rank-0 tensor.
  public init(scalar: Scalar) {
    self.init(NDArray(scalar: scalar))
  }

  /// A constant tensor of zeros.
  public init(zeros shape: [Int]) {
    self.init(NDArray(zeros: shape))
  }

  /// The extent of each axis.
  public var shape: [Int] { value.shape }
  /// The number of axes.
  public var rank: Int { value.rank }
  /// The number of elements.
  public var count: Int { value.count }
  /// The single element of a one-element tensor.
  public var scalar: Scalar { value.scalar }

  /// Whether gradients flow to this tensor (it is a leaf requiring gradients, or was
  /// computed from one while operations were recorded).
  public var requiresGradient: Bool { node != nil }

  /// The forward-mode tangent, if the tensor carries one.
  public var tangent: Tensor? { tangentBox?.tensor }

  /// A leaf of the reverse-mode graph with this value and tangent: gradients can be taken
  /// with respect to it. A tensor already on the graph becomes a new leaf *connected* to
  /// its origin (through an identity), so nested differentiation sees through it.
  public func requiringGradient() -> Tensor {
    if node != nil && AutodiffMode.current.recordsOperations { return identity() }
    return Tensor(value: value, node: GraphNode(leafOfShape: shape), tangent: tangent)
  }

  /// The same value and graph node with `tangent` as its forward-mode tangent.
  /// - Precondition: The tensor carries no tangent yet (one level of forward mode).
  public func withTangent(_ tangent: Tensor) -> Tensor {
    precondition(tangentBox == nil, "withTangent: the tensor already carries a tangent; nested forward mode is not supported")
    precondition(tangent.shape == shape, "withTangent: tangent shape \(tangent.shape) differs from tensor shape \(shape)")
    return Tensor(value: value, node: node, tangent: tangent)
  }

  /// The value alone: no graph node and no tangent (a stop-gradient).
  public func detached() -> Tensor { Tensor(value) }

  /// The same tensor without its forward-mode tangent.
  public func droppingTangent() -> Tensor { Tensor(value: value, node: node, tangent: nil) }

  /// An identity operation: a new graph node whose pullback and differential pass through.
  func identity() -> Tensor {
    Tensor.primitive(value, inputs: [self], pullback: { g, _ in [g] }, differential: { t in t[0] })
  }
}

/// Indirection for the tangent, which is itself a `Tensor`.
final class TangentBox<Scalar: BLASScalar>: Sendable {
  let tensor: Tensor<Scalar>
  init(_ tensor: Tensor<Scalar>) { self.tensor = tensor }
}

extension Tensor: CustomStringConvertible {
  /// The value, and whether the tensor requires a gradient or carries a tangent.
  public var description: String {
    var flags = [String]()
    if requiresGradient { flags.append("requires gradient") }
    if tangentBox != nil { flags.append("with tangent") }
    return "Tensor(\(value)\(flags.isEmpty ? "" : ", " + flags.joined(separator: ", ")))"
  }
}
