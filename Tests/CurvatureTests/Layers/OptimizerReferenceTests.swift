import Curvature
import CurvatureTestSupport
import Foundation
import Testing

private typealias Support = LayersTestSupport

/// One entry of `Fixtures/Optimizers/cases.json` (scripts/fixtures/make_optimizer_fixtures.py).
private struct OptimizerCase: Decodable {
  struct Config: Decodable {
    var lr: Double
    var momentum: Double?
    var weight_decay: Double?
    var nesterov: Bool?
    var betas: [Double]?
    var eps: Double?
  }
  var name: String
  var optimizer: String
  var config: Config
  var steps: Int
  var blocks: Int
}

private func loadCases() throws -> [OptimizerCase] {
  let data = try Data(contentsOf: Support.optimizerFixture("cases.json"))
  return try JSONDecoder().decode([OptimizerCase].self, from: data)
}

/// Feeds PyTorch's recorded gradients to `optimizer` and compares every step's parameters
/// with PyTorch's.
private func replay(_ testCase: OptimizerCase, with optimizer: inout some Optimizer<Double>) throws {
  let file = try SafetensorsFile(contentsOf: Support.optimizerFixture("\(testCase.name).safetensors"))
  var parameters = try (0..<testCase.blocks).map { try file.array(named: "params0.\($0)", as: Double.self) }
  for step in 1...testCase.steps {
    let gradients = try (0..<testCase.blocks).map { try file.array(named: "grad.\(step).\($0)", as: Double.self) }
    optimizer.step(&parameters, gradients: gradients)
    for block in 0..<testCase.blocks {
      let expected = try file.array(named: "params.\(step).\(block)", as: Double.self)
      assertClose(parameters[block], expected, rtol: 1e-12, atol: 1e-15, "\(testCase.name) step \(step) block \(block)")
    }
  }
}

@Suite struct OptimizerReferenceTests {
  @Test func everyCaseHasAFile() throws {
    let cases = try loadCases()
    #expect(cases.count == 10)
    #expect(Set(cases.map(\.optimizer)) == ["sgd", "adam", "adamw"])
    for testCase in cases {
      #expect(FileManager.default.fileExists(atPath: Support.optimizerFixture("\(testCase.name).safetensors").path))
    }
  }

  @Test func sgdMatchesPyTorch() throws {
    let cases = try loadCases().filter { $0.optimizer == "sgd" }
    #expect(cases.count == 5)
    for testCase in cases {
      let c = testCase.config
      var optimizer = SGD<Double>(
        learningRate: c.lr, momentum: c.momentum ?? 0, weightDecay: c.weight_decay ?? 0, nesterov: c.nesterov ?? false)
      try replay(testCase, with: &optimizer)
    }
  }

  @Test func adamMatchesPyTorch() throws {
    let cases = try loadCases().filter { $0.optimizer == "adam" }
    #expect(cases.count == 3)
    for testCase in cases {
      let c = testCase.config
      var optimizer: Adam<Double>
      if c.betas == nil && c.eps == nil && c.weight_decay == nil {
        optimizer = Adam(learningRate: c.lr)  // PyTorch's defaults must be ours
      } else {
        optimizer = Adam(
          learningRate: c.lr, beta1: c.betas?[0] ?? 0.9, beta2: c.betas?[1] ?? 0.999, epsilon: c.eps ?? 1e-8,
          weightDecay: c.weight_decay ?? 0)
      }
      try replay(testCase, with: &optimizer)
    }
  }

  @Test func adamWMatchesPyTorch() throws {
    let cases = try loadCases().filter { $0.optimizer == "adamw" }
    #expect(cases.count == 2)
    for testCase in cases {
      let c = testCase.config
      var optimizer: Adam<Double>
      if c.betas == nil && c.eps == nil && c.weight_decay == nil {
        optimizer = .adamW(learningRate: c.lr)  // PyTorch's defaults (weight decay 0.01) must be ours
      } else {
        optimizer = Adam(
          learningRate: c.lr, beta1: c.betas?[0] ?? 0.9, beta2: c.betas?[1] ?? 0.999, epsilon: c.eps ?? 1e-8,
          weightDecay: c.weight_decay ?? 0.01, decoupledWeightDecay: true)
      }
      try replay(testCase, with: &optimizer)
    }
  }

  /// Two optimizers fed the same gradients stay bit-identical (no hidden randomness), and
  /// a copy taken mid-run carries the optimizer state.
  @Test func optimizersAreDeterministicValueTypes() throws {
    let testCase = try loadCases().first { $0.name == "adamw_custom" }!
    let file = try SafetensorsFile(contentsOf: Support.optimizerFixture("adamw_custom.safetensors"))
    let initial = try (0..<testCase.blocks).map { try file.array(named: "params0.\($0)", as: Double.self) }
    var a = Adam<Double>.adamW(learningRate: 0.02, weightDecay: 0.2), b = a
    var pa = initial, pb = initial
    for step in 1...testCase.steps {
      let gradients = try (0..<testCase.blocks).map { try file.array(named: "grad.\(step).\($0)", as: Double.self) }
      a.step(&pa, gradients: gradients)
      b.step(&pb, gradients: gradients)
    }
    for (x, y) in zip(pa, pb) { #expect(Support.bitIdentical(x, y)) }
  }
}
