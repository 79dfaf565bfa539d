// KFACCheckedTutorial: KFAC against the exact GGN, block by block — where it is exact (one
// data point; deep linear networks; expand and reduce in their own weight-sharing
// settings) and where it is an approximation (nonlinear MLPs, CNNs and a small GPT).
// See Tutorials/KFACChecked.md.
//
//   swift run -c release KFACCheckedTutorial           # 256 data points per approximate case
//   swift run -c release KFACCheckedTutorial --fast    # 64 data points, a few seconds, checks its claims

import Curvature
import Foundation

let fast = CommandLine.arguments.contains("--fast")
let pointCount = fast ? 64 : 256

/// Stops the tutorial when a fact it states does not hold.
func claim(_ condition: Bool, _ message: String) {
  if !condition {
    FileHandle.standardError.write(Data("KFACCheckedTutorial: claim failed: \(message)\n".utf8))
    exit(1)
  }
}

func format(_ x: Double) -> String { String(format: "%.1e", x) }

// MARK: 1. Comparing KFAC with the GGN, block by block

/// `‖K_b − G_b‖_F / ‖G_b‖_F` for every parameter block `b` (KFAC is block diagonal over
/// the blocks; each block of the exact GGN is a principal submatrix of the dense GGN), or
/// for groups of blocks (a layer's `[W b]` when KFAC treats them jointly); and the error of
/// the whole block-diagonal part, `‖K − G_blocks‖_F / ‖G_blocks‖_F`.
/// With `eigenvalueCorrected`, the same for EKFAC.
func blockErrors(
  _ problem: CurvatureProblem<Double>, _ options: KFACOptions, groups: [[Int]]? = nil, eigenvalueCorrected: Bool = false
) throws -> (blocks: [(block: String, error: Double)], total: Double) {
  let ggn = DenseOperator(try GGNOperator(problem).dense())
  let kfac = DenseOperator(eigenvalueCorrected
    ? try EKFACOperator(problem, options: options).dense() : try KFACOperator(problem, options: options).dense())
  var offsets = [0]
  for spec in problem.selectedSpecs { offsets.append(offsets.last! + spec.count) }
  var result = [(String, Double)](), difference = 0.0, reference = 0.0
  for group in groups ?? problem.selectedSpecs.indices.map({ [$0] }) {
    let indices = group.flatMap { Array(offsets[$0]..<offsets[$0 + 1]) }
    let g = try ggn.principalSubmatrix(indices).dense()
    let k = try kfac.principalSubmatrix(indices).dense()
    let names = group.map { problem.selectedSpecs[$0].name }
    let name = names.count == 1 ? names[0] : names[0].split(separator: ".")[0] + ".[W b]"
    result.append((name, (k - g).norm() / g.norm()))
    difference += (k - g).norm() * (k - g).norm()
    reference += g.norm() * g.norm()
  }
  return (result, (difference / reference).squareRoot())
}

var table = [String: (blocks: [(block: String, error: Double)], total: Double)]()
@MainActor func report(
  _ label: String, _ problem: CurvatureProblem<Double>, _ options: KFACOptions, groups: [[Int]]? = nil, eigenvalueCorrected: Bool = false
) throws {
  let errors = try blockErrors(problem, options, groups: groups, eigenvalueCorrected: eigenvalueCorrected)
  table[label] = errors
  print(label.padding(toLength: 60, withPad: " ", startingAt: 0) + "all \(format(errors.total))   "
    + errors.blocks.map { "\($0.block) \(format($0.error))" }.joined(separator: "  "))
}
/// The largest error among the named blocks (all by default).
@MainActor func worst(_ label: String, _ blocks: [String]? = nil) -> Double {
  table[label]!.blocks.filter { blocks?.contains($0.block) ?? true }.map(\.error).max()!
}
@MainActor func total(_ label: String) -> Double { table[label]!.total }

let type2 = KFACOptions(fisherType: .type2)
var rng = RandomGenerator(seed: 21)

func classification(_ x: NDArray<Double>, classes: Int) throws -> ArrayDataset<Double> {
  try ArrayDataset(inputs: x, targets: .classes((0..<x.shape[0]).map { $0 % classes }))
}
@MainActor func regression(_ x: NDArray<Double>, outputs: [Int]) throws -> ArrayDataset<Double> {
  try ArrayDataset(inputs: x, targets: .values(rng.normalArray(shape: [x.shape[0]] + outputs)))
}

