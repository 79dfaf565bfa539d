import ArgumentParser
import Curvature
import Foundation

/// `curv apply`: products of the curvature matrix with given vectors, for users who want
/// `A V` from the shell.
struct ApplyCommand: OperatorOutputCommand {
  static let configuration = CommandConfiguration(
    commandName: "apply",
    abstract: "Multiply the curvature matrix with vectors V ([P] or [P, k]) and write A·V as a float64 .npy file.",
    discussion: """
      Example: curv apply --model model.json --weights weights.safetensors \
      --inputs X.npy --targets y.npy --operator hessian --vectors V.npy --output AV.npy

      V is [P] or [P, k] (k vectors at once), any float dtype, P the number of parameters \
      chosen by --parameters (default: all, in the model's order); it is converted to \
      --dtype. The product is computed without forming the matrix; A·V has V's shape. \
      With --damping δ it is (A + δI)·V.
      """)

  @OptionGroup(title: "Model and data") var dataOptions: DataOptions
  @OptionGroup(title: "Operator") var operatorOptions: OperatorOptions
  @OptionGroup(title: "Output") var outputOptions: OutputOptions

  @Option(help: ArgumentHelp("The vectors as .npy, [P] or [P, k], finite.", valueName: "V.npy"))
  var vectors: String

  @Option(help: ArgumentHelp("The .npy file to write (float64, shaped like V).", valueName: "AV.npy"))
  var output: String

  func run() throws {
    try requireFile(vectors, option: "--vectors")
    try checkOutputPath(output, inputs: dataOptions.inputFiles + [("--vectors", vectors)])
    try dispatch()
  }

  /// The JSON keys of `apply`.
  struct Report: Encodable {
    var output: String
    var P: Int
    var columns: Int
    var matvecs: Int
    var damping: Double
    var frobeniusNorm: Double

    enum CodingKeys: String, CodingKey {
      case output, P, columns, matvecs, damping
      case frobeniusNorm = "frobenius_norm"
    }
  }

  func execute<T: BLASScalar>(_: T.Type) throws {
    let start = ContinuousClock.now
    let loaded = try dataOptions.load(T.self, seed: operatorOptions.seed)
    let gate = loaded.gate
    let p = loaded.problem.dimension
    let v = try readVectors(T.self, p: p)
    let k = v.rank == 1 ? 1 : v.shape[1]
    let a = operatorOptions.dampedOperator(try operatorOptions.undampedOperator(loaded.problem))
    let title = operatorOptions.kind.title
    let stage = "the \(title) product"
    let av = try gate.check(try gate.run(stage) { try a.apply(v) }, stage)
    let norm = try gate.check(Double(av.norm()), "the norm of \(stage)")
    try writeNPY(av, to: output)
    let seconds = secondsSince(start)
    if outputOptions.json {
      try printJSONReport(
        operator: operatorOptions.kind.argument, seconds: seconds,
        Report(output: output, P: p, columns: k, matvecs: k, damping: operatorOptions.damping, frobeniusNorm: norm))
    } else {
      print("\(title) times \(k) vector\(k == 1 ? "" : "s") (\(loaded.summary))")
      var table = TextTable(["", "value"])
      table.add(["product", v.rank == 1 ? "[\(p)] float64" : "[\(p), \(k)] float64"])
      table.add(["Frobenius norm", formatNumber(norm, significant: 8)])
      table.add(["matvecs", "\(k)"])
      table.add(["time", formatSeconds(seconds)])
      print(table.text)
      print("Wrote \(output)")
    }
  }

  /// `--vectors`, converted to `T`.
  /// - Throws: `CLIError` naming `--vectors` for a shape other than `[P]` or `[P, k]`
  ///   (k ≥ 1); the library's `FileFormatError` for a malformed file or a NaN or infinity.
  func readVectors<T: BLASScalar>(_: T.Type, p: Int) throws -> NDArray<T> {
    let array = try Curvature.NPYArray(contentsOf: URL(fileURLWithPath: vectors))
    guard (array.shape.count == 1 || array.shape.count == 2) && array.shape[0] == p && (array.shape.count == 1 || array.shape[1] >= 1)
    else {
      throw CLIError(
        "--vectors \(vectors) has shape \(array.shape), expected [\(p)] or [\(p), k]: P = \(p) is the number of \(dataOptions.parameters == nil ? "" : "selected ")parameters, but the vectors have \(array.shape.first.map(String.init) ?? "no") rows")
    }
    return try array.floats(as: T.self, requireFinite: true)
  }
}
