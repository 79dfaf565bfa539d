import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// Where one Kronecker-factored layer's parameters sit in a problem's flat vector.
struct KroneckerBlock {
  var layer: Int
  var out: Int
  var inputs: Int
  var joint: Bool
  /// Flat offsets (among the selected blocks) of the weight and bias, when selected.
  var weightOffset: Int?
  var biasOffset: Int?

  /// The flat indices of the weight (or joint) block in Kronecker order: `(o, j)` at
  /// position `o·order + j`, the bias as `j = in` when joint.
  var weightIndices: [Int]? {
    guard let w = weightOffset else { return nil }
    let order = inputs + (joint ? 1 : 0)
    return (0..<out).flatMap { o in
      (0..<order).map { j in j < inputs ? w + o * inputs + j : biasOffset! + o }
    }
  }

  /// The flat indices of a separate bias block.
  var biasIndices: [Int]? {
    guard let b = biasOffset, !joint else { return nil }
    return Array(b..<(b + out))
  }

  /// The index groups of the block-diagonal structure (one per Kronecker block).
  var groups: [[Int]] { [weightIndices, biasIndices].compactMap { $0 } }
}

enum KFACTesting {
  /// A transformer block of linear layers (Eschenhagen et al. 2023) on `[7, 4, 2]`: a
  /// packed q, k, v in-projection whose "attention" passes q + k + v on position-wise, an
  /// out-projection, a residual, an MLP of two linear layers and a second residual, with a
  /// loss per position, or (`pool`) the positions averaged before the loss. Shared by
  /// KFACPackedProjectionTests and EKFACTransformerBlockTests.
  static func transformerBlock(pool: Bool, seed: UInt64) throws -> CurvatureProblem<Double> {
    typealias G = GraphSupport
    var nodes = [String]()
    for (i, c) in ["q", "k", "v"].enumerated() {
      let range = #"{"dim": 0, "start": \#(2 * i), "end": \#(2 * i + 2), "step": 1}"#
      nodes.append(G.node("w_\(c)", "slice", ["in_proj_weight"], [2, 2], range))
      nodes.append(G.node("b_\(c)", "slice", ["in_proj_bias"], [2], range))
      nodes.append(G.node(c, "linear", ["x", "w_\(c)", "b_\(c)"], [-1, 4, 2]))
    }
    nodes += [
      G.node("qk", "add", ["q", "k"], [-1, 4, 2]), G.node("qkv", "add", ["qk", "v"], [-1, 4, 2]),
      G.node("out_proj", "linear", ["qkv", "out_proj.weight", "out_proj.bias"], [-1, 4, 2]),
      G.node("h", "add", ["x", "out_proj"], [-1, 4, 2]),
      G.node("fc1", "linear", ["h", "fc1.weight", "fc1.bias"], [-1, 4, 3]),
      G.node("fc2", "linear", ["fc1", "fc2.weight", "fc2.bias"], [-1, 4, 2]),
      G.node("y", "add", ["h", "fc2"], [-1, 4, 2]),
    ]
    var (output, shape) = ("y", [4, 2])
    if pool {
      nodes.append(G.node("pooled", "mean", ["y"], [-1, 2], #"{"dim": [1], "keepdim": false}"#))
      (output, shape) = ("pooled", [2])
    }
    let parameters = [
      G.value("in_proj_weight", [6, 2]), G.value("in_proj_bias", [6]), G.value("out_proj.weight", [2, 2]),
      G.value("out_proj.bias", [2]), G.value("fc1.weight", [3, 2]), G.value("fc1.bias", [3]), G.value("fc2.weight", [2, 3]),
      G.value("fc2.bias", [2]),
    ]
    return try KFACGraphExactnessTests.problem(nodes, input: [4, 2], parameters: parameters, output: output, outputShape: shape, n: 7, seed: seed)
  }

  /// The flat offset of each selected block of a problem.
  static func offsets(_ problem: CurvatureProblem<Double>) -> [Int: Int] {
    var offsets = [Int: Int](), offset = 0
    for block in problem.blocks {
      offsets[block] = offset
      offset += problem.model.parameterSpecs[block].count
    }
    return offsets
  }

  static func layout(_ problem: CurvatureProblem<Double>, _ factors: [KFACLayerFactors<Double>]) -> [KroneckerBlock] {
    let o = offsets(problem)
    return factors.map {
      KroneckerBlock(
        layer: $0.layer, out: $0.weightShape[0], inputs: $0.weightShape[1], joint: $0.joint,
        weightOffset: $0.weightBlock.map { o[$0]! }, biasOffset: $0.biasBlock.map { o[$0]! })
    }
  }

  static func layout(_ problem: CurvatureProblem<Double>, _ factors: [EKFACLayerFactors<Double>]) -> [KroneckerBlock] {
    let o = offsets(problem)
    return factors.map {
      KroneckerBlock(
        layer: $0.layer, out: $0.weightShape[0], inputs: $0.weightShape[1], joint: $0.joint,
        weightOffset: $0.weightBlock.map { o[$0]! }, biasOffset: $0.biasBlock.map { o[$0]! })
    }
  }

  /// The entries of `m` inside the index groups, zeros elsewhere.
  static func blockPart(_ m: NDArray<Double>, groups: [[Int]]) -> NDArray<Double> {
    var result = NDArray<Double>(zeros: m.shape)
    for group in groups {
      for i in group { for j in group { result[i, j] = m[i, j] } }
    }
    return result
  }

  /// The block-diagonal part of `m` in the layout of a KFAC operator.
  static func blockPart(_ m: NDArray<Double>, like kfac: KFACOperator<Double>) throws -> NDArray<Double> {
    blockPart(m, groups: layout(kfac.problem, try kfac.computeFactors()).flatMap(\.groups))
  }

  /// The submatrix `m[indices, indices]`.
  static func submatrix(_ m: NDArray<Double>, _ indices: [Int]) -> NDArray<Double> {
    NDArray(shape: [indices.count, indices.count]) { m[indices[$0[0]], indices[$0[1]]] }
  }

  /// `‖a − b‖_F`.
  static func distance(_ a: NDArray<Double>, _ b: NDArray<Double>) -> Double { (a - b).norm() }

  /// `‖a − b‖_F / ‖b‖_F`.
  static func relativeDistance(_ a: NDArray<Double>, _ b: NDArray<Double>) -> Double { (a - b).norm() / b.norm() }

  /// Targets for outputs of `shape` fitting `kind`.
  static func targets(_ kind: LossKind, outputShape: [Int], rng: inout RandomGenerator) -> Targets<Double> {
    CurvatureCases.targets(kind, outputShape: outputShape, rng: &rng)
  }

  /// A curvature problem without the determinism check (the data are arrays).
  static func problem(
    _ layers: [any Layer<Double>], parameters: [NDArray<Double>]? = nil, seed: UInt64, inputs: NDArray<Double>,
    targets: Targets<Double>, loss: Loss<Double>, blocks: [Int]? = nil, batchSize: Int? = nil
  ) throws -> CurvatureProblem<Double> {
    var model = try Sequential<Double>(layers, seed: seed)
    if let parameters { try model.setParameters(parameters) }
    return try CurvatureProblem(
      model: model, loss: loss, data: try ArrayDataset(inputs: inputs, targets: targets), batchSize: batchSize,
      blocks: blocks, checkDeterminism: false)
  }

  /// `Linear(3, 4) – activation – Linear(4, 3)` on `n` points.
  static func mlp(
    _ activation: any Layer<Double>, _ kind: LossKind, _ reduction: LossReduction = .mean, n: Int, seed: UInt64 = 1,
    blocks: [Int]? = nil, batchSize: Int? = nil
  ) throws -> CurvatureProblem<Double> {
    var rng = RandomGenerator(seed: seed, stream: 11)
    return try problem(
      [Linear(inFeatures: 3, outFeatures: 4), activation, Linear(inFeatures: 4, outFeatures: 3)], seed: seed,
      inputs: rng.normalArray(shape: [n, 3]), targets: targets(kind, outputShape: [n, 3], rng: &rng),
      loss: Loss(kind, reduction: reduction), blocks: blocks, batchSize: batchSize)
  }

  /// A deep linear network `Linear(3, 4) – Linear(4, 3) – Linear(3, 2)` with MSE on `n` points.
  static func deepLinear(n: Int, _ reduction: LossReduction = .mean, batchSize: Int? = nil) throws -> CurvatureProblem<Double> {
    var rng = RandomGenerator(seed: 5, stream: 11)
    return try problem(
      [Linear(inFeatures: 3, outFeatures: 4), Linear(inFeatures: 4, outFeatures: 3), Linear(inFeatures: 3, outFeatures: 2)],
      seed: 5, inputs: rng.normalArray(shape: [n, 3]), targets: .values(rng.normalArray(shape: [n, 2])),
      loss: Loss(.mse, reduction: reduction), batchSize: batchSize)
  }

  /// The expand setting: a deep linear network on sequences `[n, t, 3]` with a target per
  /// position, `[n, t, 2]` (the loss has a term per position).
  static func deepLinearSequence(n: Int, t: Int, _ reduction: LossReduction = .mean) throws -> CurvatureProblem<Double> {
    var rng = RandomGenerator(seed: 6, stream: 11)
    return try problem(
      [Linear(inFeatures: 3, outFeatures: 4), Linear(inFeatures: 4, outFeatures: 2)], seed: 6,
      inputs: rng.normalArray(shape: [n, t, 3]), targets: .values(rng.normalArray(shape: [n, t, 2])),
      loss: Loss(.mse, reduction: reduction))
  }

  /// The weight of a fixed, bias-free Linear layer that sums (or averages, `scale`)
  /// flattened `[channels, positions]` features over the positions: `W[c, c·S + s] = scale`.
  static func summingWeight(channels: Int, positions: Int, channelsFirst: Bool, scale: Double) -> NDArray<Double> {
    var w = NDArray<Double>(zeros: [channels, channels * positions])
    for c in 0..<channels {
      for s in 0..<positions {
        w[c, channelsFirst ? c * positions + s : s * channels + c] = scale
      }
    }
    return w
  }

  /// The reduce setting on sequences: `Linear(3, 4) – Linear(4, 3)` on `[n, t, 3]`, then
  /// Flatten and a fixed Linear that sums (or averages) over the positions, then
  /// `Linear(3, 2)`, MSE on `[n, 2]`. The summing layer (block 4) is excluded.
  static func sequenceReduce(n: Int, t: Int, mean: Bool) throws -> CurvatureProblem<Double> {
    var rng = RandomGenerator(seed: 7, stream: 11)
    let layers: [any Layer<Double>] = [
      Linear(inFeatures: 3, outFeatures: 4), Linear(inFeatures: 4, outFeatures: 3), Flatten(),
      Linear(inFeatures: 3 * t, outFeatures: 3, bias: false), Linear(inFeatures: 3, outFeatures: 2),
    ]
    var parameters = try Sequential<Double>(layers, seed: 7).parameters
    parameters[4] = summingWeight(channels: 3, positions: t, channelsFirst: false, scale: mean ? 1 / Double(t) : 1)
    return try problem(
      layers, parameters: parameters, seed: 7, inputs: rng.normalArray(shape: [n, t, 3]),
      targets: .values(rng.normalArray(shape: [n, 2])), loss: Loss(.mse), blocks: [0, 1, 2, 3, 5, 6])
  }

  /// The reduce setting for convolutions: `Conv2d(2, 3, 3×3, padding 1) – Conv2d(3, 2, 1×1)`
  /// on `[n, 2, 4, 4]`, Flatten, a fixed Linear summing over the 16 locations, then
  /// `Linear(2, 2)`, MSE. The summing layer (block 4) is excluded.
  static func convolutionReduce(n: Int) throws -> CurvatureProblem<Double> {
    var rng = RandomGenerator(seed: 8, stream: 11)
    let layers: [any Layer<Double>] = [
      try Conv2d(inChannels: 2, outChannels: 3, kernelSize: (3, 3), padding: (1, 1)),
      try Conv2d(inChannels: 3, outChannels: 2, kernelSize: (1, 1)), Flatten(),
      Linear(inFeatures: 2 * 16, outFeatures: 2, bias: false), Linear(inFeatures: 2, outFeatures: 2),
    ]
    var parameters = try Sequential<Double>(layers, seed: 8).parameters
    parameters[4] = summingWeight(channels: 2, positions: 16, channelsFirst: true, scale: 1)
    return try problem(
      layers, parameters: parameters, seed: 8, inputs: rng.normalArray(shape: [n, 2, 4, 4]),
      targets: .values(rng.normalArray(shape: [n, 2])), loss: Loss(.mse), blocks: [0, 1, 2, 3, 5, 6])
  }

  /// A small CNN with a grouped, strided convolution: `Conv2d(2, 4, 3×3, stride 2,
  /// padding 1, groups 2) – Tanh – Flatten – Linear(16, 3)` on `[n, 2, 4, 4]`.
  static func groupedCNN(_ kind: LossKind, n: Int) throws -> CurvatureProblem<Double> {
    var rng = RandomGenerator(seed: 9, stream: 11)
    return try problem(
      [try Conv2d(inChannels: 2, outChannels: 4, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), groups: 2), Tanh(),
       Flatten(), Linear(inFeatures: 16, outFeatures: 3)], seed: 9,
      inputs: rng.normalArray(shape: [n, 2, 4, 4]), targets: targets(kind, outputShape: [n, 3], rng: &rng),
      loss: Loss(kind))
  }

  /// A sequence model with one loss term per position (a 3-D output):
  /// `Linear(3, 4) – Tanh – Linear(4, 2)` on `[n, 5, 3]`.
  static func sequence(_ kind: LossKind, _ reduction: LossReduction = .mean, n: Int) throws -> CurvatureProblem<Double> {
    var rng = RandomGenerator(seed: 10, stream: 11)
    return try problem(
      [Linear(inFeatures: 3, outFeatures: 4), Tanh(), Linear(inFeatures: 4, outFeatures: 2)], seed: 10,
      inputs: rng.normalArray(shape: [n, 5, 3]), targets: targets(kind, outputShape: [n, 5, 2], rng: &rng),
      loss: Loss(kind, reduction: reduction))
  }

  /// A sequence model with one loss term per sequence: `Linear(3, 4) – Tanh – Flatten –
  /// Linear(12, 2)` on `[n, 3, 3]` (several rows of the first layer per term).
  static func sequenceToVector(_ kind: LossKind, n: Int) throws -> CurvatureProblem<Double> {
    var rng = RandomGenerator(seed: 12, stream: 11)
    return try problem(
      [Linear(inFeatures: 3, outFeatures: 4), Tanh(), Flatten(), Linear(inFeatures: 12, outFeatures: 2)], seed: 12,
      inputs: rng.normalArray(shape: [n, 3, 3]), targets: targets(kind, outputShape: [n, 2], rng: &rng),
      loss: Loss(kind))
  }

  /// The reference matrix for a Fisher type: the GGN (type-2), the Monte Carlo Fisher with
  /// the same samples (mc), or the empirical Fisher.
  static func reference(_ problem: CurvatureProblem<Double>, _ options: KFACOptions) throws -> NDArray<Double> {
    switch options.fisherType {
    case .type2: return try GGNOperator(problem).dense()
    case .mc: return try MonteCarloFisherOperator(problem, mcSamples: options.mcSamples, seed: options.seed).dense()
    case .empirical: return try EmpiricalFisherOperator(problem).dense()
    case .forwardOnly: preconditionFailure("no reference for forward-only")
    }
  }
}
