import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

/// The individual gradients and losses of one minibatch, as cockpit's quantities use them:
/// with `L = (1/R) Σ_t ℓ_t` over the minibatch's loss terms, data point `i` contributes
/// `Lᵢ = (1/R) Σ_{t ∈ i} ℓ_t`, and its individual loss and gradient are `B Lᵢ` and
/// `B ∇Lᵢ` (BackPACK's `BatchGrad` times `B`). For cross-entropy with `mean` these are the
/// per-sample loss and its gradient; for MSE with `mean`, the per-sample mean over outputs.
struct IndividualGradients<Scalar: BLASScalar> {
  /// `[B, P]`, the flat parameter layout of the model (blocks concatenated row-major).
  var gradients: NDArray<Scalar>
  /// `[B]` individual losses.
  var losses: [Double]

  // INTERNAL FALLBACK until the per-sample gradient API (BatchGrad) is merged: one forward
  // and backward pass per data point. Only the source of the [B, P] matrix changes when it
  // arrives; every instrument reads `gradients` and `losses`.
  init(model: Sequential<Scalar>, loss: Loss<Scalar>, batch: Batch<Scalar>) throws {
    let b = batch.inputs.shape[0]
    let outputShape = try model.outputShape(for: batch.inputs.shape)
    let normalization = loss.normalization(outputShape: outputShape, targets: batch.targets)
    let scale = Scalar(b) / Scalar(Swift.max(normalization, 1))
    let row = batch.inputs.count / Swift.max(b, 1)
    let p = model.parameterCount
    var gradients = [Scalar]()
    gradients.reserveCapacity(b * p)
    var losses = [Double]()
    losses.reserveCapacity(b)
    for i in 0..<b {
      let input = Tensor(NDArray(
        shape: [1] + batch.inputs.shape.dropFirst(), scalars: Array(batch.inputs.scalars[(i * row)..<((i + 1) * row)])))
      let targets = batch.targets.slice(i..<(i + 1), pointCount: b)
      let (value, grads) = valueAndGradient(at: model.parameterTensors) { parameters in
        loss.summedTerms(model(input, parameters: parameters), targets) * scale
      }
      losses.append(Double(value.scalar))
      for g in grads { gradients += g.value.scalars }
    }
    self.gradients = NDArray(shape: [b, p], scalars: gradients)
    self.losses = losses
  }
}
