import CurvatureNumerics
import CurvatureAutodiff

// Where a graph's second derivatives meet the Hessian diagonal (for the backpropagated
// Hessian diagonal, BackPACK's DiagHessian; Dangel, Kunstner & Hennig 2020). By the chain
// rule on the graph, with δ_v = ∂L/∂v the loss gradient at node v's output and J_a the
// Jacobian of v's input a with respect to the parameters,
//
//   ∇²L = J_outᵀ ∇²ℓ J_out + Σ_v Σ_j δ_vj Σ_{a,b} J_aᵀ (∂²v_j/∂u_a∂u_b) J_b,
//
// so node v changes the diagonal entry of a parameter in block β only through the pairs
// (a, b) of its inputs with ∂²v/∂u_a∂u_b ≠ 0 and β among the blocks both depend on. Per op:
// - linear ops (add, sub, shape ops, sums, means, pools, masked_fill, embedding, scalar
//   add/sub/mul/div) and piecewise-linear ones (relu, leaky_relu, max pools): nothing;
// - multilinear ops (linear, conv, mul, matmul; batch_norm except its variance input): the
//   blocks two different inputs share (a head tied to the embedding, `x ⊙ x`);
// - smooth elementwise ops of a batched value (exp, log, sqrt, rsqrt, tanh, sigmoid, silu,
//   gelu, softplus, elu, pow_scalar, rdiv_scalar): a rule, the residual columns
//   `√|δ ⊙ σ''(u)|` propagated back from the op's input u ("residual nodes");
// - everything else (softmax, log_softmax, layer_norm and rms_norm in their input, attention
//   in query, key and mask, div in its divisor, smooth ops on values without the batch
//   axis, batch_norm's variance): no rule here; the blocks its nonlinear inputs depend on,
//   and those two inputs share, are "unsupported".

/// How a graph's second-order terms enter the Hessian diagonal of some parameter blocks.
package struct GraphSecondOrderPlan: Sendable {
  /// Batched smooth elementwise nodes whose input depends on a block: their residual
  /// columns are backpropagated.
  package var residualNodes: [Int]
  /// For each of `residualNodes`, the blocks its input depends on.
  package var residualBlocks: [[Int]]
  /// For each of `residualNodes`, the elements of its input per data point.
  package var residualWidths: [Int]
  /// Blocks touched by a second-order term without a rule, each with the first node that
  /// touches it (`'name' (op)`).
  package var unsupported: [Int: String]
}

extension GraphModel {
  /// The second-order terms of the graph for the Hessian diagonal of `blocks` (see above).
  /// - Complexity: One pass over the nodes with sets of blocks.
  package func secondOrderPlan(blocks: Set<Int>) -> GraphSecondOrderPlan {
    let firstParameter = inputSpecs.count
    let firstNode = firstParameter + parameterSpecs.count + bufferSpecs.count
    var dependencies = [Set<Int>](repeating: [], count: firstNode + nodes.count)
    for b in blocks { dependencies[firstParameter + b] = [b] }
    var plan = GraphSecondOrderPlan(residualNodes: [], residualBlocks: [], residualWidths: [], unsupported: [:])
    for (index, node) in nodes.enumerated() {
      let d = node.inputs.map { dependencies[$0] }
      dependencies[firstNode + index] = d.reduce(into: Set<Int>()) { $0.formUnion($1) }
      /// Blocks shared by two different inputs.
      func shared(_ positions: [Int]? = nil) -> Set<Int> {
        let p = (positions ?? Array(d.indices)).filter { $0 < d.count }
        var result = Set<Int>()
        for (i, a) in p.enumerated() { for b in p[(i + 1)...] { result.formUnion(d[a].intersection(d[b])) } }
        return result
      }
      func of(_ positions: [Int]) -> Set<Int> {
        positions.filter { $0 < d.count }.reduce(into: Set<Int>()) { $0.formUnion(d[$1]) }
      }
      var touched = Set<Int>()
      switch node.op.secondOrderKind {
      case .linear:
        break
      case .multilinear:
        touched = shared()
      case let .nonlinear(inputs):
        touched = of(inputs).union(shared())
      case .elementwise:
        guard !d[0].isEmpty else { break }
        if node.batched {
          plan.residualNodes.append(index)
          plan.residualBlocks.append(d[0].sorted())
          plan.residualWidths.append(node.shape.dropFirst().reduce(1, *))
        } else {
          touched = d[0]
        }
      }
      for b in touched where plan.unsupported[b] == nil {
        plan.unsupported[b] = "'\(node.name)' (\(node.op.kroneckerLabel))"
      }
    }
    return plan
  }

  /// The value of node `index` for the given input tensors (a batch of `batchSize`).
  /// - Precondition: The inputs fit the node.
  package func evaluateNode(_ index: Int, _ inputs: [Tensor<Scalar>], batchSize: Int) -> Tensor<Scalar> {
    nodes[index].evaluate(inputs, batchSize: batchSize)
  }
}

extension GraphOp {
  /// How the op's second derivatives look (see the file's comment).
  enum SecondOrderKind {
    /// Linear or piecewise linear in all inputs.
    case linear
    /// Affine in each input separately.
    case multilinear
    /// Elementwise in input 0 with a nonzero second derivative.
    case elementwise
    /// Nonlinear in `inputs` without a rule (and multilinear in the others).
    case nonlinear(inputs: [Int])
  }

  var secondOrderKind: SecondOrderKind {
    switch self {
    case .linear, .conv, .matmul, .binary(.mul): return .multilinear
    case .batchNorm: return .nonlinear(inputs: [2])
    case .binary(.div): return .nonlinear(inputs: [1])
    case .binary(.add), .binary(.sub), .embedding, .maxPool, .avgPool, .adaptiveAvgPool, .leakyReLU, .concat, .slice, .select,
      .reshape, .permute, .expand, .reduction, .maskedFill:
      return .linear
    case let .scalar(kind, value):
      switch kind {
      case .add, .sub, .rsub, .mul, .div: return .linear
      case .rdiv: return .elementwise
      case .pow: return value == 0 || value == 1 ? .linear : .elementwise
      }
    case let .unary(kind):
      switch kind {
      case .neg, .relu, .identity: return .linear
      case .exp, .log, .sqrt, .rsqrt, .tanh, .sigmoid: return .elementwise
      }
    case .silu, .gelu, .softplus, .elu: return .elementwise
    case .softmax: return .nonlinear(inputs: [0])
    case .layerNorm, .rmsNorm: return .nonlinear(inputs: [0])
    case .attention: return .nonlinear(inputs: [0, 1, 3])
    }
  }
}
