import Curvature
import CurvatureTestSupport
import Testing

/// Products with k columns of CNNs through the batched Conv2d rules (the k tangents and
/// cotangents as one batch of k·N images, weight tangents and gradients from the saved
/// patches, Pearlmutter's forward-over-reverse for the Hessian) against the column loop and
/// the dense matrices: a strided, padded, dilated convolution without bias, a grouped one,
/// smooth and piecewise-linear activations.
@Suite struct ConvolutionColumnBatchTests {
  static func cnn() throws -> CurvatureCase {
    var rng = RandomGenerator(seed: 77, stream: 3)
    let model = try Sequential<Double>(
      [try Conv2d(inChannels: 3, outChannels: 4, kernelSize: (3, 2), stride: (2, 1), padding: (1, 0), dilation: (1, 2), bias: false),
       Tanh(), try Conv2d(inChannels: 4, outChannels: 6, kernelSize: (2, 2), groups: 2), ReLU(), Flatten(),
       Linear(inFeatures: 24, outFeatures: 3)],
      seed: 12)
    let x: NDArray<Double> = rng.normalArray(shape: [5, 3, 6, 5])
    let data = try ArrayDataset(inputs: x, targets: CurvatureCases.targets(.crossEntropy, outputShape: [5, 3], rng: &rng))
    return CurvatureCase(name: "cnn_strided_dilated_grouped", model: model, loss: Loss(.crossEntropy), data: data)
  }

  @Test(arguments: [2, 5]) func matmatEqualsColumnLoopAndDense(_ k: Int) throws {
    let c = try Self.cnn()
    let problem = try c.problem(batchSize: 3)
    let reference = c.reference()
    let x = CurvatureCases.randomMatrix(problem.dimension, k, seed: UInt64(10 + k))
    let dense = ["GGN": reference.ggn, "EF": reference.empiricalFisher, "Hessian": reference.hessian()]
    for (label, op) in try ColumnBatchTests.operators(problem) {
      let product = try op.apply(x)
      expectClose(product, try ColumnBatchTests.columnLoop(op, x), rtol: 1e-11, "\(label) k = \(k) vs columns")
      if let matrix = dense[label] { expectClose(product, matmul(matrix, x), rtol: 1e-10, "\(label) k = \(k) vs dense") }
      #expect(try op.apply(x) == product, "\(label): the same bits twice")
    }
  }

  @Test func matmatEqualsColumnLoopInFloat() throws {
    let problem = try Self.cnn().problemInFloat(batchSize: 3)
    let x = CurvatureCases.randomMatrix(problem.dimension, 4, seed: 3).converted(to: Float.self)
    for (label, op) in try ColumnBatchTests.operators(problem) {
      let product = try op.apply(x).converted(to: Double.self)
      let columns = try ColumnBatchTests.columnLoop(op, x).converted(to: Double.self)
      expectClose(product, columns, rtol: 2e-4, atolFactor: 1e-5, "\(label) Float")
    }
  }
}
