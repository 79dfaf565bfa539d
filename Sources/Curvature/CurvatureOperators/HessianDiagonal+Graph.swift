import CurvatureNumerics
import CurvatureLinearAlgebra
import CurvatureAutodiff
import CurvatureNN

// The exact Hessian diagonal of a graph model by second-order backpropagation (BackPACK's
// DiagHessian; Dangel, Kunstner & Hennig 2020), and the rule for where it is replaced by
// unit products. The diagonal of a block is its GGN diagonal (backpropagated,
// CurvatureDiagonals+Graph.swift) plus, for every smooth elementwise node σ of a batched
// value u, the residual term `Σ_n Σ_j r_nj (∂u_nj/∂θ)²` with `r = δ ⊙ σ''(u)` and δ the loss
// gradient at σ's output: one reverse pass from u per element j of a data point, seeded with
// `√|r_nj|` for all data points at once, and the squares of the per-data-point gradients
// summed with the sign of r (data points never mix, so the pass separates them).
//
// The rule (GraphModel+SecondOrder.swift lists each op): a block that a second-order term
// without a rule touches (softmax, attention, norms in their input, products of two values
// that depend on the block, a tied head) gets its diagonal entries from products with unit
// vectors, `H e_i` for its parameters only; all other blocks are backpropagated. When no block
// can be backpropagated, or the residual columns outnumber four times the backpropagated
// parameters (then unit products are cheaper), the whole diagonal comes from unit products.

/// How `HessianOperator.diagonal()` computes the exact Hessian diagonal: which parameter
/// blocks are backpropagated (BackPACK's DiagHessian) and which come from Hessian-vector
/// products with unit vectors, and why.
public struct HessianDiagonalPlan: Sendable, CustomStringConvertible {
  /// The selected blocks (model indices) whose diagonal is backpropagated.
  public let backpropagatedBlocks: [Int]
  /// The selected blocks whose diagonal comes from products with unit vectors.
  public let unitProductBlocks: [Int]
  /// The number of parameters in `backpropagatedBlocks`.
  public let backpropagatedCount: Int
  /// The number of parameters in `unitProductBlocks` (Hessian-vector products spent).
  public let unitProductCount: Int
  /// Why some blocks take unit products (nil when none do).
  public let reason: String?

  /// One line: the parameters of each path and the reason.
  public var description: String {
    let total = backpropagatedCount + unitProductCount
    if unitProductBlocks.isEmpty {
      return "Hessian diagonal: backpropagated (DiagHessian) for all \(total) parameters"
    }
    let why = reason.map { " (\($0))" } ?? ""
    if backpropagatedBlocks.isEmpty {
      return "Hessian diagonal: unit products for all \(total) parameters\(why)"
    }
    func blocks(_ count: Int) -> String { count == 1 ? "1 block" : "\(count) blocks" }
    return "Hessian diagonal: backpropagated (DiagHessian) for \(backpropagatedCount) parameters in \(blocks(backpropagatedBlocks.count)), "
      + "unit products for \(unitProductCount) parameters in \(blocks(unitProductBlocks.count))\(why)"
  }
}

