// SecondOrderTrainingTutorial: late in training, Newton-CG (Hessian-free with the GGN,
// Martens 2010) and a KFAC-preconditioned optimizer (Martens & Grosse 2015) against Adam
// on the same budget of passes over the data. See Tutorials/SecondOrderTraining.md.
//
//   swift run -c release SecondOrderTrainingTutorial          # budget of 600 passes, writes Tutorials/images/second-order-training.svg
//   swift run -c release SecondOrderTrainingTutorial --fast   # budget of 300 passes, checks its claims, SVG to a temporary file

import Curvature
import Foundation

let fast = CommandLine.arguments.contains("--fast")
let budget = fast ? 300 : 600   // passes over the data, in gradient equivalents

/// Stops the tutorial when a fact it states does not hold.
func claim(_ condition: Bool, _ message: String) {
  if !condition {
    FileHandle.standardError.write(Data("SecondOrderTrainingTutorial: claim failed: \(message)\n".utf8))
    exit(1)
  }
}

func format(_ x: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)g", x) }

// MARK: 1. A regression problem and a network trained part of the way

let pointCount = 256
var rng = RandomGenerator(seed: 41)
let x: NDArray<Double> = rng.uniformArray(shape: [pointCount, 2], in: -2..<2)
let y = NDArray<Double>(shape: [pointCount, 1]) { index in sin(2 * x[index[0], 0]) * cos(1.5 * x[index[0], 1]) }
let data = try ArrayDataset(inputs: x, targets: .values(y))
let loss = Loss<Double>(.mse)
let initial = try Sequential<Double>(
  [Linear(inFeatures: 2, outFeatures: 32), Tanh(), Linear(inFeatures: 32, outFeatures: 32), Tanh(),
   Linear(inFeatures: 32, outFeatures: 1)], seed: 7)

/// The full-batch loss and its gradient (one pass: forward and backward).
func lossAndGradient(_ model: Sequential<Double>) -> (Double, NDArray<Double>) {
  let input = Tensor(x)
  let (value, gradients) = valueAndGradient(at: model.parameterTensors) { parameters in
    loss(model(input, parameters: parameters), .values(y))
  }
  return (Double(value.scalar), NDArray(gradients.flatMap(\.value.scalars)))
}
func lossValue(_ model: Sequential<Double>) -> Double {
  Double(loss(Tensor(model.predict(x)), .values(y)).scalar)
}
func moved(_ model: Sequential<Double>, by step: NDArray<Double>) throws -> Sequential<Double> {
  var result = model
  try result.setParameters(try model.unflatten(model.flatParameters() + step))
  return result
}

// "Late in training": 500 full-batch Adam steps from the initialization.
var warm = initial
var warmAdam = Adam<Double>(learningRate: 0.01)
for _ in 0..<500 {
  let (_, g) = lossAndGradient(warm)
  var parameters = warm.parameters
  warmAdam.step(&parameters, gradients: try warm.unflatten(g))
  try warm.setParameters(parameters)
}
let start = warm
let warmOptimizer = warmAdam   // Adam's state at the checkpoint
let startLoss = lossValue(start)
print("y = sin(2x₁) cos(1.5x₂) on [-2, 2]², N = \(pointCount); MLP 2-32-32-1 (tanh), P = \(start.parameterCount)")
print("after 500 full-batch Adam steps (lr 0.01): MSE \(format(lossValue(initial))) → \(format(startLoss))")
print("from there, each method gets \(budget) passes over the data (a gradient or a loss = 1 pass, a GGN-vector product = 2)\n")

// MARK: 2. The methods, on one budget of passes

/// A training curve: the loss after each step and the passes spent so far.
struct Curve { var name: String; var passes = [0.0]; var losses: [Double]; var seconds = 0.0 }
let clock = ContinuousClock()
func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

/// Adam continued from the checkpoint with its moment estimates, at a learning rate of
/// choice, full batch.
func runAdam(learningRate: Double, passes: Int = budget) throws -> Curve {
  var curve = Curve(name: "Adam, lr \(learningRate)\(passes == budget ? "" : ", \(passes / budget)× the budget")", losses: [startLoss])
  var model = start, adam = warmOptimizer
  adam.learningRate = learningRate
  let began = clock.now
  while curve.passes.last! + 1 <= Double(passes) {
    let (_, g) = lossAndGradient(model)
    var parameters = model.parameters
    adam.step(&parameters, gradients: try model.unflatten(g))
    try model.setParameters(parameters)
    curve.passes.append(curve.passes.last! + 1)
    curve.losses.append(lossValue(model))
  }
  curve.seconds = seconds(clock.now - began)
  return curve
}