print("Relative error ‖K − G‖_F / ‖G‖_F of each KFAC block (type-2 unless noted)\n")

// MARK: 2. An MLP: exact for one data point, approximate for many

let mlp = try Sequential<Double>(
  [Linear(inFeatures: 4, outFeatures: 8), Tanh(), Linear(inFeatures: 8, outFeatures: 3)], seed: 1)
let mlpData = try classification(rng.normalArray(shape: [pointCount, 4]), classes: 3)
let onePoint = try ArrayDataset(inputs: try mlpData.batch(0..<1).inputs, targets: .classes([0]))
let crossEntropy = Loss<Double>(.crossEntropy)
let mlpOne = try CurvatureProblem(model: mlp, loss: crossEntropy, data: onePoint)
let mlpMany = try CurvatureProblem(model: mlp, loss: crossEntropy, data: mlpData)
try report("MLP (tanh), cross-entropy, N = 1", mlpOne, type2)
try report("MLP (tanh), cross-entropy, N = 1, empirical", mlpOne, KFACOptions(fisherType: .empirical))
try report("MLP (tanh), cross-entropy, N = \(pointCount)", mlpMany, type2)
try report("MLP (tanh), cross-entropy, N = \(pointCount), MC (1 sample)", mlpMany, KFACOptions(fisherType: .mc, mcSamples: 1))
try report("MLP (tanh), cross-entropy, N = \(pointCount), empirical", mlpMany, KFACOptions(fisherType: .empirical))

// KFAC-MC samples labels from the model: its B converges to type-2's as samples grow.
let kfacType2 = try KFACOperator(mlpMany, options: type2).dense()
var mcErrors = [Int: Double]()
for samples in [1, 10, 100, 1000] {
  let kfacMC = try KFACOperator(mlpMany, options: KFACOptions(fisherType: .mc, mcSamples: samples)).dense()
  mcErrors[samples] = (kfacMC - kfacType2).norm() / kfacType2.norm()
}
print("KFAC-MC vs KFAC type-2, ‖K_mc − K_2‖_F / ‖K_2‖_F: "
  + [1, 10, 100, 1000].map { "\($0) sample\($0 == 1 ? "" : "s") \(format(mcErrors[$0]!))" }.joined(separator: ", "))
print("")

// MARK: 3. A deep linear network: exact for any number of data points (with MSE)

let linear = try Sequential<Double>(
  [Linear(inFeatures: 4, outFeatures: 8), Linear(inFeatures: 8, outFeatures: 8), Linear(inFeatures: 8, outFeatures: 3)], seed: 2)
let linearInputs: NDArray<Double> = rng.normalArray(shape: [pointCount, 4])
let linearMSE = try CurvatureProblem(model: linear, loss: Loss(.mse), data: try regression(linearInputs, outputs: [3]))
let linearCE = try CurvatureProblem(model: linear, loss: crossEntropy, data: try classification(linearInputs, classes: 3))
try report("deep linear, MSE, N = \(pointCount)", linearMSE, type2)
try report("deep linear, MSE, N = \(pointCount), joint [W b]", linearMSE, KFACOptions(fisherType: .type2, jointBias: true), groups: [[0, 1], [2, 3], [4, 5]])
try report("deep linear, cross-entropy, N = \(pointCount)", linearCE, type2)
print("")

// MARK: 4. Weight sharing: expand and reduce (Eschenhagen et al. 2023)

