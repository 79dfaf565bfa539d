import Curvature
import Testing

/// A valid model whose intermediates are far larger than its data (a Conv2d with padding
/// 20000 unfolds an 8×8 image into 40006² windows, 115 GB in float64) is rejected before
/// anything is allocated, naming the layer (issue 20, §4).
@Suite struct MemoryBoundTests {
  /// `Conv2d(1, 1, 3, padding 20000) – Conv2d(1, 1, 1, stride 40000) – Flatten – Linear(4, 2)`
  /// on `[1, 8, 8]`: the output is 2×2, the first layer's output 40006×40006.
  static func paddedModel<T: BLASScalar>(_: T.Type) throws -> Sequential<T> {
    try Sequential<T>([
      Conv2d(inChannels: 1, outChannels: 1, kernelSize: (3, 3), padding: (20000, 20000)),
      Conv2d(inChannels: 1, outChannels: 1, kernelSize: (1, 1), stride: (40000, 40000)),
      Flatten(), Linear(inFeatures: 4, outFeatures: 2),
    ], seed: 0)
  }

  func hugeIntermediatesAreRejected<T: BLASScalar>(_: T.Type) throws {
    let model = try Self.paddedModel(T.self)
    #expect(try model.outputShape(for: [1, 1, 8, 8]) == [1, 2])
    let error = #expect(throws: ResourceError.self) {
      try model.checkMemory(inputShape: [1, 8, 8], batchSize: 1, budget: 1 << 30)
    }
    if let error {
      for fragment in ["layer 0 (Conv2d(1, 1, kernel_size=(3, 3)", "unfolded patches [1, 9, 1600480036]", "1.1 GB"] {
        #expect(error.description.contains(fragment), "lacks \"\(fragment)\": \(error)")
      }
    }
    // Through a curvature problem, with the default budget (below 115 GB on test machines)
    // and an explicit one.
    let data = try ArrayDataset<T>(inputs: NDArray(zeros: [3, 1, 8, 8]), targets: .classes([0, 1, 0]))
    for budget in [nil, 1 << 30] as [Int?] {
      let error = #expect(throws: ResourceError.self) {
        _ = try CurvatureProblem(model: model, loss: Loss(.crossEntropy), data: data, memoryBudget: budget)
      }
      if let error { #expect(error.description.contains("layer 0"), "\(error)") }
    }
  }

  @Test func hugeIntermediatesAreRejectedDouble() throws { try hugeIntermediatesAreRejected(Double.self) }
  @Test func hugeIntermediatesAreRejectedFloat() throws { try hugeIntermediatesAreRejected(Float.self) }

  func ordinaryModelsPass<T: BLASScalar>(_: T.Type) throws {
    let model = try Sequential<T>([
      Conv2d(inChannels: 1, outChannels: 4, kernelSize: (3, 3), padding: (1, 1)), ReLU(), Flatten(),
      Linear(inFeatures: 4 * 8 * 8, outFeatures: 3),
    ], seed: 0)
    let bytes = try model.checkMemory(inputShape: [1, 8, 8], batchSize: 16, budget: 1 << 30)
    // Input, outputs, patches of 16 images, values and tangents: tens of kB, not more.
    #expect(bytes > 16 * 64 * MemoryLayout<T>.stride && bytes < 1 << 22)
    // The whole-network total is bounded too: a batch that does not fit is named.
    let error = #expect(throws: ResourceError.self) {
      try model.checkMemory(inputShape: [1, 8, 8], batchSize: 1 << 20, budget: 1 << 30)
    }
    if let error { #expect(error.description.contains("batch"), "\(error)") }
  }

  @Test func ordinaryModelsPassDouble() throws { try ordinaryModelsPass(Double.self) }
  @Test func ordinaryModelsPassFloat() throws { try ordinaryModelsPass(Float.self) }
}