/// The GGN of the current model (a new curvature problem per step; the determinism check
/// is off because it would spend two extra passes).
func ggn(_ model: Sequential<Double>) throws -> GGNOperator<Double> {
  GGNOperator(try CurvatureProblem(model: model, loss: loss, data: data, checkDeterminism: false))
}

/// Levenberg-Marquardt: compare the actual decrease with the quadratic model's prediction
/// `m(d) = gᵀd + ½ dᵀ(G + λI)d`, and adapt λ (Martens 2010, §4.1). Returns the accepted model.
func levenbergMarquardt(
  _ model: Sequential<Double>, _ loss0: Double, _ step: NDArray<Double>, predicted: Double, damping: inout Double
) throws -> Sequential<Double> {
  let candidate = try moved(model, by: step)
  let actual = lossValue(candidate) - loss0
  let rho = actual / predicted
  if rho > 0.75 { damping *= 2.0 / 3 } else if rho < 0.25 { damping *= 1.5 }
  return actual < 0 ? candidate : model
}

/// Newton-CG (Hessian-free): each step solves (G + λI) d = −g by at most `cgIterations` CG
/// iterations, warm-started from the previous direction, then adapts λ.
func runNewtonCG(cgIterations: Int) throws -> Curve {
  var curve = Curve(name: "Newton-CG (GGN, ≤ \(cgIterations) CG iterations)", losses: [startLoss])
  var model = start, damping = 1e-3, previous: NDArray<Double>? = nil
  let began = clock.now
  while curve.passes.last! + 2 + 2 * Double(cgIterations + 2) <= Double(budget) {
    let (loss0, g) = lossAndGradient(model)
    let a = try ggn(model).damped(by: damping)
    let warmStarted = previous != nil
    let result = try conjugateGradient(
      a, -1 * g, initialGuess: previous.map { 0.95 * $0 },
      options: ConjugateGradientOptions(relativeTolerance: 1e-4, maxIterations: cgIterations))
    let d = result.solution
    previous = d
    let predicted = g.dot(d) + 0.5 * d.dot(try a.apply(d))
    model = try levenbergMarquardt(model, loss0, d, predicted: predicted, damping: &damping)
    // A gradient, CG's products (plus one for a warm start), one product for the model's
    // prediction and one forward pass for the trial loss (counted as a full pass).
    curve.passes.append(curve.passes.last! + 1 + 2 * Double(result.iterations + (warmStarted ? 1 : 0) + 1) + 1)
    curve.losses.append(lossValue(model))
  }
  curve.seconds = seconds(clock.now - began)
  return curve
}

/// KFAC: the direction d = −(K + λI)⁻¹ g from freshly computed Kronecker factors, scaled by
/// the step α that minimizes the exact quadratic model along it (one GGN product;
/// Martens & Grosse 2015, §6.4), then λ adapted by Levenberg-Marquardt.
func runKFAC() throws -> Curve {
  var curve = Curve(name: "KFAC (type-2, exact quadratic step length)", losses: [startLoss])
  var model = start, damping = 1e-3
  let began = clock.now
  while curve.passes.last! + 5 <= Double(budget) {
    let (loss0, g) = lossAndGradient(model)
    let problem = try CurvatureProblem(model: model, loss: loss, data: data, checkDeterminism: false)
    let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .type2))
    let direction = try kfac.inverse(damping: damping).apply(-1 * g)
    let curvature = direction.dot(try GGNOperator(problem).damped(by: damping).apply(direction))
    let alpha = -g.dot(direction) / curvature
    let step = alpha * direction
    let predicted = alpha * g.dot(direction) + 0.5 * alpha * alpha * curvature
    model = try levenbergMarquardt(model, loss0, step, predicted: predicted, damping: &damping)
    // A gradient, the factors (one forward and one backward pass for one output), one GGN
    // product and the trial loss.
    curve.passes.append(curve.passes.last! + 1 + 1 + 2 + 1)
    curve.losses.append(lossValue(model))
  }
  curve.seconds = seconds(clock.now - began)
  return curve
}

let learningRates = [1e-3, 3e-3, 1e-2, 3e-2]
let adamCurves = try learningRates.map { try runAdam(learningRate: $0) }
let newton = try runNewtonCG(cgIterations: 20)
let kfacCurve = try runKFAC()
let best = adamCurves.indices.min { adamCurves[$0].losses.last! < adamCurves[$1].losses.last! }!
let bestAdam = adamCurves[best]
let longAdam = try runAdam(learningRate: learningRates[best], passes: 4 * budget)   // the best learning rate, 4× the passes
print("method                                         steps   passes   final MSE     time")
for curve in adamCurves + [longAdam, newton, kfacCurve] {
  print(curve.name.padding(toLength: 47, withPad: " ", startingAt: 0)
    + String(format: "%-8d%-9.0f%-14.3e%.2f s", curve.losses.count - 1, curve.passes.last!, curve.losses.last!, curve.seconds))
}

