import ArgumentParser
import Curvature
import Foundation

/// `curv dense`: the P×P curvature matrix as a float64 `.npy` file.
struct DenseCommand: PrecisionGenericCommand {
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

  @Option(help: ArgumentHelp("The .npy file to write (float64, [P, P]).", valueName: "M.npy"))
  var output: String

  @Flag(help: "Print one JSON object on stdout instead of a table.")
  var json = false

  func validate() throws { try operatorOptions.checkApplicable() }

  func run() throws {
    try checkOutputPath(output)
    try dispatch()
  }

  func execute<T: BLASScalar>(_: T.Type) throws {
    let start = ContinuousClock.now
    let loaded = try dataOptions.load(T.self, seed: operatorOptions.seed)
    let a = try makeOperator(operatorOptions.choice, problem: loaded.problem)
    let bar = ProgressBar(enabled: !json)
    let matrix = try denseMatrix(a, damping: operatorOptions.damping, progress: bar)
    bar.finish()
    try writeNPY(matrix, to: output)
    let seconds = secondsSince(start)
    let p = loaded.problem.dimension
    let trace = Double(matrix.trace()), norm = Double(matrix.norm())
    if json {
      printJSONObject(operator: operatorOptions.kind.rawValue, seconds: seconds, [
        ("output", .string(output)), ("P", .int(p)), ("N", .int(loaded.data.count)),
        ("damping", .number(operatorOptions.damping)), ("matvecs", .int(p)),
        ("trace", .number(trace)), ("frobenius_norm", .number(norm)),
      ])
    } else {
      print("\(operatorOptions.kind.title) (\(loaded.summary))")
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
