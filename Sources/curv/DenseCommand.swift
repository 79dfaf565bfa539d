import ArgumentParser
import Curvature
import Foundation

/// `curv dense`: the P×P curvature matrix as a float64 `.npy` file.
struct DenseCommand: OperatorOutputCommand {
  static let configuration = CommandConfiguration(
    commandName: "dense",
    abstract: "Write the P×P curvature matrix as a float64 .npy file.",
    discussion: """
      Example: curv dense --model model.json --weights weights.safetensors \
      --inputs X.npy --targets y.npy --operator ggn --output G.npy

      The matrix is built from products with blocks of 64 identity columns (P products in \
      all); with --damping δ it is A + δI.
      """)

  @OptionGroup(title: "Model and data") var dataOptions: DataOptions
  @OptionGroup(title: "Operator") var operatorOptions: OperatorOptions
  @OptionGroup(title: "Output") var outputOptions: OutputOptions

  @Option(help: ArgumentHelp("The .npy file to write (float64, [P, P]).", valueName: "M.npy"))
  var output: String

  /// The JSON keys of `dense`.
  struct Report: Encodable {
    var output: String
    var P: Int
    var N: Int
    var damping: Double
    var matvecs: Int
    var trace: Double
    var frobeniusNorm: Double

    enum CodingKeys: String, CodingKey {
      case output, P, N, damping, matvecs, trace
      case frobeniusNorm = "frobenius_norm"
    }
  }

  func execute<T: BLASScalar>(_: T.Type) throws {
    let start = ContinuousClock.now
    let loaded = try dataOptions.load(T.self, seed: operatorOptions.seed)
    let gate = loaded.gate
    let a = operatorOptions.dampedOperator(try operatorOptions.undampedOperator(loaded.problem))
    let bar = outputOptions.progressBar()
    let title = operatorOptions.kind.title
    let matrix = try gate.check(
      try gate.run("the dense \(title) matrix") { try denseMatrix(a, progress: bar) }, "the dense \(title) matrix")
    bar.finish()
    let trace = try gate.check(Double(matrix.trace()), "the trace of the dense \(title) matrix")
    let norm = try gate.check(Double(matrix.norm()), "the Frobenius norm of the dense \(title) matrix")
    try writeNPY(matrix, to: output)
    let seconds = secondsSince(start)
    let p = loaded.problem.dimension
    if outputOptions.json {
      try printJSONReport(
        operator: operatorOptions.kind.argument, seconds: seconds,
        Report(
          output: output, P: p, N: loaded.data.count, damping: operatorOptions.damping, matvecs: p, trace: trace,
          frobeniusNorm: norm))
    } else {
      print("\(title) (\(loaded.summary))")
      var table = TextTable(["", "value"])
      table.add(["matrix", "\(p)×\(p) float64"])
      table.add(["trace", formatNumber(trace, significant: 8)])
      table.add(["Frobenius norm", formatNumber(norm, significant: 8)])
      table.add(["matvecs", "\(p)"])
      table.add(["time", formatSeconds(seconds)])
      print(table.text)
      print("Wrote \(output)")
    }
  }
}
