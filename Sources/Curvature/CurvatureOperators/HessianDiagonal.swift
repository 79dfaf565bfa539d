import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

// The exact Hessian diagonal of a Sequential model by second-order backpropagation
// (BackPACK's DiagHessian; Dangel, Kunstner & Hennig 2020, "BackPACK: Packing more into
// backprop", ICLR). Per data point, the Hessian of the loss with respect to the input z of
// an elementwise activation σ is
//
//   ∇²_z L = diag(σ'(z)) ∇²_y L diag(σ'(z)) + diag(σ''(z) ⊙ ∇_y L),   y = σ(z),
//
// and Linear/Conv2d layers are linear in their input, so the Hessian with respect to any
// layer's output is a sum of symmetric rank-one terms: the loss Hessian's factor columns
// propagated backwards (the GGN), and for every smooth activation and feature f the
// "residual" column √|r_f| e_f, r = σ''(z) ⊙ ∇_y L, with the sign of r_f, propagated
// backwards from z. A weight's diagonal block only sees the Hessian at its layer's output,
// so its diagonal is the signed sum of squared per-term gradients of these columns.

extension CurvatureProblem {
  /// Smooth elementwise activations (non-zero second derivative); ReLU's is zero.
  static func hasCurvature(_ layer: any Layer<Scalar>) -> Bool {
    layer is Tanh<Scalar> || layer is Sigmoid<Scalar> || layer is GELU<Scalar> || layer is Softplus<Scalar>
  }