extension CurvatureProblem {
  /// The plan of the exact Hessian diagonal (see the file's comment), with the graph nodes
  /// whose residual columns the backpropagated blocks need.
  func hessianDiagonalPlan() -> (plan: HessianDiagonalPlan, residualNodes: [Int]) {
    func plan(back: [Int], unit: [Int], reason: String?) -> HessianDiagonalPlan {
      let count = { (blocks: [Int]) in blocks.reduce(0) { $0 + self.model.parameterSpecs[$1].count } }
      return HessianDiagonalPlan(
        backpropagatedBlocks: back, unitProductBlocks: unit, backpropagatedCount: count(back), unitProductCount: count(unit),
        reason: reason)
    }
    if model is Sequential<Scalar> {
      if let obstacle = sequentialHessianDiagonalObstacle() { return (plan(back: [], unit: blocks, reason: obstacle), []) }
      return (plan(back: blocks, unit: [], reason: nil), [])
    }
    guard let graph = model as? GraphModel<Scalar> else {
      return (plan(back: [], unit: blocks, reason: "no second-order backpropagation for this kind of model"), [])
    }
    let analysis = graph.secondOrderPlan(blocks: Set(blocks))
    let unit = blocks.filter { analysis.unsupported[$0] != nil }
    let back = blocks.filter { analysis.unsupported[$0] == nil }
    var nodes = [String]()
    for b in unit where !nodes.contains(analysis.unsupported[b]!) { nodes.append(analysis.unsupported[b]!) }
    let listed = nodes.prefix(3).joined(separator: ", ") + (nodes.count > 3 ? " and \(nodes.count - 3) more" : "")
    let noRule = "second-order terms without a rule at \(listed)"
    guard !back.isEmpty else { return (plan(back: [], unit: blocks, reason: noRule), []) }
    let backSet = Set(back)
    var residual = [Int](), columns = 0
    for (i, node) in analysis.residualNodes.enumerated() where !backSet.isDisjoint(with: analysis.residualBlocks[i]) {
      residual.append(node)
      columns += analysis.residualWidths[i]
    }
    let backCount = back.reduce(0) { $0 + model.parameterSpecs[$1].count }
    if columns > 4 * backCount {
      let reason = "\(columns) residual columns for \(backCount) backpropagated parameters: unit products are cheaper"
        + (unit.isEmpty ? "" : "; \(noRule)")
      return (plan(back: [], unit: blocks, reason: reason), [])
    }
    return (plan(back: back, unit: unit, reason: unit.isEmpty ? nil : noRule), residual)
  }

  /// The exact Hessian diagonal of a graph model by the plan: backpropagated blocks, unit
  /// products for the others, in the order of the selected blocks.
  /// - Throws: `CurvatureError` for invalid data or non-finite values.
  func graphHessianDiagonal(_ plan: HessianDiagonalPlan, residualNodes: [Int]) throws -> NDArray<Scalar> {
    var parts = [Int: [Scalar]]()
    func scatter(_ diagonal: NDArray<Scalar>, _ selected: [Int]) {
      var offset = 0
      for b in selected.sorted() {
        let count = model.parameterSpecs[b].count
        parts[b] = Array(diagonal.scalars[offset..<(offset + count)])
        offset += count
      }
    }
    if !plan.backpropagatedBlocks.isEmpty {
      let back = try restricted(to: plan.backpropagatedBlocks)
      var diagonal = try GGNOperator(back).diagonal()
      if !residualNodes.isEmpty { diagonal.add(try back.graphResidualHessianDiagonal(residualNodes)) }
      scatter(diagonal, plan.backpropagatedBlocks)
    }
    if !plan.unitProductBlocks.isEmpty {
      let unit = try restricted(to: plan.unitProductBlocks)
      scatter(try HessianOperator(unit).diagonalByUnitProducts(), plan.unitProductBlocks)
    }
    return NDArray(blocks.flatMap { parts[$0]! })
  }