/// The mean over the shared (sequence) axis: `[N, T, D] → [N, D]`. A custom layer — any
/// type conforming to `Layer` can sit in a `Sequential`; KFAC skips layers without parameters.
struct MeanOverPositions<Scalar: BLASScalar>: Layer {
  func outputShape(for inputShape: [Int]) throws -> [Int] { [inputShape[0], inputShape[2]] }
  func callAsFunction(_ input: Tensor<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> { input.mean(alongAxis: 1) }
  var jsonObject: [String: JSONValue] { ["type": .string("mean_over_positions")] }
  var description: String { "MeanOverPositions()" }
}

let positions = 5
let sequences: NDArray<Double> = rng.normalArray(shape: [pointCount, positions, 4])
// Expand setting: a loss term at every position.
let perPosition = try Sequential<Double>(
  [Linear(inFeatures: 4, outFeatures: 6), Linear(inFeatures: 6, outFeatures: 3)], seed: 3)
let expandProblem = try CurvatureProblem(
  model: perPosition, loss: Loss(.mse), data: try regression(sequences, outputs: [positions, 3]))
// Reduce setting: the network averages over positions before the loss.
let pooled = try Sequential<Double>(
  [Linear(inFeatures: 4, outFeatures: 6), MeanOverPositions(), Linear(inFeatures: 6, outFeatures: 3)], seed: 3)
let reduceProblem = try CurvatureProblem(model: pooled, loss: Loss(.mse), data: try regression(sequences, outputs: [3]))
let expand = KFACOptions(fisherType: .type2, approximation: .expand)
let reduce = KFACOptions(fisherType: .type2, approximation: .reduce)
try report("linear, loss per position (T = \(positions)), expand", expandProblem, expand)
try report("linear, loss per position (T = \(positions)), reduce", expandProblem, reduce)
try report("linear, mean over positions, then loss, expand", reduceProblem, expand)
try report("linear, mean over positions, then loss, reduce", reduceProblem, reduce)
print("")

// MARK: 5. A CNN: weight sharing over locations makes KFAC approximate even for one image

let cnn = try Sequential<Double>(
  [try Conv2d(inChannels: 1, outChannels: 4, kernelSize: (3, 3)), ReLU(), Flatten(),
   Linear(inFeatures: 4 * 4 * 4, outFeatures: 3)], seed: 4)
let images: NDArray<Double> = rng.normalArray(shape: [pointCount, 1, 6, 6])
let cnnData = try classification(images, classes: 3)
let cnnOne = try CurvatureProblem(model: cnn, loss: crossEntropy, data: try cnnData.batch(0..<1).inputs.asDataset(classes: [0]))
let cnnMany = try CurvatureProblem(model: cnn, loss: crossEntropy, data: cnnData)
try report("CNN (conv 3×3 → ReLU → linear), N = 1, expand", cnnOne, expand)
try report("CNN (conv 3×3 → ReLU → linear), N = \(pointCount), expand", cnnMany, expand)
try report("CNN (conv 3×3 → ReLU → linear), N = \(pointCount), reduce", cnnMany, reduce)
print("")

// MARK: 6. EKFAC: KFAC's eigenbasis, the exact curvature's diagonal in it (George et al. 2018)

print("EKFAC (type-2) in the same cases:")
let ekfacCases: [(label: String, problem: CurvatureProblem<Double>, options: KFACOptions)] = [
  ("MLP (tanh), cross-entropy, N = 1", mlpOne, type2),
  ("MLP (tanh), cross-entropy, N = \(pointCount)", mlpMany, type2),
  ("deep linear, MSE, N = \(pointCount)", linearMSE, type2),
  ("deep linear, cross-entropy, N = \(pointCount)", linearCE, type2),
  ("linear, loss per position (T = \(positions)), reduce", expandProblem, reduce),
  ("linear, mean over positions, then loss, expand", reduceProblem, expand),
  ("CNN (conv 3×3 → ReLU → linear), N = 1, expand", cnnOne, expand),
  ("CNN (conv 3×3 → ReLU → linear), N = \(pointCount), expand", cnnMany, expand),
  ("CNN (conv 3×3 → ReLU → linear), N = \(pointCount), reduce", cnnMany, reduce),
]
for (label, problem, options) in ekfacCases {
  try report("EKFAC: " + label, problem, options, eigenvalueCorrected: true)
}
print("")

extension NDArray<Double> {
  func asDataset(classes: [Int]) throws -> ArrayDataset<Double> { try ArrayDataset(inputs: self, targets: .classes(classes)) }
}

// MARK: 7. A transformer: the small GPT of "Curvature of a transformer"

// The GPT exported from PyTorch (Tutorials/TransformerCurvatureTutorial/gpt): a loss term
// per token, attention mixing the tokens. KFAC factors its linear nodes (c_attn, c_proj,
// c_fc, mlp.c_proj); embeddings and LayerNorms are other parameters and get their exact GGN
// blocks (`otherParameters: .exactBlock`), so the distances below measure the Kronecker
// blocks only. EKFAC needs one reverse pass per token here (`termByTerm`): attention mixes
// the tokens, so a single pass would sum their gradients.
let clock = ContinuousClock()
func seconds(_ duration: Duration) -> Double { Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }

let gptDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .appendingPathComponent("TransformerCurvatureTutorial").appendingPathComponent("gpt")
let gptFile = try ModelFile<Double>(
  description: gptDirectory.appendingPathComponent("model.json"), weights: gptDirectory.appendingPathComponent("weights.safetensors"))
let gptTokens = try NPYArray(contentsOf: gptDirectory.appendingPathComponent("tokens.npy")).floats(as: Double.self)
let gptTargets = try NPYArray(contentsOf: gptDirectory.appendingPathComponent("targets.npy")).integers()
// --fast: the first 8 of the 32 sequences.
let gptSequences = fast ? 8 : gptTokens.shape[0]
let gptCount = gptSequences * gptTokens.shape[1]
let gptInputs = NDArray<Double>(shape: [gptSequences, gptTokens.shape[1]], scalars: Array(gptTokens.scalars.prefix(gptCount)))
let gptLabels: [Int] = Array(gptTargets.prefix(gptCount))
let gptData = try ArrayDataset(inputs: gptInputs, targets: .classes(gptLabels))
let gpt = try CurvatureProblem(model: gptFile.network, loss: gptFile.loss, data: gptData)

let started = clock.now
let gptGGN = try GGNOperator(gpt).dense()
let ggnSeconds = seconds(clock.now - started)

/// `‖K − G_blocks‖_F / ‖G_blocks‖_F` over the Kronecker-factored parameter tensors (each
/// its own block: separate bias), and the time to compute the operator's factors (the
/// other blocks' exact GGN blocks not included: they are the same for all three).
@MainActor func gptDistance(_ options: KFACOptions, eigenvalueCorrected: Bool) throws -> (distance: Double, seconds: Double, matrix: NDArray<Double>) {
  let start = clock.now
  let op: any LinearOperator<Double>
  if eigenvalueCorrected {
    let ekfac = try EKFACOperator(gpt, options: options)
    try ekfac.computeFactors()
    op = ekfac
  } else {
    let kfac = try KFACOperator(gpt, options: options)
    try kfac.computeFactors()
    op = kfac
  }
  let elapsed = seconds(clock.now - start)
  let k = try op.dense()
  let graph = gptFile.network as! GraphModel<Double>
  let factored = Set(graph.kroneckerNodes.flatMap { [$0.weightBlock] + ($0.biasBlock.map { [$0] } ?? []) })
  var offsets = [0]
  for spec in gpt.selectedSpecs { offsets.append(offsets.last! + spec.count) }
  var difference = 0.0, reference = 0.0
  for block in gpt.blocks where factored.contains(block) {
    let indices = Array(offsets[block]..<offsets[block + 1])
    for i in indices {
      for j in indices {
        difference += (k[i, j] - gptGGN[i, j]) * (k[i, j] - gptGGN[i, j])
        reference += gptGGN[i, j] * gptGGN[i, j]
      }
    }
  }
  return ((difference / reference).squareRoot(), elapsed, k)
}

let gptOptions = { (approximation: KFACApproximation) in
  KFACOptions(fisherType: .type2, approximation: approximation, otherParameters: .exactBlock, termByTerm: true)
}
let gptExpand = try gptDistance(gptOptions(.expand), eigenvalueCorrected: false)
let gptReduce = try gptDistance(gptOptions(.reduce), eigenvalueCorrected: false)
let gptEKFAC = try gptDistance(gptOptions(.expand), eigenvalueCorrected: true)
print("GPT (P = \(gpt.dimension), N = \(gptSequences) sequences of \(gptTokens.shape[1]) tokens, a loss per token):")
print("  exact GGN (dense, \(gpt.dimension) products)".padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: "%.2f s", ggnSeconds))
for (label, result) in [("KFAC-expand", gptExpand), ("KFAC-reduce", gptReduce), ("EKFAC (expand basis, term by term)", gptEKFAC)] {
  print("  \(label)".padding(toLength: 44, withPad: " ", startingAt: 0)
    + String(format: "%.2f s", result.seconds) + "   distance to the GGN's Kronecker blocks \(format(result.distance))")
}
print("")