  /// The exact Hessian diagonal of a `Sequential` by backpropagated factors (see above).
  /// - Throws: `CurvatureError.unsupported` for other models, layers without a rule, loss
  ///   terms that do not map onto layer rows (see `preparePerTermInput`), or more residual
  ///   columns than four times the dimension (then unit products are cheaper); errors of
  ///   the data.
  /// - Complexity: Per batch, `C` reverse passes for the loss Hessian's factor and one
  ///   partial reverse pass per feature of every smooth activation after the first layer
  ///   with parameters.
  func backpropagatedHessianDiagonal() throws -> NDArray<Scalar> {
    if let obstacle = sequentialHessianDiagonalObstacle() { throw CurvatureError.unsupported(obstacle) }
    guard let sequential = model as? Sequential<Scalar> else { throw CurvatureError.unsupported("not a Sequential") }
    let ranges = sequential.parameterRanges
    let layers = sequential.layers.indices.filter { !ranges[$0].isEmpty }
    guard let firstParametrized = layers.first else { return NDArray(zeros: [dimension]) }
    let smooth = sequential.layers.indices.filter { $0 > firstParametrized && Self.hasCurvature(sequential.layers[$0]) }
    var blockSums = sequential.parameterSpecs.map { NDArray<Scalar>(zeros: $0.shape) }
    let scale = 1 / Scalar(reductionFactor)
    for range in localBatchRanges {
      let batch = try checkedBatch(range)
      let (output, inputs, outputs) = try tappedForward(sequential, batch, layers: Set(sequential.layers.indices))
      let factor = hessianSquareRootColumns(output.value, batch: batch) * scale.squareRoot()
      let terms = factor.shape[1]
      var prepared = [Int: PerTermInput<Scalar>]()
      for index in layers {
        prepared[index] = try preparePerTermInput(
          layer: sequential.layers[index], input: inputs[index]!, terms: terms, points: range.count, weight: true)
      }
      var finiteSquares = [Int: Bool]()
      for index in layers { finiteSquares[index] = prepared[index]!.squares?.isFinite ?? false }
      /// Adds `sign ·` the squared per-term gradients of one factor column, given the
      /// output cotangents `deltas` of `targets`.
      func accumulate(_ deltas: [NDArray<Scalar>], _ targets: [Int], sign: Scalar) throws {
        for (index, delta) in zip(targets, deltas) {
          let layer = sequential.layers[index]
          let hasBias = ranges[index].count > 1
          let first = ranges[index].lowerBound
          let sparse = finiteSquares[index]! && Self.addSparseRowSquares(
            delta: delta, squares: prepared[index]!.squares!, into: &blockSums[first], sign: sign)
          let squares = try squaredRotatedPerTermGradients(
            layer: layer, prepared: prepared[index]!, delta: delta, points: range.count, weight: !sparse, bias: hasBias)
          if !sparse { blockSums[first].add(squares.weight!.reshaped(layer.parameterSpecs[0].shape), scaledBy: sign) }
          if hasBias { blockSums[first + 1].add(squares.bias!, scaledBy: sign) }
        }
      }
      // The GGN part: the loss Hessian's factor columns from the output.
      try forEachFactorColumn(factor, output: output, tapped: layers.map { outputs[$0]! }) { try accumulate($0, layers, sign: 1) }
      guard !smooth.isEmpty else { continue }
      // The residual part: ∇_y L at every smooth activation's output in one reverse pass.
      let seed = loss.outputLayout(loss.outputGradients(output.value, batch.targets), outputShape: output.shape) * scale
      let outputGradients = AutodiffMode.withoutRecording {
        gradients(of: [output], seeds: [Tensor(seed)], wrt: smooth.map { outputs[$0]! })
      }
      for (index, g) in zip(smooth, outputGradients) {
        let layer = sequential.layers[index]
        let z = inputs[index]!
        let second = hessianVectorProduct(at: [Tensor(z)], along: [Tensor(NDArray(repeating: 1, shape: z.shape))]) {
          layer($0[0], parameters: []).sum()
        }[0].value
        let r = NDArray.binary(.multiply, second, g.value)
        let points = z.shape[0], features = z.count / Swift.max(points, 1)
        let before = layers.filter { $0 < index }
        let start = outputs[index - 1]!   // the activation's input, on the graph
        for feature in 0..<features {
          var column = [Scalar](repeating: 0, count: z.count)
          var positive = [Bool](repeating: true, count: points)
          var (anyPositive, anyNegative) = (false, false)
          for point in 0..<points {
            let value = r.scalars[point * features + feature]
            column[point * features + feature] = Swift.abs(value).squareRoot()
            positive[point] = value >= 0
            if value > 0 { anyPositive = true } else if value < 0 { anyNegative = true }
          }
          guard anyPositive || anyNegative else { continue }
          let deltas = AutodiffMode.withoutRecording {
            gradients(of: [start], seeds: [Tensor(NDArray(shape: z.shape, scalars: column))], wrt: before.map { outputs[$0]! })
          }.map(\.value)
          // Rows of other data points are zero, so the terms split by the sign of r.
          if anyPositive {
            try accumulate(anyNegative ? deltas.map { $0.keepingPoints(positive) } : deltas, before, sign: 1)
          }
          if anyNegative {
            try accumulate(anyPositive ? deltas.map { $0.keepingPoints(positive.map { !$0 }) } : deltas, before, sign: -1)
          }
        }
      }
    }
    var diagonal = NDArray(blocks.flatMap { blockSums[$0].scalars })
    try allReduce(&diagonal)
    return diagonal
  }
}

extension CurvatureProblem {
  /// Why a `Sequential`'s Hessian diagonal cannot be backpropagated (nil when it can):
  /// a layer without a rule, per-position cross-entropy, or more residual columns than four
  /// times the dimension (then unit products are cheaper).
  func sequentialHessianDiagonalObstacle() -> String? {
    guard let sequential = model as? Sequential<Scalar>, SequentialLinearization.supports(sequential) else {
      return "the backpropagated Hessian diagonal needs a Sequential of Linear, Conv2d, activation and Flatten layers"
    }
    if loss.kind == .crossEntropy && sampleOutputShape.count > 1 {
      return "per-position cross-entropy has no per-term rows"
    }
    let ranges = sequential.parameterRanges
    guard let firstParametrized = sequential.layers.indices.first(where: { !ranges[$0].isEmpty }) else { return nil }
    var residualColumns = 0
    var shape = [1] + data.inputShape
    for (index, layer) in sequential.layers.enumerated() {
      if index > firstParametrized && Self.hasCurvature(layer) { residualColumns += shape.reduce(1, *) }
      guard let next = try? layer.outputShape(for: shape) else { return "the layers' shapes do not fit the data" }
      shape = next
    }
    guard residualColumns <= 4 * Swift.max(dimension, 1) else {
      return "\(residualColumns) residual columns for \(dimension) parameters: unit products are cheaper"
    }
    return nil
  }
}