  /// The residual part of the Hessian diagonal of the selected blocks: for each residual node
  /// (a smooth elementwise node σ of a batched value u), `Σ_n Σ_j r_nj (∂u_nj/∂θ)²` with
  /// `r = δ ⊙ σ''(u)` (see the file's comment).
  /// - Throws: `CurvatureError` for invalid data or non-finite values.
  /// - Complexity: Per batch, one forward pass, one reverse pass for δ, and one reverse pass
  ///   from u per element of a data point of every residual node, with the per-data-point
  ///   work of the taps.
  func graphResidualHessianDiagonal(_ residualNodes: [Int]) throws -> NDArray<Scalar> {
    guard let graph = model as? GraphModel<Scalar> else { return NDArray(zeros: [dimension]) }
    var sums = selectedSpecs.map { NDArray<Scalar>(zeros: $0.shape) }
    let scale = 1 / Scalar(reductionFactor)
    for range in localBatchRanges {
      let batch = try checkedBatch(range)
      let pass = try perPointForward(batch, extraTaps: Set(residualNodes))
      let points = range.count
      let seed = loss.outputLayout(loss.outputGradients(pass.output.value, batch.targets), outputShape: pass.output.shape) * scale
      let deltas = AutodiffMode.withoutRecording {
        gradients(of: [pass.output], seeds: [Tensor(seed)], wrt: residualNodes.map { pass.extra[$0]!.output })
      }
      let chunk = Swift.max(1, Swift.min(32, (1 << 24) / Swift.max(points * dimension, 1)))
      for (node, delta) in zip(residualNodes, deltas) {
        let u = pass.extra[node]!.input
        let second = hessianVectorProduct(at: [Tensor(u.value)], along: [Tensor(NDArray(repeating: 1, shape: u.shape))]) {
          graph.evaluateNode(node, [$0[0]], batchSize: points).sum()
        }[0].value
        let r = NDArray.binary(.multiply, second, delta.value)
        let width = u.count / Swift.max(points, 1)
        var pending = [NDArray<Scalar>](), signs = [[Scalar]]()
        func flush() throws {
          guard !pending.isEmpty else { return }
          for (perBlock, sign) in zip(try perPointGradients(pass, seeds: pending, batch: batch, from: u), signs) {
            for (i, g) in perBlock.enumerated() { sums[i].add(g.signedSquaresSummedOverPoints(sign)) }
          }
          pending.removeAll()
          signs.removeAll()
        }
        for j in 0..<width {
          var column = [Scalar](repeating: 0, count: u.count)
          var sign = [Scalar](repeating: 0, count: points)
          for n in 0..<points {
            let value = r.scalars[n * width + j]
            column[n * width + j] = Swift.abs(value).squareRoot()
            sign[n] = value > 0 ? 1 : value < 0 ? -1 : 0
          }
          guard sign.contains(where: { $0 != 0 }) else { continue }
          pending.append(NDArray(shape: u.shape, scalars: column))
          signs.append(sign)
          if pending.count == chunk { try flush() }
        }
        try flush()
      }
    }
    var diagonal = NDArray(joinColumn(sums))
    try allReduce(&diagonal)
    try requireFiniteColumn(diagonal.scalars, "exact Hessian diagonal")
    return diagonal
  }
}

extension HessianOperator {
  /// How `diagonal()` computes the exact diagonal: which selected blocks are
  /// backpropagated (BackPACK's DiagHessian) and which take products with unit vectors,
  /// and why (its `description` is one line, which `curv diag` prints on stderr).
  ///
  /// A `Sequential` of Linear, Conv2d, activation and Flatten layers is backpropagated
  /// whole. In a `GraphModel`, a block is backpropagated unless a second-order term without
  /// a rule touches it (softmax, attention in query or key, LayerNorm/RMSNorm in their
  /// input, products of two values both depending on the block such as a tied head); those
  /// blocks alone take unit products. Everything takes unit products when no block can be
  /// backpropagated or when the residual columns of the smooth activations outnumber four
  /// times the backpropagated parameters; so do other models.
  /// - Returns: The plan.
  /// - Complexity: One pass over a graph's nodes.
  public func diagonalPlan() -> HessianDiagonalPlan { problem.hessianDiagonalPlan().plan }
}

extension NDArray {
  /// `Σ_n sign_n x_n²` over the data points of a batched array `[N, ...]`: `[...]`.
  func signedSquaresSummedOverPoints(_ signs: [Scalar]) -> NDArray {
    let per = count / Swift.max(signs.count, 1)
    var total = [Scalar](repeating: 0, count: per)
    withUnsafeBufferPointer { x in
      for (n, sign) in signs.enumerated() where sign != 0 {
        for i in 0..<per { total[i] += sign * x[n * per + i] * x[n * per + i] }
      }
    }
    return NDArray(shape: Array(shape.dropFirst()), scalars: total)
  }
}
