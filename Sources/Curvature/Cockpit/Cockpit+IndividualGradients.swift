import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN

/// The individual gradients and losses of one minibatch, as cockpit's quantities use them:
/// with `L = (1/R) Σ_t ℓ_t` over the minibatch's loss terms, data point `i` contributes
/// `Lᵢ = (1/R) Σ_{t ∈ i} ℓ_t`, and its individual loss and gradient are `B Lᵢ` and
/// `B ∇Lᵢ` (BackPACK's `BatchGrad` times `B`, as cockpit rescales it). For cross-entropy
/// with `mean` these are the per-sample loss and its gradient; for MSE with `mean`, the
/// per-sample mean over outputs.
struct IndividualGradients<Scalar: BLASScalar> {
  /// `[B, P]`, the flat parameter layout of the model (blocks concatenated row-major).
  var gradients: NDArray<Scalar>
  /// `[B]` individual losses.
  var losses: [Double]

  /// The individual gradients from `CurvatureProblem.perSampleGradients()` (one forward
  /// and reverse pass for Linear and convolution weights) on the minibatch's problem, and
  /// the individual losses from one forward pass.
  init(problem: CurvatureProblem<Scalar>, model: any DifferentiableModel<Scalar>, loss: Loss<Scalar>, batch: Batch<Scalar>) throws {
    let b = batch.inputs.shape[0]
    gradients = try problem.perSampleGradients() * Scalar(b)
    // A single-input model's forward pass of its one tensor: `Sequential.predict`'s bits.
    let output = AutodiffMode.withoutRecording {
      model(batch.inputTensors, parameters: model.parameters.map { Tensor($0) }).value
    }
    let normalization = loss.normalization(outputShape: output.shape, targets: batch.targets)
    let scale = Scalar(b) / Scalar(Swift.max(normalization, 1))
    let row = output.count / Swift.max(b, 1)
    losses = (0..<b).map { i in
      let single = Tensor(NDArray(shape: [1] + output.shape.dropFirst(), scalars: Array(output.scalars[(i * row)..<((i + 1) * row)])))
      let value = AutodiffMode.withoutRecording { loss.summedTerms(single, batch.targets.slice(i..<(i + 1), pointCount: b)) }
      return Double(value.scalar * scale)
    }
  }
}