// MARK: 3. The figure: MSE against passes

func curvesSVG(_ curves: [(Curve, String)]) -> String {
  let (w, h, left, right, top, bottom) = (640.0, 360.0, 70.0, 20.0, 20.0, 45.0)
  let all = curves.flatMap { $0.0.losses }
  let yMax = log10(all.max()!).rounded(.up), yMin = log10(all.min()!).rounded(.down)
  func px(_ passes: Double) -> Double { left + passes / Double(budget) * (w - left - right) }
  func py(_ value: Double) -> Double { top + (yMax - log10(value)) / (yMax - yMin) * (h - top - bottom) }
  var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
  svg += "<line x1=\"\(left)\" y1=\"\(h - bottom)\" x2=\"\(w - right)\" y2=\"\(h - bottom)\" stroke=\"black\"/><line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(h - bottom)\" stroke=\"black\"/>\n"
  for e in Int(yMin)...Int(yMax) {
    svg += "<line x1=\"\(left - 4)\" y1=\"\(py(pow(10, Double(e))))\" x2=\"\(w - right)\" y2=\"\(py(pow(10, Double(e))))\" stroke=\"#ddd\"/><text x=\"\(left - 8)\" y=\"\(py(pow(10, Double(e))) + 4)\" text-anchor=\"end\">1e\(e)</text>\n"
  }
  for tick in stride(from: 0, through: budget, by: budget / 6) {
    svg += "<text x=\"\(px(Double(tick)))\" y=\"\(h - bottom + 17)\" text-anchor=\"middle\">\(tick)</text>\n"
  }
  svg += "<text x=\"\((left + w - right) / 2)\" y=\"\(h - 8)\" text-anchor=\"middle\">passes over the data (gradient equivalents)</text>\n"
  svg += "<text x=\"16\" y=\"\((top + h - bottom) / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 16 \((top + h - bottom) / 2))\">training MSE (log scale)</text>\n"
  for (index, (curve, color)) in curves.enumerated() {
    let points = zip(curve.passes, curve.losses).map { String(format: "%.1f,%.1f", px($0), py($1)) }
    svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.6\" points=\"\(points.joined(separator: " "))\"/>\n"
    // The legend in the lower left, below the curves.
    let ly = h - bottom - 14 - 18 * Double(curves.count - 1 - index)
    svg += "<line x1=\"\(left + 12)\" y1=\"\(ly)\" x2=\"\(left + 37)\" y2=\"\(ly)\" stroke=\"\(color)\" stroke-width=\"2\"/><text x=\"\(left + 42)\" y=\"\(ly + 4)\">\(curve.name)</text>\n"
  }
  return svg + "</svg>\n"
}
let palette = ["#aec7e8", "#6baed6", "#2171b5", "#08306b"]
let figure = fast
  ? URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("second-order-training.svg")
  : URL(fileURLWithPath: "Tutorials/images/second-order-training.svg")
try FileManager.default.createDirectory(at: figure.deletingLastPathComponent(), withIntermediateDirectories: true)
try curvesSVG(Array(zip(adamCurves, palette)) + [(newton, "#d62728"), (kfacCurve, "#2ca02c")]).write(to: figure, atomically: true, encoding: .utf8)
print("\nTraining curves written to \(fast ? "a temporary file" : figure.relativePath)")

// MARK: 4. The claims above, checked

claim(newton.passes.last! <= Double(budget) && kfacCurve.passes.last! <= Double(budget), "the second-order methods stay within the budget")
claim(newton.losses.last! < bestAdam.losses.last!, "Newton-CG reaches a lower loss than the best Adam on the same budget (\(newton.losses.last!) vs \(bestAdam.losses.last!))")
claim(kfacCurve.losses.last! < bestAdam.losses.last!, "KFAC reaches a lower loss than the best Adam on the same budget (\(kfacCurve.losses.last!) vs \(bestAdam.losses.last!))")
claim(kfacCurve.losses.last! < longAdam.losses.last! && newton.losses.last! < longAdam.losses.last!,
      "both second-order methods beat the best Adam given 4× the budget (\(longAdam.losses.last!))")
claim(zip(newton.losses, newton.losses.dropFirst()).allSatisfy { $1 <= $0 } && zip(kfacCurve.losses, kfacCurve.losses.dropFirst()).allSatisfy { $1 <= $0 },
      "with Levenberg-Marquardt step rejection, the second-order losses never increase")
print("All claims checked.")
