import Synchronization
import CurvatureNumerics

/// A node of the reverse-mode graph: the inputs' nodes and the pullback that maps the
/// output's cotangent to the inputs' cotangents. Immutable once made; the graph lives as
/// long as some tensor refers to it, so intermediates are freed with the last tensor.
final class GraphNode<Scalar: BLASScalar>: Sendable {
  /// Creation order: every node is made after its inputs, so decreasing ids are a
  /// reverse topological order.
  let id: Int
  /// The nodes of the operation's inputs (nil for inputs that need no gradient).
  let inputs: [GraphNode?]
  /// Input cotangents from the output cotangent; `needed[i]` says which are wanted.
  let pullback: (@Sendable (Tensor<Scalar>, [Bool]) -> [Tensor<Scalar>?])?
  /// The shape of the tensor this node produced.
  let shape: [Int]
  /// The output tangent from the inputs' tangents (nil meaning zero), kept only when the
  /// node was recorded with `AutodiffMode.recordsDifferentials` (for `replayedTangent`).
  let differential: (@Sendable ([Tensor<Scalar>?]) -> Tensor<Scalar>?)?

  init(leafOfShape shape: [Int]) {
    id = GraphClock.tick()
    inputs = []
    pullback = nil
    differential = nil
    self.shape = shape
  }

  init(
    shape: [Int], inputs: [GraphNode?], pullback: @escaping @Sendable (Tensor<Scalar>, [Bool]) -> [Tensor<Scalar>?],
    differential: (@Sendable ([Tensor<Scalar>?]) -> Tensor<Scalar>?)? = nil
  ) {
    id = GraphClock.tick()
    self.inputs = inputs
    self.pullback = pullback
    self.differential = differential
    self.shape = shape
  }
}

/// The global creation counter of graph nodes.
enum GraphClock {
  static let counter = Atomic<Int>(0)
  static func tick() -> Int { counter.add(1, ordering: .relaxed).newValue }
}

/// What the autodiff core records while operations run.
public struct AutodiffMode: Sendable {
  /// Record operations on the reverse-mode graph (off inside a pullback unless a graph of
  /// the derivative is being built, and inside `withoutRecording`).
  public var recordsOperations = true

  /// How many transforms (`gradient`, `vjp`, …) are evaluating their function around this
  /// point. Inside one, a nested transform records its backward pass, so the outer one can
  /// differentiate through it (a gradient penalty, or `J v` as the derivative of `Jᵀu`).
  public internal(set) var nestingDepth = 0

  /// Propagate forward-mode tangents. Curvature operators turn this off for a reverse pass
  /// whose saved tensors carry tangents they do not need (the `Jᵀ` half of a GGN product).
  var propagatesTangents = true

  /// Record the operations that compute tangents on the reverse-mode graph (needed only to
  /// differentiate a Jacobian-vector product in reverse mode).
  var recordsTangentOperations = true

  /// Keep every recorded node's differential, so tangents can be pushed through the
  /// recorded graph later, once per direction, without evaluating the function again
  /// (`replayedTangent`; products with several columns share one forward pass).
  var recordsDifferentials = false

  /// The mode in effect for the current task or thread.
  @TaskLocal public static var current = AutodiffMode()

  /// Runs `body` without recording operations: results carry no graph nodes, though
  /// forward-mode tangents still propagate.
  public static func withoutRecording<R>(_ body: () throws -> R) rethrows -> R {
    var mode = current
    mode.recordsOperations = false
    return try $current.withValue(mode, operation: body)
  }

  /// Runs a transform's function: recording on, one level deeper.
  static func evaluatingTransform<R>(_ body: () throws -> R) rethrows -> R {
    var mode = current
    mode.recordsOperations = true
    mode.nestingDepth += 1
    return try $current.withValue(mode, operation: body)
  }

  /// Whether a transform called here must record its backward pass: it is nested inside
  /// another transform's function, or its inputs are already on a recorded graph.
  static func transformNeedsGraph<T>(inputs: [Tensor<T>]) -> Bool {
    guard current.recordsOperations else { return false }
    return current.nestingDepth > 0 || inputs.contains { $0.node != nil }
  }

  /// Runs `body` with the given tangent switches.
  package static func with<R>(
    propagatesTangents: Bool? = nil, recordsTangentOperations: Bool? = nil, recordsDifferentials: Bool? = nil, _ body: () throws -> R
  ) rethrows -> R {
    var mode = current
    if let propagatesTangents { mode.propagatesTangents = propagatesTangents }
    if let recordsTangentOperations { mode.recordsTangentOperations = recordsTangentOperations }
    if let recordsDifferentials { mode.recordsDifferentials = recordsDifferentials }
    return try $current.withValue(mode, operation: body)
  }

  package static func recording<R>(_ records: Bool, _ body: () throws -> R) rethrows -> R {
    if current.recordsOperations == records { return try body() }
    var mode = current
    mode.recordsOperations = records
    return try $current.withValue(mode, operation: body)
  }
}

extension Tensor {
  /// The result of a differentiable primitive operation.
  ///
  /// - Parameters:
  ///   - value: The computed output.
  ///   - inputs: The tensors the output was computed from.
  ///   - pullback: Maps the output cotangent to input cotangents (in tensor operations,
  ///     so it is differentiable); `needed[i]` is false for inputs that need none.
  ///   - differential: Maps input tangents (nil meaning zero) to the output tangent, in
  ///     tensor operations; called only when some input carries a tangent.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func primitive(
    _ value: NDArray<Scalar>, inputs: [Tensor],
    pullback: @escaping @Sendable (Tensor, [Bool]) -> [Tensor?],
    differential: @escaping @Sendable ([Tensor?]) -> Tensor?
  ) -> Tensor {
    // Specialized (above), as are matmul, arithmetic and the backward pass: the tensor
    // layer is called generically from other modules, and unspecialized, every operation
    // looked up the metadata of its arrays of tensors and closures.
    var node: GraphNode<Scalar>? = nil
    if AutodiffMode.current.recordsOperations && inputs.contains(where: { $0.node != nil }) {
      // Closures, not key paths: a key path in this (unspecialized) generic code is
      // instantiated, with a demangling lookup, on every operation.
      node = GraphNode(
        shape: value.shape, inputs: inputs.map { $0.node }, pullback: pullback,
        differential: AutodiffMode.current.recordsDifferentials ? differential : nil)
    }
    var tangent: Tensor? = nil
    let mode = AutodiffMode.current
    if mode.propagatesTangents && inputs.contains(where: { $0.tangentBox != nil }) {
      tangent = mode.recordsTangentOperations || !mode.recordsOperations
        ? differential(inputs.map { $0.tangent })
        : AutodiffMode.recording(false) { differential(inputs.map { $0.tangent }) }
    }
    return Tensor(value: value, node: node, tangent: tangent)
  }

  /// Whether derivative rules must use differentiable operations on this tensor (it is on
  /// the graph while recording, or carries a tangent); otherwise they may use its value.
  var isLive: Bool {
    (node != nil && AutodiffMode.current.recordsOperations) || tangentBox != nil
  }
}
