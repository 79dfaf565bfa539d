import ArgumentParser
import Curvature
import Foundation

/// `curv check-model`: runs a model on the exporter's reference inputs and compares its
/// outputs, loss and gradient with PyTorch's (`reference.npz`), so that a user can see that
/// the translation is faithful before trusting any curvature computed from it.
struct CheckModelCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "check-model",
    abstract: "Compare a model's outputs, loss and gradient with PyTorch's reference.npz from the exporter.",
    discussion: """
      Example: curv check-model --model model.json --weights weights.safetensors \
      --reference reference.npz --json

      reference.npz (written by curvature_export.export) holds the example inputs input_0, \
      input_1, ..., the targets, and PyTorch's output, loss and gradient (float64). The \
      model runs on those inputs (or on --inputs/--targets, which must be the ones the \
      reference was computed on) in --dtype (default float64). For each quantity the \
      largest absolute difference and the largest difference relative to the reference's \
      largest magnitude are reported; the exit status is 0 when every relative difference \
      is at most --tolerance (default 1e-8 for float64, 1e-4 for float32), 1 otherwise with \
      a one-line reason on stderr (the report is printed either way).
      """)

  @Option(help: ArgumentHelp("The network and loss (model.json).", valueName: "model.json"))
  var model: String

  @Option(help: ArgumentHelp("The parameters and buffers as safetensors.", valueName: "weights.safetensors"))
  var weights: String

  @Option(help: ArgumentHelp("The exporter's reference results.", valueName: "reference.npz"))
  var reference: String

  @Option(help: ArgumentHelp(
    "Inputs to use instead of the reference's input_0, input_1, ... (repeat once per graph input, in order).",
    valueName: "X.npy"))
  var inputs: [String] = []

  @Option(help: ArgumentHelp("Targets to use instead of the reference's targets.", valueName: "y.npy"))
  var targets: String?

  @Option(help: ArgumentHelp("The precision of the computation: \(DType.choices) (default: float64).", valueName: "dtype"), transform: DType.parse)
  var dtype: DType = .float64

  @Option(help: ArgumentHelp(
    "The largest relative difference accepted (default: 1e-8 for float64, 1e-4 for float32).", valueName: "tol"))
  var tolerance: Double?

  @Option(help: ArgumentHelp("Threads for BLAS and LAPACK (default: OpenBLAS's choice).", valueName: "N"))
  var threads: Int?

  @OptionGroup(title: "Output") var outputOptions: OutputOptions

  func validate() throws {
    if let tolerance, !(tolerance >= 0 && tolerance.isFinite) {
      throw ValidationError("--tolerance must be finite and ≥ 0, got \(tolerance)")
    }
    try BLASThreads.validate(threads)
  }

  func run() throws {
    if let threads { NumericsBackend.threadCount = threads }
    switch dtype {
    case .float32: try execute(Float.self)
    case .float64: try execute(Double.self)
    }
  }

  /// One compared quantity: the largest absolute difference and that difference relative
  /// to the reference's largest magnitude.
  struct Difference: Encodable {
    var maxAbsDiff: Double
    var maxRelDiff: Double
    var elements: Int

    enum CodingKeys: String, CodingKey {
      case elements
      case maxAbsDiff = "max_abs_diff"
      case maxRelDiff = "max_rel_diff"
    }

    /// `computed` against `expected` (same count).
    init(_ computed: [Double], _ expected: [Double]) {
      var worst = 0.0, scale = 0.0
      for (a, b) in zip(computed, expected) {
        worst = Swift.max(worst, Swift.abs(a - b))
        scale = Swift.max(scale, Swift.abs(b))
      }
      maxAbsDiff = worst
      maxRelDiff = scale > 0 ? worst / scale : worst
      elements = expected.count
    }
  }

  /// The JSON keys of `check-model`.
  struct Report: Encodable {
    var outputs: Difference
    var loss: Difference
    var gradient: Difference
    var tolerance: Double
    var passed: Bool
    var dtype: String
    var P: Int
    var N: Int
    var seconds: Double

    enum CodingKeys: String, CodingKey {
      case outputs, loss, gradient, tolerance, passed, dtype, P, N, seconds
    }
  }

  func execute<T: BLASScalar>(_: T.Type) throws {
    let start = ContinuousClock.now
    let files = [("--model", model), ("--weights", weights), ("--reference", reference)] + inputs.map { ("--inputs", $0) }
      + (targets.map { [("--targets", $0)] } ?? [])
    for (option, path) in files { try requireFile(path, option: option) }
    let file = try ModelFile<T>(description: URL(fileURLWithPath: model), weights: URL(fileURLWithPath: weights))
    let network = file.network
    let archive = try NPZFile(contentsOf: URL(fileURLWithPath: reference))
    func member(_ name: String) throws -> NPYArray {
      guard archive.names.contains(name) else {
        throw CLIError("--reference \(reference) has no array '\(name)' (it has \(archive.names.joined(separator: ", "))); write it with curvature_export.export")
      }
      return try archive.array(named: name)
    }

    // The inputs and targets: the reference's own unless given.
    var inputArrays = [NPYArray]()
    if inputs.isEmpty {
      while archive.names.contains("input_\(inputArrays.count)") { inputArrays.append(try member("input_\(inputArrays.count)")) }
      if inputArrays.isEmpty { inputArrays.append(try member("input_0")) }
    } else {
      inputArrays = try inputs.map { try Curvature.NPYArray(contentsOf: URL(fileURLWithPath: $0)) }
    }
    let specs = file.graph?.inputSpecs ?? [GraphValueSpec(name: "input", shape: [-1])]
    guard inputArrays.count == specs.count else {
      throw CLIError(
        "\(inputs.isEmpty ? "--reference \(reference) holds" : "--inputs gives") \(inputArrays.count) input\(inputArrays.count == 1 ? "" : "s"), but \(model) takes \(specs.count): \(specs.map { "'\($0.name)'" }.joined(separator: ", "))")
    }
    let x = try inputArrays.map { try $0.floats(as: T.self, requireFinite: true) }
    let targetArray = try targets.map { try Curvature.NPYArray(contentsOf: URL(fileURLWithPath: $0)) } ?? member("targets")
    let y: Targets<T> = file.loss.kind == .crossEntropy
      ? .classes(try targetArray.integers()) : .values(try targetArray.floats(as: T.self, requireFinite: true))

    // The forward pass on all inputs at once, as PyTorch ran it.
    try network.checkInputs(x)
    let output = AutodiffMode.withoutRecording {
      network(x.map { Tensor($0) }, parameters: network.parameters.map { Tensor($0) }).value
    }
    let expectedOutput = try member("output").floats(as: Double.self)
    guard output.shape == expectedOutput.shape else {
      throw CLIError("the model's output has shape \(output.shape), the reference's output \(expectedOutput.shape): \(model) is not the exported model")
    }
    let data = try ArrayDataset(inputs: x[0], targets: y, extraInputs: Array(x.dropFirst()))
    let problem = try CurvatureProblem(model: network, loss: file.loss, data: data, checkDeterminism: false)
    let (loss, gradient) = try problem.lossAndGradient()
    let expectedLoss = try member("loss").floats(as: Double.self)
    let expectedGradient = try member("gradient").floats(as: Double.self)
    guard expectedGradient.count == problem.dimension else {
      throw CLIError(
        "the reference's gradient has \(expectedGradient.count) entries, the model has P = \(problem.dimension) parameters: \(model) is not the exported model")
    }
    let differences = [
      ("outputs", Difference(output.scalars.map { Double($0) }, expectedOutput.scalars)),
      ("loss", Difference([Double(loss)], expectedLoss.scalars)),
      ("gradient", Difference(gradient.scalars.map { Double($0) }, expectedGradient.scalars)),
    ]
    let tolerance = self.tolerance ?? (T.self == Float.self ? 1e-4 : 1e-8)
    let failed = differences.first { !($0.1.maxRelDiff <= tolerance) }
    let seconds = secondsSince(start)
    if outputOptions.json {
      try printJSON(
        Report(
          outputs: differences[0].1, loss: differences[1].1, gradient: differences[2].1, tolerance: tolerance,
          passed: failed == nil, dtype: dtype.rawValue, P: problem.dimension, N: data.count, seconds: (seconds * 1e6).rounded() / 1e6))
    } else {
      print("\(model) against \(reference) (P = \(problem.dimension) parameters, N = \(data.count) data points, \(dtype.rawValue))")
      var table = TextTable(["quantity", "max |difference|", "relative", "within \(formatNumber(tolerance, significant: 3))"])
      for (name, difference) in differences {
        table.add([
          name, formatScientific(difference.maxAbsDiff, digits: 2), formatScientific(difference.maxRelDiff, digits: 2),
          difference.maxRelDiff <= tolerance ? "yes" : "NO",
        ])
      }
      print(table.text)
    }
    if let (name, difference) = failed {
      throw CLIError(
        "the model does not reproduce the reference: the \(name) \(name == "outputs" ? "differ" : "differs") by \(formatScientific(difference.maxRelDiff, digits: 2)) relative (\(formatScientific(difference.maxAbsDiff, digits: 2)) absolute), more than --tolerance \(formatNumber(tolerance, significant: 3))")
    }
  }
}
