import CurvatureNumerics

// The function transforms of the autodiff core, as plain functions (like JAX and MLX):
// gradients, vector-Jacobian and Jacobian-vector products, Hessian-vector products.

/// The cotangents of `targets` for output cotangents `seeds` — PyTorch's
/// `torch.autograd.grad(outputs, inputs, grad_outputs, create_graph)`.
///
/// - Parameters:
///   - outputs: Tensors computed from the targets.
///   - seeds: One cotangent per output, shaped like it.
///   - targets: Tensors that require gradients.
///   - createGraph: Record the backward pass so the results can be differentiated again.
/// - Returns: `Σ_k seeds[k]ᵀ ∂outputs[k]/∂target` per target (zeros where unconnected).
/// - Complexity: One pass over the graph between outputs and targets.
public func gradients<T: BLASScalar>(
  of outputs: [Tensor<T>], seeds: [Tensor<T>], wrt targets: [Tensor<T>], createGraph: Bool = false
) -> [Tensor<T>] {
  Backpropagation.cotangents(of: outputs, seeds: seeds, wrt: targets, createGraph: createGraph)
}

/// The value of a scalar function and its gradients with respect to several inputs.
///
/// Inside another differentiation (the inputs already require gradients or carry
/// tangents) the gradients stay differentiable, so transforms nest: the gradient of a
/// gradient, or a Hessian-vector product through `hessianVectorProduct`.
///
/// ```swift
/// let (loss, grads) = valueAndGradient(at: [w, b]) { p in
///   (matmul(x, p[0], transposeB: true) + p[1] - y).squared().mean()
/// }
/// ```
/// - Parameters:
///   - inputs: The points at which to differentiate.
///   - f: A function returning a one-element tensor.
/// - Returns: `f(inputs)` and `∇f` for each input, shaped like it.
/// - Complexity: About 3 evaluations of `f`.
public func valueAndGradient<T: BLASScalar>(
  at inputs: [Tensor<T>], of f: ([Tensor<T>]) -> Tensor<T>
) -> (value: Tensor<T>, gradients: [Tensor<T>]) {
  let nested = AutodiffMode.transformNeedsGraph(inputs: inputs)
  let leaves = AutodiffMode.recording(true) { inputs.map { $0.requiringGradient() } }
  let y = AutodiffMode.evaluatingTransform { f(leaves) }
  precondition(y.count == 1, "gradient: the function returned shape \(y.shape); it must return one element")
  let seed = Tensor<T>(NDArray(repeating: 1, shape: y.shape))
  guard y.node != nil else {
    return (y, inputs.map { Tensor(zeros: $0.shape) })
  }
  let grads = Backpropagation.cotangents(of: [y], seeds: [seed], wrt: leaves, createGraph: nested)
  return (nested ? y : y.droppingGraph(), grads)
}

/// The value of a scalar function of one input and its gradient.
/// - Complexity: About 3 evaluations of `f`.
public func valueAndGradient<T: BLASScalar>(
  at input: Tensor<T>, of f: (Tensor<T>) -> Tensor<T>
) -> (value: Tensor<T>, gradient: Tensor<T>) {
  let (value, grads) = valueAndGradient(at: [input]) { f($0[0]) }
  return (value, grads[0])
}

/// The gradient of a scalar function of one input.
/// - Complexity: About 3 evaluations of `f`.
public func gradient<T: BLASScalar>(at input: Tensor<T>, of f: (Tensor<T>) -> Tensor<T>) -> Tensor<T> {
  valueAndGradient(at: input, of: f).gradient
}

/// The gradients of a scalar function with respect to several inputs.
/// - Complexity: About 3 evaluations of `f`.
public func gradient<T: BLASScalar>(at inputs: [Tensor<T>], of f: ([Tensor<T>]) -> Tensor<T>) -> [Tensor<T>] {
  valueAndGradient(at: inputs, of: f).gradients
}

/// The vector-Jacobian product (reverse mode): `f(x)` and `uᵀ ∂f/∂xᵢ` for each input.
///
/// - Parameters:
///   - inputs: The points at which to differentiate.
///   - cotangent: `u`, shaped like `f(inputs)`.
///   - f: Any tensor function.
/// - Returns: The value and one cotangent per input.
/// - Complexity: About 3 evaluations of `f`.
public func vjp<T: BLASScalar>(
  at inputs: [Tensor<T>], cotangent: Tensor<T>, of f: ([Tensor<T>]) -> Tensor<T>
) -> (value: Tensor<T>, cotangents: [Tensor<T>]) {
  let nested = AutodiffMode.transformNeedsGraph(inputs: inputs + [cotangent])
  let leaves = AutodiffMode.recording(true) { inputs.map { $0.requiringGradient() } }
  let y = AutodiffMode.evaluatingTransform { f(leaves) }
  precondition(y.shape == cotangent.shape, "vjp: cotangent shape \(cotangent.shape) differs from output shape \(y.shape)")
  guard y.node != nil else { return (y, inputs.map { Tensor(zeros: $0.shape) }) }
  let result = Backpropagation.cotangents(of: [y], seeds: [cotangent], wrt: leaves, createGraph: nested)
  return (nested ? y : y.droppingGraph(), result)
}

/// The Jacobian-vector product (forward mode): `f(x)` and `Σᵢ ∂f/∂xᵢ vᵢ`.
///
/// Tangents travel with the values through one evaluation of `f`; no graph is stored.
/// - Parameters:
///   - inputs: The points at which to differentiate.
///   - tangents: One tangent per input, shaped like it.
///   - f: Any tensor function.
/// - Returns: The value and its tangent (zeros if `f` ignores its inputs).
/// - Complexity: About 2 evaluations of `f`.
public func jvp<T: BLASScalar>(
  at inputs: [Tensor<T>], tangents: [Tensor<T>], of f: ([Tensor<T>]) -> Tensor<T>
) -> (value: Tensor<T>, tangent: Tensor<T>) {
  precondition(inputs.count == tangents.count, "jvp: \(inputs.count) inputs, \(tangents.count) tangents")
  let duals = zip(inputs, tangents).map { $0.withTangent($1) }
  let y = f(duals)
  return (y.droppingTangent(), y.tangent ?? Tensor(zeros: y.shape))
}

/// The Hessian-vector product `∇²f(x) v` of a scalar function, by forward-over-reverse:
/// the tangent of the gradient along `v`.
///
/// - Parameters:
///   - inputs: The points at which to differentiate.
///   - directions: `v`, one block per input, shaped like it.
///   - f: A function returning a one-element tensor.
/// - Returns: `Σⱼ ∂²f/∂xᵢ∂xⱼ vⱼ` for each input `i`.
/// - Complexity: About 2 gradient evaluations.
public func hessianVectorProduct<T: BLASScalar>(
  at inputs: [Tensor<T>], along directions: [Tensor<T>], of f: ([Tensor<T>]) -> Tensor<T>
) -> [Tensor<T>] {
  precondition(inputs.count == directions.count, "hessianVectorProduct: \(inputs.count) inputs, \(directions.count) directions")
  let duals = zip(inputs, directions).map { $0.withTangent($1) }
  let grads = gradient(at: duals, of: f)
  return zip(grads, inputs).map { g, x in g.tangent ?? Tensor(zeros: x.shape) }
}

extension Tensor {
  /// The same value and tangent without the graph node.
  func droppingGraph() -> Tensor { Tensor(value: value, node: nil, tangent: tangent) }
}