// MARK: 8. The claims above, checked

let exact = 1e-10
let mlpLabel = "MLP (tanh), cross-entropy, N = \(pointCount)"
claim(worst("MLP (tanh), cross-entropy, N = 1") < exact, "KFAC (type-2) equals the GGN blocks for one data point")
claim(worst("MLP (tanh), cross-entropy, N = 1, empirical") > 0.1, "empirical KFAC is not the GGN, even for one data point")
claim(worst(mlpLabel, ["0.weight", "2.weight"]) > 1e-2, "for many data points KFAC approximates the MLP's weight blocks")
claim(worst(mlpLabel, ["0.bias", "2.bias"]) < exact, "bias blocks are exact (B alone is the bias block of the GGN)")
claim(mcErrors[1000]! < mcErrors[1]! / 3, "1000 Monte Carlo samples bring KFAC-MC over 3× closer to type-2 KFAC than 1 sample")
claim(total(mlpLabel) < total(mlpLabel + ", MC (1 sample)") && total(mlpLabel) < total(mlpLabel + ", empirical"),
      "type-2 KFAC is closer to the GGN than MC (1 sample) and empirical KFAC")
claim(worst("deep linear, MSE, N = \(pointCount)") < exact, "KFAC equals the GGN blocks of a deep linear network with MSE")
claim(worst("deep linear, MSE, N = \(pointCount), joint [W b]") < exact, "joint [W b] KFAC equals the GGN's layer blocks of a deep linear network")
claim(worst("deep linear, cross-entropy, N = \(pointCount)", ["0.weight", "1.weight"]) > 1e-3, "with cross-entropy the deep linear network's KFAC is approximate")
claim(worst("linear, loss per position (T = \(positions)), expand") < exact, "KFAC-expand is exact for a linear network with a loss per position")
claim(worst("linear, loss per position (T = \(positions)), reduce") > 1e-2, "KFAC-reduce is not exact with a loss per position")
claim(worst("linear, mean over positions, then loss, reduce") < exact, "KFAC-reduce is exact when the network averages over positions")
claim(worst("linear, mean over positions, then loss, expand", ["0.weight"]) > 1e-2, "KFAC-expand is not exact before the average")
claim(worst("CNN (conv 3×3 → ReLU → linear), N = 1, expand", ["0.weight"]) > 1e-2, "a convolution's KFAC block is approximate even for one image")
claim(worst("CNN (conv 3×3 → ReLU → linear), N = 1, expand", ["3.weight", "3.bias"]) < exact, "the CNN's linear layer is exact for one image")
claim(worst("CNN (conv 3×3 → ReLU → linear), N = \(pointCount), reduce", ["0.bias", "3.bias"]) < exact, "with reduce, the convolution's bias block is exact")
claim(worst("CNN (conv 3×3 → ReLU → linear), N = \(pointCount), expand", ["0.bias"]) > 1e-2, "with expand, the convolution's bias block is approximate")
for (label, _, _) in ekfacCases {
  let kfacBlocks = table[label]!.blocks, ekfacBlocks = table["EKFAC: " + label]!.blocks
  claim(zip(kfacBlocks, ekfacBlocks).allSatisfy { $1.error <= $0.error + 1e-12 },
        "EKFAC is at least as close to every GGN block as KFAC (\(label))")
  if worst(label) < exact {
    claim(worst("EKFAC: " + label) < exact, "EKFAC is exact where KFAC is (\(label))")
  }
}
claim(worst("EKFAC: CNN (conv 3×3 → ReLU → linear), N = \(pointCount), reduce", ["0.weight"])
        < worst("CNN (conv 3×3 → ReLU → linear), N = \(pointCount), reduce", ["0.weight"]) / 1.5,
      "with reduce, EKFAC cuts KFAC's error on the convolution's weight by at least a third")
claim(gptExpand.distance > 1e-3 && gptReduce.distance > 1e-3, "on the GPT (nonlinear, attention) KFAC is an approximation")
claim((gptExpand.matrix - gptReduce.matrix).norm() > 1e-3 * gptExpand.matrix.norm(), "KFAC-expand and KFAC-reduce differ on the GPT")
claim(gptExpand.distance < gptReduce.distance, "with a loss per token, expand is closer to the GGN than reduce")
claim(gptEKFAC.distance <= gptExpand.distance + 1e-12, "EKFAC is at least as close to the GGN's blocks as KFAC-expand on the GPT")
print("All claims checked.")