extension CurvatureProblem {
  /// Adds `sign · (δ²)ᵀ a²` to a Linear layer's weight sums `[out, in]` when δ `[rows, out]`
  /// is zero outside a few output features, computing only those rows; false (nothing
  /// added) when the dense product is to be used instead.
  ///
  /// A residual column of a smooth activation is `√|r_f| e_f` for one feature f, so the
  /// Linear layer right before the activation sees a δ with a single non-zero column: the
  /// dense `(δ²)ᵀ a²` (`squaredRotatedPerTermGradients`) spends `out` rows of a gemm and an
  /// axpy over the whole block on one non-zero row (on the benchmark MLP, half of the
  /// diagonal's flops). The rows are the same gemm on the gathered columns of δ², and with a²
  /// finite the other rows of the dense product are exact zeros, so the sums are the same
  /// bit for bit as long as BLAS computes a row of C = AᵀB the same way whatever the number
  /// of rows of C: it does in OpenBLAS's sgemm when k (the rows of δ) fits in one block of
  /// the k loop (checked for all k ≤ 300 here; its dgemm's edge tiles differ), so this path
  /// is taken for Float with at most 256 rows only.
  static func addSparseRowSquares(
    delta: NDArray<Scalar>, squares: NDArray<Scalar>, into sums: inout NDArray<Scalar>, sign: Scalar
  ) -> Bool {
    guard Scalar.self == Float.self, squares.rank == 2, sums.rank == 2 else { return false }
    let (rows, inFeatures, out) = (squares.shape[0], squares.shape[1], sums.shape[0])
    guard rows <= 256, delta.count == rows * out, sums.shape[1] == inFeatures else { return false }
    // The loops run on Float buffers: this generic function need not be specialized.
    let d2 = delta.reshaped([rows, out]).map(.square)
    let features = d2.withUnsafeBufferPointer { buffer in
      buffer.withMemoryRebound(to: Float.self) { d in
        var used = [Bool](repeating: false, count: out)
        for n in 0..<rows { for f in 0..<out where d[n * out + f] != 0 { used[f] = true } }
        return used.indices.filter { used[$0] }
      }
    }
    guard features.count * 4 <= out else { return false }
    guard !features.isEmpty else { return true }
    let gathered = NDArray<Scalar>(uninitializedShape: [rows, features.count]) { buffer in
      buffer.withMemoryRebound(to: Float.self) { g in
        d2.withUnsafeBufferPointer { buffer in
          buffer.withMemoryRebound(to: Float.self) { d in
            for n in 0..<rows { for (slot, f) in features.enumerated() { g[n * features.count + slot] = d[n * out + f] } }
          }
        }
      }
    }
    let rowSquares = matmul(gathered, squares, transposeA: true)
    let s = sign == 1 ? Float(1) : Float(-1)
    sums.withUnsafeMutableBufferPointer { buffer in
      buffer.withMemoryRebound(to: Float.self) { y in
        rowSquares.withUnsafeBufferPointer { buffer in
          buffer.withMemoryRebound(to: Float.self) { x in
            for (slot, f) in features.enumerated() {
              // y + s·x with s = ±1 is what axpy computes (fused or not: s·x is exact).
              for j in 0..<inFeatures { y[f * inFeatures + j] += s * x[slot * inFeatures + j] }
            }
          }
        }
      }
    }
    return true
  }
}

extension NDArray {
  /// The array `[N, ...]` with the rows of the data points not kept set to zero.
  func keepingPoints(_ keep: [Bool]) -> NDArray {
    var copy = self
    let per = count / Swift.max(keep.count, 1)
    copy.withUnsafeMutableBufferPointer { buffer in
      for (point, kept) in keep.enumerated() where !kept {
        for i in (point * per)..<((point + 1) * per) { buffer[i] = 0 }
      }
    }
    return copy
  }
}
